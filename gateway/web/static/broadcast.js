/*
 * A broadcast's live progress: the counts come from /broadcasts/{id}/progress (JSON), fetched when the
 * /live websocket says this broadcast moved, and every 2 seconds in case it cannot say (no socket).
 * The page reloads once the broadcast stops (finished, cancelled, paused) so its buttons match.
 */
(function () {
  "use strict";
  var section = document.querySelector("[data-broadcast-id]");
  if (!section) { return; }
  var id = section.getAttribute("data-broadcast-id");
  var url = section.getAttribute("data-progress-url");
  var statusCell = document.getElementById("broadcast-status");
  var bar = document.getElementById("progress-bar");
  var said = document.getElementById("progress-said");
  var busy = false;
  var shown = statusCell ? statusCell.textContent.trim() : "";

  function refresh() {
    if (busy) { return; }
    busy = true;
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        busy = false;
        if (!data) { return; }
        ["queued", "quiet", "sent", "delivered", "failed", "cancelled", "total"].forEach(function (k) {
          var cell = section.querySelector('[data-count="' + k + '"]');
          if (cell) { cell.textContent = String(data[k]); }
        });
        if (bar) { bar.max = Math.max(1, data.total); bar.value = data.total - data.queued; }
        var status = String(data.status).replace("_", " ");
        if (status !== shown) {
          shown = status;
          if (said) { said.textContent = "Broadcast " + status + "."; }
          if (["finished", "cancelled", "paused"].indexOf(status) >= 0) { location.reload(); }
        }
      })
      .catch(function () { busy = false; });
  }

  try {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + location.host + "/live");
    socket.onmessage = function (message) {
      try {
        var event = JSON.parse(message.data);
        if (event.type === "broadcast" && event.broadcast_id === id) { refresh(); }
      } catch (e) { /* not for us */ }
    };
  } catch (e) { /* polling alone */ }
  setInterval(refresh, 2000);
})();
