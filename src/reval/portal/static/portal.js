// Optional niceties: the pages work without this file.
// Drag a file onto the upload box to choose it; say that checking is under way.
// Loaded with `defer`, so the page is already parsed when this runs.
document.documentElement.classList.add("has-js");
(() => {
  const form = document.getElementById("upload-form");
  if (!form) return;
  const zone = form.querySelector("[data-drop]");
  const input = form.querySelector("input[type=file]");
  const busy = form.querySelector("[data-busy]");
  ["dragenter", "dragover"].forEach((name) => zone.addEventListener(name, (event) => {
    event.preventDefault();
    zone.classList.add("over");
  }));
  ["dragleave", "drop"].forEach((name) => zone.addEventListener(name, () => zone.classList.remove("over")));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer && event.dataTransfer.files.length) {
      input.files = event.dataTransfer.files;
      input.focus();
    }
  });
  form.addEventListener("submit", () => {
    if (busy) busy.hidden = false;
    form.querySelector("button[type=submit]").disabled = true;
  });
  window.addEventListener("pageshow", () => {  // back from the result page: usable again
    if (busy) busy.hidden = true;
    form.querySelector("button[type=submit]").disabled = false;
  });
  zone.dataset.ready = "true";
})();
