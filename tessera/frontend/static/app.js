"use strict";
// A plain first page: list, play, and "similar" through the JSON API.
const state = { offset: 0, limit: 20, total: 0, query: null };
const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

async function api(path) {
  const r = await fetch(path);
  const body = await r.json();
  if (!r.ok) throw new Error(body.error ? body.error.message : r.statusText);
  return body;
}

function fmtDur(s) { if (s == null) return "?"; return s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)}:${String(Math.round(s % 60)).padStart(2, "0")}`; }

function itemCard(item, extra) {
  const lic = el("a", { class: "lic" + (item.licence.restricted ? " restricted" : ""), href: item.licence.url, title: item.licence.name }, item.licence.spdx);
  const player = el("audio", { controls: "", preload: "none", src: item.audio_url, "aria-label": `Play ${item.title}` });
  const simBtn = el("button", { type: "button", onclick: () => showSimilar(item), "aria-label": `Find sounds similar to ${item.title}` }, "Similar");
  const meta = el("div", { class: "meta" }, `${item.creator || "unknown creator"} · ${fmtDur(item.duration)} · `, lic,
    item.status !== "indexed" ? ` · ${item.status}` : "");
  const li = el("li", { "data-item-id": String(item.id) }, el("div", { class: "title" }, item.title), meta,
    el("div", { class: "actions" }, player, item.status === "indexed" ? simBtn : null));
  if (extra) li.append(el("div", { class: "meta" }, extra));
  li.append(el("div", { class: "meta attribution" }, item.attribution));
  return li;
}

async function loadItems() {
  const lc = $("licence-class").value;
  const q = new URLSearchParams({ limit: state.limit, offset: state.offset });
  if (lc) q.set("licence_class", lc);
  const list = $("items");
  try {
    const page = await api(`/api/items?${q}`);
    state.total = page.total;
    list.replaceChildren(...page.items.map((it) => itemCard(it)));
    $("count").textContent = `${page.total} sounds · showing ${page.total ? state.offset + 1 : 0}–${state.offset + page.items.length}`;
    $("prev").disabled = state.offset === 0;
    $("next").disabled = !page.next;
  } catch (e) {
    list.replaceChildren(el("li", { class: "error" }, `Could not load the catalogue: ${e.message}`));
  }
}

async function showSimilar(item) {
  state.query = item;
  $("similar").hidden = false;
  $("query-title").textContent = item.title;
  const out = $("neighbours");
  out.replaceChildren(el("li", {}, "Searching…"));
  try {
    const res = await api(`/api/items/${item.id}/similar?k=10&space=${$("space").value}`);
    if (!res.items.length) { out.replaceChildren(el("li", {}, "No similar sounds yet.")); return; }
    out.replaceChildren(...res.items.map((n) => itemCard(n.item,
      `distance ${n.distance.toFixed(2)}` + (n.segment_id != null ? ` · best match ${fmtDur(n.start)}–${fmtDur(n.end)}` : ""))));
    $("similar-h").focus();
  } catch (e) {
    out.replaceChildren(el("li", { class: "error" }, e.message));
  }
}

$("prev").addEventListener("click", () => { state.offset = Math.max(0, state.offset - state.limit); loadItems(); });
$("next").addEventListener("click", () => { state.offset += state.limit; loadItems(); });
$("licence-class").addEventListener("change", () => { state.offset = 0; loadItems(); });
$("space").addEventListener("change", () => { if (state.query) showSimilar(state.query); });
$("similar-h").setAttribute("tabindex", "-1");
loadItems();
