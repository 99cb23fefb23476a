// Live preview: as a caption is typed, re-render every target screen and show the renderer's problems.
(function () {
  "use strict";
  var fields = document.querySelectorAll("form.live textarea[data-language]");
  var section = document.querySelector("section.previews");
  if (!fields.length || !section || !window.fetch) { return; }
  var slide = section.getAttribute("data-slide");
  var timer = null;

  function params() {
    var query = new URLSearchParams();
    fields.forEach(function (field) { query.set(field.getAttribute("data-language"), field.value); });
    return query;
  }

  function refresh() {
    var query = params();
    fetch("/slides/" + slide + "/preview.json?" + query.toString(), { credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (data) {
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
          var list = figure.querySelector("ul.problems");
          list.textContent = "";
          screen.problems.forEach(function (p) {
            var li = document.createElement("li");
            li.className = "problem";
            li.textContent = p.language + ": " + p.message;
            list.appendChild(li);
            (byLanguage[p.language] = byLanguage[p.language] || []).push(screen.name + ": " + p.message);
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
      .catch(function () { /* the server-rendered preview stays; the next keystroke retries */ });
  }

  fields.forEach(function (field) {
    field.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(refresh, 350);
    });
  });
})();
