// Refreshes status rows (dashboard, approval follow-up, alert follow-up) by polling a JSON document.
"use strict";
(function () {
  const status = document.getElementById("live-status");
  if (!status) return;
  const labels = JSON.parse(status.dataset.labels || "{}");
  const every = Math.max(1, Number(status.dataset.poll || "5")) * 1000;
  const source = status.dataset.source;

  function text(cell, value) {
    cell.replaceChildren(document.createTextNode(value));
  }

  function span(cls, value) {
    const el = document.createElement("span");
    el.className = cls;
    el.textContent = value;
    return el;
  }

  function dash(v) { return v === null || v === undefined ? "–" : String(v); }

  function update(row, s) {
    row.classList.toggle("long-offline", Boolean(s.long_offline));
    const cells = {};
    row.querySelectorAll("td[data-field]").forEach(function (td) { cells[td.dataset.field] = td; });
    if (cells.state) {
      const parts = [span("state " + s.state, labels[s.state] || s.state)];
      if (s.since) {
        const small = document.createElement("small");
        small.textContent = " " + (labels.since || "") + " " + (s.since_text || "");
        parts.push(small);
      }
      cells.state.replaceChildren.apply(cells.state, parts);
    }
    if (cells.thumbnail) {
      const img = cells.thumbnail.querySelector("img");
      cells.thumbnail.classList.toggle("stale", Boolean(s.screenshot_stale));
      if (s.thumbnail_url) {
        const fresh = img && img.getAttribute("src") === s.thumbnail_url ? img : document.createElement("img");
        fresh.className = "thumb";
        fresh.alt = labels.shot_alt || "";
        if (fresh !== img) fresh.src = s.thumbnail_url;
        const when = document.createElement("small");
        when.className = "shot-time";
        when.textContent = (labels.taken || "") + " " + (s.screenshot_text || "");
        if (s.screenshot_stale) when.append(" ", span("warn", labels.stale || ""));
        cells.thumbnail.replaceChildren(fresh, when);
      } else if (!img) {
        cells.thumbnail.replaceChildren(span("muted", labels.no_shot || ""));
      }
    }
    if (cells.showing) {
      text(cells.showing, s.slide_id ? (s.slide_name || "#" + s.slide_id) + " (" + (s.language || "") + ")" : "");
    }
    if (cells.versions) text(cells.versions, dash(s.live_version) + " / " + dash(s.latest_version));
    if (cells.ack) {
      if (s.acknowledged) cells.ack.replaceChildren(span("ok", labels.up_to_date || ""));
      else if (s.latest_version !== null) cells.ack.replaceChildren(span("warn", labels.waiting || ""));
      else cells.ack.replaceChildren();
    }
    if (cells.clock) {
      const o = s.clock_offset_s;
      text(cells.clock, o === null ? "" : (o >= 0 ? "+" : "") + o.toFixed(1) + " s");
    }
    if (cells.disk) text(cells.disk, s.disk_free_bytes === null ? "" : (s.disk_free_bytes / 1e9).toFixed(1) + " GB");
    if (cells.brightness) {
      const source = labels["brightness_" + s.brightness_source];
      text(cells.brightness, s.brightness_percent === null || s.brightness_percent === undefined ? ""
        : s.brightness_percent + " %" + (source ? " (" + source + ")" : ""));
    }
    if (cells.error) text(cells.error, s.last_error || "");
  }

  async function poll() {
    try {
      const ids = Array.from(document.querySelectorAll("tr[data-screen]")).map(function (r) { return r.dataset.screen; });
      const query = status.dataset.narrow === "1" ? "?" + ids.map(function (i) { return "screen=" + i; }).join("&") : "";
      const got = await fetch(source + query, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!got.ok) throw new Error(String(got.status));
      const body = await got.json();
      body.screens.forEach(function (s) {
        document.querySelectorAll('tr[data-screen="' + s.id + '"]').forEach(function (row) { update(row, s); });
      });
      status.dataset.updated = body.generated_at;
      status.classList.remove("failed");
    } catch (err) {
      status.classList.add("failed");
    }
    window.setTimeout(poll, every);
  }
  window.setTimeout(poll, every);
})();
