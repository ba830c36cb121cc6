// Draws every server-built Plotly figure on the page: a json_script with id "NAME-figure" fills the
// element with id "NAME". The figures' numbers are in a table beside each chart.
(function () {
  function draw() {
    document.querySelectorAll('script[type="application/json"][id$="-figure"]').forEach(function (node) {
      var target = document.getElementById(node.id.slice(0, -"-figure".length));
      if (!target || target.dataset.drawn) return;
      var figure = JSON.parse(node.textContent);
      window.Plotly.newPlot(target, figure.data, figure.layout, { responsive: true, displaylogo: false });
      target.dataset.drawn = "1";
    });
  }
  document.addEventListener("DOMContentLoaded", draw);
  document.addEventListener("htmx:afterSettle", draw);
})();
