// The approval queue refreshes itself: at once when a ticket in the user's scope changes
// (the `ticketEvents` subscription over graphql-transport-ws, authenticated by the admin
// session's cookie and its CSRF token), and every minute in any case (the countdowns move
// on; hx-trigger="every 60s" on #queue-results). A refresh waits while the user is
// choosing tickets or typing, so a selection or a half-written comment is not thrown away.
(function () {
  "use strict";
  var REFRESH_DELAY_MS = 1500;  // a burst of events (a bulk approval) makes one refresh
  var RETRY_MS = [2000, 5000, 15000, 60000];

  document.addEventListener("htmx:beforeRequest", function (ev) {
    var elt = ev.detail.elt;
    if (!elt || !elt.hasAttribute || !elt.hasAttribute("data-queue-poll")) { return; }
    var busy = elt.querySelector('input[name="ticket"]:checked') ||
      (document.activeElement && elt.contains(document.activeElement) &&
       /^(INPUT|SELECT|TEXTAREA)$/.test(document.activeElement.tagName));
    if (busy) { ev.preventDefault(); }
  });

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"];
    } catch (e) { return null; }
  }

  function setLive(state) {
    var badge = document.getElementById("queue-live");
    if (!badge) { return; }
    badge.hidden = false;
    badge.className = "live " + state;
    badge.textContent = state === "on" ? "实时更新" : (state === "off" ? "实时更新不可用" : "正在重连…");
    badge.title = state === "on" ? "工单有变化时队列自动刷新" : "队列每分钟刷新一次";
  }

  function live() {
    var token = csrfToken();
    if (!token || !window.WebSocket || !document.getElementById("queue-results")) { return; }
    var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/graphql";
    var failures = 0;
    var timer = null;

    function refresh() {
      if (timer) { return; }
      timer = window.setTimeout(function () {
        timer = null;
        if (window.htmx) { window.htmx.trigger(document.body, "queue-changed"); }
      }, REFRESH_DELAY_MS);
    }

    function connect() {
      var ws = new WebSocket(url, "graphql-transport-ws");
      var acked = false;
      var ended = false;
      ws.onopen = function () {
        ws.send(JSON.stringify({type: "connection_init", payload: {csrfToken: token}}));
      };
      ws.onmessage = function (msg) {
        var data;
        try { data = JSON.parse(msg.data); } catch (e) { return; }
        if (data.type === "connection_ack") {
          acked = true;
          failures = 0;
          ws.send(JSON.stringify({id: "queue", type: "subscribe",
            payload: {query: "subscription { ticketEvents { ticketId status } }"}}));
          setLive("on");
        } else if (data.type === "next" && data.payload && data.payload.errors) {
          ended = true;  // the session ended meanwhile (signed out elsewhere): no retry
          setLive("off");
          ws.close();
          refresh();  // the page then leads to the sign-in
        } else if (data.type === "next") {
          refresh();
        } else if (data.type === "ping") {
          ws.send(JSON.stringify({type: "pong"}));
        }
      };
      ws.onclose = function (ev) {
        if (ended) { return; }
        if (ev.code === 4403) { setLive("off"); return; }  // the session ended: no retry
        setLive("retry");
        var wait = RETRY_MS[Math.min(failures, RETRY_MS.length - 1)];
        failures += acked ? 0 : 1;
        window.setTimeout(connect, wait);
      };
    }
    connect();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", live);
  } else {
    live();
  }
})();
