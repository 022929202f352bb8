// The persona page's entered/left chart; the data comes from this script tag's
// data-chart attribute (no inline script under the Content-Security-Policy).
(function () {
  var script = document.currentScript;
  var el = document.getElementById("persona-chart");
  if (!script || !el || !window.Chart) return;
  var data = JSON.parse(script.dataset.chart);
  new Chart(el, {
    type: "bar",
    data: { labels: data.labels, datasets: [
      { label: "Entered", data: data.enter, backgroundColor: "#0f9f6e", borderRadius: 3 },
      { label: "Left", data: data.leave, backgroundColor: "#f59e0b", borderRadius: 3 }
    ] },
    options: { responsive: true, maintainAspectRatio: false, interaction: { mode: "index", intersect: false },
      plugins: { legend: { position: "bottom" } },
      scales: { x: { grid: { display: false }, ticks: { maxRotation: 0, autoSkipPadding: 12 } },
                y: { beginAtZero: true, ticks: { precision: 0 } } } }
  });
})();
