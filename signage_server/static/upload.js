// Progressive enhancement: the form posts without script; with it, drag-and-drop and a bar per file.
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  if (!form || !window.XMLHttpRequest || !window.FormData) { return; }
  var input = document.getElementById("files");
  var zone = document.getElementById("dropzone");
  var list = document.getElementById("upload-list");
  var csrf = document.querySelector("meta[name=csrf-token]").getAttribute("content");
  var maxBytes = parseInt(form.getAttribute("data-max-bytes"), 10);

  function errorText(xhr) {
    // error.display is the refusal in this page's language; error.message is the API's English.
    try {
      var error = JSON.parse(xhr.responseText).error;
      return error.display || error.message;
    } catch (e) { return "HTTP " + xhr.status; }
  }

  function send(method, url, body, onProgress, done) {
    var xhr = new XMLHttpRequest();
    xhr.open(method, url);
    xhr.setRequestHeader("X-CSRF-Token", csrf);
    if (onProgress) { xhr.upload.onprogress = onProgress; }
    xhr.onload = function () { done(xhr); };
    xhr.onerror = function () { done(xhr); };
    if (typeof body === "string") { xhr.setRequestHeader("Content-Type", "application/json"); }
    xhr.send(body);
  }

  function slideName(file, attempt) {
    var stem = file.name.replace(/^.*[\\/]/, "").replace(/\.[^.]*$/, "").replace(/[\u0000-\u001f]/g, "").trim();
    stem = (stem || "slide").slice(0, 90);
    return attempt > 1 ? stem + " (" + attempt + ")" : stem;
  }

  function createSlide(file, assetId, attempt, row) {
    var body = JSON.stringify({ name: slideName(file, attempt), asset_id: assetId });
    send("POST", "/api/v1/slides", body, null, function (xhr) {
      if (xhr.status === 409 && attempt < 50) { createSlide(file, assetId, attempt + 1, row); return; }
      if (xhr.status !== 201) { fail(row, errorText(xhr)); return; }
      var slide = JSON.parse(xhr.responseText);
      row.status.className = "good";
      row.status.textContent = list.getAttribute("data-msg-done") + " ";
      var link = document.createElement("a");
      link.href = "/slides/" + slide.id;
      link.textContent = slide.name;
      row.status.appendChild(link);
    });
  }

  function fail(row, message) {
    row.status.className = "bad";
    row.status.textContent = list.getAttribute("data-msg-failed") + ": " + message;
    row.bar.value = 0;
  }

  function upload(file) {
    var li = document.createElement("li");
    var name = document.createElement("span");
    name.textContent = file.name;
    var bar = document.createElement("progress");
    bar.max = 100; bar.value = 0;
    var status = document.createElement("span");
    li.appendChild(name); li.appendChild(bar); li.appendChild(status);
    list.appendChild(li);
    var row = { bar: bar, status: status };
    if (file.size > maxBytes) { fail(row, "> " + Math.round(maxBytes / 1048576) + " MB"); return; }
    var data = new FormData();
    data.append("file", file, "upload");
    send("POST", "/api/v1/assets", data, function (event) {
      if (event.lengthComputable) { bar.value = Math.round(100 * event.loaded / event.total); }
    }, function (xhr) {
      if (xhr.status !== 200 && xhr.status !== 201) { fail(row, errorText(xhr)); return; }
      bar.value = 100;
      createSlide(file, JSON.parse(xhr.responseText).id, 1, row);
    });
  }

  function uploadAll(files) { for (var i = 0; i < files.length; i++) { upload(files[i]); } }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    uploadAll(input.files);
    input.value = "";
  });
  input.addEventListener("change", function () { uploadAll(input.files); input.value = ""; });
  ["dragenter", "dragover"].forEach(function (type) {
    zone.addEventListener(type, function (event) { event.preventDefault(); zone.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (type) {
    zone.addEventListener(type, function (event) { event.preventDefault(); zone.classList.remove("over"); });
  });
  zone.addEventListener("drop", function (event) { uploadAll(event.dataTransfer.files); });
  // Files chosen while this script was still loading (a slow link) fired no change we heard.
  if (input.files && input.files.length) { uploadAll(input.files); input.value = ""; }
})();
