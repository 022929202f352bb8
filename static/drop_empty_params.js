// Leave empty filters out of htmx requests from the form named by this script tag's
// data-form selector, so the pushed URL stays short and shareable.
(function () {
  var script = document.currentScript;
  var selector = script && script.dataset.form;
  if (!selector) return;
  document.addEventListener("htmx:configRequest", function (e) {
    if (!e.detail.elt.closest(selector)) return;
    Object.keys(e.detail.parameters).forEach(function (k) {
      if (e.detail.parameters[k] === "") delete e.detail.parameters[k];
    });
  });
})();
