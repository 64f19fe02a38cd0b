// Live sync progress: follows the server-sent events of the sync page and updates its figures.
// Without JavaScript the page refreshes itself every 5 seconds instead.
(function () {
  "use strict";
  var live = document.getElementById("sync-live");
  if (!live || !window.EventSource) { return; }
  var source = new EventSource(live.getAttribute("data-events"));
  function set(id, text) {
    var el = document.getElementById(id);
    if (el) { el.textContent = text; }
  }
  source.addEventListener("progress", function (e) {
    var f;
    try { f = JSON.parse(e.data); } catch (err) { return; }
    set("sync-state", f.state);
    set("sync-phase", f.phase || "\u2014");
    set("sync-tickets", String(f.tickets));
    set("sync-conversations", String(f.conversations));
    set("sync-credits", f.credits + " (" + f.credits_run + " this run)");
    set("sync-eta", f.eta);
    var bar = document.getElementById("sync-bar");
    var box = document.getElementById("sync-progress");
    if (bar && box) {
      box.hidden = f.percent === null || f.percent === undefined;
      if (!box.hidden) {
        bar.value = f.percent;
        bar.textContent = f.percent + "%";
        set("sync-percent", f.percent + "%");
        set("sync-bar-eta", f.eta);
      }
    }
    var body = document.querySelector("#sync-held tbody");
    if (body && f.held) {
      while (body.firstChild) { body.removeChild(body.firstChild); }
      f.held.forEach(function (row) {
        var tr = document.createElement("tr");
        row.forEach(function (cell) {
          var td = document.createElement("td");
          td.textContent = String(cell);
          tr.appendChild(td);
        });
        body.appendChild(tr);
      });
    }
    var button = live.querySelector("button");
    if (button) { button.disabled = !!f.running; }
  });
}());
