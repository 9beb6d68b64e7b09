// The report page's charts (统计报表), drawn with the embedded chart.js from the JSON in #chart-data;
// a file of its own so the Content-Security-Policy needs no inline script (issue 24).
(function () {
  'use strict';
  var data = document.getElementById('chart-data');
  if (!data) { return; }
  if (typeof Chart === 'undefined') {
    // chart.js is embedded in the server binary: this happens only when it failed to load.
    var missing = document.getElementById('charts-missing');
    if (missing) { missing.hidden = false; }
    return;
  }
  var d = JSON.parse(data.textContent);
  var opts = function (t) { return { animation: false, responsive: true, plugins: { title: { display: true, text: t } } }; };
  window.gridbookCharts = [
    new Chart(document.getElementById('chart-trend'), { type: 'line', data: { labels: d.trend.labels, datasets: [{ label: d.trend.title, data: d.trend.values, borderColor: '#1d4e89', tension: 0.2 }] }, options: opts(d.trend.title) }),
    new Chart(document.getElementById('chart-category'), { type: 'bar', data: { labels: d.category.labels, datasets: [{ label: d.category.title, data: d.category.values, backgroundColor: '#4f86c6' }] }, options: opts(d.category.title) }),
    new Chart(document.getElementById('chart-grids'), { type: 'bar', data: { labels: d.grids.labels, datasets: [
      { label: d.grids.completion_label, data: d.grids.completion, backgroundColor: '#37b24d' },
      { label: d.grids.on_time_label, data: d.grids.on_time, backgroundColor: '#f59f00' }] }, options: opts(d.grids.title) })
  ];
  document.body.setAttribute('data-charts', String(window.gridbookCharts.length));
})();
