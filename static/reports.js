// Draws the report charts from <canvas data-chart='{"labels": [...], "recipients": [...], ...}'>
// (the trigger's daily trends and the reports index); runs again after htmx swaps in a new range.
// Straight lines between the days (a smoothed curve suggests values between days that do not
// exist); each series has its own colour and line style, so Delivered (dashed green) stays
// distinguishable from Recipients (solid indigo, filled) where the two lines overlap, and the
// legend draws each series' line as it appears in the chart.
(function () {
  var STYLE = {
    recipients:   { color: "#4f46e5", dash: [],        width: 3, fill: true },
    delivered:    { color: "#047857", dash: [7, 4],    width: 2.5 },
    opened:       { color: "#1d5fd6", dash: [],        width: 2 },
    clicked:      { color: "#a21caf", dash: [2, 3],    width: 2 },
    failed:       { color: "#c0303f", dash: [10, 3, 2, 3], width: 2 },
    unsubscribed: { color: "#b45309", dash: [4, 4],    width: 2 },
    bounced:      { color: "#57534e", dash: [1, 3],    width: 2 }
  };
  var LABELS = { recipients: "Recipients", delivered: "Delivered", opened: "Opened",
                 clicked: "Clicked", failed: "Failed", unsubscribed: "Unsubscribed",
                 bounced: "Bounced" };
  var POINTS = { recipients: "circle", delivered: "rect", opened: "triangle",
                 clicked: "rectRot", failed: "crossRot", unsubscribed: "star",
                 bounced: "line" };

  function dataset(key, label, values, many) {
    var s = STYLE[key] || { color: "#585e74", dash: [], width: 2 };
    return {
      label: label, data: values, borderColor: s.color, backgroundColor: s.fill ? s.color + "1f" : s.color,
      borderDash: s.dash, borderWidth: s.width, tension: 0, fill: !!s.fill,
      pointStyle: POINTS[key] || "circle", pointRadius: many ? 0 : 3, pointHoverRadius: 5,
      pointBackgroundColor: s.color, pointBorderColor: s.color,
      // Recipients (the widest figure, filled) is drawn underneath, so the dashed Delivered
      // line stays visible on top of it where every recipient was delivered.
      order: key === "recipients" ? 10 : 0
    };
  }

  function draw() {
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      if (canvas._chart || !window.Chart) return;
      var data = JSON.parse(canvas.dataset.chart);
      var series = data.series || Object.keys(LABELS).map(function (k) { return [k, LABELS[k]]; });
      // Points only where there is room for them (not for 90 days, nor 30 on a phone).
      var many = data.labels.length > 40 || canvas.clientWidth / Math.max(data.labels.length, 1) < 14;
      canvas._chart = new Chart(canvas, {
        type: "line",
        data: {
          labels: data.labels,
          datasets: series.map(function (s) { return dataset(s[0], s[1], data[s[0]] || [], many); })
        },
        options: {
          maintainAspectRatio: false, animation: false, interaction: { mode: "index", intersect: false },
          elements: { line: { tension: 0, cubicInterpolationMode: "default" } },
          scales: { y: { beginAtZero: true, ticks: { precision: 0 } }, x: { grid: { display: false } } },
          plugins: {
            legend: {
              position: "bottom",
              labels: {
                // A stroke of each series' own line (colour, width and dash) in the legend.
                usePointStyle: true, pointStyleWidth: 34, boxHeight: 10, padding: 16,
                generateLabels: function (chart) {
                  return chart.data.datasets.map(function (d, i) {
                    return { text: d.label, datasetIndex: i, hidden: !chart.isDatasetVisible(i),
                             pointStyle: "line", strokeStyle: d.borderColor, fillStyle: d.borderColor,
                             lineWidth: d.borderWidth + 0.5, lineDash: d.borderDash, fontColor: "#1c2033" };
                  });
                }
              }
            }
          }
        }
      });
      canvas.dataset.drawn = "true";  // tests and screenshots wait for this
    });
  }
  document.addEventListener("DOMContentLoaded", draw);
  document.addEventListener("htmx:afterSettle", draw);
  if (document.readyState !== "loading") draw();
})();
