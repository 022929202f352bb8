// Small behaviours shared by every page; htmx does the rest.
(function () {
  // Remember the browser's time zone so pages show times in it (unless the staff member
  // chose a zone on their account page). The IANA name is stored URL-encoded
  // ("Europe%2FBerlin"); blueprints/times.py decodes it and accepts only a known zone.
  try {
    var tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
    var stored = (document.cookie.match(/(?:^|;\s*)tz=([^;]*)/) || [])[1];
    if (tz && stored !== encodeURIComponent(tz)) {
      document.cookie = "tz=" + encodeURIComponent(tz) + ";path=/;max-age=31536000;samesite=lax";
    }
  } catch (e) { /* old browser: UTC it is */ }

  window.nudgeToast = function (text) {
    var el = document.getElementById("toast");
    if (!el) return;
    el.textContent = text;
    el.classList.add("show");
    clearTimeout(el._t);
    el._t = setTimeout(function () { el.classList.remove("show"); }, 3000);
  };

  // Servers send HX-Trigger: {"toast": "..."} to confirm an action.
  document.addEventListener("toast", function (e) { window.nudgeToast(e.detail.value || e.detail); });

  // Show server errors from htmx requests instead of failing silently.
  document.addEventListener("htmx:responseError", function (e) {
    window.nudgeToast("Something went wrong (" + e.detail.xhr.status + "). Please try again.");
  });

  // Live countdowns: <span data-countdown="ISO-8601 UTC">.
  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-countdown]").forEach(function (el) {
      var left = Math.max(0, Math.round((Date.parse(el.dataset.countdown) - now) / 1000));
      var m = Math.floor(left / 60), s = left % 60;
      el.textContent = left > 0 ? m + ":" + (s < 10 ? "0" : "") + s : (el.dataset.doneText || "0:00");
      if (left === 0 && el.dataset.onDone && !el._done) {
        el._done = true;
        el.dispatchEvent(new CustomEvent(el.dataset.onDone, { bubbles: true }));
      }
    });
  }
  setInterval(tick, 1000);
  document.addEventListener("htmx:afterSettle", tick);
  document.addEventListener("DOMContentLoaded", tick);

  // Close open dropdown menus when clicking elsewhere.
  document.addEventListener("click", function (e) {
    document.querySelectorAll("details.menu[open]").forEach(function (d) {
      if (!d.contains(e.target)) d.removeAttribute("open");
    });
  });
})();
