/*
 * Live updates for the staff pages, over the /live websocket (same origin, same session cookie).
 *
 * Events carry ids, statuses and counts only; message text is fetched as HTML from the server,
 * which escapes it, and inserted as parsed markup from our own origin (never built from event data).
 *
 * - Inbox (#inbox-list[data-live-inbox]): on "inbound_message", reload the list fragment.
 * - Conversation (#thread[data-live-thread]): on "inbound_message" for this conversation, fetch the
 *   items newer than the last one shown and append those not already there; on "status", update the
 *   label of that notification if it is on the page.
 * The socket reconnects after a drop, backing off up to 30 seconds.
 */
(function () {
  "use strict";

  var inbox = document.querySelector("[data-live-inbox]");
  var thread = document.querySelector("[data-live-thread]");
  var statusLine = document.getElementById("live-status");
  if (!inbox && !thread) { return; }
  var labels = {};
  if (thread) {
    try { labels = JSON.parse(thread.getAttribute("data-labels") || "{}"); } catch (e) { labels = {}; }
  }

  function fetchHtml(url) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } }).then(function (r) {
      if (!r.ok) { throw new Error("HTTP " + r.status); }
      return r.text();
    });
  }

  function parse(html) {
    var template = document.createElement("template");
    template.innerHTML = html; // server-rendered, escaped; <template> content runs no script
    return template.content;
  }

  function refreshInbox() {
    fetchHtml(inbox.getAttribute("data-live-inbox")).then(function (html) {
      inbox.replaceChildren(parse(html));
      if (statusLine) { statusLine.textContent = "New message received."; }
    }).catch(function () { /* the next event or a reload will catch up */ });
  }

  function lastCursor() {
    var items = thread.querySelectorAll("[data-at]");
    return items.length ? items[items.length - 1].getAttribute("data-at") : "";
  }

  function appendNew() {
    var url = thread.getAttribute("data-live-thread");
    var after = lastCursor();
    if (after) { url += "?after=" + encodeURIComponent(after); }
    fetchHtml(url).then(function (html) {
      parse(html).querySelectorAll("li[data-item-id]").forEach(function (item) {
        var id = item.getAttribute("data-item-id");
        if (!thread.querySelector('[data-item-id="' + CSS.escape(id) + '"]')) { thread.appendChild(item); }
      });
    }).catch(function () {});
  }

  function updateStatus(notificationId, status) {
    var item = thread.querySelector('[data-notification-id="' + CSS.escape(notificationId) + '"]');
    if (!item) { return; }
    var label = item.querySelector("[data-status]");
    if (!label) { return; }
    label.setAttribute("data-status", status);
    label.className = "status status--" + status;
    label.textContent = labels[status] || status;
  }

  function handle(event) {
    if (event.type === "inbound_message") {
      if (inbox) { refreshInbox(); }
      if (thread && event.conversation_id === thread.getAttribute("data-conversation-id")) { appendNew(); }
    } else if (event.type === "status" && thread) {
      updateStatus(event.notification_id, event.status);
    }
  }

  var delay = 1000;
  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + location.host + "/live");
    socket.addEventListener("open", function () {
      if (document.body.getAttribute("data-live") === "closed") { // events were missed while away
        if (inbox) { refreshInbox(); }
        if (thread) { appendNew(); }
      }
      delay = 1000;
      document.body.setAttribute("data-live", "open");
    });
    socket.addEventListener("message", function (message) {
      var event;
      try { event = JSON.parse(message.data); } catch (e) { return; }
      handle(event);
    });
    socket.addEventListener("close", function () {
      document.body.setAttribute("data-live", "closed");
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    });
  }
  connect();
})();
