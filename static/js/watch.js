// Issue page: load this viewer's Watch/Unwatch button and the watchers into [data-watch-slot] (its value is the
// URL of the box). The cached page body is shared by many viewers, so it holds only the slot; without JavaScript
// the slot's link opens the same box as a page.
(function () {
  "use strict";
  document.querySelectorAll("[data-watch-slot]").forEach((slot) => {
    const url = slot.dataset.watchSlot + "?fragment=1";
    fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then((r) => (r.ok ? r.text() : Promise.reject(r.status)))
      .then((html) => {
        slot.innerHTML = html; // rendered by the server for this viewer (notifications/_watch_box.html)
        const form = slot.querySelector("form");
        if (form) {
          const next = document.createElement("input");
          next.type = "hidden";
          next.name = "next";
          next.value = window.location.pathname;
          form.appendChild(next);
        }
      })
      .catch(() => {}); // the link stays: the box opens as a page
  });
})();
