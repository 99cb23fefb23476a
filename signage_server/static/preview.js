// Live preview: as a caption is typed, re-render every target screen and show the renderer's problems.
(function () {
  "use strict";
  var fields = document.querySelectorAll("form.live textarea[data-language]");
  var section = document.querySelector("section.previews");
  if (!fields.length || !section || !window.fetch) { return; }
  var slide = section.getAttribute("data-slide");
  var timer = null;
  var latest = 0;  // the newest request; an older, slower answer must not overwrite its problems

  function params() {
    var query = new URLSearchParams();
    fields.forEach(function (field) { query.set(field.getAttribute("data-language"), field.value); });
    return query;
  }

  function refresh(attempt) {
    var query = params();
    var mine = ++latest;
    fetch("/slides/" + slide + "/preview.json?" + query.toString(), { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) { throw new Error("preview answered " + response.status); }
        return response.json();
      })
      .then(function (data) {
        if (mine !== latest) { return; }
        var byLanguage = {};
        data.screens.forEach(function (screen) {
          var figure = section.querySelector("figure[data-screen='" + screen.id + "']");
          if (!figure) { return; }
          figure.querySelectorAll("img.frame").forEach(function (img) {
            var q = new URLSearchParams(query);
            var lang = img.getAttribute("data-lang");
            if (lang) { q.set("lang", lang); }
            img.src = "/slides/" + slide + "/preview/" + screen.id + ".png?" + q.toString();
          });
          var note = figure.querySelector("p.preview-note");
          if (note) { note.textContent = screen.note || ""; note.hidden = !screen.note; }
          var reading = figure.querySelector("p.reading");
          if (reading) { reading.textContent = screen.reading || ""; reading.hidden = !screen.reading; }
          var warnings = figure.querySelector("ul.readability");
          if (warnings) {
            warnings.textContent = "";
            (screen.warnings || []).forEach(function (text) {
              var li = document.createElement("li");
              li.textContent = text;
              warnings.appendChild(li);
            });
          }
          var list = figure.querySelector("ul.problems");
          list.textContent = "";
          screen.problems.forEach(function (p) {
            var li = document.createElement("li");
            li.className = "problem";
            li.textContent = p.language + ": " + p.message;
            list.appendChild(li);
            // The same words the server uses when it refuses a submit: one verdict, in the page's language.
            (byLanguage[p.language] = byLanguage[p.language] || []).push(p.text || (screen.name + ": " + p.message));
          });
        });
        document.querySelectorAll("ul.field-problems").forEach(function (list) {
          list.textContent = "";
          (byLanguage[list.getAttribute("data-language")] || []).forEach(function (message) {
            var li = document.createElement("li");
            li.textContent = message;
            list.appendChild(li);
          });
        });
      })
      .catch(function () {
        // The server-rendered preview stays; try again a little later (a busy or briefly
        // unreachable server), unless newer typing has already asked.
        if (mine === latest && (attempt || 0) < 3) {
          timer = setTimeout(function () { refresh((attempt || 0) + 1); }, 2000);
        }
      });
  }

  fields.forEach(function (field) {
    field.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { refresh(0); }, 350);
    });
  });
  // Text typed while this script was still loading (a slow link) fired no event we heard.
  // A refused save comes back with the typed text in the field (data-refresh): preview that, not the stored text.
  var typedEarly = Array.prototype.some.call(fields, function (field) { return field.value !== field.defaultValue; }) ||
    document.querySelector("form.live[data-refresh]") !== null;
  if (typedEarly) { refresh(0); }
})();
