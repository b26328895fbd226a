/*
 * The conversation composer, live: as the officer types, the template preview and the length
 * warnings follow (the server renders the template, so what is shown is what would be sent).
 *
 * - With a template: every change to a field posts the form to data-preview-url (debounced) and
 *   shows the rendered text, its length in characters and text messages, and any warning.
 * - Free text: the 918-character limit is warned under the counter (sms-length.js counts).
 * After a send, the page comes back with a status message; focus moves to it so it is announced.
 */
(function () {
  "use strict";

  var form = document.querySelector("form.composer[data-preview-url]");
  if (!form) { return; }
  var limit = parseInt(form.getAttribute("data-sms-limit") || "918", 10);
  var body = form.querySelector("[data-preview-body]");
  var lengthOut = form.querySelector("[data-preview-length]");
  var warningsOut = form.querySelector("[data-preview-warnings]");
  var subject = form.querySelector("[data-preview-subject]");
  var sendButton = form.querySelector("button[type=submit]");
  var timer = null;
  var latest = 0;

  function showWarnings(target, warnings) {
    target.textContent = "";
    warnings.forEach(function (text) {
      var p = document.createElement("p");
      p.className = "notice notice--warning";
      p.textContent = text;
      target.appendChild(p);
    });
  }

  function describe(data) {
    if (data.encoding) {
      var parts = data.fragments === 1 ? "1 text message" : data.fragments + " text messages";
      return data.characters + " characters (" + data.encoding + "), " + parts;
    }
    return data.characters + " characters";
  }

  function refresh() {
    var ticket = ++latest;
    var data = new FormData(form);
    fetch(form.getAttribute("data-preview-url"), {
      method: "POST",
      body: new URLSearchParams(data),
      credentials: "same-origin",
      headers: { "Accept": "application/json" }
    }).then(function (response) {
      return response.ok ? response.json() : null;
    }).then(function (data) {
      if (!data || ticket !== latest) { return; }
      if (body) { body.textContent = data.body; }
      if (subject && data.subject !== undefined) { subject.textContent = data.subject || ""; }
      if (lengthOut) { lengthOut.textContent = describe(data); }
      if (warningsOut) { showWarnings(warningsOut, data.warnings); }
      if (sendButton) {
        if (data.warnings.length) { sendButton.setAttribute("aria-describedby", "preview-warnings"); }
        else { sendButton.removeAttribute("aria-describedby"); }
      }
    }).catch(function () { /* the server checks again on Send */ });
  }

  if (body) {
    form.addEventListener("input", function (event) {
      if (!event.target.name || event.target.name.indexOf("p.") !== 0) { return; }
      if (timer) { clearTimeout(timer); }
      timer = setTimeout(refresh, 200);
    });
  }

  var area = form.querySelector("textarea[data-sms-counter]");
  if (area && window.gatewaySmsLength) {
    var warn = document.createElement("div");
    warn.setAttribute("aria-live", "polite");
    warn.setAttribute("data-testid", "free-text-warnings");
    area.parentNode.appendChild(warn);
    var check = function () {
      var length = window.gatewaySmsLength(area.value);
      var warnings = [];
      if (length.characters > limit) {
        warnings.push("Too long to send: text messages can be at most " + limit + " characters and this one is " +
          length.characters + ". Shorten it.");
      } else if (length.fragments > 1) {
        warnings.push("This will be sent as " + length.fragments + " text messages (and billed as " +
          length.fragments + ").");
      }
      showWarnings(warn, warnings);
    };
    area.addEventListener("input", check);
    check();
  }
})();
