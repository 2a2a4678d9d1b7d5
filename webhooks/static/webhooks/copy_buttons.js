// Copy buttons of the pages that show a key or a URL: <button data-copy="ID"> copies the field ID.
document.querySelectorAll("[data-copy]").forEach(function (button) {
  button.addEventListener("click", function () {
    var field = document.getElementById(button.dataset.copy);
    var copied = function () { button.textContent = "Copied"; };
    // navigator.clipboard exists only on HTTPS and localhost: elsewhere select the text for Ctrl-C.
    var selectIt = function () { field.focus(); field.select(); button.textContent = "Press Ctrl-C"; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(copied, selectIt);
    } else {
      selectIt();
    }
  });
});
