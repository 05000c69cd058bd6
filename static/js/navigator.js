// Issue navigator: select-all for bulk actions, caret at the JQL error, Enter to search, JQL autocomplete.
// Everything here is an enhancement; the page works without JavaScript.
(function () {
  "use strict";
  var jql = document.getElementById("jql-input");
  if (jql) {
    var pos = parseInt(jql.getAttribute("data-error-position") || "", 10);
    if (!isNaN(pos) && pos > 0) {
      jql.focus();
      var at = Math.min(pos - 1, jql.value.length);
      jql.setSelectionRange(at, at);
    }
    setupAutocomplete(jql);
    jql.addEventListener("keydown", function (event) {
      if (event.defaultPrevented) { return; }  // the autocomplete took the key
      if (event.key === "Enter" && !event.shiftKey) {
        // A one-line box: Enter searches (Shift+Enter adds a line break).
        event.preventDefault();
        if (jql.form.requestSubmit) { jql.form.requestSubmit(); } else { jql.form.submit(); }
      }
    });
  }
  // A JQL search typed with its own ORDER BY replaces the remembered column sort (hidden sort/dir inputs).
  var jqlForm = document.getElementById("jql-form");
  if (jqlForm && jql) {
    jqlForm.addEventListener("submit", function () {
      if (/\border\s+by\b/i.test(jql.value.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, ""))) {
        jqlForm.querySelectorAll('input[name="sort"], input[name="dir"]').forEach(function (el) { el.remove(); });
      }
    });
  }
  var all = document.getElementById("select-all");
  var counter = document.getElementById("bulk-count");
  var boxes = function () { return document.querySelectorAll('#issue-table input[name="issue"]'); };
  var update = function () {
    var n = 0;
    boxes().forEach(function (box) {
      if (box.checked) { n += 1; }
      var row = box.closest("tr");
      if (row) { row.classList.toggle("selected", box.checked); }
    });
    if (counter) { counter.textContent = n + " selected"; }
  };
  if (all) {
    all.addEventListener("change", function () {
      boxes().forEach(function (box) { box.checked = all.checked; });
      update();
    });
  }
  document.addEventListener("change", function (event) {
    if (event.target && event.target.name === "issue") { update(); }
  });
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });

  // ------------------------------------------------------------------ JQL autocomplete
  // Suggests field names where a field may start, operators' values (statuses, people, projects, labels,
  // functions) after an operator, and AND / OR / ORDER BY after a complete clause. Names come from the
  // page (json_script), values from the REST API's autocomplete suggestions (only what the user may see).
  function setupAutocomplete(box) {
    var list = document.getElementById("jql-suggest");
    var dataEl = document.getElementById("jql-autocomplete-data");
    if (!list || !dataEl) { return; }
    var data;
    try { data = JSON.parse(dataEl.textContent); } catch (e) { return; }
    var fields = data.visibleFieldNames || [];
    var functions = (data.visibleFunctionNames || []).map(function (f) { return f.value; });
    var url = box.getAttribute("data-suggest-url");
    var items = [];
    var active = -1;
    var replaceFrom = 0;
    var timer = null;
    var serial = 0;
    var OPS = /^(=|!=|~|!~|>=|<=|>|<|in|not\s+in|is|is\s+not)$/i;

    function fieldByName(name) {
      var lower = name.replace(/^"|"$/g, "").toLowerCase();
      var aliases = { issuetype: "type", issue: "key", issuekey: "key", label: "labels", due: "duedate", category: "statuscategory" };
      lower = aliases[lower] || lower;
      for (var i = 0; i < fields.length; i++) { if (fields[i].value.toLowerCase() === lower) { return fields[i]; } }
      return null;
    }
    // Split the text before the caret into tokens: words, quoted strings, operators and punctuation.
    function tokens(text) {
      var re = /"(?:[^"\\]|\\.)*"?|'(?:[^'\\]|\\.)*'?|!=|!~|>=|<=|[=~<>(),]|[^\s"'=!~<>(),]+/g;
      var out = [], m;
      while ((m = re.exec(text)) !== null) { out.push({ text: m[0], start: m.index }); }
      return out;
    }
    function context() {
      var caret = box.selectionStart;
      var before = box.value.slice(0, caret);
      var toks = tokens(before);
      var partial = "";
      if (toks.length && /[^\s]$/.test(before)) {
        var last = toks[toks.length - 1];
        if (!/^(=|!=|~|!~|>=|<=|>|<|\(|\)|,)$/.test(last.text)) { partial = last.text; toks.pop(); }
      }
      replaceFrom = caret - partial.length;
      var words = toks.map(function (t) { return t.text.toLowerCase(); });
      var n = words.length;
      var prev = n ? words[n - 1] : "";
      var prev2 = n > 1 ? words[n - 2] : "";
      // ORDER BY: orderable fields.
      if (prev === "by" && prev2 === "order" || (prev === "," && words.lastIndexOf("by") > words.lastIndexOf("and"))) {
        return { kind: "field", partial: partial, orderable: true };
      }
      if (prev === "not" && prev2 === "is") { return { kind: "fixed", partial: partial, values: ["EMPTY"] }; }
      if (!n || prev === "and" || prev === "or" || prev === "not" || prev === "(" && !OPS.test(prev2) && prev2 !== "in") {
        return { kind: "field", partial: partial };
      }
      // Find the operator this value belongs to (possibly inside an IN list).
      var i = n - 1;
      if (prev === "(" || prev === ",") {
        while (i >= 0 && words[i] !== "(") { i--; }
        i--;
      }
      var op = words[i] || "";
      var fieldIndex = i - 1;
      if (op === "in" && words[i - 1] === "not") { op = "not in"; fieldIndex = i - 2; }
      if (op === "not" && words[i - 1] === "is") { op = "is not"; fieldIndex = i - 2; }
      if (OPS.test(op) && (prev === words[i] || prev === "(" || prev === "," || op === "not in" || op === "is not")) {
        var field = fieldByName(toks[fieldIndex] ? toks[fieldIndex].text : "");
        if (/^is/.test(op)) { return { kind: "fixed", partial: partial, values: ["EMPTY"] }; }
        return { kind: "value", partial: partial, field: field };
      }
      if (OPS.test(prev)) { return { kind: "none" }; }
      return { kind: "keyword", partial: partial };
    }
    function startsWith(value, partial) { return value.toLowerCase().indexOf(partial.toLowerCase().replace(/^"/, "")) === 0; }
    function show(options) {
      items = options.slice(0, 15);
      active = items.length ? 0 : -1;
      list.textContent = "";
      items.forEach(function (item, index) {
        var li = document.createElement("li");
        li.id = "jql-suggest-" + index;
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", index === active ? "true" : "false");
        var label = document.createElement("span");
        label.textContent = item.label;
        li.appendChild(label);
        if (item.kind) {
          var kind = document.createElement("span");
          kind.className = "kind";
          kind.textContent = item.kind;
          li.appendChild(kind);
        }
        li.addEventListener("mousedown", function (event) { event.preventDefault(); accept(index); });
        list.appendChild(li);
      });
      list.hidden = !items.length;
      box.setAttribute("aria-expanded", items.length ? "true" : "false");
      if (active >= 0) { box.setAttribute("aria-activedescendant", "jql-suggest-" + active); }
      else { box.removeAttribute("aria-activedescendant"); }
    }
    function close() { show([]); }
    function move(step) {
      if (!items.length) { return; }
      active = (active + step + items.length) % items.length;
      Array.prototype.forEach.call(list.children, function (li, index) {
        li.setAttribute("aria-selected", index === active ? "true" : "false");
        if (index === active) { li.scrollIntoView({ block: "nearest" }); }
      });
      box.setAttribute("aria-activedescendant", "jql-suggest-" + active);
    }
    function quote(value) {
      if (/\(\)$/.test(value) || /^[A-Za-z0-9_.@-]+$/.test(value) || /^".*"$/.test(value)) { return value; }
      return '"' + value.replace(/\\/g, "\\\\").replace(/"/g, '\\"') + '"';
    }
    function accept(index) {
      var item = items[index];
      if (!item) { return; }
      var caret = box.selectionStart;
      var insert = item.raw ? item.value : quote(item.value);
      var after = box.value.slice(caret);
      box.value = box.value.slice(0, replaceFrom) + insert + " " + after.replace(/^\s+/, "");
      var at = replaceFrom + insert.length + 1;
      box.setSelectionRange(at, at);
      close();
      box.focus();
      update();
    }
    function update() {
      // Whatever is typed now makes any answer still on its way stale.
      clearTimeout(timer);
      serial += 1;
      var ctx = context();
      var partial = ctx.partial || "";
      if (ctx.kind === "field") {
        show(fields.filter(function (f) { return (!ctx.orderable || f.orderable === "true") && startsWith(f.value, partial); })
          .map(function (f) { return { label: f.value, value: f.value, raw: true, kind: "field" }; }));
      } else if (ctx.kind === "keyword") {
        show(["AND", "OR", "ORDER BY"].filter(function (w) { return startsWith(w, partial); })
          .map(function (w) { return { label: w, value: w, raw: true, kind: "keyword" }; }));
      } else if (ctx.kind === "fixed") {
        show(ctx.values.filter(function (v) { return startsWith(v, partial); })
          .map(function (v) { return { label: v, value: v, raw: true }; }));
      } else if (ctx.kind === "value" && ctx.field) {
        var fieldName = ctx.field.value;
        var kinds = ctx.field.types || [];
        var fns = functions.filter(function (fn) {
          var user = fn === "currentUser()";
          var isUserField = kinds.indexOf("com.atlassian.jira.user.ApplicationUser") >= 0;
          var isDateField = kinds.indexOf("java.util.Date") >= 0;
          return (user ? isUserField : isDateField) && startsWith(fn, partial);
        }).map(function (fn) { return { label: fn, value: fn, raw: true, kind: "function" }; });
        if (!url || kinds.indexOf("java.util.Date") >= 0) { show(fns); return; }
        var mine = serial;
        timer = setTimeout(function () {
          var q = "?fieldName=" + encodeURIComponent(fieldName) + "&fieldValue=" + encodeURIComponent(partial.replace(/^["']/, ""));
          fetch(url + q, { credentials: "same-origin", headers: { Accept: "application/json" } })
            .then(function (r) { return r.ok ? r.json() : { results: [] }; })
            .then(function (body) {
              if (mine !== serial) { return; }  // a newer keystroke asked again
              var values = (body.results || []).filter(function (r) { return r.value !== "currentUser()"; })
                .map(function (r) { return { label: r.displayName || r.value, value: r.value, raw: /^".*"$/.test(r.value) }; });
              show(fns.concat(values));
            })
            .catch(function () { show(fns); });
        }, 120);
      } else {
        close();
      }
    }
    box.addEventListener("input", update);
    box.addEventListener("focus", function () { if (!box.value) { update(); } });
    box.addEventListener("blur", function () { setTimeout(close, 100); });
    box.addEventListener("keydown", function (event) {
      if (list.hidden) {
        if (event.key === " " && event.ctrlKey) { event.preventDefault(); update(); }
        return;
      }
      if (event.key === "ArrowDown") { event.preventDefault(); move(1); }
      else if (event.key === "ArrowUp") { event.preventDefault(); move(-1); }
      else if ((event.key === "Enter" || event.key === "Tab") && active >= 0) { event.preventDefault(); accept(active); }
      else if (event.key === "Escape") { event.preventDefault(); close(); }
    });
  }
})();
