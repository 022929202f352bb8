// Draws the daily-trends chart from <canvas data-chart='{"labels": [...], "recipients": [...], ...}'>;
// runs again after htmx swaps in a new range.
(function () {
  var SERIES = [
    ["recipients", "Recipients", "#6366f1"], ["delivered", "Delivered", "#0f9f6e"],
    ["opened", "Opened", "#2563eb"], ["clicked", "Clicked", "#7c3aed"],
    ["failed", "Failed", "#d93a4a"], ["unsubscribed", "Unsubscribed", "#b7791f"]
  ];
  function draw() {
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      if (canvas._chart || !window.Chart) return;
      var data = JSON.parse(canvas.dataset.chart);
      canvas._chart = new Chart(canvas, {
        type: "line",
        data: {
          labels: data.labels,
          datasets: SERIES.map(function (s) {
            return { label: s[1], data: data[s[0]], borderColor: s[2], backgroundColor: s[2] + "22",
                     tension: 0.25, pointRadius: data.labels.length > 40 ? 0 : 2, borderWidth: 2,
                     fill: s[0] === "recipients" };
          })
        },
        options: {
          maintainAspectRatio: false, animation: false, interaction: { mode: "index", intersect: false },
          scales: { y: { beginAtZero: true, ticks: { precision: 0 } }, x: { grid: { display: false } } },
          plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } }
        }
      });
    });
  }
  document.addEventListener("DOMContentLoaded", draw);
  document.addEventListener("htmx:afterSettle", draw);
  if (document.readyState !== "loading") draw();
})();
