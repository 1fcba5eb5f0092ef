// Site-wide behaviour, kept out of the HTML so the Content-Security-Policy can forbid inline scripts.
document.querySelectorAll("select[data-autosubmit]").forEach((select) => {
  select.addEventListener("change", () => select.form.submit());
});
