// The approval queue refreshes itself every minute (hx-trigger="every 60s" on
// #queue-results); the refresh waits while the user is choosing tickets or typing, so a
// selection or a half-written comment is not thrown away.
(function () {
  "use strict";
  document.addEventListener("htmx:beforeRequest", function (ev) {
    var elt = ev.detail.elt;
    if (!elt || !elt.hasAttribute || !elt.hasAttribute("data-queue-poll")) { return; }
    var busy = elt.querySelector('input[name="ticket"]:checked') ||
      (document.activeElement && elt.contains(document.activeElement) &&
       /^(INPUT|SELECT|TEXTAREA)$/.test(document.activeElement.tagName));
    if (busy) { ev.preventDefault(); }
  });
})();
