// Taskra issue page: drag-and-drop attachments and click-to-edit fields. Progressive: without JavaScript the
// upload form and the edit forms work as they are. CSP-safe: no inline code, no eval.
(function () {
  "use strict";

  // ---- attachments: drop files on [data-dropzone] to upload them all at once ---------------------------
  function setUpDropzone(zone) {
    const input = zone.querySelector("[data-dropzone-input]");
    if (!input) return;
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (event) {
        event.preventDefault();
        zone.classList.add("dragging");
      });
    });
    ["dragleave", "drop"].forEach(function (name) {
      zone.addEventListener(name, function () { zone.classList.remove("dragging"); });
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      if (!event.dataTransfer || !event.dataTransfer.files.length) return;
      input.files = event.dataTransfer.files;
      zone.requestSubmit();
    });
    // Choosing files uploads them at once, as dropping does.
    input.addEventListener("change", function () { if (input.files.length) zone.requestSubmit(); });
  }

  // ---- click-to-edit: [data-inline-edit] shows its view until clicked, then its form ---------------------
  function setUpInlineEdit(block) {
    const view = block.querySelector("[data-inline-view]");
    const form = block.querySelector("[data-inline-form]");
    if (!view || !form) return;
    const field = form.querySelector("input, textarea");
    function open() {
      block.classList.add("editing");
      view.hidden = true;
      form.hidden = false;
      if (field) { field.focus(); if (field.select) field.select(); }
    }
    function close() {
      block.classList.remove("editing");
      form.hidden = true;
      view.hidden = false;
      form.reset();
    }
    view.addEventListener("click", function (event) {
      if (event.target.closest("a")) return;  // links inside a description still work
      open();
    });
    view.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.target.closest("a")) { event.preventDefault(); open(); }
    });
    form.addEventListener("keydown", function (event) {
      if (event.key === "Escape") { event.preventDefault(); close(); view.focus(); }
      // Enter saves a one-line field; Ctrl/Cmd+Enter saves a text area.
      if (event.key === "Enter" && (event.target.tagName === "INPUT" || event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    const cancel = form.querySelector("[data-inline-cancel]");
    if (cancel) cancel.addEventListener("click", function (event) { event.preventDefault(); close(); });
    // A form that came back with an error stays open.
    if (!form.hidden) view.hidden = true;
  }

  document.querySelectorAll("[data-dropzone]").forEach(setUpDropzone);
  document.querySelectorAll("[data-inline-edit]").forEach(setUpInlineEdit);
})();
