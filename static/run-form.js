// The model page's run form shows only the chosen test's fields: a field marked data-kinds="a b" shows while
// test a or b is chosen; hidden fields are disabled, so they are neither sent nor estimated. Without
// JavaScript every field shows and the server reads the chosen test's fields only.
(function () {
  function apply(form) {
    var chosen = form.querySelector('select[name="kind"]');
    if (!chosen) return;
    form.querySelectorAll("[data-kinds]").forEach(function (row) {
      var shown = row.dataset.kinds.split(" ").indexOf(chosen.value) >= 0;
      row.hidden = !shown;
      row.querySelectorAll("input, select, textarea").forEach(function (input) {
        input.disabled = !shown;
      });
    });
  }
  function setup() {
    document.querySelectorAll("form[data-run-form]").forEach(function (form) {
      apply(form);
      if (form.dataset.runFormReady) return;
      form.dataset.runFormReady = "1";
      form.addEventListener("change", function (event) {
        if (event.target.name === "kind") apply(form);
      });
    });
  }
  document.addEventListener("DOMContentLoaded", setup);
  document.addEventListener("htmx:afterSettle", setup);
})();
