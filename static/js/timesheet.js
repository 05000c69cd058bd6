// Timesheet: save a cell as soon as it changes and update the totals in place.
// Without JavaScript the grid still works: the "Save changed cells" button posts the whole form.
(function () {
  "use strict";
  var form = document.getElementById("timesheet-form");
  if (!form) return;
  var status = document.getElementById("save-status");

  function setText(el, text) { if (el) el.textContent = text; }

  function estimateFields(data) {
    ["adjust_estimate", "new_estimate", "reduce_by", "target", "csrfmiddlewaretoken"].forEach(function (name) {
      var el = form.elements.namedItem(name);
      if (el && el.value !== undefined) data.append(name, el.value);
    });
  }

  function apply(result) {
    // A row whose week total dropped to zero is absent from the reply: show it as zero until reload.
    form.querySelectorAll(".issue-total").forEach(function (el) {
      if (!result.rows[el.dataset.issue]) setText(el, "0m");
    });
    Object.keys(result.rows).forEach(function (key) {
      var row = result.rows[key];
      form.querySelectorAll('.issue-total[data-issue="' + CSS.escape(key) + '"]').forEach(function (el) { setText(el, row.total); });
      var rem = form.querySelector('.remaining[data-issue="' + CSS.escape(key) + '"]');
      if (rem && row.remaining) { var first = rem.firstChild; if (first && first.nodeType === 3) first.nodeValue = row.remaining; else rem.insertBefore(document.createTextNode(row.remaining), rem.firstChild); }
    });
    Object.keys(result.day_totals).forEach(function (day) {
      var el = form.querySelector('.day-total[data-day="' + day + '"]');
      if (!el) return;
      setText(el, result.day_totals[day].text);
      el.classList.remove("over", "under");
      if (result.day_totals[day].state) el.classList.add(result.day_totals[day].state);
    });
    setText(document.getElementById("week-total"), result.week_total);
  }

  // A lowered cell that would delete worklogs (or shrink one of several) is not saved: the server answers
  // 409 with the worklogs it would change. Ask, then post again with the plan's token, or put the cell back.
  function confirmLowering(input, original, pending) {
    var lines = [pending.message, ""];
    pending.worklogs.forEach(function (w) { lines.push("- " + w.text); });
    lines.push("", "OK changes them; Cancel keeps the worklogs (edit them one by one from the worklog list).");
    if (window.confirm(lines.join("\n"))) {
      save(input, pending.token);
    } else {
      input.value = original ? original.value : "";
      setText(status, "Not changed: " + pending.issue + " " + pending.day + " keeps " + pending.current + ".");
    }
  }

  function save(input, token) {
    var original = form.elements.namedItem("o_" + input.name.slice(2));
    if (original && original.value.trim() === input.value.trim()) return;
    var data = new FormData();
    estimateFields(data);
    data.append(input.name, input.value);
    data.append("o_" + input.name.slice(2), original ? original.value : "");
    if (token) data.append("c_" + input.name.slice(2), token);
    input.classList.add("saving");
    input.classList.remove("bad");
    input.removeAttribute("aria-invalid");
    setText(status, "Saving…");
    fetch(form.action, { method: "POST", body: data, headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (resp) { return resp.json().then(function (body) { return { ok: resp.ok, body: body }; }); })
      .then(function (r) {
        input.classList.remove("saving");
        var pending = (r.body.confirm || []).filter(function (p) { return p.cell === input.name; })[0];
        if (!r.ok && pending && (r.body.errors || []).length === r.body.confirm.length) {
          confirmLowering(input, original, pending);
          return;
        }
        if (!r.ok || !r.body.ok) {
          input.classList.add("bad");
          input.setAttribute("aria-invalid", "true");
          setText(status, r.body.message || "Could not save.");
          return;
        }
        var row = r.body.rows[input.dataset.issue];
        var text = row ? (row.cells[input.dataset.day] || "") : "";
        input.value = text;
        if (original) original.value = text;
        apply(r.body);
        setText(status, "Saved " + input.dataset.issue + " " + input.dataset.day + ".");
      })
      .catch(function () {
        input.classList.remove("saving");
        input.classList.add("bad");
        setText(status, "Could not reach the server; the cell was not saved.");
      });
  }

  form.addEventListener("change", function (event) {
    var input = event.target;
    if (input.classList && input.classList.contains("cell-input")) save(input);
  });
  form.addEventListener("keydown", function (event) {
    var input = event.target;
    if (event.key === "Enter" && input.classList && input.classList.contains("cell-input")) {
      event.preventDefault();
      save(input);
    }
  });
})();
