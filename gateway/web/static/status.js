/*
 * After a form is sent and the page comes back (POST-redirect-GET), its status message is read out
 * and focus moves to it, so a screen reader user hears what happened and continues from there.
 * Any element with data-focus-on-load (a role="status" message, tabindex="-1") gets the focus.
 */
(function () {
  "use strict";
  function focusStatus() {
    var target = document.querySelector("[data-focus-on-load]");
    if (target && document.activeElement !== target) { target.focus(); }
  }
  // After the page has loaded and scrolled to any #fragment, which would otherwise reset focus.
  if (document.readyState === "complete") { focusStatus(); } else { window.addEventListener("load", focusStatus); }
})();
