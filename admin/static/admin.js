// Back-office behaviour, kept out of the pages so that the Content-Security-Policy allows
// scripts from this site only (no inline script, no inline event handler).
(function () {
  "use strict";

  // A form with data-confirm asks before it is submitted.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form instanceof HTMLFormElement && form.dataset.confirm !== undefined) {
      if (!window.confirm(form.dataset.confirm)) {
        event.preventDefault();
      }
    }
  });

  // The pending list's "select all" checkbox selects every row of the page.
  document.addEventListener("click", function (event) {
    var box = event.target;
    if (box instanceof HTMLInputElement && box.id === "select-all") {
      document.querySelectorAll("input[name=ids][form=bulk]").forEach(function (c) {
        c.checked = box.checked;
      });
    }
  });
})();
