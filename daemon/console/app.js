// glia's web console (issue 15): plain JavaScript, no framework, no build step.
// Every call below is a documented gliad API route (README, api-spec/openapi.yaml); the
// page has no private endpoint. The admin token is typed once, kept in sessionStorage
// (this tab only, gone when it closes) and sent as "Authorization: Bearer" - never in a URL.
"use strict";

const TOKEN_KEY = "glia-admin-token";
const $ = (id) => document.getElementById(id);
const state = { models: [], model: null, job: null, jobTimer: null, metricsTimer: null,
                lastImage: null, history: null };

// ---------------------------------------------------------------- API

function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

// One request: {status, ok, body (parsed JSON or text), headers}. admin: send the token.
async function api(method, path, opts = {}) {
  const headers = Object.assign({}, opts.headers || {});
  let body = opts.body;
  if (opts.json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(opts.json);
  }
  if (opts.admin && token()) headers["Authorization"] = "Bearer " + token();
  let r;
  try {
    r = await fetch(path, { method, headers, body, cache: "no-store" });
  } catch (e) {
    return { status: 0, ok: false, body: { detail: "gliad did not answer: " + e.message }, headers: new Headers() };
  }
  const type = r.headers.get("Content-Type") || "";
  const text = await r.text();
  let parsed = text;
  if (type.includes("json")) { try { parsed = JSON.parse(text); } catch (e) { /* keep the text */ } }
  return { status: r.status, ok: r.ok, body: parsed, headers: r.headers };
}

// A problem+json answer in words (RFC 9457: title and detail).
function problemText(res) {
  const b = res.body;
  if (b && typeof b === "object") return (b.title ? b.title + ": " : "") + (b.detail || b.error || "");
  return "HTTP " + res.status + (b ? ": " + String(b).slice(0, 200) : "");
}

// An admin route refused for want of the token: ask for it (once; kept for the tab).
function needToken(res) {
  if (res.status !== 401 && res.status !== 403) return false;
  const form = $("token-form");
  form.classList.add("wanted");
  $("token-state").textContent = res.status === 401
    ? "This action needs the admin token: enter it here."
    : "The admin token was refused (" + problemText(res) + "). Enter the right one.";
  $("token-input").focus();
  return true;
}

function showTokenState() {
  $("token-state").textContent = token() ? "token kept for this tab" : "no token: admin actions will ask";
}

// ---------------------------------------------------------------- small helpers

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

function fmt(x, digits = 4) {
  if (x === null || x === undefined || Number.isNaN(x)) return "-";
  if (typeof x !== "number") return String(x);
  if (x !== 0 && (Math.abs(x) < 1e-3 || Math.abs(x) >= 1e5)) return x.toExponential(2);
  return x.toFixed(digits);
}

// An evaluation's figures in words: accuracy 0.9308, bleu 49.10.
function evalText(ev) {
  return ev ? Object.entries(ev).map(([k, v]) => k + " " + fmt(v, Math.abs(v) > 1 ? 2 : 4)).join(", ") : "";
}

function bars(container, rows) { // rows: [{label, score}]
  container.replaceChildren();
  for (const r of rows) {
    const track = el("div", { class: "bar-track" });
    const bar = el("div", { class: "bar" });
    bar.style.width = Math.max(0, Math.min(100, r.score * 100)).toFixed(1) + "%";
    track.append(bar);
    container.append(el("span", { text: r.label }), track, el("span", { text: (r.score * 100).toFixed(1) + " %" }));
  }
}

function base64OfBytes(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

// A color from blue (negative) through white to red (positive), for |v| <= 1.
function diverging(v) {
  const a = Math.min(1, Math.abs(v));
  return v >= 0 ? `rgba(200, 40, 30, ${0.1 + 0.7 * a})` : `rgba(30, 90, 200, ${0.1 + 0.7 * a})`;
}

// ---------------------------------------------------------------- navigation

const PAGES = ["try", "versions", "training", "server"];

function route() {
  const page = PAGES.includes(location.hash.slice(1)) ? location.hash.slice(1) : "try";
  for (const p of PAGES) {
    $("page-" + p).hidden = p !== page;
    const a = $("nav-" + p);
    if (p === page) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  if (page === "versions") loadVersions();
  if (page === "training") loadJobs();
  clearInterval(state.metricsTimer);
  if (page === "server") { pollMetrics(); state.metricsTimer = setInterval(pollMetrics, 2000); }
}

// ---------------------------------------------------------------- models

async function loadModels() {
  const res = await api("GET", "/v1/models");
  if (!res.ok) { showGlobal("GET /v1/models: " + problemText(res)); return; }
  state.models = res.body.models || [];
  const sel = $("model-select"), tsel = $("train-model");
  sel.replaceChildren(); tsel.replaceChildren();
  for (const m of state.models) {
    const label = m.name + (m.loaded ? " (" + (m.task || "?") + ")" : " (not loaded)");
    sel.append(el("option", { value: m.name, text: label }));
    tsel.append(el("option", { value: m.name, text: m.name }));
  }
  const wanted = sessionStorage.getItem("glia-model");
  if (wanted && state.models.some((m) => m.name === wanted)) sel.value = wanted;
  selectModel();
}

function showGlobal(text) { const g = $("global-error"); g.textContent = text; g.hidden = !text; }

function selectModel() {
  const m = state.models.find((x) => x.name === $("model-select").value);
  state.model = m || null;
  if (m) sessionStorage.setItem("glia-model", m.name);
  const task = m && m.task;
  $("panel-image").hidden = task !== "image-classification";
  $("panel-text").hidden = task !== "text-classification";
  $("panel-translate").hidden = task !== "translation";
  const ev = m ? evalText(m.evaluation) : "";
  $("model-info").textContent = m ? (m.loaded ? "version " + m.version + (ev ? "; test " + ev : "") : "not loaded: " + (m.last_error || "")) : "";
}

// POST /v1/models/{name}/explain, or a note saying why there is no explanation.
async function explain(body, note) {
  note.textContent = "";
  const res = await api("POST", "/v1/models/" + encodeURIComponent(state.model.name) + "/explain", { json: body });
  if (res.status === 404 || res.status === 405 || res.status === 501) {
    note.textContent = "Explanations are not available on this server (POST /v1/models/{name}/explain answered " +
      res.status + ").";
    return null;
  }
  if (!res.ok) { note.textContent = "No explanation: " + problemText(res); return null; }
  return res.body;
}

// ---------------------------------------------------------------- images

// A binary PGM (P5) or plain PGM (P2) as {w, h, pixels (0..255 gray)}; null if it is not one.
function parsePgm(bytes) {
  const magic = String.fromCharCode(bytes[0], bytes[1]);
  if (magic !== "P5" && magic !== "P2") return null;
  let pos = 2; const fields = [];
  while (fields.length < 3 && pos < bytes.length) {
    while (pos < bytes.length && /\s/.test(String.fromCharCode(bytes[pos]))) pos++;
    if (bytes[pos] === 35) { while (pos < bytes.length && bytes[pos] !== 10) pos++; continue; } // # comment
    let s = "";
    while (pos < bytes.length && !/\s/.test(String.fromCharCode(bytes[pos]))) s += String.fromCharCode(bytes[pos++]);
    fields.push(parseInt(s, 10));
  }
  const [w, h, max] = fields;
  if (!(w > 0 && h > 0 && max > 0)) return null;
  const pixels = new Uint8ClampedArray(w * h);
  if (magic === "P5") {
    pos++; // the one whitespace byte after maxval
    const wide = max > 255;
    for (let i = 0; i < w * h; i++) {
      const v = wide ? (bytes[pos + 2 * i] << 8) | bytes[pos + 2 * i + 1] : bytes[pos + i];
      pixels[i] = Math.round((v * 255) / max);
    }
  } else {
    const rest = new TextDecoder().decode(bytes.subarray(pos)).trim().split(/\s+/);
    for (let i = 0; i < w * h; i++) pixels[i] = Math.round((parseInt(rest[i], 10) * 255) / max);
  }
  return { w, h, pixels };
}

function drawGray(canvas, img) {
  canvas.width = img.w; canvas.height = img.h;
  const ctx = canvas.getContext("2d"), data = ctx.createImageData(img.w, img.h);
  for (let i = 0; i < img.w * img.h; i++) {
    data.data[4 * i] = data.data[4 * i + 1] = data.data[4 * i + 2] = img.pixels[i];
    data.data[4 * i + 3] = 255;
  }
  ctx.putImageData(data, 0, 0);
}

// Shows a file's image in the input view (PNG/JPEG by the browser, PGM parsed here).
async function showImageFile(bytes, type) {
  const view = $("image-view");
  const pgm = parsePgm(bytes);
  if (pgm) { drawGray(view, pgm); return; }
  try {
    const bitmap = await createImageBitmap(new Blob([bytes], { type }));
    view.width = bitmap.width; view.height = bitmap.height;
    view.getContext("2d").drawImage(bitmap, 0, 0);
  } catch (e) { /* the server says what is wrong with it */ }
}

async function classifyImage(bytes, type) {
  state.lastImage = { bytes, type };
  $("image-error").textContent = "";
  $("image-label").textContent = "…";
  $("saliency-view").getContext("2d").clearRect(0, 0, 9999, 9999);
  await showImageFile(bytes, type);
  const image = base64OfBytes(bytes);
  const name = encodeURIComponent(state.model.name);
  const res = await api("POST", "/v1/models/" + name + "/predict", { json: { inputs: [{ image }], top_k: 5 } });
  if (!res.ok) { $("image-label").textContent = "-"; $("image-error").textContent = problemText(res); return; }
  const out = res.body.outputs[0];
  $("image-label").textContent = out.label;
  bars($("image-bars"), (out.top_k || [out]).map((t) => ({ label: t.label, score: t.score })));
  const method = $("image-method").value;
  const req = { inputs: [{ image }], method };
  if (method === "smoothgrad") req.samples = parseInt($("image-samples").value, 10) || 16;
  const ex = await explain(req, $("image-explain-note"));
  if (ex && ex.saliency) drawSaliency(ex.saliency);
}

// The saliency [H, W] as a heat map: transparent where it is 0, red where it is largest.
function drawSaliency(s) {
  const [h, w] = s.shape, canvas = $("saliency-view");
  canvas.width = w; canvas.height = h;
  let max = 0;
  for (const v of s.data) max = Math.max(max, Math.abs(v));
  const ctx = canvas.getContext("2d"), img = ctx.createImageData(w, h);
  for (let i = 0; i < w * h; i++) {
    const a = max > 0 ? Math.abs(s.data[i]) / max : 0;
    img.data[4 * i] = 255; img.data[4 * i + 1] = Math.round(220 * (1 - a)); img.data[4 * i + 2] = 0;
    img.data[4 * i + 3] = Math.round(200 * Math.sqrt(a));
  }
  ctx.putImageData(img, 0, 0);
  canvas.dataset.max = String(max);
}

function typeOf(file) {
  if (file.type) return file.type;
  return /\.pgm$/i.test(file.name) ? "image/x-portable-graymap" : "application/octet-stream";
}

async function takeFile(file) {
  if (!file) return;
  const bytes = new Uint8Array(await file.arrayBuffer());
  await classifyImage(bytes, typeOf(file));
}

function setupDrawing() {
  const c = $("draw-canvas"), ctx = c.getContext("2d");
  const clear = () => { ctx.fillStyle = "#000"; ctx.fillRect(0, 0, 28, 28); };
  clear();
  let down = false;
  const at = (e) => {
    const r = c.getBoundingClientRect();
    return [((e.clientX - r.left) * 28) / r.width, ((e.clientY - r.top) * 28) / r.height];
  };
  const paint = (e) => {
    const [x, y] = at(e);
    const g = ctx.createRadialGradient(x, y, 0, x, y, 1.8);
    g.addColorStop(0, "rgba(255,255,255,1)"); g.addColorStop(1, "rgba(255,255,255,0)");
    ctx.fillStyle = g; ctx.beginPath(); ctx.arc(x, y, 1.8, 0, 2 * Math.PI); ctx.fill();
  };
  c.addEventListener("pointerdown", (e) => { down = true; c.setPointerCapture(e.pointerId); paint(e); });
  c.addEventListener("pointermove", (e) => { if (down) paint(e); });
  c.addEventListener("pointerup", () => { down = false; });
  $("draw-clear").addEventListener("click", clear);
  $("draw-classify").addEventListener("click", async () => {
    const blob = await new Promise((ok) => c.toBlob(ok, "image/png"));
    await classifyImage(new Uint8Array(await blob.arrayBuffer()), "image/png");
  });
}

function setupImage() {
  const zone = $("drop-zone");
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault(); zone.classList.remove("over");
    $("image-file").value = ""; // the chooser must not name an earlier file beside the dropped one
    takeFile(e.dataTransfer.files[0]);
  });
  // the drop zone is a button too: Enter or Space opens the file picker
  zone.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); $("image-file").click(); }
  });
  zone.addEventListener("click", () => $("image-file").click());
  $("image-file").addEventListener("change", (e) => takeFile(e.target.files[0]));
  $("saliency-toggle").addEventListener("change", (e) => { $("saliency-view").hidden = !e.target.checked; });
  // a method's own setting is enabled only with that method
  const follow = (select, input, method) => {
    const sync = () => { $(input).disabled = $(select).value !== method; };
    $(select).addEventListener("change", sync);
    sync();
  };
  follow("image-method", "image-samples", "smoothgrad");
  follow("text-method", "text-steps", "integrated_gradients");
  setupDrawing();
}

// ---------------------------------------------------------------- text

async function classifyText(e) {
  e.preventDefault();
  const text = $("text-input").value, name = encodeURIComponent(state.model.name);
  $("text-error").textContent = ""; $("text-label").textContent = "…"; $("text-tokens").replaceChildren();
  const res = await api("POST", "/v1/models/" + name + "/predict", { json: { inputs: [text] } });
  if (!res.ok) { $("text-label").textContent = "-"; $("text-error").textContent = problemText(res); return; }
  const out = res.body.outputs[0];
  $("text-label").textContent = out.label;
  $("text-score").textContent = "(" + (out.score * 100).toFixed(1) + " %)";
  bars($("text-bars"), Object.entries(out.probabilities || {}).map(([label, score]) => ({ label, score })));
  const method = $("text-method").value, req = { inputs: [text], method };
  if (method === "integrated_gradients") req.steps = parseInt($("text-steps").value, 10) || 32;
  const ex = await explain(req, $("text-explain-note"));
  if (!ex || !ex.tokens) return;
  let max = 0;
  for (const s of ex.scores) max = Math.max(max, Math.abs(s));
  const box = $("text-tokens");
  ex.tokens.forEach((t, i) => {
    const v = max > 0 ? ex.scores[i] / max : 0;
    const span = el("span", { class: "tok", title: "attribution " + fmt(ex.scores[i]), text: t });
    span.style.background = diverging(v);
    span.dataset.score = String(ex.scores[i]);
    box.append(span, " ");
  });
  const target = ex.target ? ex.target.label : out.label;
  let note = "Red words push towards '" + target + "', blue ones away from it (" + ex.method + ").";
  if (ex.logit !== undefined && ex.baseline_logit !== undefined) {
    const sum = ex.scores.reduce((a, b) => a + b, 0);
    note += " Sum of attributions " + fmt(sum) + " = logit " + fmt(ex.logit) + " - baseline " + fmt(ex.baseline_logit) + ".";
  }
  $("text-explain-note").textContent = note;
}

// ---------------------------------------------------------------- translation

async function translate(e) {
  e.preventDefault();
  const text = $("translate-input").value, name = encodeURIComponent(state.model.name);
  const beam = parseInt($("beam-size").value, 10), maxTokens = parseInt($("max-tokens").value, 10);
  $("translate-error").textContent = ""; $("translation").textContent = "…"; $("align").replaceChildren();
  const opts = { inputs: [text], beam_size: beam, max_tokens: maxTokens };
  const res = await api("POST", "/v1/models/" + name + "/predict", { json: opts });
  if (!res.ok) { $("translation").textContent = "-"; $("translate-error").textContent = problemText(res); return; }
  const out = res.body.outputs[0];
  $("translation").textContent = out.translation + (out.truncated ? " [cut at max tokens]" : "");
  const ex = await explain(opts, $("translate-explain-note"));
  if (ex && ex.alignment) drawAlignment(ex);
}

// Two rows of subwords, source above and output below, a line for each (output, source)
// pair whose opacity is the attention weight.
function drawAlignment(ex) {
  const box = $("align");
  box.replaceChildren();
  const src = el("div", { class: "tokrow", "aria-label": "Source subwords" });
  const dst = el("div", { class: "tokrow", "aria-label": "Output subwords" });
  const srcEls = ex.source_tokens.map((t) => el("span", { class: "sub", text: t }));
  const dstEls = ex.output_tokens.map((t, i) => el("span", {
    class: "sub", text: t, title: ex.log_probs ? "log p = " + fmt(ex.log_probs[i], 3) : "" }));
  src.append(...srcEls); dst.append(...dstEls);
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  box.append(svg, src, dst);
  const origin = box.getBoundingClientRect();
  svg.setAttribute("width", String(origin.width)); svg.setAttribute("height", String(origin.height));
  let lines = 0;
  ex.alignment.forEach((row, i) => {
    if (!dstEls[i]) return;
    const b = dstEls[i].getBoundingClientRect();
    row.forEach((w, j) => {
      if (!srcEls[j] || w < 0.05) return;
      const a = srcEls[j].getBoundingClientRect();
      const line = document.createElementNS("http://www.w3.org/2000/svg", "line");
      line.setAttribute("x1", String(a.left + a.width / 2 - origin.left));
      line.setAttribute("y1", String(a.bottom - origin.top));
      line.setAttribute("x2", String(b.left + b.width / 2 - origin.left));
      line.setAttribute("y2", String(b.top - origin.top));
      line.setAttribute("stroke", "#1f6fb2");
      line.setAttribute("stroke-width", String(1 + 3 * w));
      line.setAttribute("stroke-opacity", String(Math.min(1, 0.15 + w)));
      svg.append(line);
      lines++;
    });
  });
  box.dataset.lines = String(lines);
  $("translate-explain-note").textContent = "Each line joins an output subword to the source subwords it attends to " +
    "(thicker = more weight); hover an output subword for its log-probability.";
}

// ---------------------------------------------------------------- versions

async function loadVersions() {
  const list = $("versions-list");
  list.replaceChildren();
  for (const m of state.models) {
    const res = await api("GET", "/v1/models/" + encodeURIComponent(m.name), { admin: true });
    const card = el("div", { class: "version-card" }, el("h3", { text: m.name }));
    if (!res.ok) { card.append(el("p", { class: "error", text: problemText(res) })); list.append(card); continue; }
    const d = res.body;
    const ev = evalText(d.evaluation);
    card.append(el("p", { text: (d.loaded ? "serving version " + d.version : "not loaded") + (ev ? "; test " + ev : "") }));
    const labels = await api("GET", "/v1/models/" + encodeURIComponent(m.name) + "/labels");
    if (labels.ok && labels.body) {
      const b = labels.body;
      card.append(el("p", { class: "muted", text: "labels: stable " + b.stable + ", canary " + (b.canary || "none") +
        (b.canary ? " (" + b.canary_percent + " %)" : "") }));
    }
    const versions = d.versions && d.versions.versions ? d.versions.versions : d.versions;
    if (Array.isArray(versions) && versions.length) {
      const serving = versions.find((v) => v.serving);
      const table = el("table", { class: "table" },
        el("caption", { class: "sr-only", text: "Versions of " + m.name }),
        el("thead", {}, el("tr", {}, ...["Version", "Source", "Test evaluation", "Serving", "Action"].map(
          (h) => el("th", { scope: "col", text: h })))));
      const body = el("tbody");
      for (const v of versions) {
        const vev = evalText(v.evaluation);
        const action = el("td");
        if (!v.serving) {
          const back = serving && v.version < serving.version;
          action.append(el("button", { type: "button", class: "promote", "data-model": m.name, "data-version": String(v.version),
            "aria-label": (back ? "Roll back " : "Promote ") + m.name + " to version " + v.version,
            text: back ? "Roll back to " + v.version : "Promote " + v.version,
            onclick: () => promote(m.name, v.version) }));
        }
        body.append(el("tr", { "data-version": String(v.version) }, el("td", { text: String(v.version) }),
          el("td", { text: v.source || "" }), el("td", { text: vev }),
          el("td", { class: v.serving ? "serving" : "", text: v.serving ? "serving" : "" }), action));
      }
      table.append(body);
      card.append(table);
    } else {
      card.append(el("p", { class: "muted", text: "One version (train one on the Training page to get more)." }));
    }
    list.append(card);
  }
}

async function promote(model, version) {
  const msg = $("versions-msg");
  if (!token()) { needToken({ status: 401 }); msg.textContent = "Promoting needs the admin token (above)."; return; }
  const res = await api("POST", "/v1/models/" + encodeURIComponent(model) + "/versions/" + version + "/promote", { admin: true });
  if (needToken(res)) { msg.textContent = "Promoting needs the admin token (above)."; return; }
  msg.textContent = res.ok ? model + ": version " + version + " serves now." : "Not promoted: " + problemText(res);
  await loadModels();
  await loadVersions();
}

// ---------------------------------------------------------------- training

function numberOrNull(s) {
  const t = String(s).trim();
  if (t === "") return null;
  const v = Number(t);
  return Number.isFinite(v) ? v : NaN;
}

async function startTraining(e) {
  e.preventDefault();
  const msg = $("train-msg");
  let extra;
  try { extra = JSON.parse($("train-extra").value || "{}"); } catch (err) {
    msg.textContent = "The recipe overrides are not JSON: " + err.message; return;
  }
  if (typeof extra !== "object" || Array.isArray(extra) || extra === null) {
    msg.textContent = "The recipe overrides must be a JSON object, e.g. {\"batch\": 64}"; return;
  }
  const recipe = Object.assign({}, extra);
  const epochs = parseInt($("train-epochs").value, 10), lr = numberOrNull($("train-lr").value);
  const seed = numberOrNull($("train-seed").value);
  if (epochs > 0) recipe.epochs = epochs;
  if (lr !== null) recipe.lr = lr;
  if (seed !== null) recipe.seed = seed;
  const body = { model: $("train-model").value, recipe, promote: $("train-promote").value };
  const limit = parseInt($("train-limit").value, 10), validation = parseInt($("train-validation").value, 10);
  if (limit > 0 || validation > 0) {
    body.dataset = {};
    if (limit > 0) body.dataset.limit = limit;
    if (validation > 0) body.dataset.validation = validation;
  }
  if (!token()) { needToken({ status: 401 }); msg.textContent = "Training needs the admin token (above)."; return; }
  const res = await api("POST", "/v1/train", { json: body, admin: true });
  if (needToken(res)) { msg.textContent = "Training needs the admin token (above)."; return; }
  if (!res.ok) { msg.textContent = "Not started: " + problemText(res); return; }
  const id = res.body.id || (res.headers.get("Location") || "").split("/").pop();
  msg.textContent = "Job " + id + " queued.";
  await loadJobs();
  watchJob(id);
}

async function loadJobs() {
  const tbody = $("jobs-table").querySelector("tbody");
  if (!token()) {
    tbody.replaceChildren(el("tr", {}, el("td", { colspan: "6", class: "muted", text: "Enter the admin token to list the jobs." })));
    return;
  }
  const res = await api("GET", "/v1/jobs", { admin: true });
  if (needToken(res)) return;
  if (!res.ok) { tbody.replaceChildren(el("tr", {}, el("td", { colspan: "6", text: problemText(res) }))); return; }
  const jobs = (res.body.jobs || []).slice().sort((a, b) => String(b.created_at).localeCompare(String(a.created_at)));
  tbody.replaceChildren();
  for (const j of jobs) {
    const actions = el("td", {},
      el("button", { type: "button", text: "Watch", "aria-label": "Watch job " + j.id, onclick: () => watchJob(j.id) }));
    if (j.status === "queued" || j.status === "running")
      actions.append(" ", el("button", { type: "button", class: "cancel", text: "Cancel", "aria-label": "Cancel job " + j.id,
        onclick: () => cancelJob(j.id) }));
    const tr = el("tr", { "data-job": j.id }, el("td", { text: j.id }), el("td", { text: j.model || "" }),
      el("td", { class: "job-status", text: j.status }),
      el("td", { text: j.epochs ? j.epoch + "/" + j.epochs : String(j.epoch || 0) }),
      el("td", { text: fmt(j.loss) }), actions);
    if (state.job && state.job.id === j.id) tr.classList.add("selected");
    tbody.append(tr);
  }
}

async function cancelJob(id) {
  const res = await api("POST", "/v1/jobs/" + encodeURIComponent(id) + "/cancel", { admin: true });
  if (needToken(res)) return;
  $("train-msg").textContent = res.ok ? "Job " + id + " cancelled." : "Not cancelled: " + problemText(res);
  await loadJobs();
}

// Polls the job: GET /v1/jobs/{id}/history?since=STEP (every step's figures) when gliad has
// it; otherwise GET /v1/jobs/{id}, one point per step it reports (an epoch's end).
function watchJob(id) {
  clearTimeout(state.jobTimer);
  state.job = { id, steps: [], evals: [], since: -1, useHistory: true, done: false };
  $("curve-job").textContent = "job " + id;
  drawCharts();
  pollJob();
}

const FINISHED = ["succeeded", "failed", "cancelled", "interrupted"];

async function pollJob() {
  const job = state.job;
  if (!job) return;
  const path = "/v1/jobs/" + encodeURIComponent(job.id);
  let status = null;
  if (job.useHistory) {
    const res = await api("GET", path + "/history" + (job.since >= 0 ? "?since=" + job.since : ""), { admin: true });
    if (needToken(res)) return;
    if (res.ok && res.body && Array.isArray(res.body.steps)) {
      for (const s of res.body.steps) { job.steps.push(s); job.since = Math.max(job.since, s.step); }
      job.evals = res.body.evals || job.evals;
      status = res.body.status;
      $("curve-source").textContent = "From GET /v1/jobs/{id}/history: every step.";
    } else if (res.status === 404 || res.status === 405) {
      job.useHistory = false; // this gliad has no history route yet: the job record will do
    }
  }
  if (!job.useHistory) {
    const res = await api("GET", path, { admin: true });
    if (needToken(res)) return;
    if (res.ok) {
      const r = res.body;
      status = r.status;
      const last = job.steps[job.steps.length - 1];
      if (r.step > 0 && (!last || last.step !== r.step))
        job.steps.push({ step: r.step, epoch: r.epoch, loss: r.loss, lr: r.learning_rate });
      job.evals = (r.evaluations || []).map((e) => Object.assign({ step: e.epoch }, e));
      $("curve-source").textContent = "From GET /v1/jobs/{id} (this gliad has no /history route): one point per epoch.";
    }
  }
  drawCharts();
  if (state.job !== job) return;
  if (status && FINISHED.includes(status)) {
    $("curve-job").textContent = "job " + job.id + ": " + status;
    loadJobs();
    return;
  }
  state.jobTimer = setTimeout(pollJob, 1000);
}

// A line chart on a canvas: series [{name, color, points: [[x, y], ...]}].
// zero: the y axis starts at 0 (rates, latencies, learning rates), so that jitter in a
// steady figure does not fill the chart.
function lineChart(canvas, series, xlabel, zero = false) {
  const ctx = canvas.getContext("2d"), W = canvas.width, H = canvas.height, pad = 56;
  ctx.clearRect(0, 0, W, H);
  const pts = series.flatMap((s) => s.points).filter((p) => Number.isFinite(p[1]));
  ctx.fillStyle = "#5b6672"; ctx.font = "11px sans-serif";
  if (!pts.length) { ctx.fillText("no points yet", W / 2 - 30, H / 2); return; }
  let [x0, x1] = [Math.min(...pts.map((p) => p[0])), Math.max(...pts.map((p) => p[0]))];
  let [y0, y1] = [Math.min(...pts.map((p) => p[1])), Math.max(...pts.map((p) => p[1]))];
  if (zero) y0 = Math.min(0, y0);
  if (x1 === x0) { x0 -= 1; x1 += 1; }
  if (y1 === y0) { y0 -= Math.abs(y0) * 0.1 || 1; y1 += Math.abs(y1) * 0.1 || 1; }
  const X = (x) => pad + ((x - x0) / (x1 - x0)) * (W - pad - 10), Y = (y) => H - 20 - ((y - y0) / (y1 - y0)) * (H - 30);
  ctx.strokeStyle = "#d4dae0"; ctx.beginPath(); ctx.moveTo(pad, 10); ctx.lineTo(pad, H - 20); ctx.lineTo(W - 10, H - 20); ctx.stroke();
  const tick = (y) => (y === 0 ? "0" : Number(y.toPrecision(3)).toString());
  ctx.fillText(tick(y1), 2, 14); ctx.fillText(tick(y0), 2, H - 22);
  ctx.fillText(String(x0), pad, H - 6); ctx.fillText(xlabel + " " + x1, W - 80, H - 6);
  for (const s of series) {
    const p = s.points.filter((q) => Number.isFinite(q[1]));
    ctx.strokeStyle = ctx.fillStyle = s.color; ctx.lineWidth = 1.5; ctx.beginPath();
    p.forEach((q, i) => (i ? ctx.lineTo(X(q[0]), Y(q[1])) : ctx.moveTo(X(q[0]), Y(q[1]))));
    ctx.stroke();
    if (p.length < 40) for (const q of p) { ctx.beginPath(); ctx.arc(X(q[0]), Y(q[1]), 2.5, 0, 2 * Math.PI); ctx.fill(); }
  }
}

const EVAL_COLORS = ["#1f6fb2", "#c2410c", "#15803d", "#7c3aed", "#a16207"];

function drawCharts() {
  const job = state.job;
  const steps = job ? job.steps : [], evals = job ? job.evals : [];
  lineChart($("chart-loss"), [{ color: "#1f6fb2", points: steps.map((s) => [s.step, s.loss]) }], "step");
  lineChart($("chart-lr"), [{ color: "#15803d", points: steps.map((s) => [s.step, s.lr]) }], "step", true);
  const names = [...new Set(evals.flatMap((e) => Object.keys(e)))].filter(
    (k) => !["step", "epoch"].includes(k) && evals.some((e) => typeof e[k] === "number"));
  lineChart($("chart-eval"), names.map((n, i) => ({ color: EVAL_COLORS[i % EVAL_COLORS.length],
    points: evals.map((e) => [e.epoch !== undefined ? e.epoch : e.step, e[n]]) })), "epoch");
  const legend = $("eval-legend");
  legend.replaceChildren();
  names.forEach((n, i) => { const s = el("span", { text: " ● " + n }); s.style.color = EVAL_COLORS[i % EVAL_COLORS.length]; legend.append(s); });
  $("points-loss").textContent = String(steps.filter((s) => Number.isFinite(s.loss)).length);
}

// ---------------------------------------------------------------- server metrics

// Prometheus text format 0.0.4: [{name, labels: {k: v}, value}].
function parseMetrics(text) {
  const out = [];
  for (const line of text.split("\n")) {
    if (!line || line[0] === "#") continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    if (m[3]) for (const l of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: parseFloat(m[4]) });
  }
  return out;
}

// A quantile from cumulative histogram buckets {le: count} (as Prometheus's histogram_quantile).
function quantile(q, buckets) {
  const les = Object.keys(buckets).map((k) => [k === "+Inf" ? Infinity : parseFloat(k), buckets[k]]).sort((a, b) => a[0] - b[0]);
  if (!les.length) return NaN;
  const total = les[les.length - 1][1];
  if (!(total > 0)) return NaN;
  const rank = q * total;
  let prevLe = 0, prevCount = 0;
  for (const [le, count] of les) {
    if (count >= rank) {
      if (le === Infinity) return prevLe;
      return prevLe + ((le - prevLe) * (rank - prevCount)) / Math.max(count - prevCount, 1e-12);
    }
    prevLe = le; prevCount = count;
  }
  return prevLe;
}

const metricsHistory = [];
let lastMetrics = null;

async function pollMetrics() {
  const res = await api("GET", "/metrics");
  if (!res.ok) { $("stat-rps").textContent = "?"; return; }
  const rows = parseMetrics(String(res.body)), now = performance.now() / 1000;
  const sum = (name) => rows.filter((r) => r.name === name).reduce((a, r) => a + r.value, 0);
  const buckets = {};
  for (const r of rows) if (r.name === "glia_http_request_duration_seconds_bucket")
    buckets[r.labels.le] = (buckets[r.labels.le] || 0) + r.value;
  const cur = { t: now, requests: sum("glia_http_requests_total"), buckets };
  let rps = NaN, window = buckets;
  if (lastMetrics) {
    rps = (cur.requests - lastMetrics.requests) / Math.max(cur.t - lastMetrics.t, 1e-3);
    window = {};
    for (const k of Object.keys(buckets)) window[k] = buckets[k] - (lastMetrics.buckets[k] || 0);
  }
  lastMetrics = cur;
  const p50 = quantile(0.5, window), p99 = quantile(0.99, window);
  $("stat-rps").textContent = Number.isFinite(rps) ? rps.toFixed(1) : "…";
  $("stat-p50").textContent = Number.isFinite(p50) ? (p50 * 1000).toFixed(1) + " ms" : "-";
  $("stat-p99").textContent = Number.isFinite(p99) ? (p99 * 1000).toFixed(1) + " ms" : "-";
  $("stat-queue").textContent = String(sum("glia_inference_queue_depth"));
  $("stat-busy").textContent = sum("glia_inference_workers_busy") + " / " + sum("glia_inference_workers");
  $("stat-models").textContent = String(sum("glia_model_loaded"));
  if (Number.isFinite(rps)) metricsHistory.push([metricsHistory.length, rps, Number.isFinite(p99) ? p99 * 1000 : NaN]);
  if (metricsHistory.length > 150) metricsHistory.shift();
  // one chart per unit: requests/s and milliseconds do not share an axis
  lineChart($("chart-rps"), [{ color: "#1f6fb2", points: metricsHistory.map((p, i) => [i, p[1]]) }], "poll", true);
  lineChart($("chart-p99"), [{ color: "#c2410c", points: metricsHistory.map((p, i) => [i, p[2]]) }], "poll", true);
  $("stat-polls").textContent = String(metricsHistory.length);
}

// ---------------------------------------------------------------- start

function setup() {
  $("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const t = $("token-input").value.trim();
    if (t) sessionStorage.setItem(TOKEN_KEY, t);
    $("token-input").value = "";
    $("token-form").classList.remove("wanted");
    showTokenState();
    loadModels().then(() => { if (location.hash === "#versions") loadVersions(); });
    if (location.hash === "#training") loadJobs();
  });
  $("token-forget").addEventListener("click", () => { sessionStorage.removeItem(TOKEN_KEY); showTokenState(); });
  $("model-select").addEventListener("change", selectModel);
  $("text-form").addEventListener("submit", classifyText);
  $("translate-form").addEventListener("submit", translate);
  $("train-form").addEventListener("submit", startTraining);
  $("jobs-refresh").addEventListener("click", loadJobs);
  $("versions-refresh").addEventListener("click", loadVersions);
  setupImage();
  showTokenState();
  drawCharts();
  window.addEventListener("hashchange", route);
  loadModels().then(route);
}

document.addEventListener("DOMContentLoaded", setup);
