// One sound: player with waveform and segment marks, licence in plain words, source, features, similar.
import { api } from "../api.js";
import { t, fmtNumber, has } from "../i18n.js";
import { el, heading, showError, fmtDuration, fmtTime, definitionList, licenceBadge, humanise, nextId, safeUrl } from "../dom.js";
import { licenceBlock } from "../licence.js";
import { Waveform, decode } from "../waveform.js";
import { basketButton } from "../basket.js";
import { reportForm } from "../report.js";
import { playButton } from "../player.js";
import * as player from "../player.js";

const WAVEFORM_MAX_BYTES = 60 * 1024 * 1024;
const HEADLINE = ["bpm", "key", "loudness_integrated", "spectral_centroid_mean", "onset_rate", "pitch_median",
  "decay_time"];
let dictionaryPromise = null;

export function dictionary() {
  if (!dictionaryPromise) {
    dictionaryPromise = api("/api/features").then((d) => {
      const byName = new Map();
      for (const list of [d.features, d.labels, d.quality]) for (const f of list || []) byName.set(f.name, f);
      return { ...d, byName };
    }).catch((e) => {
      dictionaryPromise = null;
      throw e;
    });
  }
  return dictionaryPromise;
}

export async function render(main, { params }) {
  const id = Number(params[0]);
  if (!Number.isInteger(id) || id < 1) {
    main.append(heading(1, t("item.not_found")));
    return null;
  }
  const box = el("div", {}, el("p", {}, t("app.loading")));
  main.append(box);
  let item;
  try {
    item = await api(`/api/items/${id}`);
  } catch (err) {
    box.replaceChildren(heading(1, t("item.not_found")));
    showError(box.appendChild(el("div")), err);
    return null;
  }
  const cleanups = [];
  box.replaceChildren();
  const header = el("div", { class: "item-head" },
    heading(1, item.title, { class: "item-title" }),
    el("p", { class: "byline" }, item.creator ? t("item.by", { creator: item.creator }) : t("item.unknown_creator"),
      " · ", fmtDuration(item.duration), " · ", licenceBadge(item.licence)),
    el("div", { class: "actions" }, basketButton(item),
      el("a", { class: "button", href: `#/search?item=${item.id}` }, t("item.search_like"))));
  box.append(header);
  if (item.protocol_labels && item.protocol_labels.length) box.append(protocolBlock(item.protocol_labels));
  if (item.status !== "indexed") {
    box.append(el("p", { class: "msg warn", role: "status" }, t("item.status_" + item.status, { error: item.error || "" })));
  }
  const grid = el("div", { class: "item-grid" });
  box.append(grid);
  grid.append(section("item-player", t("item.listen"), playerBlock(item, cleanups)));
  grid.lastChild.classList.add("wide");
  grid.append(section("item-licence", t("item.licence"), licenceBlock(item)));
  grid.append(section("item-source", t("item.source"), sourceBlock(item)));
  const featuresBox = el("div", {}, el("p", {}, t("app.loading")));
  const similarBox = el("div");
  grid.append(section("item-similar", t("item.similar"), similarBlock(item, similarBox), similarBox));
  grid.append(section("item-about", t("item.about"), aboutBlock(item), featuresBox));
  grid.append(section("item-report", t("report.title_item"), reportForm("item", item.id)));
  dictionary().then((dict) => featuresBox.replaceChildren(featuresBlock(item, dict)))
    .catch((err) => showError(featuresBox, err));
  return () => cleanups.forEach((f) => f());
}

function section(id, title, ...content) {
  return el("section", { class: "panel", "aria-labelledby": `${id}-h` }, el("h2", { id: `${id}-h` }, title), ...content);
}

function protocolBlock(labels) {
  return el("section", { class: "protocol", "aria-labelledby": "protocol-h" },
    el("h2", { id: "protocol-h" }, t("protocol.title")),
    el("p", {}, t("protocol.intro")),
    el("ul", {}, labels.map((p) => el("li", { class: p.restricts ? "protocol-label restricts" : "protocol-label",
      "data-code": p.code || "" },
    el("strong", {}, p.name || p.label || p.code), " ", el("span", { class: "kind" }, p.kind ? `(${p.kind})` : ""),
    el("div", {}, t("protocol.community", { community: p.community })),
    p.text ? el("blockquote", {}, p.text) : null,
    p.restricts ? el("p", { class: "restricts-note" }, t("protocol.restricts")) : null,
    p.season_start ? el("p", {}, t("protocol.season", { start: p.season_start, end: p.season_end })) : null))),
    el("p", { class: "hint" }, el("a", { href: "https://localcontexts.org/labels/", target: "_blank", rel: "noopener" },
      t("protocol.learn_more"))));
}

function playerBlock(item, cleanups) {
  const wrap = el("div", { class: "player" });
  const audio = el("audio", { controls: true, preload: "metadata", "aria-label": t("player.play_named", { title: item.title }) });
  const canvas = el("canvas", { class: "waveform", role: "img",
    "aria-label": t("item.waveform_label", { count: item.segments.length }) });
  const state = el("p", { class: "hint waveform-state", "aria-live": "polite" }, t("item.waveform_loading"));
  wrap.append(canvas, audio, state);
  const wave = new Waveform(canvas, audio, { segments: item.segments, duration: item.duration || 0 });
  cleanups.push(() => {
    wave.destroy();
    audio.pause();
    if (audio.src.startsWith("blob:")) URL.revokeObjectURL(audio.src);
  });
  // the audio element must not fight the shared list player
  audio.addEventListener("play", () => player.stop());
  const pauseMine = () => audio.pause();
  player.element.addEventListener("play", pauseMine);
  cleanups.push(() => player.element.removeEventListener("play", pauseMine));
  const loadAudio = async () => {
    if (item.size > WAVEFORM_MAX_BYTES) {
      audio.src = item.audio_url;
      state.textContent = t("item.waveform_too_big");
      return;
    }
    try {
      const r = await api(item.audio_url, { raw: true });
      const bytes = await r.arrayBuffer();
      audio.src = URL.createObjectURL(new Blob([bytes], { type: r.headers.get("content-type") || "audio/*" }));
      const buf = await decode(bytes.slice(0));
      wave.setBuffer(buf);
      canvas.dataset.ready = "true";
      state.textContent = t("item.waveform_help");
    } catch (err) {
      if (!audio.src) audio.src = item.audio_url;
      state.textContent = t("item.waveform_failed", { error: err.message || String(err) });
    }
  };
  loadAudio();
  if (item.segments.length) {
    const list = el("ol", { class: "segments" });
    item.segments.forEach((s, i) => {
      const flags = (s.quality && s.quality.flags) || [];
      list.append(el("li", { "data-segment-id": String(s.id) },
        el("span", {}, t("item.segment", { n: i + 1, start: fmtTime(s.start), end: fmtTime(s.end) })),
        flags.length ? el("span", { class: "flags" }, ` (${flags.map(flagName).join(", ")})`) : null, " ",
        el("button", { type: "button", class: "small", "aria-label": t("item.play_segment_named", { n: i + 1 }),
          onclick: () => {
            audio.currentTime = s.start;
            audio.play();
          } }, t("item.play_segment")), " ",
        basketButton(item, s)));
    });
    wrap.append(el("h3", {}, t("item.segments", { count: item.segments.length })), list);
  }
  return wrap;
}

function flagName(f) {
  return has(`flag.${f}`) ? t(`flag.${f}`) : humanise(f);
}

function sourceBlock(item) {
  const s = item.source;
  const links = [];
  if (s.doi) links.push(el("a", { href: `https://doi.org/${s.doi}`, target: "_blank", rel: "noopener" }, `doi:${s.doi}`));
  if (safeUrl(s.page_url)) links.push(el("a", { href: s.page_url, target: "_blank", rel: "noopener" }, t("item.source_page")));
  if (safeUrl(s.file_url)) links.push(el("a", { href: s.file_url, target: "_blank", rel: "noopener" }, t("item.source_file")));
  const kind = has(`source.${s.kind}`) ? t(`source.${s.kind}`) : s.kind;
  return el("div", {},
    el("p", {}, t("item.source_text", { kind, title: s.title })),
    links.length ? el("ul", { class: "links" }, links.map((a) => el("li", {}, a))) : el("p", { class: "hint" }, t("item.source_no_link")),
    definitionList([[t("item.source_identifier"), s.identifier], [t("item.md5"), el("code", {}, item.md5)]]));
}

function aboutBlock(item) {
  const q = item.quality || {};
  const flags = q.flags || [];
  return el("div", {},
    definitionList([
      [t("item.duration"), fmtDuration(item.duration)],
      [t("item.format"), item.format],
      [t("item.sample_rate"), item.sample_rate ? t("unit.hz", { value: fmtNumber(item.sample_rate, 0) }) : null],
      [t("item.channels"), item.channels],
      [t("item.size"), t("unit.kb", { value: fmtNumber(item.size / 1024, 0) })],
    ]),
    el("h3", {}, t("item.quality")),
    flags.length ? el("ul", { class: "flags-list" }, flags.map((f) => el("li", { "data-flag": f }, el("strong", {}, flagName(f)))))
      : el("p", { class: "ok" }, t("item.no_flags")));
}

function fmtValue(v, f) {
  if (typeof v === "number") {
    const digits = Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 1 ? 2 : 3;
    const unit = f && f.unit && !/dimensionless|ratio|count|^\s*$/.test(f.unit) ? ` ${f.unit}` : "";
    return `${fmtNumber(v, digits)}${unit}`;
  }
  return String(v);
}

function featureRow(name, value, dict) {
  const f = dict.byName.get(name);
  const descId = nextId("feat");
  return el("tr", { "data-feature": name },
    el("th", { scope: "row" }, el("span", { class: "feat-name" }, humanise(name)),
      f ? el("span", { class: "feat-meaning", id: descId }, f.meaning) : null),
    el("td", {}, fmtValue(value, f)),
    el("td", { class: "reliability" }, f ? f.reliability : ""));
}

function featureTable(rows, caption) {
  return el("div", { class: "table-scroll" }, el("table", { class: "features" },
    el("caption", { class: "visually-hidden" }, caption),
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, t("item.feature")), el("th", { scope: "col" }, t("item.value")),
      el("th", { scope: "col" }, t("item.reliability")))),
    el("tbody", {}, rows)));
}

function featuresBlock(item, dict) {
  const feats = item.features;
  const out = el("div", { class: "features-block" });
  const q = item.quality || {};
  if ((q.flags || []).length) {
    out.append(el("ul", { class: "flag-explain" }, q.flags.map((f) => el("li", {}, el("strong", {}, flagName(f)), ": ",
      (dict.quality_flags || {})[f] || ""))));
  }
  if (!feats) {
    out.append(el("p", {}, t("item.no_features")));
    return out;
  }
  const key = feats.key ? `${feats.key} ${feats.scale || ""}`.trim() : null;
  const glance = HEADLINE.filter((n) => n in feats).map((n) => n === "key"
    ? featureRow("key", key, dict) : featureRow(n, feats[n], dict));
  out.append(el("h3", {}, t("item.at_a_glance")), el("p", { class: "hint" }, t("item.features_intro")),
    featureTable(glance, t("item.at_a_glance")));
  const groups = new Map();
  for (const f of dict.features) {
    if (!(f.name in feats)) continue;
    if (!groups.has(f.group)) groups.set(f.group, []);
    groups.get(f.group).push(featureRow(f.name, feats[f.name], dict));
  }
  for (const [group, rows] of groups) {
    const title = has(`group.${group}`) ? t(`group.${group}`) : humanise(group);
    out.append(el("details", { class: "feature-group" }, el("summary", {}, t("item.group_summary", { group: title,
      count: rows.length })), featureTable(rows, title)));
  }
  const qrows = (dict.quality || []).filter((f) => f.name in q && f.name !== "flags").map((f) => featureRow(f.name, q[f.name], dict));
  if (qrows.length) {
    out.append(el("details", { class: "feature-group" }, el("summary", {}, t("item.group_summary",
      { group: t("item.quality"), count: qrows.length })), featureTable(qrows, t("item.quality"))));
  }
  out.append(el("p", { class: "hint" }, t("item.extractor", { version: item.extractor_version || "?" })));
  return out;
}

function similarBlock(item, results) {
  if (item.status !== "indexed") return el("p", {}, t("item.similar_unavailable"));
  const spaces = ["all", "timbre", "rhythm", "tonal"];
  const name = `space-${item.id}`;
  const group = el("fieldset", { class: "spaces" }, el("legend", {}, t("item.similar_by")));
  for (const s of spaces) {
    const input = el("input", { type: "radio", name, value: s, checked: s === "all" });
    input.addEventListener("change", () => load(s));
    group.append(el("label", { class: "radio" }, input, " ", t(`space.${s}`)));
  }
  const load = async (space) => {
    results.setAttribute("aria-busy", "true");
    results.replaceChildren(el("p", {}, t("app.loading")));
    try {
      const res = await api(`/api/items/${item.id}/similar?space=${space}&k=10`);
      results.dataset.space = space;
      if (!res.items.length) results.replaceChildren(el("p", {}, t("item.similar_none")));
      else results.replaceChildren(el("ol", { class: "results similar-list" }, res.items.map((n) => resultRow(n))));
    } catch (err) {
      showError(results, err);
    }
    results.removeAttribute("aria-busy");
  };
  load("all");
  return group;
}

/** A result line: play, title link, creator, licence, duration, distance, matching segment, why close, basket. */
export function resultRow(hit, { score = false } = {}) {
  const it = hit.item;
  const seg = hit.segment_id ? { id: hit.segment_id, start: hit.start, end: hit.end } : null;
  const match = [];
  if (typeof hit.distance === "number") match.push(t("result.distance", { value: fmtNumber(hit.distance, 3) }));
  if (score && typeof hit.score === "number") match.push(t("result.score", { value: fmtNumber(hit.score, 3) }));
  if (seg) match.push(t("result.segment", { start: fmtTime(seg.start), end: fmtTime(seg.end) }));
  const prot = it.protocol_labels && it.protocol_labels.length;
  return el("li", { class: "result", "data-item-id": String(it.id) },
    playButton(it, seg ? { start: seg.start, duration: seg.end - seg.start } : {}),
    el("div", { class: "result-body" },
      el("a", { class: "result-title", href: `#/item/${it.id}` }, it.title),
      el("div", { class: "meta" }, it.creator || t("item.unknown_creator"), " · ", fmtDuration(it.duration), " · ",
        licenceBadge(it.licence), match.length ? ` · ${match.join(" · ")}` : "",
        prot ? el("span", { class: "protocol-badge" }, ` · ${t("protocol.badge", { count: it.protocol_labels.length })}`) : null),
      hit.why ? el("div", { class: "why" }, t("result.why", { why: hit.why })) : null),
    el("div", { class: "result-actions" }, basketButton(it, seg),
      el("a", { class: "button small", href: `#/search?item=${it.id}`,
        "aria-label": t("result.more_like_named", { title: it.title }) }, t("result.more_like"))));
}
