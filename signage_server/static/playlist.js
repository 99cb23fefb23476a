// Drag-and-drop reordering of playlist rows; the form posts rows in page order, so Save keeps the new order.
"use strict";
(function () {
  const body = document.getElementById("items");
  if (!body) return;
  let dragged = null;
  function renumber() {
    body.querySelectorAll("tr.item").forEach(function (row, i) {
      const pos = row.querySelector(".pos");
      if (pos) pos.textContent = String(i + 1);
    });
  }
  body.addEventListener("dragstart", function (ev) {
    dragged = ev.target.closest("tr.item");
    if (dragged && ev.dataTransfer) ev.dataTransfer.effectAllowed = "move";
  });
  body.addEventListener("dragover", function (ev) {
    const over = ev.target.closest("tr.item");
    if (!dragged || !over || over === dragged) return;
    ev.preventDefault();
    const box = over.getBoundingClientRect();
    const after = ev.clientY > box.top + box.height / 2;
    body.insertBefore(dragged, after ? over.nextSibling : over);
  });
  body.addEventListener("drop", function (ev) {
    ev.preventDefault();
    renumber();
    dragged = null;
  });
  body.addEventListener("dragend", function () { renumber(); dragged = null; });
})();
