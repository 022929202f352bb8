// Behaviours that used to be inline on*= handlers, now driven by data attributes
// (the Content-Security-Policy allows script only from these files). Delegated from
// the document, so they also work on content htmx swaps in.
(function () {
  if (window.nudgeBehaviours) return;
  window.nudgeBehaviours = true;

  function on(type, selector, handler, capture) {
    document.addEventListener(type, function (e) {
      var el = e.target && e.target.closest ? e.target.closest(selector) : null;
      if (el) handler(e, el);
    }, !!capture);
  }

  // <button data-toggle-class="open" data-toggle-target="#sidebar">: toggles a class.
  on("click", "[data-toggle-class]", function (e, el) {
    var target = document.querySelector(el.dataset.toggleTarget);
    if (target) target.classList.toggle(el.dataset.toggleClass);
  });

  // <button data-dismiss-parent>: removes its parent (a flash message).
  on("click", "[data-dismiss-parent]", function (e, el) {
    if (el.parentElement) el.parentElement.remove();
  });

  // <form data-confirm="Really?">: asks before submitting (capture: before htmx sees it).
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (form && form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      e.preventDefault();
      e.stopImmediatePropagation();
    }
  }, true);

  // <select data-autosubmit>: submits its form when changed. With
  // data-confirm-change="… {choice} …" it asks first ({choice}: the new option's
  // label; data-confirm-change-<value> asks differently for that value) and goes
  // back to the saved value when the answer is no.
  on("change", "[data-autosubmit]", function (e, el) {
    if (!el.form) return;
    var template = el.dataset.confirmChange;
    if (template) {
      var option = el.options[el.selectedIndex];
      var special = el.getAttribute("data-confirm-change-" + option.value);
      var question = (special || template).replace("{choice}", option.text);
      if (!window.confirm(question)) {
        for (var i = 0; i < el.options.length; i++) {
          if (el.options[i].defaultSelected) { el.selectedIndex = i; break; }
        }
        return;
      }
    }
    el.form.requestSubmit();
  });

  // <input data-select-on-focus>: selects its text (one-time secrets to copy).
  on("focusin", "[data-select-on-focus]", function (e, el) { el.select(); });

  // <button data-copy="#input">: copies that input's value to the clipboard.
  on("click", "[data-copy]", function (e, btn) {
    var input = document.querySelector(btn.dataset.copy);
    if (!input) return;
    input.select();
    var done = function () {
      if (window.nudgeToast) window.nudgeToast("Copied to the clipboard");
      var label = btn.querySelector("span");
      if (label) label.textContent = "Copied";
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done, function () { document.execCommand("copy"); done(); });
    } else { document.execCommand("copy"); done(); }
  });

  // <input type=checkbox data-hides="#box"> hides #box while checked;
  // <select data-hides="#box"> hides it while a value is chosen.
  on("change", "[data-hides]", function (e, el) {
    var target = document.querySelector(el.dataset.hides);
    if (!target) return;
    var set = el.type === "checkbox" ? el.checked : el.value !== "";
    target.classList.toggle("hidden", set);
  });

  // <select data-copies-to="#input">: keeps another field (in another form) in step.
  on("change", "[data-copies-to]", function (e, el) {
    var target = document.querySelector(el.dataset.copiesTo);
    if (target) target.value = el.value;
  });

  // <a data-show-part="html">: shows the [data-part=html] panel next to it, hides the others.
  on("click", "[data-show-part]", function (e, tab) {
    e.preventDefault();
    var box = tab.closest("[data-parts]") || document;
    var part = tab.dataset.showPart;
    box.querySelectorAll("[data-part]").forEach(function (el) { el.classList.toggle("hidden", el.dataset.part !== part); });
    box.querySelectorAll("[data-show-part]").forEach(function (el) {
      el.classList.toggle("active", el === tab);
      if (el.getAttribute("role") === "tab") el.setAttribute("aria-selected", el === tab ? "true" : "false");
    });
  });

  // ---- Field errors clear when their field is edited (issue 15; templates/_macros.html field) ----
  // <div class="field has-error" data-field-errors>: the first edit of its input, select or
  // textarea removes the error messages and the red state, so a fixed field stops saying it is
  // wrong. The server checks again on submit.
  function clearFieldErrors(e, box) {
    if (!e.target.matches || !e.target.matches("input, select, textarea")) return;
    box.classList.remove("has-error");
    box.removeAttribute("data-field-errors");
    box.querySelectorAll(".field-errors").forEach(function (el) { el.remove(); });
    box.querySelectorAll("[aria-invalid]").forEach(function (el) {
      el.removeAttribute("aria-invalid");
      el.removeAttribute("aria-describedby");
    });
  }
  on("input", "[data-field-errors]", clearFieldErrors);
  on("change", "[data-field-errors]", clearFieldErrors);
  // ---- end field errors ----

  // <input data-zone-picker list="…">: a time-zone picker (templates/_zone_picker.html).
  // A typed place ("berlin", "new york") or a name in other letter case becomes the IANA
  // name from the list; text that is no zone is marked at once and the form is not sent
  // (the server refuses it too).
  function zoneNames(input) {
    var list = input.list;
    return list ? Array.prototype.map.call(list.options, function (o) { return o.value; }) : [];
  }
  function zoneMatch(input) {
    var typed = input.value.trim().toLowerCase().replace(/ /g, "_");
    if (!typed) return "";
    var names = zoneNames(input), exact = null, places = [];
    names.forEach(function (n) {
      var low = n.toLowerCase();
      if (low === typed) exact = n;
      else if (low.slice(low.lastIndexOf("/") + 1) === typed) places.push(n);
    });
    return exact || (places.length === 1 ? places[0] : null);
  }
  function zoneCheck(input) {
    var match = zoneMatch(input);
    if (match) input.value = match;
    var field = input.closest(".field"), bad = match === null;
    var note = field && field.querySelector("[data-zone-error]");
    if (bad && field && !note) {
      note = document.createElement("small");
      note.className = "error";
      note.setAttribute("data-zone-error", "");
      note.id = input.id + "-zone-error";
      field.appendChild(note);
    }
    if (note) {
      note.textContent = bad ? "“" + input.value.trim() + "” is not a time zone: choose one from the list (type a city to search)." : "";
      note.hidden = !bad;
    }
    if (field && !bad) field.querySelectorAll(".error").forEach(function (el) { el.hidden = true; });  // fixed
    if (field) field.classList.toggle("has-error", bad);
    input.setAttribute("aria-invalid", bad ? "true" : "false");
    if (bad) input.setAttribute("aria-describedby", input.id + "-zone-error");
    else input.removeAttribute("aria-describedby");
    return !bad;
  }
  on("change", "[data-zone-picker]", function (e, el) { zoneCheck(el); });
  document.addEventListener("submit", function (e) {
    var bad = Array.prototype.filter.call(e.target.querySelectorAll("[data-zone-picker]"), function (el) { return !zoneCheck(el); });
    if (bad.length) {
      e.preventDefault();
      e.stopImmediatePropagation();
      bad[0].focus();
    }
  }, true);
})();
