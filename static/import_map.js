// Import "Map columns": shows a sample value next to each field and hides attribute
// checkboxes for columns already mapped. The CSV's columns and first row come from this
// script tag's data-columns / data-first attributes.
(function () {
  var script = document.currentScript;
  var form = document.getElementById("map-form");
  if (!script || !form) return;
  var columns = JSON.parse(script.dataset.columns), first = JSON.parse(script.dataset.first);
  function refresh() {
    var used = {};
    form.querySelectorAll("select[data-field]").forEach(function (sel) {
      if (sel.value) used[sel.value] = true;
      var i = columns.indexOf(sel.value);
      form.querySelector('[data-sample-for="' + sel.dataset.field + '"]').textContent = i >= 0 && i < first.length ? first[i] : "";
    });
    // A column mapped to a field is not also an attribute.
    form.querySelectorAll("[data-attr-column]").forEach(function (label) {
      var box = label.querySelector("input");
      box.disabled = !!used[label.dataset.attrColumn];
      label.classList.toggle("hidden", box.disabled);
    });
  }
  form.addEventListener("change", refresh);
  refresh();
})();
