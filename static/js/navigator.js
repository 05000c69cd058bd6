// Issue navigator: select-all for bulk actions, caret at the JQL error, Ctrl/Cmd+Enter to search.
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
    jql.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey) {
        // A one-line box: Enter searches (Shift+Enter adds a line break).
        event.preventDefault();
        if (jql.form.requestSubmit) { jql.form.requestSubmit(); } else { jql.form.submit(); }
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
})();
