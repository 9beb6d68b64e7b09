// The report page's charts (chart.js), from the JSON in #chart-data; a file of its own so the Content-Security-Policy needs no inline script (issue 24).
(function () {
  if (typeof Chart === 'undefined') { return; }
  var d = JSON.parse(document.getElementById('chart-data').textContent);
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
