// Import / bulk-change job page: poll progress.json and update the bar, rate, time left, counts and errors.
(function () {
  "use strict";
  var root = document.getElementById("job");
  if (!root || root.dataset.finished === "1") return;
  var url = root.dataset.progressUrl;
  var fmt = new Intl.NumberFormat();
  function set(id, text) {
    var el = document.getElementById(id);
    if (el) el.textContent = text;
  }
  function seconds(s) {
    if (s === null || s === undefined) return "–";
    if (s < 90) return Math.round(s) + " s";
    if (s < 5400) return Math.round(s / 60) + " min";
    return (s / 3600).toFixed(1) + " h";
  }
  function renderErrors(data) {
    set("error-count", fmt.format(data.errors));
    if (!data.recent_errors.length) return;
    var body = document.querySelector("#error-table tbody");
    body.textContent = "";
    data.recent_errors.slice().reverse().forEach(function (e) {
      var tr = document.createElement("tr");
      [e.record, e.line, e.issue_key, e.field, e.message].forEach(function (v) {
        var td = document.createElement("td");
        td.textContent = v === null || v === undefined ? "" : String(v);
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
  }
  function tick() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (data) {
        var bar = document.getElementById("job-bar");
        bar.value = data.percent;
        bar.textContent = data.percent + "%";
        set("job-percent", data.percent);
        set("job-rate", data.rows_per_second ? fmt.format(Math.round(data.rows_per_second)) : "–");
        set("job-eta", seconds(data.seconds_left));
        set("job-state", data.state_label);
        document.getElementById("job-state").className = "job-state state-" + data.state;
        ["processed", "created", "updated", "unchanged", "failed", "worklogs", "comments"].forEach(function (k) {
          set("c-" + k, fmt.format(data[k]));
        });
        (data.stages || []).forEach(function (s) {
          set("stage-" + s.stage, s.seconds === null ? "–" : s.seconds.toFixed(2) + " s");
        });
        var msg = document.getElementById("job-message");
        if (data.message) { msg.hidden = false; msg.textContent = data.message; }
        renderErrors(data);
        if (data.finished) {
          var cancel = document.getElementById("cancel-form");
          if (cancel) cancel.remove();
          root.dataset.finished = "1";
          return;
        }
        setTimeout(tick, 1000);
      })
      .catch(function () { setTimeout(tick, 5000); });
  }
  setTimeout(tick, 500);
})();
