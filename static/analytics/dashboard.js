/* The programme dashboard's charts: data from the page's json_script, drawn with the vendored Chart.js. */
(function () {
  "use strict";

  function draw() {
    var source = document.getElementById("analytics-chart-data");
    if (!source || typeof Chart === "undefined") {
      return;
    }
    var data = JSON.parse(source.textContent);
    if (!data) {
      return;
    }
    var labels = data.labels;
    var blue = "#417690";
    var orange = "#e08e0b";
    var palette = ["#2e7d32", "#66bb6a", "#9ccc65", "#29b6f6", "#ffa726", "#ef5350", "#8d6e63", "#757575"];
    var tierColours = ["#8d6e63", "#90a4ae", "#f9a825", "#417690", "#2e7d32", "#757575"];
    var base = { responsive: true, maintainAspectRatio: false, animation: false };

    function chart(id, config) {
      var canvas = document.getElementById(id);
      if (canvas) {
        new Chart(canvas, config);
      }
    }

    if (data.trend) {
      chart("chart-trend", {
        type: "line",
        data: {
          labels: data.trend.month,
          datasets: [
            { label: labels.revenue, data: data.trend.revenue.map(Number), borderColor: blue, backgroundColor: blue, yAxisID: "y" },
            { label: labels.buyers, data: data.trend.buyers, borderColor: orange, backgroundColor: orange, yAxisID: "y1" }
          ]
        },
        options: Object.assign({}, base, {
          scales: { y: { beginAtZero: true, position: "left" }, y1: { beginAtZero: true, position: "right", grid: { drawOnChartArea: false } } }
        })
      });
      chart("chart-points", {
        type: "line",
        data: {
          labels: data.trend.month,
          datasets: [
            { label: labels.earned, data: data.trend.points_earned, borderColor: "#2e7d32", backgroundColor: "#2e7d32" },
            { label: labels.redeemed, data: data.trend.points_redeemed, borderColor: "#c62828", backgroundColor: "#c62828" }
          ]
        },
        options: Object.assign({}, base, { scales: { y: { beginAtZero: true } } })
      });
    }

    function bars(id, series, label, colours) {
      chart(id, {
        type: "bar",
        data: { labels: series.labels, datasets: [{ label: label, data: series.values, backgroundColor: colours }] },
        options: Object.assign({}, base, { plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true } } })
      });
    }

    bars("chart-segments", data.segments, labels.members, palette);
    bars("chart-churn", data.churn, labels.members, ["#2e7d32", "#9ccc65", "#ffa726", "#ef6c00", "#c62828"]);
    if (data.tiers) {
      chart("chart-tiers", {
        type: "bar",
        data: {
          labels: data.tiers.labels,
          datasets: data.tiers.datasets.map(function (tier, index) {
            return { label: tier.label, data: tier.values, backgroundColor: tierColours[index % tierColours.length] };
          })
        },
        options: Object.assign({}, base, { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } })
      });
    }
    bars("chart-cohort-revenue", data.cohortRevenue, labels.perMember, orange);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
