// Search by sound (drop a file, record a clip, or "more like this item"), by words, and with filters.
import { api, getItem } from "../api.js";
import { t } from "../i18n.js";
import { el, heading, showError, nextId, pager, announce, messageBox, errorText } from "../dom.js";
import { decode } from "../waveform.js";
import { resultRow } from "./item.js";
import { go } from "../app.js";

const LIMIT = 20;
const MAX_RECORD_SECONDS = 15;
const FLAGS = ["clipped", "mostly_silent", "silent", "noisy", "dc_offset", "too_short", "mono", "low_sample_rate"];
const KEYS = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"];
const NUMERIC = ["duration_min", "duration_max", "bpm_min", "bpm_max", "bpm_confidence_min", "tuning_min", "tuning_max",
  "cluster"];
const TEXT = ["q", "label", "licence_class", "key", "scale", "source", "space"];

// the uploaded or recorded clip outlives re-renders (pages, filter changes)
let uploaded = null; // {blob, name}
let seq = 0;

export async function render(main, { query }) {
  const ui = build(main);
  fill(ui, query);
  await run(ui, query);
  return () => {
    seq++;
    if (ui.recorder && ui.recorder.state === "recording") ui.recorder.stop();
  };
}

let current = null;
export function update({ query }) {
  if (!current) return null;
  fill(current, query);
  return run(current, query, { focusResults: true });
}

function build(main) {
  const ui = {};
  current = ui;
  main.append(heading(1, t("search.title")), el("p", { class: "intro" }, t("search.intro")));

  // -- by sound: drop a file or record --------------------------------------------------------
  const fileId = nextId("file");
  const file = el("input", { type: "file", id: fileId, accept: "audio/*,.wav,.flac,.mp3,.ogg,.opus,.aiff,.m4a",
    class: "visually-hidden-file" });
  const drop = el("div", { class: "dropzone", "data-testid": "dropzone" },
    el("p", {}, t("search.drop_here")),
    el("label", { for: fileId, class: "button" }, t("search.choose_file")), file);
  const recordBtn = el("button", { type: "button", class: "record", "aria-pressed": "false" }, t("search.record"));
  const recState = el("span", { class: "rec-state", "aria-live": "polite" });
  const queryInfo = el("div", { class: "query-info", "aria-live": "polite" });
  const soundBox = el("section", { class: "panel by-sound", "aria-labelledby": "by-sound-h" },
    el("h2", { id: "by-sound-h" }, t("search.by_sound")), drop,
    el("div", { class: "record-row" }, recordBtn, " ", recState), queryInfo);

  const useFile = (f) => {
    if (!f) return;
    uploaded = { blob: f, name: f.name || "clip" };
    submitWith({ upload: "1", item: null, offset: null });
  };
  file.addEventListener("change", () => useFile(file.files[0]));
  for (const ev of ["dragenter", "dragover"]) {
    drop.addEventListener(ev, (e) => {
      e.preventDefault();
      drop.classList.add("over");
    });
  }
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    const f = e.dataTransfer && e.dataTransfer.files[0];
    if (f) useFile(f);
  });

  recordBtn.addEventListener("click", () => toggleRecording(ui, recordBtn, recState, (blob) => {
    uploaded = { blob, name: "recording.wav" };
    submitWith({ upload: "1", item: null, offset: null });
  }));

  // -- words and filters ------------------------------------------------------------------------
  const form = el("form", { class: "filters", role: "search", "aria-label": t("search.form_label") });
  const field = (name, label, input) => {
    const id = nextId(name);
    input.id = id;
    input.name = name;
    return el("div", { class: "field" }, el("label", { for: id }, label), input);
  };
  const num = (attrs) => el("input", { type: "number", inputmode: "decimal", step: "any", ...attrs });
  const select = (options) => el("select", {}, options.map(([v, l]) => el("option", { value: v }, l)));
  const range = (name, label, minAttrs, maxAttrs) => el("fieldset", { class: "range" }, el("legend", {}, label),
    field(`${name}_min`, t("search.min"), num(minAttrs)), field(`${name}_max`, t("search.max"), num(maxAttrs)));

  const qInput = el("input", { type: "search", maxlength: "300", placeholder: t("search.q_placeholder") });
  form.append(el("div", { class: "q-row" }, field("q", t("search.q"), qInput),
    el("button", { type: "submit", class: "primary" }, t("search.submit"))));
  const flagsBox = el("fieldset", { class: "flags" }, el("legend", {}, t("search.exclude_flags")),
    FLAGS.map((f) => el("label", { class: "check" }, el("input", { type: "checkbox", name: "exclude_flag", value: f }), " ",
      t(`flag.${f}`))));
  const filters = el("details", { class: "filter-panel", open: matchMedia("(min-width: 960px)").matches },
    el("summary", {}, el("span", {}, t("search.filters")), " ", el("span", { class: "active-count" })),
    el("div", { class: "filter-grid" },
      field("licence_class", t("search.licence_class"), select([["", t("search.any")], ["open", t("search.lc_open")],
        ["commercial", t("search.lc_commercial")], ["derivatives", t("search.lc_derivatives")]])),
      field("source", t("search.source"), select([["", t("search.any")], ["folder", t("source.folder")],
        ["zenodo", t("source.zenodo")], ["internet_archive", t("source.internet_archive")]])),
      range("duration", t("search.duration"), { min: "0" }, { min: "0" }),
      range("bpm", t("search.bpm"), { min: "0", max: "1000" }, { min: "0", max: "1000" }),
      field("bpm_confidence_min", t("search.bpm_confidence_min"), num({ min: "0", max: "10" })),
      field("key", t("search.key"), select([["", t("search.any")], ...KEYS.map((k) => [k, k])])),
      field("scale", t("search.scale"), select([["", t("search.any")], ["major", t("search.major")], ["minor", t("search.minor")]])),
      range("tuning", t("search.tuning"), { min: "-100", max: "100" }, { min: "-100", max: "100" }),
      field("label", t("search.label"), el("input", { type: "text", maxlength: "500" })),
      field("cluster", t("search.cluster"), num({ min: "1", step: "1", inputmode: "numeric" })),
      field("space", t("search.space"), select(["all", "timbre", "rhythm", "tonal"].map((s) => [s, t(`space.${s}`)]))),
      flagsBox),
    el("div", { class: "actions" }, el("button", { type: "submit", class: "primary" }, t("search.apply")),
      el("button", { type: "button", onclick: () => go("#/search") }, t("search.clear_all"))));
  form.append(filters);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    submitWith({ offset: null });
  });

  const resultsH = el("h2", { id: "results-h", tabindex: "-1" }, t("search.results"));
  const resultsStatus = el("p", { class: "results-status", "aria-live": "polite" });
  const results = el("div", { class: "results-box" });
  main.append(el("div", { class: "search-layout" }, el("div", { class: "search-side" }, soundBox, form),
    el("section", { class: "search-results", "aria-labelledby": "results-h" }, resultsH, resultsStatus, results)));

  function submitWith(overrides) {
    const qs = formQuery(form);
    const prev = new URLSearchParams(location.hash.split("?")[1] || "");
    for (const keep of ["item", "upload"]) if (prev.get(keep)) qs.set(keep, prev.get(keep));
    for (const [k, v] of Object.entries(overrides)) {
      if (v === null) qs.delete(k);
      else qs.set(k, v);
    }
    go(`#/search${qs.toString() ? "?" + qs : ""}`);
  }
  Object.assign(ui, { form, filters, qInput, results, resultsStatus, resultsH, queryInfo, submitWith });
  return ui;
}

function formQuery(form) {
  const qs = new URLSearchParams();
  const fd = new FormData(form);
  for (const [k, v] of fd.entries()) {
    const s = String(v).trim();
    if (!s || (k === "space" && s === "all")) continue;
    qs.append(k, s);
  }
  return qs;
}

function fill(ui, query) {
  const f = ui.form;
  for (const name of [...NUMERIC, ...TEXT]) {
    const input = f.elements.namedItem(name);
    if (input) input.value = query.get(name) || (name === "space" ? "all" : "");
  }
  const flags = new Set(query.getAll("exclude_flag"));
  for (const cb of f.querySelectorAll('input[name="exclude_flag"]')) cb.checked = flags.has(cb.value);
  let active = 0;
  for (const name of [...NUMERIC, ...TEXT]) if (name !== "q" && name !== "space" && query.get(name)) active++;
  active += flags.size;
  ui.filters.querySelector(".active-count").textContent = active ? t("search.active", { count: active }) : "";
  if (active && !ui.filters.open) ui.filters.open = true;
}

async function describeQuery(ui, query) {
  const info = ui.queryInfo;
  const clear = el("button", { type: "button", class: "small", onclick: () => {
    uploaded = query.get("upload") ? null : uploaded;
    ui.submitWith({ item: null, upload: null, offset: null });
  } }, t("search.clear_query"));
  if (query.get("upload") && uploaded) {
    info.replaceChildren(el("p", {}, t("search.by_file", { name: uploaded.name }), " ", clear));
  } else if (query.get("item")) {
    const id = Number(query.get("item"));
    const p = el("p", {}, t("search.like_item", { title: `#${id}` }), " ", clear);
    info.replaceChildren(p);
    getItem(id).then((it) => (p.firstChild.textContent = t("search.like_item", { title: it.title }))).catch(() => {});
  } else info.replaceChildren();
}

async function run(ui, query, { focusResults = false } = {}) {
  const mine = ++seq;
  const offset = Number(query.get("offset") || 0);
  const qs = new URLSearchParams(query);
  qs.delete("upload");
  qs.set("limit", String(LIMIT));
  qs.set("offset", String(offset));
  let note = null;
  if (query.get("upload") && !uploaded) note = t("search.upload_lost");
  describeQuery(ui, query);
  ui.results.setAttribute("aria-busy", "true");
  ui.resultsStatus.textContent = t("search.searching");
  let res;
  try {
    if (query.get("upload") && uploaded) {
      const fd = new FormData();
      fd.append("file", uploaded.blob, uploaded.name);
      res = await api(`/api/search?${qs}`, { method: "POST", form: fd });
    } else {
      res = await api(`/api/search?${qs}`);
    }
  } catch (err) {
    if (mine !== seq) return;
    ui.results.removeAttribute("aria-busy");
    ui.resultsStatus.textContent = "";
    showError(ui.results, err, "search.failed");
    return;
  }
  if (mine !== seq) return;
  ui.results.removeAttribute("aria-busy");
  const bySound = !!(query.get("item") || (query.get("upload") && uploaded));
  ui.resultsStatus.textContent = res.total ? t("search.found", { count: res.total }) : t("search.nothing");
  const list = el("ol", { class: "results", start: String(offset + 1) }, res.items.map((h) => resultRow(h, { score: bySound })));
  ui.results.replaceChildren(...(note ? [messageBox(note, "warn")] : []), list,
    res.total > LIMIT ? pager({ total: res.total, limit: LIMIT, offset, onPage: (o) => ui.submitWith({ offset: String(o) }) }) : "");
  if (focusResults) ui.resultsH.focus();
  announce(ui.resultsStatus.textContent);
}

// -- recording: MediaRecorder, then decoded and re-encoded as WAV (the API does not read WebM) ---------
async function toggleRecording(ui, btn, state, done) {
  if (ui.recorder && ui.recorder.state === "recording") {
    ui.recorder.stop();
    return;
  }
  if (!navigator.mediaDevices || !window.MediaRecorder) {
    state.textContent = t("search.record_unsupported");
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (err) {
    state.textContent = t("search.record_denied", { error: errorText(err) });
    return;
  }
  const chunks = [];
  const rec = new MediaRecorder(stream);
  ui.recorder = rec;
  const started = Date.now();
  const timer = setInterval(() => {
    const s = Math.round((Date.now() - started) / 1000);
    state.textContent = t("search.recording", { seconds: s, max: MAX_RECORD_SECONDS });
    if (s >= MAX_RECORD_SECONDS && rec.state === "recording") rec.stop();
  }, 250);
  rec.addEventListener("dataavailable", (e) => e.data.size && chunks.push(e.data));
  rec.addEventListener("stop", async () => {
    clearInterval(timer);
    stream.getTracks().forEach((tr) => tr.stop());
    btn.textContent = t("search.record");
    btn.setAttribute("aria-pressed", "false");
    btn.classList.remove("recording");
    state.textContent = t("search.record_processing");
    try {
      const blob = new Blob(chunks, { type: rec.mimeType || "audio/webm" });
      const buf = await decode(await blob.arrayBuffer());
      const wav = encodeWav(buf);
      state.textContent = t("search.recorded", { seconds: buf.duration.toFixed(1) });
      done(wav);
    } catch (err) {
      state.textContent = t("search.record_failed", { error: errorText(err) });
    }
  });
  rec.start(250);
  btn.textContent = t("search.stop_recording");
  btn.setAttribute("aria-pressed", "true");
  btn.classList.add("recording");
  state.textContent = t("search.recording", { seconds: 0, max: MAX_RECORD_SECONDS });
}

/** 16-bit PCM WAV, channels mixed to mono. */
export function encodeWav(buffer) {
  const n = buffer.length, rate = buffer.sampleRate;
  const mono = new Float32Array(n);
  for (let c = 0; c < buffer.numberOfChannels; c++) {
    const d = buffer.getChannelData(c);
    for (let i = 0; i < n; i++) mono[i] += d[i] / buffer.numberOfChannels;
  }
  const out = new DataView(new ArrayBuffer(44 + 2 * n));
  const str = (o, s) => [...s].forEach((ch, i) => out.setUint8(o + i, ch.charCodeAt(0)));
  str(0, "RIFF");
  out.setUint32(4, 36 + 2 * n, true);
  str(8, "WAVE");
  str(12, "fmt ");
  out.setUint32(16, 16, true);
  out.setUint16(20, 1, true);
  out.setUint16(22, 1, true);
  out.setUint32(24, rate, true);
  out.setUint32(28, rate * 2, true);
  out.setUint16(32, 2, true);
  out.setUint16(34, 16, true);
  str(36, "data");
  out.setUint32(40, 2 * n, true);
  for (let i = 0; i < n; i++) out.setInt16(44 + 2 * i, Math.max(-1, Math.min(1, mono[i])) * 32767, true);
  return new Blob([out], { type: "audio/wav" });
}
