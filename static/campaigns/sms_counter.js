// Live SMS length under the text field of a message template: GSM-7 160/153 or UCS-2 70/67 characters a part.
// The same rules as campaigns.sms.sms_length on the server. Loaded as a static file (no inline script).
(function () {
  "use strict";
  var BASIC = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var EXTENSION = "^{}\\[~]|€\f";
  var lang = (document.documentElement.lang || "en").slice(0, 2);
  var words = lang === "pl"
    ? { chars: "znaków", parts: "części", ucs: "Znaki wymuszające UCS-2 (70 znaków na część): " }
    : { chars: "characters", parts: "part(s)", ucs: "Characters forcing UCS-2 (70 a part): " };

  function measure(text) {
    var outside = [];
    var units = 0;
    var chars = Array.from(text);
    chars.forEach(function (c) {
      if (BASIC.indexOf(c) === -1 && EXTENSION.indexOf(c) === -1 && outside.indexOf(c) === -1) outside.push(c);
    });
    var single, multi, encoding;
    if (outside.length) {
      units = text.length; // UTF-16 code units, as the network counts UCS-2
      single = 70; multi = 67; encoding = "UCS-2";
    } else {
      chars.forEach(function (c) { units += EXTENSION.indexOf(c) === -1 ? 1 : 2; });
      single = 160; multi = 153; encoding = "GSM-7";
    }
    var parts = units <= single ? (units ? 1 : 0) : Math.ceil(units / multi);
    return { units: units, parts: parts, encoding: encoding, outside: outside.join(" ") };
  }

  function attach(field) {
    var out = document.createElement("span");
    out.className = "sms-counter";
    out.setAttribute("aria-live", "polite");
    field.insertAdjacentElement("afterend", out);
    var channel = document.getElementById("id_channel");
    function update() {
      if (channel && channel.value !== "sms") { out.textContent = ""; return; }
      var m = measure(field.value);
      var text = m.units + " " + words.chars + ", " + m.encoding + ", " + m.parts + " " + words.parts;
      if (m.outside) text += ". " + words.ucs + m.outside;
      out.textContent = text;
      out.classList.toggle("sms-counter--warn", m.parts > 1 || m.encoding === "UCS-2");
    }
    field.addEventListener("input", update);
    if (channel) channel.addEventListener("change", update);
    update();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("textarea[data-sms-counter]").forEach(attach);
  });
})();
