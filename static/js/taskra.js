// Taskra: small progressive enhancements; every page works without JavaScript.
//
// Keyboard shortcuts (ignored while typing in a field):
//   j / k      move the selection through a list: rows marked [data-row], else the rows of the first
//              table with [data-nav-list], else of the first table in <main> that has links
//   Enter / o  open the selected row's first link
//   /          focus search: an input[name=jql] in <main> (the navigator), else the top bar's search
//   c          create an issue (/issues/new)
//   l          log work: focus [data-shortcut-target="log-work"] (issue page)
//   e          edit: follow [data-shortcut-target="edit"] (issue page)
//   ?          show the list of shortcuts
(function () {
  "use strict";

  function isTyping(el) {
    if (!el) return false;
    const tag = el.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
  }

  // ---- lists: j/k selection ------------------------------------------------------------------
  function listRows() {
    let rows = document.querySelectorAll("main [data-row]");
    if (rows.length) return Array.from(rows);
    const table = document.querySelector("main table[data-nav-list], main #issue-table") ||
      Array.from(document.querySelectorAll("main table")).find((t) => t.querySelector("tbody tr a"));
    // Group headings and empty rows have no link to open: skip them.
    return table ? Array.from(table.querySelectorAll("tbody tr")).filter((r) => r.querySelector("a[href]")) : [];
  }

  let selected = -1;
  function select(delta) {
    const rows = listRows();
    if (!rows.length) return false;
    const current = rows.findIndex((r) => r.classList.contains("selected"));
    selected = current === -1 ? (delta > 0 ? 0 : rows.length - 1) : Math.min(Math.max(current + delta, 0), rows.length - 1);
    rows.forEach((r, i) => {
      r.classList.toggle("selected", i === selected);
      if (i === selected) r.setAttribute("aria-selected", "true"); else r.removeAttribute("aria-selected");
    });
    const row = rows[selected];
    row.scrollIntoView({ block: "nearest" });
    const link = row.querySelector("a");
    if (link) link.focus({ preventScroll: true });
    return true;
  }
  function openSelected() {
    const row = listRows().find((r) => r.classList.contains("selected"));
    const link = row && row.querySelector("a[href]");
    if (link) { window.location.href = link.href; return true; }
    return false;
  }

  // ---- shortcuts -----------------------------------------------------------------------------
  function focusSearch() {
    // In order of preference: the page's own search box, then the top bar's.
    const selectors = ["main [data-search]", "main textarea[name=jql]", "main input[name=jql]:not([type=hidden])",
      "[data-quicksearch]"];
    let field = null;
    for (const selector of selectors) {
      field = Array.from(document.querySelectorAll(selector)).find((el) => el.getClientRects().length > 0);
      if (field) break;
    }
    if (!field) return false;
    field.focus();
    if (field.select) field.select();
    return true;
  }
  function showShortcuts() {
    const dialog = document.getElementById("shortcuts");
    if (!dialog || typeof dialog.showModal !== "function") return false;
    if (!dialog.open) dialog.showModal();
    return true;
  }
  function logWork() {
    const target = document.querySelector('[data-shortcut-target="log-work"]');
    if (!target) return false;
    const details = target.closest("details");
    if (details) details.open = true;
    target.scrollIntoView({ block: "center" });
    target.focus();
    return true;
  }
  function follow(selector) {
    const link = document.querySelector(selector);
    if (!link) return false;
    window.location.href = link.href;
    return true;
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "Escape" && isTyping(document.activeElement)) { document.activeElement.blur(); return; }
    if (isTyping(event.target) || (document.getElementById("shortcuts") || {}).open) return;
    let handled = false;
    switch (event.key) {
      case "j": handled = select(1); break;
      case "k": handled = select(-1); break;
      case "o": case "Enter":
        handled = document.activeElement === document.body || document.activeElement?.closest("tr.selected, [data-row].selected") ? openSelected() : false;
        break;
      case "/": handled = focusSearch(); break;
      case "c": handled = follow("[data-shortcut='c']"); break;
      case "l": handled = logWork(); break;
      case "e": handled = follow('[data-shortcut-target="edit"]'); break;
      case "?": handled = showShortcuts(); break;
    }
    if (handled) event.preventDefault();
  });

  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-show-shortcuts]")) showShortcuts();
    const link = event.target.closest('a[href="#log-work"]');
    if (link && logWork()) event.preventDefault();
  });

  // ---- forms ---------------------------------------------------------------------------------
  // Inline editors: a select chosen with the mouse submits its form at once. Arrow keys also fire "change"
  // on a closed select, so after keyboard use the form waits for its Set button (no change of context on input).
  document.addEventListener("keydown", function (event) {
    if (event.target.matches && event.target.matches("select[data-autosubmit]")) event.target.dataset.keyed = "1";
  }, true);
  document.addEventListener("pointerdown", function (event) {
    if (event.target.matches && event.target.matches("select[data-autosubmit]")) delete event.target.dataset.keyed;
  }, true);
  document.addEventListener("change", function (event) {
    const el = event.target;
    if (el.matches("select[data-autosubmit]") && el.form && el.dataset.keyed !== "1") el.form.requestSubmit();
  });
  // One submit per form: a double click must not post twice (the server also checks a one-time token).
  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (form.method === "dialog") return;
    if (form.dataset.submitting === "1") { event.preventDefault(); return; }
    form.dataset.submitting = "1";
    form.querySelectorAll("button[type=submit], button:not([type])").forEach((b) => b.setAttribute("aria-disabled", "true"));
  });
  // Back/forward cache restores pages with the submitting flag still set.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-submitting]").forEach((f) => {
      delete f.dataset.submitting;
      f.querySelectorAll("[aria-disabled]").forEach((b) => b.removeAttribute("aria-disabled"));
    });
  });
  // "Set to" a new estimate: show its field only when chosen.
  function syncEstimate(form) {
    const box = form.querySelector("[data-new-estimate]");
    if (!box) return;
    const chosen = form.querySelector("input[name=adjust_estimate]:checked");
    box.hidden = !(chosen && chosen.value === "new") && !box.querySelector(".errorlist");
  }
  document.addEventListener("change", function (event) {
    if (event.target.name === "adjust_estimate" && event.target.form) syncEstimate(event.target.form);
  });

  // ---- navigation ----------------------------------------------------------------------------
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".mainnav a").forEach(function (a) {
      const path = new URL(a.href).pathname;
      const also = a.dataset.currentPrefix;  // e.g. issue pages under the Issues link
      if (window.location.pathname === path || (path !== "/" && window.location.pathname.startsWith(path)) ||
          (also && window.location.pathname.startsWith(also))) {
        a.setAttribute("aria-current", "page");
      }
    });
    document.querySelectorAll("form").forEach(syncEstimate);
    // Empty start date/time fields of a new worklog get "now" in the user's profile time zone (data-tz).
    document.querySelectorAll("input[data-default-now]").forEach(function (input) {
      if (input.value) return;
      try {
        const parts = Object.fromEntries(new Intl.DateTimeFormat("en-CA", {
          timeZone: input.dataset.tz || undefined, year: "numeric", month: "2-digit", day: "2-digit",
          hour: "2-digit", minute: "2-digit", hourCycle: "h23",
        }).formatToParts(new Date()).map((p) => [p.type, p.value]));
        input.value = input.dataset.defaultNow === "date" ? `${parts.year}-${parts.month}-${parts.day}` : `${parts.hour}:${parts.minute}`;
      } catch (e) { /* unknown zone: leave empty, the server reads empty as now */ }
    });
    // Bar widths and priority colours arrive as data-* attributes: the Content-Security-Policy blocks style
    // attributes, but not styles set from a script of the site.
    document.querySelectorAll("[data-width]").forEach(function (el) {
      const pct = parseFloat(el.dataset.width);
      if (isFinite(pct)) el.style.width = Math.max(0, Math.min(100, pct)) + "%";
    });
    document.querySelectorAll("[data-color]").forEach(function (el) {
      if (/^(#[0-9a-fA-F]{3,8}|[a-zA-Z]+)$/.test(el.dataset.color)) el.style.backgroundColor = el.dataset.color;
    });
    // Time stamps: show the full date on hover as well.
    document.querySelectorAll("time[datetime]").forEach(function (t) {
      if (!t.title) t.title = new Date(t.getAttribute("datetime")).toLocaleString();
    });
  });
})();
