// Markdown preview: every <textarea data-markdown-preview="URL"> gets Write / Preview tabs. Preview posts the text to
// URL (issues:preview), which renders it with the page's own renderer for this viewer, and shows the HTML (already
// sanitised by the server). Without JavaScript the textarea works as before.
(function () {
  "use strict";

  function csrfToken(textarea) {
    const form = textarea.closest("form");
    const input = form && form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function setUp(textarea) {
    const tabs = document.createElement("div");
    tabs.className = "md-tabs";
    tabs.setAttribute("role", "tablist");
    const write = document.createElement("button");
    const preview = document.createElement("button");
    [[write, "Write"], [preview, "Preview"]].forEach(([button, label]) => {
      button.type = "button";
      button.textContent = label;
      button.setAttribute("role", "tab");
      tabs.appendChild(button);
    });
    write.setAttribute("aria-selected", "true");
    preview.setAttribute("aria-selected", "false");
    preview.className = "md-preview-tab";
    const pane = document.createElement("div");
    pane.className = "markdown md-preview";
    pane.setAttribute("role", "tabpanel");
    pane.setAttribute("aria-live", "polite");
    pane.hidden = true;
    textarea.parentNode.insertBefore(tabs, textarea);
    textarea.parentNode.insertBefore(pane, textarea.nextSibling);

    function show(previewing) {
      write.setAttribute("aria-selected", String(!previewing));
      preview.setAttribute("aria-selected", String(previewing));
      textarea.hidden = previewing;
      pane.hidden = !previewing;
    }

    write.addEventListener("click", () => { show(false); textarea.focus(); });
    preview.addEventListener("click", () => {
      const body = new FormData();
      body.append("text", textarea.value);
      body.append("csrfmiddlewaretoken", csrfToken(textarea));
      pane.textContent = "Rendering…";
      show(true);
      fetch(textarea.dataset.markdownPreview, {
        method: "POST", body: body, credentials: "same-origin", headers: { Accept: "application/json" },
      })
        .then((r) => r.json().then((data) => ({ ok: r.ok, data: data })))
        .then(({ ok, data }) => {
          if (!ok) { pane.textContent = data.error || "Preview failed."; return; }
          if (!data.html) { pane.textContent = "Nothing to preview."; return; }
          pane.innerHTML = data.html; // sanitised server-side (issues.rendering)
        })
        .catch(() => { pane.textContent = "Preview failed: the server did not answer."; });
    });
  }

  document.querySelectorAll("textarea[data-markdown-preview]").forEach(setUp);
})();
