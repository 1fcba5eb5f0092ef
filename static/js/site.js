// Site-wide behaviour, kept out of the HTML so the Content-Security-Policy can forbid inline scripts.
"use strict";

document.querySelectorAll("select[data-autosubmit]").forEach((select) => {
  select.addEventListener("change", () => select.form.submit());
});

// Keyboard shortcuts: `/` focuses the link box (home) or the chat input (video page), `?` opens
// the help dialog. Esc and j / k belong to the video page (video.js). Keys typed into a field
// are left alone.
(function () {
  const dialog = document.getElementById("shortcuts-dialog");
  const opener = document.getElementById("shortcuts-open");

  function openHelp() {
    if (dialog && !dialog.open) dialog.showModal();
  }

  if (opener) opener.addEventListener("click", openHelp);

  function typing(target) {
    return target instanceof Element && target.closest("input, textarea, select, [contenteditable=true]") !== null;
  }

  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    if (dialog && dialog.open) return;
    if (event.key === "?") {
      event.preventDefault();
      openHelp();
    } else if (event.key === "/") {
      const field = document.getElementById("question") || document.getElementById("link");
      if (!field) return;
      event.preventDefault();
      // A phone's video page shows the chat input only in its tab: video.js opens it first.
      document.dispatchEvent(new CustomEvent("chatbili:reveal", { detail: { id: field.id } }));
      field.focus();
      if (field.select) field.select();
    }
  });
})();
