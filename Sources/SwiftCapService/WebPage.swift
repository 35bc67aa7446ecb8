/// The web page served at `/`: one self-contained HTML file (no external scripts, fonts or CDNs).
/// Choose or drop a photo; it is POSTed to /v1/captions?boxes=true and the caption, the boxes drawn on the
/// photo, the concepts and the timings are shown. Element ids (#file, #caption, #status, #photo) are what
/// scripts/serve_page_check.py reads.
public enum WebPage {
    public static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>SwiftCap — caption a photo</title>
<style>
  :root { color-scheme: light dark; --accent: #2563eb; --muted: #6b7280; }
  body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; padding: 24px; max-width: 1100px; }
  h1 { font-size: 1.4rem; margin: 0 0 4px; }
  p.sub { color: var(--muted); margin: 0 0 16px; }
  #drop { border: 2px dashed var(--muted); border-radius: 10px; padding: 22px; text-align: center; cursor: pointer; }
  #drop.over { border-color: var(--accent); background: rgba(37, 99, 235, .08); }
  #status { min-height: 1.4em; margin: 12px 0; color: var(--muted); }
  #status.error { color: #dc2626; }
  #caption { font-size: 1.35rem; font-weight: 600; margin: 8px 0 16px; }
  .row { display: flex; gap: 24px; flex-wrap: wrap; align-items: flex-start; }
  canvas { max-width: 640px; width: 100%; border-radius: 8px; }
  table { border-collapse: collapse; font-size: .92rem; }
  td, th { padding: 3px 10px 3px 0; text-align: left; }
  .bar { height: 8px; background: var(--accent); border-radius: 4px; }
  details { margin-top: 16px; color: var(--muted); }
  input[type=password] { width: 16em; }
</style>
</head>
<body>
<h1>SwiftCap</h1>
<p class="sub">On-device captioning: the photo is captioned by this server and not kept.</p>
<div id="drop" tabindex="0">Drop a JPEG or PNG photo here, or <label><u>choose one</u>
  <input id="file" type="file" accept="image/jpeg,image/png" style="display:none"></label></div>
<div id="status" role="status"></div>
<div id="caption" aria-live="polite"></div>
<div class="row">
  <canvas id="photo" width="0" height="0"></canvas>
  <div>
    <table id="concepts"></table>
    <table id="timings" style="margin-top:14px"></table>
    <div id="keywords" style="margin-top:14px;color:var(--muted)"></div>
  </div>
</div>
<details><summary>API key</summary>
  <p>Only needed when the server was started with <code>--api-keys</code>; sent as a bearer token, never stored.</p>
  <input id="apikey" type="password" autocomplete="off" placeholder="API key">
</details>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const palette = ["#ef4444", "#22c55e", "#3b82f6", "#eab308", "#a855f7", "#06b6d4", "#f97316", "#ec4899"];

function setStatus(text, isError) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

function cell(row, text) { const td = document.createElement("td"); td.textContent = text; row.appendChild(td); return td; }

async function caption(file) {
  if (!file) return;
  if (!["image/jpeg", "image/png"].includes(file.type)) { setStatus("Please choose a JPEG or PNG photo.", true); return; }
  $("caption").textContent = "";
  setStatus("Captioning " + file.name + " …");
  const headers = { "Content-Type": file.type };
  const key = $("apikey").value.trim();
  if (key) headers["Authorization"] = "Bearer " + key;
  const started = performance.now();
  let body;
  try {
    const response = await fetch("/v1/captions?boxes=true&concepts=true", { method: "POST", headers, body: file });
    body = await response.json();
    if (!response.ok) {
      const e = body && body.error ? body.error : { code: String(response.status), message: response.statusText };
      setStatus("Error " + response.status + " (" + e.code + "): " + e.message, true);
      return;
    }
  } catch (err) {
    setStatus("Request failed: " + err, true);
    return;
  }
  const roundTrip = performance.now() - started;
  $("caption").textContent = body.caption;
  setStatus("Done in " + roundTrip.toFixed(0) + " ms (model: " + body.model + ").");
  await draw(file, body);
  showConcepts(body.concepts || []);
  showTimings(body.timings_ms || {}, roundTrip);
  $("keywords").textContent = body.keywords && body.keywords.length ? "Keywords: " + body.keywords.join(", ") : "";
}

function draw(file, body) {
  return new Promise((resolve) => {
    const url = URL.createObjectURL(file);
    const img = new Image();
    img.onload = () => {
      const canvas = $("photo");
      const scale = Math.min(1, 640 / img.naturalWidth);
      canvas.width = Math.round(img.naturalWidth * scale);
      canvas.height = Math.round(img.naturalHeight * scale);
      const ctx = canvas.getContext("2d");
      ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
      const sx = canvas.width / body.image.width, sy = canvas.height / body.image.height;
      ctx.lineWidth = 3;
      ctx.font = "bold 14px system-ui, sans-serif";
      (body.concepts || []).filter((c) => c.box).forEach((c, i) => {
        const color = palette[i % palette.length];
        const x = c.box.x0 * sx, y = c.box.y0 * sy, w = (c.box.x1 - c.box.x0) * sx, h = (c.box.y1 - c.box.y0) * sy;
        ctx.strokeStyle = color;
        ctx.strokeRect(x, y, w, h);
        const label = c.name + " " + Math.round(c.score * 100) + "%";
        const tw = ctx.measureText(label).width + 8;
        ctx.fillStyle = color;
        ctx.fillRect(x, Math.max(0, y - 20), tw, 20);
        ctx.fillStyle = "#fff";
        ctx.fillText(label, x + 4, Math.max(0, y - 20) + 15);
      });
      URL.revokeObjectURL(url);
      resolve();
    };
    img.onerror = () => { URL.revokeObjectURL(url); resolve(); };
    img.src = url;
  });
}

function showConcepts(concepts) {
  const table = $("concepts");
  table.innerHTML = "<tr><th>concept</th><th>kind</th><th>score</th><th></th></tr>";
  concepts.forEach((c) => {
    const row = table.insertRow();
    cell(row, c.name); cell(row, c.kind); cell(row, c.score.toFixed(2));
    const bar = document.createElement("div");
    bar.className = "bar"; bar.style.width = Math.round(c.score * 120) + "px";
    cell(row, "").appendChild(bar);
  });
}

function showTimings(t, roundTrip) {
  const table = $("timings");
  table.innerHTML = "<tr><th>stage</th><th>ms</th></tr>";
  ["queue", "decode", "detector", "classifier", "encoder", "decoder", "total"].filter((k) => k in t).forEach((k) => {
    const row = table.insertRow(); cell(row, k); cell(row, t[k].toFixed(1));
  });
  const row = table.insertRow(); cell(row, "round trip"); cell(row, roundTrip.toFixed(1));
}

$("file").addEventListener("change", (e) => caption(e.target.files[0]));
const drop = $("drop");
drop.addEventListener("click", (e) => { if (e.target === drop) $("file").click(); });
drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") $("file").click(); });
["dragenter", "dragover"].forEach((n) => drop.addEventListener(n, (e) => { e.preventDefault(); drop.classList.add("over"); }));
["dragleave", "drop"].forEach((n) => drop.addEventListener(n, (e) => { e.preventDefault(); drop.classList.remove("over"); }));
drop.addEventListener("drop", (e) => caption(e.dataTransfer.files[0]));
</script>
</body>
</html>
"""#
}
