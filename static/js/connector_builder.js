// The connector builder's manifest editor: line numbers beside the textarea, and
// a problem's "line N" link that puts the cursor on that line. Without
// JavaScript the page still works: the problems list links to a numbered listing.
(function () {
  "use strict";

  function lineHeight(area) {
    var value = parseFloat(window.getComputedStyle(area).lineHeight);
    return isNaN(value) ? 18 : value;
  }

  function goTo(area, line) {
    var lines = area.value.split("\n");
    var start = 0;
    for (var i = 0; i < line - 1 && i < lines.length; i++) {
      start += lines[i].length + 1;
    }
    var end = start + (lines[line - 1] || "").length;
    area.focus();
    area.setSelectionRange(start, end);
    area.scrollTop = Math.max(0, (line - 4) * lineHeight(area));
  }

  function setup() {
    var area = document.querySelector("textarea[data-line-numbers]");
    if (!area || area.dataset.lineNumbersReady) {
      return;
    }
    area.dataset.lineNumbersReady = "1";
    var wrap = document.createElement("div");
    wrap.className = "editor-wrap";
    var gutter = document.createElement("pre");
    gutter.className = "line-gutter";
    gutter.setAttribute("aria-hidden", "true");
    area.parentNode.insertBefore(wrap, area);
    wrap.appendChild(gutter);
    wrap.appendChild(area);

    function render() {
      var count = area.value.split("\n").length;
      var numbers = [];
      for (var i = 1; i <= count; i++) {
        numbers.push(i);
      }
      gutter.textContent = numbers.join("\n") + "\n";
      gutter.scrollTop = area.scrollTop;
    }
    area.addEventListener("input", render);
    area.addEventListener("scroll", function () {
      gutter.scrollTop = area.scrollTop;
    });
    render();

    document.addEventListener("click", function (event) {
      var link = event.target.closest("a[data-goto-line]");
      if (!link) {
        return;
      }
      event.preventDefault();
      goTo(area, parseInt(link.getAttribute("data-goto-line"), 10));
    });
  }

  document.addEventListener("DOMContentLoaded", setup);
  document.addEventListener("htmx:afterSettle", setup);
})();
