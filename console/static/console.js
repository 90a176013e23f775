// The console works without this script; it only adds the "select all
// on this page" checkbox of the contacts list.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("input[data-select-all]").forEach(function (all) {
    all.hidden = false;
    var boxes = function () {
      return document.querySelectorAll("input[name='" + all.dataset.selectAll + "']");
    };
    all.addEventListener("change", function () {
      boxes().forEach(function (b) { b.checked = all.checked; });
    });
  });
});
