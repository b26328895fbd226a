/*
 * SMS length counter for the staff pages: the same rules as gateway/templating/fragments.py.
 *
 * GSM-7: 160 septets in one message, 153 per part when longer; extension-table characters take
 * two septets. Any character outside GSM-7 makes the whole message UCS-2: 70 UTF-16 units in one
 * message, 67 per part; characters outside the Basic Multilingual Plane (most emoji) take two.
 * Parts are packed greedily: a two-unit character never straddles two parts.
 *
 * Any <textarea data-sms-counter="ID"> gets a live count in the element with that id.
 * window.gatewaySmsLength(text) is exposed for the browser tests, which compare it with Python.
 */
(function () {
  "use strict";

  var GSM_BASIC = new Set(Array.from(
    "@\u00a3$\u00a5\u00e8\u00e9\u00f9\u00ec\u00f2\u00c7\n\u00d8\u00f8\r\u00c5\u00e5\u0394_\u03a6\u0393\u039b\u03a9" +
    "\u03a0\u03a8\u03a3\u0398\u039e\u00c6\u00e6\u00df\u00c9 !\"#\u00a4%&'()*+,-./0123456789:;<=>?\u00a1" +
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ\u00c4\u00d6\u00d1\u00dc\u00a7\u00bfabcdefghijklmnopqrstuvwxyz" +
    "\u00e4\u00f6\u00f1\u00fc\u00e0"
  ));
  var GSM_EXTENSION = new Set(Array.from("^{}\\[~]|\u20ac\f"));
  var LIMITS = { "GSM-7": [160, 153], "UCS-2": [70, 67] };

  function smsLength(text) {
    var chars = Array.from(text); // code points, as Python iterates a str
    var gsm = chars.every(function (ch) { return GSM_BASIC.has(ch) || GSM_EXTENSION.has(ch); });
    var encoding = gsm ? "GSM-7" : "UCS-2";
    var widths = chars.map(function (ch) {
      if (gsm) { return GSM_EXTENSION.has(ch) ? 2 : 1; }
      return ch.codePointAt(0) > 0xffff ? 2 : 1;
    });
    var characters = widths.reduce(function (a, b) { return a + b; }, 0);
    var single = LIMITS[encoding][0];
    var perPart = LIMITS[encoding][1];
    var fragments;
    if (characters === 0) {
      fragments = 0;
    } else if (characters <= single) {
      fragments = 1;
    } else {
      fragments = 1;
      var used = 0;
      widths.forEach(function (width) {
        if (used + width > perPart) { fragments += 1; used = 0; }
        used += width;
      });
    }
    return { encoding: encoding, characters: characters, fragments: fragments };
  }

  function describe(length) {
    if (length.characters === 0) { return "Empty: nothing would be sent."; }
    var parts = length.fragments === 1 ? "1 text message" : length.fragments + " text messages";
    return length.characters + " characters (" + length.encoding + "), " + parts;
  }

  function attach(area) {
    var output = document.getElementById(area.getAttribute("data-sms-counter"));
    if (!output) { return; }
    var update = function () { output.textContent = describe(smsLength(area.value)); };
    area.addEventListener("input", update);
    update();
  }

  window.gatewaySmsLength = smsLength;
  document.querySelectorAll("textarea[data-sms-counter]").forEach(attach);
})();
