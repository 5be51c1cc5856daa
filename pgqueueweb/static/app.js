// pgqueueweb: small progressive enhancement. Every page works without it.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // "Select all" checkbox of a job list.
  document.addEventListener("change", function (e) {
    var all = e.target;
    if (all.id !== "select-all") return;
    var boxes = document.querySelectorAll('#jobs input[type="checkbox"][name="id"]');
    for (var i = 0; i < boxes.length; i++) boxes[i].checked = all.checked;
  });

  // Live refresh: a <main data-refresh="N"> reloads its content every N
  // seconds while the tab is visible, without reloading the page.
  var main = document.getElementById("main");
  var every = main && parseInt(main.getAttribute("data-refresh"), 10);
  if (!every || every < 1) return;
  function refresh() {
    if (document.hidden) return;
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("main");
        if (!fresh) return;
        main.replaceChildren.apply(main, Array.prototype.map.call(fresh.childNodes, function (n) {
          return document.importNode(n, true);
        }));
        main.setAttribute("data-refreshed", String(Date.now()));
      })
      .catch(function () {});
  }
  setInterval(refresh, every * 1000);
})();
