// Break-point editor for languages written without spaces (Khmer, Lao, Thai, Chinese): shows where a
// line may end (U+200B in the text) and lets the translator insert or remove one at the cursor. The
// first edit starts from the server's automatic break points, so editing one keeps all the others.
(function () {
  "use strict";
  var ZWSP = "\u200b";
  var MARK = "\u2502";

  function hintsOf(language, text) {
    var query = new URLSearchParams({ language: language, text: text });
    return fetch("/translate/hints.json?" + query.toString(), { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) { throw new Error("hints answered " + response.status); }
        return response.json();
      })
      .then(function (data) { return data.text; });
  }

  // The offset in `hinted` of the character at offset `pos` of the same text without U+200B.
  function mapped(hinted, pos) {
    var seen = 0;
    for (var i = 0; i < hinted.length; i++) {
      if (seen === pos && hinted[i] !== ZWSP) { return i; }
      if (hinted[i] !== ZWSP) { seen++; }
    }
    return hinted.length;
  }

  function setup(editor) {
    var field = document.getElementById(editor.getAttribute("data-for"));
    if (!field || !window.fetch) { return; }
    var language = editor.getAttribute("data-language");
    var view = editor.querySelector(".break-view");
    var origin = editor.querySelector(".break-origin");
    var labels = editor.querySelector(".break-labels");
    var timer = null;
    var latest = 0;

    function show(text, own) {
      view.textContent = "";
      text.split(ZWSP).forEach(function (part, i) {
        if (i > 0) {
          var mark = document.createElement("span");
          mark.className = "brk";
          mark.textContent = MARK;
          view.appendChild(mark);
        }
        view.appendChild(document.createTextNode(part));
      });
      origin.textContent = labels.getAttribute(own ? "data-own" : "data-automatic");
      origin.hidden = !text;
    }

    function failed() {
      origin.textContent = labels.getAttribute("data-failed");
      origin.hidden = false;
    }

    // The server answers with the breaks the screen obeys (a mark inside a syllable is no break).
    function refresh() {
      var text = field.value;
      if (!text.trim()) { show("", false); return; }
      var mine = ++latest;
      hintsOf(language, text).then(function (hinted) {
        if (mine === latest) { show(hinted, text.indexOf(ZWSP) >= 0); }
      }).catch(failed);
    }

    // Runs `edit(text, cursor)` on the translator's own break points, fetching the automatic ones first.
    function own(edit) {
      var text = field.value;
      var cursor = field.selectionStart;
      var ready = text.indexOf(ZWSP) >= 0 || !text.trim() ? Promise.resolve([text, cursor])
        : hintsOf(language, text).then(function (hinted) { return [hinted, mapped(hinted, cursor)]; });
      ready.then(function (state) {
        var result = edit(state[0], state[1]);
        field.value = result[0];
        field.focus();
        field.setSelectionRange(result[1], result[1]);
        field.dispatchEvent(new Event("input", { bubbles: true }));  // the live preview redraws
      }).catch(failed);
    }

    editor.querySelector("[data-break=insert]").addEventListener("click", function () {
      own(function (text, at) {
        var before = text[at - 1], after = text[at];
        if (at === 0 || at >= text.length || before === ZWSP || after === ZWSP || /\s/.test(before + after)) {
          return [text, at];  // a line may already end here, or it is the text's edge
        }
        return [text.slice(0, at) + ZWSP + text.slice(at), at + 1];
      });
    });
    editor.querySelector("[data-break=remove]").addEventListener("click", function () {
      own(function (text, at) {
        if (text[at - 1] === ZWSP) { return [text.slice(0, at - 1) + text.slice(at), at - 1]; }
        if (text[at] === ZWSP) { return [text.slice(0, at) + text.slice(at + 1), at]; }
        return [text, at];
      });
    });
    editor.querySelector("[data-break=reset]").addEventListener("click", function () {
      field.value = field.value.split(ZWSP).join("");
      field.dispatchEvent(new Event("input", { bubbles: true }));
    });
    field.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(refresh, 300);
    });
    refresh();
  }

  document.querySelectorAll(".break-editor").forEach(setup);
})();
