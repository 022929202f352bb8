// Rule builder: the server renders every row (htmx); this file only turns the
// visual builder into the rule JSON (DESIGN.md "Rule format"), keeps the JSON
// tab's textarea (the form field) in step, and marks rows the preview says are wrong.
(function () {
  if (window.NudgeRuleBuilder) return;

  function builderOf(el) { return el && el.closest ? el.closest("[data-rb-builder]") : null; }
  function jsonField(b) { return document.querySelector(b.dataset.json); }
  function q(el, sel) { return el.querySelector(sel); }
  function directChildren(container) {
    return Array.prototype.filter.call(container.children, function (c) { return c.classList.contains("rb-node"); });
  }
  function num(text) {
    if (text === undefined || text === null || String(text).trim() === "") return null;
    var n = Number(text);
    return isNaN(n) ? String(text) : n;
  }
  function val(row, sel) { var el = q(row, sel); return el ? el.value : ""; }

  function condition(row) {
    var field = val(row, "[data-rb=field]");
    var op = val(row, "[data-rb=op]");
    var node;
    if (field === "list") {
      // {"list": id, "op": "member" | "not_member"}; null until a list is picked
      // (the live preview leaves it out, saving says "choose a list").
      var picked = val(row, "[data-rb=list-id]");
      return { list: picked === "" ? null : num(picked), op: op };
    }
    if (field.indexOf("event:") === 0) {
      var nameInput = q(row, "[data-rb=event-name]");
      node = { event: nameInput ? nameInput.value.trim() : field.slice(6), op: op };
    } else {
      node = { field: field, op: op };
    }
    switch (row.dataset.valueKind) {
      case "none": break;
      case "number": case "days": node.value = num(val(row, "[data-rb=value]")); break;
      case "between": node.value = [num(val(row, "[data-rb=low]")), num(val(row, "[data-rb=high]"))]; break;
      case "list":
        node.value = val(row, "[data-rb=list-text]").split(",").map(function (s) { return s.trim(); })
          .filter(function (s) { return s; });
        break;
      case "checks":
        node.value = Array.prototype.map.call(row.querySelectorAll("[data-rb=list-item]:checked"),
          function (c) { return c.value; });
        break;
      case "event_count": case "event_drop":
        node.value = num(val(row, "[data-rb=value]"));
        var within = num(val(row, "[data-rb=within]"));
        if (within !== null) node.within_days = within;
        break;
      default:
        // An empty box is a value not typed yet (null): the live preview leaves the
        // condition out and marks it, saving refuses it ("a value is required").
        var text = val(row, "[data-rb=value]");
        node.value = text === "" ? null : text;
    }
    return node;
  }

  // Serialise one node; records [element, path] pairs so errors can point at rows.
  function node(el, path, paths) {
    if (el.dataset.rbNode === "cond") { paths.push([el, path]); return condition(el); }
    var mode = val(el, ":scope > .rb-group-head [data-rb=mode]") || "all";
    var key = mode === "any" || mode === "none" ? "any" : "all";
    var inner = mode === "none" || mode === "notall" ? path + ".not." + key : path + "." + key;
    var children = [];
    directChildren(q(el, ":scope > .rb-children")).forEach(function (child) {
      var n = node(child, inner + "[" + children.length + "]", paths);
      if (n) children.push(n);
    });
    if (!children.length) return null;  // an empty group means nothing: skip it
    paths.push([el, path]);
    var group = {}; group[key] = children;
    return mode === "none" || mode === "notall" ? { not: group } : group;
  }

  function serialise(b) {
    var paths = [];
    var types = Array.prototype.map.call(b.querySelectorAll("[data-rb=user-type]:checked"),
      function (c) { return c.value; });
    var top = [];
    var root = q(b, ".rb-root");
    if (root) {
      var mode = val(root, ":scope > .rb-group-head [data-rb=mode]") || "all";
      var kids = directChildren(q(root, ":scope > .rb-children"));
      if (mode === "all") {
        kids.forEach(function (child) {
          var n = node(child, "all[" + top.length + "]", paths);
          if (n) top.push(n);
        });
      } else {
        var n = node(root, "all[0]", paths);
        if (n) top.push(n);
      }
    }
    var accountOn = q(b, "[data-rb=account-enabled]");
    if (accountOn && accountOn.checked) {
      directChildren(q(b, "[data-rb=account-children]")).forEach(function (row) {
        paths.push([row, "all[" + top.length + "]"]);
        top.push(condition(row));
      });
    }
    b._rbPaths = paths;
    return { user_types: types, all: top };
  }

  function refreshHints(b) {
    var none = q(b, ".rb-types-none");
    if (none) none.classList.toggle("hidden", !!q(b, "[data-rb=user-type]:checked"));
    var on = q(b, "[data-rb=account-enabled]");
    var body = q(b, ".rb-account-body");
    if (on && body) body.classList.toggle("hidden", !on.checked);
    b.querySelectorAll("[data-rb-summary]").forEach(function (s) {
      var picked = Array.prototype.map.call(s.parentNode.querySelectorAll("[data-rb=list-item]:checked"),
        function (c) { return c.value; });
      s.textContent = picked.length ? picked.join(", ") : "choose…";
    });
  }

  function changed(b) { b.dispatchEvent(new CustomEvent("rulechanged", { bubbles: true })); }

  // Visual builder -> textarea, then ask the preview to refresh.
  function sync(b) {
    if (!b || activeTab(b) !== "visual" || !q(b, ".rb-root")) return;
    refreshHints(b);
    jsonField(b).value = JSON.stringify(serialise(b), null, 2);
    changed(b);
  }

  function activeTab(b) { var t = q(b, ".rb-tabs .tab.active"); return t ? t.dataset.rbTab : "visual"; }
  function showTab(b, name) {
    b.querySelectorAll(".rb-tabs .tab").forEach(function (t) {
      t.classList.toggle("active", t.dataset.rbTab === name);
      t.setAttribute("aria-selected", t.dataset.rbTab === name ? "true" : "false");
    });
    b.querySelectorAll("[data-rb-panel]").forEach(function (p) { p.hidden = p.dataset.rbPanel !== name; });
  }
  function csrfHeaders() {
    try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}"); } catch (e) { return {}; }
  }

  // JSON -> visual: the server re-renders the builder from the JSON (or lists its errors).
  function toVisual(b) {
    var data = new FormData();
    data.append("prefix", b.dataset.prefix || "");
    data.append((b.dataset.prefix || "") + "rule_json", jsonField(b).value);
    fetch(b.dataset.visualUrl, { method: "POST", body: data, headers: csrfHeaders(), credentials: "same-origin" })
      .then(function (r) { return r.text().then(function (html) { return { ok: r.ok, html: html }; }); })
      .then(function (res) {
        if (!res.ok) {
          var box = document.getElementById(b.id + "-json-errors");
          if (box) box.innerHTML = res.html;
          window.nudgeToast && window.nudgeToast("Fix the JSON before switching to the visual builder.");
          return;
        }
        var visual = q(b, "[data-rb-visual]");
        visual.innerHTML = res.html;
        if (window.htmx) window.htmx.process(visual);
        showTab(b, "visual");
        sync(b);
      });
  }

  function markErrors(b, errors) {
    (b._rbPaths || []).forEach(function (pair) { pair[0].classList.remove("rb-invalid"); });
    if (!errors || !errors.length) return;
    (b._rbPaths || []).forEach(function (pair) {
      var path = pair[1];
      var hit = errors.some(function (e) {
        var p = e.path || "";
        return pair[0].dataset.rbNode === "cond"
          ? p === path || p.indexOf(path + ".") === 0 || p.indexOf(path + "[") === 0
          : p === path;
      });
      if (hit) pair[0].classList.add("rb-invalid");
    });
  }

  // Conditions the live preview left out because they are half-typed ("Role is ___").
  function markIgnored(b, ignored) {
    (b._rbPaths || []).forEach(function (pair) {
      var row = pair[0];
      if (row.dataset.rbNode !== "cond") return;
      var on = (ignored || []).indexOf(pair[1]) !== -1;
      row.classList.toggle("rb-incomplete", on);
      var tag = q(row, ".rb-incomplete-tag");
      if (on && !tag) {
        tag = document.createElement("span");
        tag.className = "rb-incomplete-tag";
        tag.setAttribute("role", "status");
        tag.textContent = "incomplete \u2014 ignored in the preview";
        var main = q(row, ".rb-cond-main") || row;
        main.appendChild(tag);
      } else if (!on && tag) {
        tag.remove();
      }
    });
  }

  function explain(b, email) {
    var card = document.getElementById(b.id + "-preview-card");
    var input = card && q(card, "[data-rb-explain-input]");
    if (!input || !window.htmx) return;
    if (email !== undefined) input.value = email;
    window.htmx.trigger(input, "explain");
  }

  function builderForPanel(el) {
    var card = el.closest(".rb-preview-card");
    return card ? document.getElementById(card.id.replace(/-preview-card$/, "")) : null;
  }

  document.addEventListener("input", function (e) {
    var b = builderOf(e.target);
    if (!b) return;
    if (e.target.matches(".rb-json")) { changed(b); return; }
    if (e.target.closest("[data-rb-visual]")) sync(b);
  });
  document.addEventListener("change", function (e) {
    var b = builderOf(e.target);
    // Field and operator changes re-render their row first; sync after the swap.
    if (!b || e.target.matches("[data-rb=field], [data-rb=op], .rb-json")) return;
    if (e.target.closest("[data-rb-visual]")) sync(b);
  });
  document.addEventListener("click", function (e) {
    var remove = e.target.closest("[data-rb-remove]");
    if (remove) {
      var b = builderOf(remove);
      remove.closest(".rb-node").remove();
      sync(b);
      return;
    }
    var tab = e.target.closest("[data-rb-tab]");
    if (tab) {
      var tb = builderOf(tab);
      if (tab.dataset.rbTab === activeTab(tb)) return;
      if (tab.dataset.rbTab === "json") { sync(tb); showTab(tb, "json"); } else { toVisual(tb); }
      return;
    }
    var why = e.target.closest("[data-rb-why]");
    if (why) { var wb = builderForPanel(why); if (wb) explain(wb, why.dataset.rbWhy); return; }
    var go = e.target.closest("[data-rb-explain-go]");
    if (go) { var gb = builderForPanel(go); if (gb) explain(gb); }
  });
  document.addEventListener("keydown", function (e) {
    // Enter in the explainer explains; it must not submit the surrounding form.
    if (e.key === "Enter" && e.target.matches("[data-rb-explain-input]")) {
      e.preventDefault();
      var b = builderForPanel(e.target);
      if (b) explain(b);
    }
  });
  // Rows re-rendered or added by htmx: serialise once the new row has settled.
  // (An outerHTML swap removes the element that asked, so remember the builder first.)
  document.addEventListener("htmx:beforeRequest", function (e) {
    var b = builderOf(e.target);
    if (b && e.target.closest("[data-rb-visual]")) b._rbPending = true;
  });
  document.addEventListener("htmx:afterSettle", function (e) {
    document.querySelectorAll("[data-rb-builder]").forEach(function (b) {
      if (b._rbPending) { b._rbPending = false; sync(b); }
    });
    var target = e.detail.target || e.target;
    if (target && target.classList && target.classList.contains("rb-preview")) {
      var pb = builderForPanel(target);
      var holder = q(target, "[data-rb-errors]");
      if (pb) markErrors(pb, holder ? JSON.parse(holder.dataset.rbErrors || "[]") : []);
      var ignored = holder ? JSON.parse(holder.dataset.rbIgnored || "[]") : [];
      if (pb) markIgnored(pb, ignored);
      // The "not saved" list of a refused save goes once the rule is whole again.
      var saved = pb && q(pb, ".rb-saved-errors");
      if (saved && holder && !ignored.length && holder.dataset.rbErrors === "[]") saved.remove();
    }
  });
  // A builder rendered on page load: remember its row paths for error marking.
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-rb-builder]").forEach(function (b) {
      if (q(b, ".rb-root")) serialise(b);
    });
  });

  window.NudgeRuleBuilder = { serialise: serialise, sync: sync };
})();
