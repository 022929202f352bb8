// Variable picker (templates/_variable_picker.html): inserts "{{ contact.first_name }}" etc.
// at the cursor of the subject/HTML/text field the user was last in, keeping undo
// history, and fires "input" so live previews refresh. Delegated, so it also works
// on content swapped in by htmx; safe to load more than once.
(function () {
  if (window.nudgeVariablePicker) return;
  window.nudgeVariablePicker = true;

  var NAMES = { subject: "the subject", html: "the HTML body", text: "the plain text" };
  var last = null;

  function isTarget(el) {
    return !!el && el.matches && !el.disabled && !el.readOnly &&
      (el.matches("[data-var-target]") ||
       (el.matches("textarea, input[type=text], input:not([type])") && NAMES.hasOwnProperty(el.name)));
  }
  function visible(el) { return !!el && document.contains(el) && el.offsetParent !== null; }
  function scopeOf(picker) { return (picker && picker.closest("form")) || document; }
  function fallback(picker) {
    var scope = scopeOf(picker);
    var order = ["textarea[name=html]", "[data-var-target]", "textarea[name=text]", "input[name=subject]"];
    for (var i = 0; i < order.length; i++) {
      var el = scope.querySelector(order[i]) || document.querySelector(order[i]);
      if (visible(el) && isTarget(el)) return el;
    }
    return null;
  }
  function targetFor(picker) { return visible(last) ? last : fallback(picker); }
  function describe(el) {
    if (!el) return "—";
    if (el.dataset.varLabel) return el.dataset.varLabel;
    return NAMES[el.name] || el.name;
  }
  function refreshLabels() {
    document.querySelectorAll("[data-var-picker]").forEach(function (picker) {
      var label = picker.querySelector("[data-var-target-label]");
      if (label) label.textContent = describe(targetFor(picker));
    });
  }

  document.addEventListener("focusin", function (e) {
    if (isTarget(e.target)) { last = e.target; refreshLabels(); }
  });
  // Keep the caret (and focus) in the field when a chip is pressed with the mouse.
  document.addEventListener("mousedown", function (e) {
    if (e.target.closest && e.target.closest("[data-insert-var]")) e.preventDefault();
  });
  document.addEventListener("click", function (e) {
    var chip = e.target.closest && e.target.closest("[data-insert-var]");
    if (!chip) return;
    e.preventDefault();
    var field = targetFor(chip.closest("[data-var-picker]"));
    if (!field) return;
    var snippet = chip.getAttribute("data-insert-var");
    var start = field.selectionStart != null ? field.selectionStart : field.value.length;
    var end = field.selectionEnd != null ? field.selectionEnd : start;
    field.focus();
    field.setSelectionRange(start, end);
    // execCommand keeps the browser's undo stack; setRangeText is the fallback.
    var done = false;
    try { done = document.execCommand("insertText", false, snippet); } catch (err) { done = false; }
    if (!done) {
      field.setRangeText(snippet, start, end, "end");
      field.dispatchEvent(new Event("input", { bubbles: true }));
    }
    last = field;
    refreshLabels();
  });
  document.addEventListener("input", function (e) {
    if (!e.target.matches || !e.target.matches("[data-var-filter]")) return;
    var picker = e.target.closest("[data-var-picker]");
    var q = e.target.value.trim().toLowerCase();
    var any = false;
    picker.querySelectorAll("[data-var-group]").forEach(function (group) {
      var shown = 0;
      group.querySelectorAll("[data-insert-var]").forEach(function (chip) {
        var hit = !q || chip.getAttribute("data-var-search").indexOf(q) !== -1;
        chip.classList.toggle("hidden", !hit);
        if (hit) shown++;
      });
      group.classList.toggle("hidden", shown === 0);
      if (shown) any = true;
    });
    picker.querySelector("[data-var-none]").classList.toggle("hidden", any);
  });
  // Enter in the filter box must not submit the surrounding form.
  document.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && e.target.matches && e.target.matches("[data-var-filter]")) e.preventDefault();
  });
  document.addEventListener("DOMContentLoaded", refreshLabels);
  document.addEventListener("htmx:afterSettle", refreshLabels);
  refreshLabels();
})();
