// Outbox list: selection + bulk bar, and the nav badge after approvals (the list
// itself is htmx). The outbox URL (to find its nav item) is this script tag's data-outbox-url.
(function () {
  var script = document.currentScript;
  var outboxUrl = script ? script.dataset.outboxUrl : "";
  function boxes() { return Array.prototype.slice.call(document.querySelectorAll("#outbox-list input[name=ids]")); }
  function refresh() {
    var all = boxes(), picked = all.filter(function (b) { return b.checked; });
    var counter = document.querySelector("[data-selected-count]");
    if (counter) counter.textContent = picked.length ? picked.length + " selected" : "None selected";
    document.querySelectorAll("[data-needs-selection]").forEach(function (b) { b.disabled = !picked.length; });
    var bar = document.querySelector("[data-bulk-bar]");
    if (bar) bar.classList.toggle("has-selection", picked.length > 0);
    var master = document.querySelector("[data-select-all]");
    if (master) {
      master.checked = all.length > 0 && picked.length === all.length;
      master.indeterminate = picked.length > 0 && picked.length < all.length;
    }
    all.forEach(function (b) { var row = b.closest("tr"); if (row) row.classList.toggle("selected", b.checked); });
  }
  document.addEventListener("change", function (e) {
    if (e.target.matches("[data-select-all]")) boxes().forEach(function (b) { b.checked = e.target.checked; });
    if (e.target.matches("[data-select-all], #outbox-list input[name=ids]")) refresh();
  });
  document.addEventListener("htmx:afterSettle", refresh);
  document.addEventListener("DOMContentLoaded", refresh);
  if (document.readyState !== "loading") refresh();
  document.addEventListener("outbox-waiting", function (e) {
    var n = e.detail.value !== undefined ? e.detail.value : e.detail;
    var item = Array.prototype.find.call(document.querySelectorAll(".nav-item"), function (a) {
      return a.getAttribute("href") === outboxUrl;
    });
    if (!item) return;
    var badge = item.querySelector(".nav-badge");
    if (!n) { if (badge) badge.remove(); return; }
    if (!badge) { badge = document.createElement("span"); badge.className = "nav-badge"; badge.title = "Waiting for approval"; item.appendChild(badge); }
    badge.textContent = Number(n).toLocaleString("en-US");
  });
})();
