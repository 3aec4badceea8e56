// The email editor's live preview: the form as typed is sent to the server, which renders the
// email for a sample order; the HTML part goes into a sandboxed iframe (srcdoc, no scripts, no
// same origin) and every other value is set as text, never as HTML.
(function () {
  "use strict";
  var form = document.getElementById("design-form");
  if (!form) { return; }
  var url = form.getAttribute("data-preview-url");
  var frame = document.getElementById("preview-html");
  var text = document.getElementById("preview-text");
  var from = document.getElementById("preview-from");
  var subject = document.getElementById("preview-subject");
  var status = document.getElementById("preview-status");
  var kind = document.getElementById("preview-kind");
  var testKind = document.getElementById("test-kind");
  var colour = document.getElementById("brand_colour");
  var picker = document.getElementById("brand_colour_picker");
  var timer = null;
  var sequence = 0;

  function clearErrors() {
    form.querySelectorAll(".live-error").forEach(function (node) { node.remove(); });
    form.querySelectorAll("[aria-invalid=true]").forEach(function (node) {
      node.removeAttribute("aria-invalid");
    });
  }

  function showErrors(errors) {
    clearErrors();
    Object.keys(errors).forEach(function (name) {
      var field = form.elements.namedItem(name);
      var messages = errors[name];
      if (!field || !field.parentNode) { return; }
      field.setAttribute("aria-invalid", "true");
      var anchor = field.closest(".field") || field.parentNode;
      messages.forEach(function (message) {
        var p = document.createElement("p");
        p.className = "field-error live-error";
        p.textContent = message;
        anchor.appendChild(p);
      });
    });
  }

  function refresh() {
    var mine = ++sequence;
    var body = new FormData(form);
    body.set("kind", kind ? kind.value : "invitation");
    fetch(url, { method: "POST", body: body, credentials: "same-origin",
                 headers: { "Accept": "application/json" } })
      .then(function (response) {
        return response.json().then(function (data) { return [response.status, data]; });
      })
      .then(function (result) {
        if (mine !== sequence) { return; }  // a later edit's preview is on its way
        var data = result[1];
        if (result[0] !== 200) {
          showErrors(data.errors || {});
          status.textContent = status.getAttribute("data-invalid") || "";
          return;
        }
        clearErrors();
        status.textContent = "";
        frame.srcdoc = data.html;
        text.textContent = data.text;
        from.textContent = data.from;
        subject.textContent = data.subject;
        form.setAttribute("data-previewed", String(mine));
      })
      .catch(function () {
        if (mine === sequence) { status.textContent = status.getAttribute("data-offline") || ""; }
      });
  }

  function later() {
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(refresh, 250);
  }

  form.addEventListener("input", later);
  if (kind) {
    kind.addEventListener("change", function () {
      if (testKind) { testKind.value = kind.value; }
      refresh();
    });
  }
  if (colour && picker) {
    picker.hidden = false;
    picker.addEventListener("input", function () {
      colour.value = picker.value;
      later();
    });
    colour.addEventListener("input", function () {
      if (/^#[0-9a-fA-F]{6}$/.test(colour.value.trim())) { picker.value = colour.value.trim().toLowerCase(); }
    });
  }
})();
