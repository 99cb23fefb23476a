// Line-break editor: shows a caption's syllables with the break marks screens will get (joins,
// U+00A0; breaks the writer allowed, "space + U+200B") and lets the writer change them. The marks
// come from the server (the same function the compiler uses); a change is written into the field
// as an explicit mark, which is stored with the caption and always wins over the segmenter.
(function () {
  "use strict";
  var NBSP = "\u00a0", ZWSP = "\u200b";
  var GAP = /([ \u00a0\u200b]+)/;

  function kind(gap) {
    if (gap.indexOf(ZWSP) >= 0) { return "break"; }
    if (gap.indexOf(NBSP) >= 0) { return "join"; }
    return "space";
  }

  function syllables(text) {
    return text.split("\n").map(function (line) {
      return line.split(GAP).filter(function (_part, i) { return i % 2 === 0; }).join(" ");
    }).join("\n");
  }

  function setUp(editor) {
    var field = document.getElementById(editor.getAttribute("data-for"));
    var tokens = editor.querySelector(".break-tokens");
    var url = editor.getAttribute("data-marks");
    var language = editor.getAttribute("lang");
    if (!field || !tokens || !url || !window.fetch) { return; }
    var labels = {
      join: tokens.getAttribute("data-join-label"),
      "break": tokens.getAttribute("data-break-label"),
      space: tokens.getAttribute("data-space-label")
    };
    var signs = { join: "\u203f", "break": "|", space: "\u00b7" };
    var marked = "";  // the field's text with the server's marks, for the text it was asked about
    var latest = 0;

    function draw() {
      tokens.textContent = "";
      marked.split("\n").forEach(function (line, lineIndex) {
        if (lineIndex) { tokens.appendChild(document.createElement("br")); }
        line.split(GAP).forEach(function (part, i) {
          if (i % 2 === 0) {
            var word = document.createElement("span");
            word.className = "syllable";
            word.textContent = part;
            tokens.appendChild(word);
            return;
          }
          var k = kind(part);
          var button = document.createElement("button");
          button.type = "button";
          button.className = "gap " + k;
          button.textContent = signs[k];
          button.title = labels[k];
          button.setAttribute("aria-label", labels[k]);
          button.setAttribute("data-line", String(lineIndex));
          button.setAttribute("data-gap", String((i - 1) / 2));
          tokens.appendChild(button);
        });
      });
      editor.hidden = !/[ \u00a0\u200b]/.test(marked);
    }

    function fetchMarks() {
      var mine = ++latest;
      var asked = field.value;
      var query = new URLSearchParams();
      query.set(language, asked);
      fetch(url + "?" + query.toString(), { credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok) { throw new Error("marks answered " + response.status); }
          return response.json();
        })
        .then(function (data) {
          if (mine !== latest || field.value !== asked) { return; }  // typed on meanwhile
          marked = data.marks[language] || "";
          draw();
        })
        .catch(function () { editor.hidden = true; });
    }

    function setGap(text, lineIndex, gapIndex, gap) {
      var lines = text.split("\n");
      var parts = lines[lineIndex].split(GAP);
      parts[2 * gapIndex + 1] = gap;
      lines[lineIndex] = parts.join("");
      return lines.join("\n");
    }

    tokens.addEventListener("click", function (event) {
      var button = event.target.closest("button.gap");
      if (!button || syllables(marked) !== syllables(field.value)) { return; }
      var lineIndex = Number(button.getAttribute("data-line"));
      var gapIndex = Number(button.getAttribute("data-gap"));
      var gap = button.classList.contains("join") ? " " + ZWSP : NBSP;
      field.value = setGap(field.value, lineIndex, gapIndex, gap);
      marked = setGap(marked, lineIndex, gapIndex, gap);
      draw();
      field.dispatchEvent(new Event("input", { bubbles: true }));  // the live preview follows
    });
    var timer = null;
    field.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(fetchMarks, 300);
    });
    fetchMarks();
  }

  document.querySelectorAll("fieldset.break-editor[data-for]").forEach(setUp);
})();
