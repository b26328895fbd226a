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
 * - Read state is per member of staff: after new replies are appended, the page POSTs the time of the
 *   newest one it shows to data-read-url, but only while the page is visible and focused; otherwise
 *   when it next becomes so. Until then they count as unread in the inbox and on the caseload.
 * - Opt-out state: when a message arrives in this conversation, data-state-url says whether they are
 *   opted out now, and the [data-when-opted-out] / [data-when-opted-in] parts (the line and the
 *   composer) are shown or hidden to match.
 * - "Load earlier messages" (a link that works without script) fetches the page before the oldest
 *   shown and puts it on top; the thread box opens scrolled to the newest message.
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
    var atBottom = box ? box.scrollHeight - box.scrollTop - box.clientHeight < 40 : true;
    fetchHtml(url).then(function (html) {
      parse(html).querySelectorAll("li[data-item-id]").forEach(function (item) {
        var id = item.getAttribute("data-item-id");
        if (!thread.querySelector('[data-item-id="' + CSS.escape(id) + '"]')) { thread.appendChild(item); }
      });
      if (atBottom) { scrollToNewest(); }
      markRead();
    }).catch(function () {});
  }

  var box = document.getElementById("thread-box");
  var seenUpTo = "";
  function newestInbound() {
    var items = thread.querySelectorAll('li[data-direction="in"]');
    return items.length ? items[items.length - 1].getAttribute("data-at") : "";
  }
  function looking() { return document.visibilityState === "visible" && document.hasFocus(); }
  function markRead() {
    var newest = newestInbound();
    if (!newest || newest === seenUpTo || !looking() || thread.hasAttribute("data-older-view")) { return; }
    seenUpTo = newest;
    var body = new URLSearchParams({ through: newest });
    fetch(thread.getAttribute("data-read-url"), {
      method: "POST", credentials: "same-origin", body: body,
      headers: { "X-CSRF-Token": thread.getAttribute("data-csrf") || "" }
    }).catch(function () { seenUpTo = ""; });
  }
  function refreshState() {
    var url = thread.getAttribute("data-state-url");
    if (!url) { return; }
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } }).then(function (r) {
      return r.ok ? r.json() : null;
    }).then(function (state) {
      if (!state) { return; }
      document.querySelectorAll("[data-when-opted-out]").forEach(function (e) { e.hidden = !state.opted_out; });
      document.querySelectorAll("[data-when-opted-in]").forEach(function (e) { e.hidden = state.opted_out; });
    }).catch(function () {});
  }
  function scrollToNewest() { if (box) { box.scrollTop = box.scrollHeight; } }
  function loadEarlier(link) {
    var url = thread.getAttribute("data-live-thread") + "?before=" + encodeURIComponent(link.getAttribute("data-load-earlier"));
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } }).then(function (r) {
      if (!r.ok) { throw new Error("HTTP " + r.status); }
      var next = r.headers.get("X-Earlier-Cursor");
      return r.text().then(function (html) { return { html: html, next: next }; });
    }).then(function (got) {
      var height = box ? box.scrollHeight : 0;
      var first = thread.firstElementChild;
      parse(got.html).querySelectorAll("li[data-item-id]").forEach(function (item) {
        var id = item.getAttribute("data-item-id");
        if (!thread.querySelector('[data-item-id="' + CSS.escape(id) + '"]')) { thread.insertBefore(item, first); }
      });
      if (box) { box.scrollTop = box.scrollHeight - height; }
      if (got.next) {
        link.setAttribute("data-load-earlier", got.next);
        link.setAttribute("href", location.pathname + "?before=" + encodeURIComponent(got.next) + "#thread-title");
      } else {
        link.parentNode.textContent = "This is the start of the conversation.";
      }
    }).catch(function () { location.href = link.getAttribute("href"); });
  }
  if (thread) {
    if (!thread.hasAttribute("data-older-view")) { scrollToNewest(); }
    document.addEventListener("visibilitychange", markRead);
    window.addEventListener("focus", markRead);
    var earlierLink = document.querySelector("[data-load-earlier]");
    if (earlierLink) {
      earlierLink.addEventListener("click", function (e) { e.preventDefault(); loadEarlier(earlierLink); });
    }
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
      if (thread && event.conversation_id === thread.getAttribute("data-conversation-id")) {
        if (!thread.hasAttribute("data-older-view")) { appendNew(); }
        refreshState();
      }
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
