// Trigger wizard steps (templates/triggers/step_*.html).
(function () {
  // Controls step: default the timezone to the browser's, as Natero's "local time" does.
  document.querySelectorAll("[data-detect-tz]").forEach(function (el) {
    if (!el.value) { try { el.value = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { el.value = "UTC"; } }
  });

  // Rule step: show only the parts that fit the chosen kind and audience.
  var form = document.getElementById("rule-step");
  if (!form) return;
  function refresh() {
    var kind = (form.querySelector("input[name=kind]:checked") || {}).value || "schedule";
    var audience = (form.querySelector("input[name=audience]:checked") || {}).value || "rule";
    var tags = [kind];
    if (kind === "schedule" && audience === "persona") tags.push("schedule-persona");
    form.querySelectorAll("[data-show-kind]").forEach(function (el) {
      var wanted = el.dataset.showKind.split(" ");
      el.classList.toggle("hidden", !wanted.some(function (t) { return tags.indexOf(t) !== -1; }));
    });
    var filter = form.querySelector("input[name=use_filter]");
    var needsRule = (kind === "schedule" && audience === "rule") || (filter && filter.checked && !(kind === "schedule" && audience === "rule"));
    document.getElementById("rule-card").classList.toggle("hidden", !needsRule);
  }
  form.addEventListener("change", refresh);
  refresh();
})();
