// The latent-synth surface. Every control sends {"address", "args"} over the WebSocket to the daemon's
// command bus (the same as OSC and MIDI); every value shown comes back from the daemon.
"use strict";

const TOKEN = new URLSearchParams(location.search).get("token") || "";
const SLOTS = 8;
const HOLD_MS = 400;          // a control the user just moved is not overwritten by the echo
let reshow = null;            // a state that came during a hold is shown once the hold is over
const $ = (id) => document.getElementById(id);
const q = (name) => encodeURIComponent(name).replace(/%2F/g, "/");
const lastInput = new Map();  // element -> performance.now() of the user's last input
let ws = null;
let state = null;
let contrasts = {};
let preset = null;
let dSae = null;
const clipsShown = new Set();

// ------------------------------------------------------------------ the socket
function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  ws = new WebSocket(`${scheme}://${location.host}/ws?token=${encodeURIComponent(TOKEN)}`);
  ws.onmessage = (ev) => receive(JSON.parse(ev.data));
  ws.onopen = () => { send("/synth/preset/list"); send("/synth/status"); };
  ws.onclose = (ev) => {
    $("status").textContent = `disconnected${ev.reason ? ": " + ev.reason : ""}; reconnecting…`;
    document.body.dataset.connected = "false";
    setTimeout(connect, 1000);
  };
}

function send(address, ...args) {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ address, args }));
}

const handlers = {
  "/web/hello": hello,
  "/synth/state/changed": (s) => showState(s),
  "/synth/state": (json) => showState(JSON.parse(json)),
  "/web/preset": (p) => showPreset(p),
  "/synth/rendered": (name, seed, seconds, kind) => addClip(name, seed, seconds, kind),
  "/synth/error": (address, message) => showError(address, message),
  "/synth/status": (json) => showStatus(JSON.parse(json)),
  "/synth/preset/list": (...names) => { presetNames = names; },
  "/synth/preset/sources": (...sources) => showPresetList(presetNames, sources),
  "/synth/feature/info": (id, prompts, effect) => showFeatureInfo(id, prompts, effect),
  "/web/jam/position": (p) => showPosition(p),
  "/synth/pong": () => {},
};
let presetNames = [];

function receive(msg) {
  const handler = handlers[msg.address];
  if (handler) handler(...msg.args);
}

function hello(h) {
  document.body.dataset.connected = "true";
  if (!performance.getEntriesByName("surface-ready").length) performance.mark("surface-ready");  // bench/web.py
  contrasts = h.contrasts;
  dSae = h.d_sae;
  $("feature-id").max = dSae === null ? 0 : dSae - 1;
  $("feature-id").disabled = $("feature-add").disabled = dSae === null;
  showPreset(h.preset);
  showState(h.state);
  for (const c of h.clips) addClip(...c);
}

// ------------------------------------------------------------------ controls -> daemon
function numberOf(el) {
  const v = el.type === "checkbox" ? (el.checked ? 1 : 0) : Number(el.value);
  return el.hasAttribute("data-int") ? Math.round(v) : v;
}

function wire(el, event = "input") {
  el.addEventListener(event, () => {
    lastInput.set(el, performance.now());
    const out = el.parentElement.querySelector(`output[for="${el.id}"]`);
    if (out) out.textContent = el.value;
    if (el.tagName === "SELECT" && !el.hasAttribute("data-int")) send(el.dataset.address, el.value);
    else send(el.dataset.address, numberOf(el));
  });
}

function label(text, forId) {
  const l = document.createElement("label");
  l.textContent = text;
  l.htmlFor = forId;
  return l;
}

function slider(id, address, min, max, step) {
  const el = document.createElement("input");
  Object.assign(el, { id, type: "range", min, max, step });
  el.dataset.address = address;
  const out = document.createElement("output");
  out.htmlFor = id;
  return [el, out];
}

function buildPrompts() {
  const rows = $("prompt-rows");
  for (let i = 0; i < SLOTS; i++) {
    const text = document.createElement("input");
    Object.assign(text, { id: `prompt-${i}`, type: "text", placeholder: i ? "" : "what to play" });
    text.dataset.address = `/synth/prompt/${i}`;
    text.addEventListener("change", () => { lastInput.set(text, performance.now()); send(text.dataset.address, text.value); });
    const [mix, out] = slider(`mix-${i}`, `/synth/mix/${i}`, 0, 1, 0.01);
    wire(mix);
    rows.append(label(`prompt ${i + 1}`, text.id), text, label(`weight ${i + 1}`, mix.id), mix, out);
  }
}

// rows of sliders rebuilt when their set changes (features, contrasts, the preset's sliders)
function sliderRows(container, rows) {
  const key = JSON.stringify(rows.map((r) => [r.address, r.min, r.max, r.label, r.note]));
  if (container.dataset.key === key) return;
  container.dataset.key = key;
  container.replaceChildren();
  for (const r of rows) {
    const id = `s-${r.address.slice(1).replace(/[^a-z0-9]+/gi, "-")}`;
    const [el, out] = slider(id, r.address, r.min, r.max, "any");
    wire(el);
    const l = label(r.label, id);
    const note = document.createElement("small");
    note.textContent = r.note || "";
    if (r.info !== undefined) {  // an SAE feature: its prompts and effect on hover
      l.dataset.feature = r.info;
      for (const ev of ["mouseenter", "focus"]) (ev === "focus" ? el : l).addEventListener(ev, () => send("/synth/feature/info", r.info));
    }
    container.append(l, el, out, note);
  }
}

// ------------------------------------------------------------------ daemon -> what you see
function valueAt(s, address) {
  let m;
  if ((m = address.match(/^\/synth\/feature\/(\d+)$/))) return s.features[m[1]] ?? 0;
  if ((m = address.match(/^\/synth\/inside\/(\d+)$/))) return (s.inside_features || {})[m[1]] ?? 0;
  if ((m = address.match(/^\/synth\/contrast\/(.+)$/))) return s.contrasts[m[1]]?.strength ?? 0;
  if ((m = address.match(/^\/synth\/mix\/(\d+)$/))) return s.prompts[+m[1]].weight;
  if ((m = address.match(/^\/synth\/prompt\/(\d+)$/))) return s.prompts[+m[1]].text;
  if (address === "/synth/arrangement") return s.arrangement || "auto";
  const key = { "/synth/seed": "seed", "/synth/steps": "steps", "/synth/cfg": "cfg", "/synth/duration": "duration",
    "/synth/bpm": "bpm", "/synth/bars": "bars", "/synth/steering/mode": "steering_mode",
    "/synth/steering/gain": "steering_gain", "/synth/mixmode": "mix_mode" }[address];
  return key === undefined ? undefined : s[key];
}

function setControl(el, value) {
  if (value === undefined) return;
  const held = HOLD_MS - (performance.now() - (lastInput.get(el) || -1e9));
  if (held > 0) {   // not the echo alone: another client's change may have come too
    clearTimeout(reshow);
    reshow = setTimeout(() => showState(state), held);
    return;
  }
  if (el.type === "checkbox") el.checked = Boolean(value);
  else el.value = value === null ? (el.type === "number" ? 0 : "") : value;
  const out = el.parentElement.querySelector(`output[for="${el.id}"]`);
  if (out) out.textContent = shown(el.value);
}

// OSC floats are float32 (0.8 arrives as 0.800000011920929): show four significant digits
function shown(v) {
  return v !== "" && Number.isFinite(+v) ? String(+(+v).toPrecision(4)) : v;
}

function showState(s) {
  state = s;
  const features = Object.keys(s.features).map(Number).sort((a, b) => a - b);
  const inPreset = new Set((preset?.sliders || []).map((p) => p.address));
  sliderRows($("feature-rows"), features.filter((id) => !inPreset.has(`/synth/feature/${id}`)).map((id) => (
    { address: `/synth/feature/${id}`, min: -10, max: 10, label: `feature ${id}`, info: id, note: "hover for what it fires on" })));
  const names = [...new Set([...Object.keys(contrasts), ...Object.keys(s.contrasts)])].sort()
    .filter((n) => !inPreset.has(`/synth/contrast/${n}`));
  sliderRows($("contrast-rows"), names.map((n) => {
    const poles = s.contrasts[n] ? [s.contrasts[n].positive, s.contrasts[n].negative] : contrasts[n];
    return { address: `/synth/contrast/${n}`, min: -10, max: 10, label: n, note: `${poles[0]} ↔ ${poles[1]}` };
  }));
  for (const el of document.querySelectorAll("[data-address]")) {
    if (el.id !== "jam-bpm") setControl(el, valueAt(s, el.dataset.address));
  }
  setControl($("jam-bpm"), s.bpm ?? 120);
}

function showPreset(p) {
  preset = p;
  $("preset-name").textContent = p ? `: ${p.name}` : "";
  $("preset-description").textContent = p ? p.description : "no preset loaded";
  sliderRows($("preset-sliders"), (p?.sliders || []).map((sl) => {
    const m = sl.address.match(/^\/synth\/feature\/(\d+)$/);
    const e = sl.effect;
    return { address: sl.address, min: sl.min, max: sl.max, label: sl.name, info: m ? Number(m[1]) : undefined,
      note: e ? `${e.feature} d ${e.d >= 0 ? "+" : ""}${e.d.toFixed(2)}${e.n ? ` at n = ${e.n}` : ""}` : "unvalidated" };
  }));
  document.querySelectorAll("#preset-sliders small").forEach((n) => n.classList.toggle("unvalidated", n.textContent === "unvalidated"));
  if (state) showState(state);
}

function showPresetList(names, sources) {
  for (const id of ["preset-list", "morph-from", "morph-to"]) {
    const sel = $(id);
    const keep = sel.value;
    sel.replaceChildren(...names.map((n, i) => new Option(`${n} (${sources[i]})`, n)));
    if (names.includes(keep)) sel.value = keep;
  }
}

function showFeatureInfo(id, prompts, effect) {
  const text = `feature ${id}\nfires on: ${prompts || "(no labels)"}\neffect: ${effect}`;
  for (const l of document.querySelectorAll(`label[data-feature="${id}"]`)) {
    l.title = text;
    const input = $(l.htmlFor);
    if (input) input.title = text;
  }
}

function controlName(address) {
  const el = document.querySelector(`[data-address="${CSS.escape(address)}"]`);
  const l = el && (el.labels?.[0] || el.closest("label"));
  return l ? l.textContent.trim() : address;
}

function showError(address, message) {
  const box = $("error");
  box.textContent = `${controlName(address)} (${address}) refused: ${message}`;
  box.dataset.address = address;
  box.hidden = false;
  // put the refused control back where the daemon has it
  for (const el of document.querySelectorAll(`[data-address="${CSS.escape(address)}"]`)) lastInput.delete(el);
  if (state) showState(state);
}

function showStatus(s) {
  const mem = s.peak_memory_mb === null ? "?" : `${Math.round(s.peak_memory_mb)} MB ${s.peak_memory_of}`;
  $("status").textContent = `${s.backend} · ${s.ready ? "ready" : "warming up"} · queue ${s.queue_depth}` +
    `${s.rendering ? " (rendering)" : ""} · renders ${s.renders_done} · jam_repeats ${s.jam_repeats} · peak ${mem}`;
  setControl($("auto"), s.auto);
  if (s.jam) {
    setControl($("jam-bars"), s.jam.bars);
    setControl($("jam-continuity"), s.jam.continuity);
    setControl($("jam-sync"), s.jam.sync);
    if (s.jam.quantize) setControl($("jam-quantize"), s.jam.quantize);
    document.body.dataset.jam = s.jam.active ? "on" : "off";
  }
}

function showPosition(p) {
  const dots = $("beat").children;
  for (let i = 0; i < dots.length; i++) dots[i].classList.toggle("on", p !== null && p.beat === i + 1);
  $("jam-position").textContent = p ? `phrase ${p.phrase} · bar ${p.bar}/${p.bars} · beat ${p.beat} · ${p.bpm} bpm` : "stopped";
  $("beat").setAttribute("aria-label", $("jam-position").textContent);
}

// ------------------------------------------------------------------ clips
const COLOURS = ["#e4572e", "#29a3a3", "#f3a712", "#7768ae", "#8bc34a", "#e91e63"];

function clipUrl(name, route = "clips") { return `/${route}/${q(name)}?token=${encodeURIComponent(TOKEN)}`; }

function canvas(cls, w, h) {
  const c = document.createElement("canvas");
  Object.assign(c, { width: w, height: h, className: cls });
  return c;
}

async function drawWaveform(c, name) {
  const data = await (await fetch(clipUrl(name))).arrayBuffer();
  const audio = await new OfflineAudioContext(1, 1, 44100).decodeAudioData(data);
  const ch = audio.getChannelData(0);
  const g = c.getContext("2d");
  const step = Math.max(1, Math.floor(ch.length / c.width));
  let peak = 1e-6;
  for (let i = 0; i < ch.length; i++) peak = Math.max(peak, Math.abs(ch[i]));
  g.fillStyle = "#29a3a3";
  for (let x = 0; x < c.width; x++) {
    let lo = 1, hi = -1;
    for (let i = x * step; i < Math.min(ch.length, (x + 1) * step); i++) { lo = Math.min(lo, ch[i]); hi = Math.max(hi, ch[i]); }
    const mid = c.height / 2, scale = mid / peak;  // drawn to its own peak: quiet clips show their shape too
    g.fillRect(x, mid - hi * scale, 1, Math.max(1, (hi - lo) * scale));
  }
  c.dataset.drawn = String(audio.duration);
}

async function drawRoll(c, legend, name) {
  const res = await fetch(clipUrl(name.replace(/\.wav$/, ".mid"), "roll"));
  if (!res.ok) return;
  const roll = await res.json();
  const notes = roll.voices.flatMap((v) => v.notes.map((n) => n[2]));
  const lo = Math.min(...notes) - 1, hi = Math.max(...notes) + 1;
  const g = c.getContext("2d");
  const xs = c.width / Math.max(roll.seconds, 0.001), ys = c.height / (hi - lo);
  roll.voices.forEach((v, i) => {
    g.fillStyle = COLOURS[i % COLOURS.length];
    for (const [t, len, pitch] of v.notes) g.fillRect(t * xs, c.height - (pitch - lo) * ys, Math.max(1, len * xs), Math.max(1, ys - 0.5));
    const item = document.createElement("li");
    item.style.setProperty("--c", COLOURS[i % COLOURS.length]);
    item.textContent = `${v.role}: ${v.instrument}`;
    legend.append(item);
  });
  c.dataset.voices = String(roll.voices.length);
}

async function addClip(name, seed, seconds, kind) {
  if (clipsShown.has(name)) return;
  clipsShown.add(name);
  const card = document.createElement("li");
  card.className = `clip ${kind}`;
  card.dataset.name = name;
  card.dataset.seconds = seconds;
  const title = document.createElement("h3");
  title.textContent = `${name.split("/").pop()}`;
  const facts = document.createElement("p");
  facts.textContent = `${kind} · seed ${seed} · ${Number(seconds).toFixed(2)} s`;
  const wave = canvas("waveform", 480, 64);
  const player = document.createElement("audio");
  Object.assign(player, { controls: true, preload: "metadata", src: clipUrl(name) });
  card.append(title, facts, wave, player);
  $("clip-list").prepend(card);
  drawWaveform(wave, name).catch((e) => { wave.title = `no waveform: ${e}`; });
  const side = await (await fetch(clipUrl(name.replace(/\.wav$/, ".json")))).json().catch(() => null);
  if (side && kind === "jam") facts.textContent += ` · phrase ${side.phrase} · loop ${name.split("/").pop()}`;
  if (side && side.score) {
    const roll = canvas("roll", 480, 96);
    const legend = document.createElement("ul");
    legend.className = "legend";
    card.insertBefore(roll, player);
    card.insertBefore(legend, player);
    drawRoll(roll, legend, name).catch((e) => { roll.title = `no piano roll: ${e}`; });
  }
  while ($("clip-list").children.length > 40) $("clip-list").lastElementChild.remove();
}

// ------------------------------------------------------------------ wiring
function init() {
  buildPrompts();
  for (const el of document.querySelectorAll("#play [data-address], #jam [data-address]")) {
    if (el.tagName === "BUTTON") el.addEventListener("click", () => send(el.dataset.address));
    else wire(el, el.type === "number" || el.tagName === "SELECT" || el.type === "checkbox" ? "change" : "input");
  }
  $("features-clear").addEventListener("click", () => send("/synth/features/clear"));
  $("feature-add").addEventListener("click", () => {
    const id = Number($("feature-id").value);
    send(`/synth/feature/${id}`, 1.0);
    send("/synth/feature/info", id);
  });
  $("preset-load").addEventListener("click", () => send("/synth/preset/load", $("preset-list").value));
  $("preset-save").addEventListener("click", () => {
    send("/synth/preset/save", $("preset-save-name").value);
    send("/synth/preset/list");
  });
  $("morph-amount").addEventListener("input", () => {
    $("morph-amount").nextElementSibling.textContent = $("morph-amount").value;
    send("/synth/preset/morph", $("morph-from").value, $("morph-to").value, Number($("morph-amount").value));
  });
  // MIDI learn: with the mode on, the next control clicked (or reached with Tab) is what the next knob moved drives
  const learn = (ev) => {
    const el = ev.target.closest && ev.target.closest("[data-address]");
    if (!$("learn-mode").checked || !el || el.tagName === "BUTTON" && el.id !== "render") return;
    send("/synth/learn", el.dataset.address);
    $("learn-status").textContent = `move a knob on your controller for ${controlName(el.dataset.address)}`;
    $("learn-mode").checked = false;
  };
  document.addEventListener("pointerdown", learn, true);
  document.addEventListener("focusin", learn, true);
  setInterval(() => send("/synth/status"), 1000);
  connect();
}

document.addEventListener("DOMContentLoaded", init);
