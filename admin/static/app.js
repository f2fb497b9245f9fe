// Small behaviours of the admin pages (no inline scripts: the CSP allows only these files).
(function () {
  "use strict";
  function init(root) {
    // "Select all" checkboxes: <input type="checkbox" data-select-all="name">
    root.querySelectorAll("[data-select-all]").forEach(function (box) {
      box.addEventListener("change", function () {
        var name = box.getAttribute("data-select-all");
        document.querySelectorAll('input[type="checkbox"][name="' + name + '"]').forEach(function (b) {
          if (!b.disabled) { b.checked = box.checked; }
        });
      });
    });
    // Progress bars whose value comes from data-value (no inline style needed).
    root.querySelectorAll("progress[data-value]").forEach(function (p) {
      p.value = parseFloat(p.getAttribute("data-value")) || 0;
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    if (window.htmx) { window.htmx.onLoad(init); } else { init(document); }
  });
  // A refused htmx request (403 CSRF, 4xx with a message) is shown, not swallowed.
  document.addEventListener("htmx:responseError", function (ev) {
    var toast = document.getElementById("toast");
    if (!toast) { return; }
    var div = document.createElement("div");
    div.className = "msg";
    var text = ev.detail.xhr.responseText || "";
    var tmp = document.createElement("div");
    tmp.innerHTML = text;
    div.textContent = (tmp.textContent || "请求失败").trim().slice(0, 200);
    toast.appendChild(div);
    setTimeout(function () { div.remove(); }, 8000);
  });
})();
