// Date-time pickers in the page's language, not the browser's: flatpickr 4.6.13 (npm, MIT,
// vendored in static/vendor) with its Czech locale on a Czech page (Czech day and month names,
// Monday first, 24-hour clock) and English on an English one. The form field keeps its ISO
// local value ("2026-12-24T18:00"), so the page's scripts read it as before.
"use strict";

function pageDatePickers(root = document) {
  if (typeof flatpickr === "undefined") return [];  // the browser's own picker stays
  const czech = document.documentElement.lang === "cs";
  return [...root.querySelectorAll("input[type=datetime-local]")].map((input) => flatpickr(input, {
    enableTime: true, time_24hr: czech, allowInput: true, minuteIncrement: 5,
    dateFormat: "Y-m-d\\TH:i", altInput: true, altInputClass: "datetime-picker", altFormat: czech ? "j. n. Y H:i" : "M j, Y h:i K",
    ariaDateFormat: czech ? "j. n. Y" : "F j, Y",
    locale: czech ? flatpickr.l10ns.cs : flatpickr.l10ns.default,
  }));
}

document.addEventListener("DOMContentLoaded", () => { pageDatePickers(); });
