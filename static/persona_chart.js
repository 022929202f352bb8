// The persona page's entered/left chart; the data comes from the #persona-chart-data
// element's data-chart attribute (no inline script under the Content-Security-Policy).
// After "Refresh now" finishes, htmx swaps that element in anew and the chart redraws.
(function () {
  var el = document.getElementById("persona-chart");
  if (!el || !window.Chart) return;
  function read() {
    var box = document.getElementById("persona-chart-data");
    return box ? JSON.parse(box.dataset.chart) : { labels: [], enter: [], leave: [] };
  }
  var data = read();
  var chart = new Chart(el, {
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
  document.addEventListener("htmx:oobAfterSwap", function (e) {
    var old = e.detail && e.detail.target;
    if (e.target.id !== "persona-chart-data" && !(old && old.id === "persona-chart-data")) return;
    var fresh = read();
    chart.data.labels = fresh.labels;
    chart.data.datasets[0].data = fresh.enter;
    chart.data.datasets[1].data = fresh.leave;
    chart.update();
  });
})();
