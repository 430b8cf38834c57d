// Refer-a-friend: share the link with the Web Share API where the browser has it, copy it otherwise.
// Loaded from a static file (no inline script), so it runs under the Content-Security-Policy.
(function () {
  "use strict";

  function setUp(box) {
    var input = box.querySelector("[data-share-url]");
    var shareButton = box.querySelector("[data-share-button]");
    var copyButton = box.querySelector("[data-copy-button]");
    var status = box.querySelector("[data-share-status]");
    if (!input) {
      return;
    }
    var say = function (text) {
      if (status) {
        status.textContent = text || "";
      }
    };
    if (shareButton && navigator.share) {
      shareButton.hidden = false;
      shareButton.addEventListener("click", function () {
        navigator
          .share({ title: box.dataset.shareTitle, text: box.dataset.shareText, url: input.value })
          .catch(function () {
            /* the member closed the share sheet */
          });
      });
    }
    if (copyButton) {
      copyButton.addEventListener("click", function () {
        var copied = function () {
          say(status && status.dataset.copied);
        };
        var fallback = function () {
          input.focus();
          input.select();
          var ok = false;
          try {
            ok = document.execCommand("copy");
          } catch (error) {
            ok = false;
          }
          say(status && (ok ? status.dataset.copied : status.dataset.copyFailed));
        };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(input.value).then(copied, fallback);
        } else {
          fallback();
        }
      });
    }
  }

  function init() {
    document.querySelectorAll("[data-share]").forEach(setUp);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
