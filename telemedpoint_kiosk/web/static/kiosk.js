// Kiosk screens: show that a device is measuring, follow the ECG recording, refresh the status bar.
(function () {
  "use strict";
  document.querySelectorAll("form.measure").forEach(function (form) {
    form.addEventListener("submit", function () {
      var button = form.querySelector("button");
      if (button) {
        button.disabled = true;
        if (form.dataset.busy) button.textContent = form.dataset.busy;
      }
    });
  });
  var ecg = document.getElementById("ecg-progress");
  if (ecg) {
    var bar = ecg.querySelector("progress");
    var poll = function () {
      fetch("/visits/" + ecg.dataset.visit + "/ecg-progress", { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (s) {
          if (!s.running) { window.location.reload(); return; }
          bar.value = s.progress || 0;
          setTimeout(poll, 300);
        })
        .catch(function () { setTimeout(poll, 1000); });
    };
    setTimeout(poll, 300);
  }
  var unsent = document.getElementById("unsent");
  if (unsent) {
    setInterval(function () {
      fetch("/status", { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (s) {
          unsent.textContent = s.unsent;
          document.getElementById("last-sync").textContent = s.last_sync;
          var link = document.getElementById("link");
          link.textContent = s.link_text;
          link.className = "pill " + s.link_state;
          document.getElementById("statusbar").className = s.link_state;
        })
        .catch(function () {});
    }, 2000);
  }
})();
