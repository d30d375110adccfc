// The console's only script: "Copy" buttons beside commands and secrets.  Without JavaScript the
// buttons stay hidden and the text can be selected and copied by hand; so they do where the browser
// gives no clipboard: outside a secure context (plain HTTP to an address other than localhost).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  if (!navigator.clipboard) { return; }
  document.querySelectorAll("button.copy[data-copy]").forEach(function (button) {
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(source.textContent).then(function () {
        button.textContent = "Copied";
        setTimeout(function () { button.textContent = "Copy"; }, 2000);
      });
    });
  });
});
