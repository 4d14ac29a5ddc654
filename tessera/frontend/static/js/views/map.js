// The map: the newest clustering run's 2-D coordinates, coloured by cluster; hover to listen, click to open.
import { api, getItem } from "../api.js";
import { t, fmtDate } from "../i18n.js";
import { el, heading, showError, announce, nextId } from "../dom.js";
import { PointMap } from "../mapgl.js";
import { clusterName, nameNode, labelChip, clusterColour, NOISE_COLOUR, rgb } from "../labels.js";
import * as player from "../player.js";
import { go } from "../app.js";

const PREVIEW_SECONDS = 3;
const HOVER_DELAY = 220;

export async function render(main) {
  main.append(heading(1, t("map.title")), el("p", { class: "intro" }, t("map.intro")));
  const status = el("div", { class: "run-info" }, t("app.loading"));
  main.append(status);
  let run;
  try {
    const runs = await api("/api/clusterings?limit=1");
    if (!runs.items.length) {
      status.replaceChildren(el("div", { class: "empty" },
        el("h2", {}, t("map.none_title")), el("p", {}, t("map.none_text")),
        el("pre", {}, el("code", {}, "tessera index\ntessera cluster")),
        el("p", {}, t("map.none_after"), " ", el("a", { href: "#/search" }, t("map.none_search")))));
      return null;
    }
    // the run and its clusters (small JSON), and every point the viewer may see in one binary answer
    const id = runs.items[0].id;
    const [meta, body] = await Promise.all([
      api(`/api/clusterings/${id}/map`),
      api(`/api/clusterings/${id}/points.bin`, { raw: true }).then((r) => r.arrayBuffer()),
    ]);
    run = { ...meta, points: decodePoints(body) };
  } catch (err) {
    showError(status, err, "map.load_failed");
    return null;
  }
  status.replaceChildren(el("p", {}, t("map.run_info", { id: run.id, items: run.items, clusters: run.clusters,
    unclustered: run.unclustered, date: fmtDate(run.created_at) })));
  return buildMap(main, run);
}

/** The body of GET /api/clusterings/{id}/points.bin (layout: tessera/api/routers/map.py): typed-array views. */
export function decodePoints(buf) {
  const dv = new DataView(buf);
  const magic = String.fromCharCode(...new Uint8Array(buf, 0, 4));
  if (magic !== "TSPT" || dv.getUint32(4, true) !== 1) throw new Error("unknown map points format");
  const n = dv.getUint32(8, true), k = dv.getUint32(12, true);
  let at = 48;
  const clusterIds = new Uint32Array(buf, at, k);
  at += 4 * k;
  const ids = new Uint32Array(buf, at, n);
  at += 4 * n;
  const xs = new Float32Array(buf, at, n);
  at += 4 * n;
  const ys = new Float32Array(buf, at, n);
  at += 4 * n;
  const cluster = new Uint16Array(buf, at, n);
  return { n, clusterIds, ids, xs, ys, cluster, unclustered: dv.getUint32(40, true), clamped: dv.getUint32(44, true),
    x0: dv.getFloat64(16, true), y0: dv.getFloat64(24, true), span: dv.getFloat64(32, true) };
}

function buildMap(main, run) {
  const clusters = run.clusters_detail;
  const colourOf = new Map(clusters.map((c, i) => [c.id, clusterColour(i)]));
  const byId = new Map(clusters.map((c) => [c.id, c]));
  const helpId = nextId("maphelp");

  const canvas = el("canvas", { class: "map-canvas", tabindex: "0", role: "application",
    "aria-roledescription": t("map.roledescription"), "aria-label": t("map.canvas_label"), "aria-describedby": helpId });
  const ring = el("div", { class: "map-ring", hidden: true, "aria-hidden": "true" });
  const cross = el("div", { class: "map-cross", hidden: true, "aria-hidden": "true" });
  const tip = el("div", { class: "map-tip", hidden: true, "aria-hidden": "true" });
  const live = el("p", { class: "visually-hidden", "aria-live": "polite" });
  const stage = el("div", { class: "map-stage" }, canvas, ring, cross, tip);
  const preview = el("input", { type: "checkbox", id: nextId("preview"), checked: true });
  const zoomOut = el("button", { type: "button", "aria-label": t("map.zoom_out") }, "−");
  const zoomIn = el("button", { type: "button", "aria-label": t("map.zoom_in") }, "+");
  const reset = el("button", { type: "button" }, t("map.reset"));
  const zoomStatus = el("span", { class: "zoom-status" });
  const toolbar = el("div", { class: "map-toolbar", role: "group", "aria-label": t("map.controls") },
    zoomIn, zoomOut, reset, zoomStatus,
    el("label", { class: "check" }, preview, " ", t("map.preview_on_hover")));
  const help = el("p", { id: helpId, class: "hint" }, t("map.help"));
  const fallback = el("p", { class: "msg map-fallback", role: "status", hidden: true });
  const legend = buildLegend(run, colourOf, (box) => map.fit(box), (cid) => boxOf(cid));
  main.append(el("div", { class: "map-layout" }, el("div", { class: "map-wrap" }, toolbar, fallback, stage, help, live), legend));

  let hovered = -1;
  let hoverTimer = 0;
  let tipSeq = 0;
  const map = new PointMap(canvas, { onView: () => {
    zoomStatus.textContent = t("map.zoom_level", { zoom: Math.round(map.zoomLevel() * 100) });
    placeRing();
  } });

  // points: typed columns, unclustered first (the server's order), so the clusters draw over them
  let ids, cids;
  function load(pts) {
    const n = pts.n;
    ids = pts.ids;
    cids = new Int32Array(n);
    const palette = [...pts.clusterIds].map((cid) => rgb(colourOf.get(cid) || NOISE_COLOUR));
    const noise = rgb(NOISE_COLOUR);
    const col = new Uint8Array(4 * n);
    for (let i = 0; i < n; i++) {
      const c = pts.cluster[i];
      const known = c < palette.length;
      cids[i] = known ? pts.clusterIds[c] : -1;
      const [r, g, b] = known ? palette[c] : noise;
      col[4 * i] = r;
      col[4 * i + 1] = g;
      col[4 * i + 2] = b;
      col[4 * i + 3] = 255;
    }
    map.setPoints(pts.xs, pts.ys, col);
  }
  load(run.points);
  // first paint, for the benchmark: the frame after the first one (on a large map, the subset) was shown
  requestAnimationFrame(() => requestAnimationFrame(() => {
    if (window.tesseraMap) window.tesseraMap.firstPaintMs = performance.now();
  }));
  if (map.mode !== "webgl") {
    fallback.hidden = false;
    fallback.textContent = t(map.mode === "canvas2d" ? "map.no_webgl" : "map.no_canvas");
  }

  function boxOf(cid) {
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (let i = 0; i < ids.length; i++) {
      if (cids[i] !== (cid ?? -1)) continue;
      x0 = Math.min(x0, map.xs[i]);
      x1 = Math.max(x1, map.xs[i]);
      y0 = Math.min(y0, map.ys[i]);
      y1 = Math.max(y1, map.ys[i]);
    }
    return isFinite(x0) ? { x0, y0, x1, y1 } : null;
  }

  // -- hover, preview, open ----------------------------------------------------------------
  function placeRing() {
    if (hovered < 0 || hovered >= map.n) {
      ring.hidden = true;
      tip.hidden = true;
      return;
    }
    const [sx, sy] = map.toScreen(map.xs[hovered], map.ys[hovered]);
    const visible = sx >= 0 && sy >= 0 && sx <= map.width && sy <= map.height;
    ring.hidden = !visible;
    tip.hidden = !visible;
    ring.style.transform = `translate(${sx}px, ${sy}px)`;
    const left = Math.min(Math.max(4, sx + 12), map.width - 200);
    tip.style.transform = `translate(${left}px, ${Math.max(4, sy - 48)}px)`;
  }

  function clusterText(i) {
    const cid = cids[i];
    return cid < 0 ? t("map.unclustered") : clusterName(byId.get(cid) || { id: cid }).text;
  }

  function setHover(i, { announceIt = false } = {}) {
    if (i === hovered) return;
    hovered = i;
    clearTimeout(hoverTimer);
    canvas.style.cursor = i >= 0 ? "pointer" : "grab";
    if (i < 0) {
      placeRing();
      player.stop();
      return;
    }
    const id = ids[i];
    const seq = ++tipSeq;
    tip.replaceChildren(el("strong", {}, t("map.sound_n", { id })), el("br"), clusterText(i));
    placeRing();
    getItem(id).then((item) => {
      if (seq !== tipSeq) return;
      tip.replaceChildren(el("strong", {}, item.title), el("br"), clusterText(i));
      tip.dataset.itemId = String(id);
      if (announceIt) live.textContent = t("map.hover_announce", { title: item.title, cluster: clusterText(i) });
    }).catch(() => {});
    if (preview.checked && player.hasInteracted()) {
      hoverTimer = setTimeout(() => {
        if (hovered === i) player.play(id, { duration: PREVIEW_SECONDS, quiet: true });
      }, HOVER_DELAY);
    }
  }

  const open = (i) => i >= 0 && go(`#/item/${ids[i]}`);

  // -- pointer: drag to pan, wheel and pinch to zoom, hover, click -----------------------------
  const pointers = new Map();
  let drag = null;
  let pinch = null;
  const local = (e) => {
    const r = canvas.getBoundingClientRect();
    return [e.clientX - r.left, e.clientY - r.top];
  };
  canvas.addEventListener("pointerdown", (e) => {
    canvas.setPointerCapture(e.pointerId);
    pointers.set(e.pointerId, local(e));
    cross.hidden = true;
    if (pointers.size === 1) drag = { start: local(e), last: local(e), moved: false };
    else if (pointers.size === 2) {
      const [a, b] = [...pointers.values()];
      pinch = { dist: Math.hypot(a[0] - b[0], a[1] - b[1]) };
      drag = null;
    }
  });
  canvas.addEventListener("pointermove", (e) => {
    const p = local(e);
    if (pointers.has(e.pointerId)) pointers.set(e.pointerId, p);
    if (pinch && pointers.size === 2) {
      const [a, b] = [...pointers.values()];
      const d = Math.hypot(a[0] - b[0], a[1] - b[1]);
      if (pinch.dist > 0) map.zoomAt(d / pinch.dist, (a[0] + b[0]) / 2, (a[1] + b[1]) / 2);
      pinch.dist = d;
      return;
    }
    if (drag) {
      const dx = p[0] - drag.last[0], dy = p[1] - drag.last[1];
      if (Math.hypot(p[0] - drag.start[0], p[1] - drag.start[1]) > 4) drag.moved = true;
      if (drag.moved) {
        map.panBy(dx, dy);
        canvas.style.cursor = "grabbing";
      }
      drag.last = p;
      return;
    }
    setHover(map.pick(p[0], p[1], 10));
  });
  const endPointer = (e) => {
    pointers.delete(e.pointerId);
    if (pointers.size < 2) pinch = null;
    if (drag && e.type === "pointerup" && !drag.moved) {
      const p = local(e);
      open(map.pick(p[0], p[1], 12));
    }
    if (pointers.size === 0) drag = null;
  };
  canvas.addEventListener("pointerup", endPointer);
  canvas.addEventListener("pointercancel", endPointer);
  canvas.addEventListener("pointerleave", () => {
    if (!drag) setHover(-1);
  });
  canvas.addEventListener("wheel", (e) => {
    e.preventDefault();
    const [px, py] = local(e);
    map.zoomAt(Math.exp(-e.deltaY * (e.deltaMode === 1 ? 0.05 : 0.0015)), px, py);
  }, { passive: false });

  // -- keyboard: arrows pan, +/- zoom, 0 resets, Enter opens the sound at the crosshair ----------
  function keyPick() {
    cross.hidden = false;
    setHover(map.pick(map.width / 2, map.height / 2, 45), { announceIt: true });
  }
  canvas.addEventListener("keydown", (e) => {
    const step = e.shiftKey ? 200 : 60;
    const keys = {
      ArrowLeft: () => map.panBy(step, 0), ArrowRight: () => map.panBy(-step, 0),
      ArrowUp: () => map.panBy(0, step), ArrowDown: () => map.panBy(0, -step),
      "+": () => map.zoomAt(1.25), "=": () => map.zoomAt(1.25), "-": () => map.zoomAt(0.8),
      _: () => map.zoomAt(0.8), 0: () => map.fit(),
    };
    if (keys[e.key]) {
      e.preventDefault();
      keys[e.key]();
      keyPick();
    } else if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      if (hovered >= 0) open(hovered);
      else keyPick();
    } else if (e.key === "Escape") {
      setHover(-1);
    }
  });
  canvas.addEventListener("focus", () => {
    if (canvas.matches(":focus-visible")) keyPick();
  });
  canvas.addEventListener("blur", () => {
    cross.hidden = true;
  });

  zoomIn.addEventListener("click", () => map.zoomAt(1.25));
  zoomOut.addEventListener("click", () => map.zoomAt(0.8));
  reset.addEventListener("click", () => map.fit());

  // -- test and benchmark hook ---------------------------------------------------------------
  window.tesseraMap = {
    map,
    runId: run.id,
    get pointCount() {
      return map.n;
    },
    /** What the last frame drew: points, draw ranges, and whether it was the moving subset. */
    get lastFrame() {
      return { drawn: map.lastDrawn, ranges: map.lastRanges, lod: !!map.lastDrawLod };
    },
    get mode() {
      return map.mode;
    },
    /** Milliseconds from navigation start to the first frame with every point in view (0 until then). */
    get fullPaintMs() {
      return Math.max(0, map.fullPaintAt || 0);
    },
    get hoveredItem() {
      return hovered >= 0 ? ids[hovered] : null;
    },
    /** The item id of point i, and the group line of an item's card. */
    itemAt(i) {
      return ids[i];
    },
    clusterTextOf(id) {
      const i = ids.indexOf(id);
      return i < 0 ? null : clusterText(i);
    },
    /** Where item `id` is drawn, in CSS pixels from the canvas's top left corner. */
    screenOf(id) {
      const i = ids.indexOf(id);
      return i < 0 ? null : map.toScreen(map.xs[i], map.ys[i]);
    },
    /** Replace the points with n synthetic ones in k gaussian blobs (for the frame-time benchmark). */
    setSynthetic(n, k = 12, seed = 1) {
      let s = seed >>> 0;
      const rnd = () => ((s = (s * 1664525 + 1013904223) >>> 0) / 4294967296);
      const gauss = () => Math.sqrt(-2 * Math.log(rnd() + 1e-12)) * Math.cos(2 * Math.PI * rnd());
      const centres = Array.from({ length: k }, () => [0.1 + rnd() * 0.8, 0.1 + rnd() * 0.8]);
      const clusterIds = Uint32Array.from(clusters.map((c) => c.id));
      const pts = { n, clusterIds, ids: new Uint32Array(n), xs: new Float32Array(n), ys: new Float32Array(n),
        cluster: new Uint16Array(n) };
      for (let i = 0; i < n; i++) {
        const c = i % (k + 1);
        pts.ids[i] = i + 1;
        const noise = c === k || !clusters.length;
        pts.cluster[i] = noise ? 0xffff : c % clusters.length;
        pts.xs[i] = noise ? rnd() : centres[c][0] + 0.04 * gauss();
        pts.ys[i] = noise ? rnd() : centres[c][1] + 0.04 * gauss();
      }
      load(pts);
      return map.n;
    },
    /** Pan for `frames` animation frames; answers frame intervals and draw times (GPU-synced) in ms.
     * lod: false draws every point in every frame; true lets the renderer draw its subset while moving. */
    bench(frames = 120, { lod = false } = {}) {
      map.lodEnabled = lod;
      return new Promise((resolve) => {
        const intervals = [], draws = [];
        let last = null, f = 0, lodFrames = 0;
        const step = (now) => {
          if (last !== null) intervals.push(now - last);
          last = now;
          const t0 = performance.now();
          map.panBy(2, 1);
          map.draw();
          map.finish();
          draws.push(performance.now() - t0);
          if (map.lastDrawLod) lodFrames++;
          if (++f < frames) requestAnimationFrame(step);
          else {
            map.lodEnabled = true;
            resolve({ points: map.n, frames, mode: map.mode, intervals, draws, lodFrames, lodPoints: map.lodN });
          }
        };
        requestAnimationFrame(step);
      });
    },
  };

  return () => {
    clearTimeout(hoverTimer);
    player.stop();
    map.destroy();
    if (window.tesseraMap && window.tesseraMap.map === map) delete window.tesseraMap;
  };
}

function buildLegend(run, colourOf, fitTo, boxOf) {
  const list = el("ul", { class: "legend-list" });
  for (const c of run.clusters_detail) {
    const colour = colourOf.get(c.id);
    const labels = (c.labels || []).filter((l) => l.status !== "removed");
    const showBtn = el("button", { type: "button", class: "small" }, t("map.show_on_map"));
    showBtn.addEventListener("click", () => {
      const b = boxOf(c.id);
      if (b) {
        fitTo(b);
        announce(t("map.showing", { name: clusterName(c).text }));
      }
    });
    list.append(el("li", { class: "legend-item", "data-cluster-id": String(c.id) },
      el("span", { class: "swatch", style: `background:${colour}`, "aria-hidden": "true" }),
      el("div", { class: "legend-body" },
        el("h3", {}, el("a", { href: `#/cluster/${c.id}` }, nameNode(c))),
        el("p", { class: "meta" }, t("map.cluster_size", { count: c.size })),
        c.explanation && c.explanation.summary ? el("p", { class: "summary" }, c.explanation.summary) : null,
        labels.length ? el("ul", { class: "chips", "aria-label": t("map.labels") },
          labels.map((l) => el("li", {}, labelChip(l)))) : null,
        el("div", { class: "legend-actions" }, showBtn),
        memberList(() => api(`/api/search?cluster=${c.id}&limit=50`).then((r) => r.items.map((h) => h.item)),
          c.size))));
  }
  const unclustered = run.points.unclustered;
  if (unclustered) {
    const ids = run.unclustered_sample; // the first 50 (visible) of them
    list.append(el("li", { class: "legend-item", "data-cluster-id": "none" },
      el("span", { class: "swatch", style: `background:${NOISE_COLOUR}`, "aria-hidden": "true" }),
      el("div", { class: "legend-body" },
        el("h3", {}, t("map.unclustered")),
        el("p", { class: "meta" }, t("map.cluster_size", { count: unclustered })),
        el("p", { class: "summary" }, t("map.unclustered_text")),
        memberList(() => Promise.all(ids.slice(0, 50).map((id) => getItem(id).catch(() => null)))
          .then((xs) => xs.filter(Boolean)), unclustered))));
  }
  return el("aside", { class: "legend", "aria-labelledby": "legend-h" },
    el("h2", { id: "legend-h" }, t("map.legend")), el("p", { class: "hint" }, t("map.legend_hint")), list);
}

/** A <details> that lists a group's sounds (titles linked to their pages) when opened: the map as a list. */
function memberList(loader, count) {
  const body = el("ul", { class: "member-list" });
  const d = el("details", { class: "members" }, el("summary", {}, t("map.list_sounds", { count })), body);
  let loaded = false;
  d.addEventListener("toggle", async () => {
    if (!d.open || loaded) return;
    loaded = true;
    body.replaceChildren(el("li", {}, t("app.loading")));
    try {
      const items = await loader();
      body.replaceChildren(...items.map((it) => el("li", {}, el("a", { href: `#/item/${it.id}` }, it.title))));
      if (count > items.length) body.append(el("li", { class: "meta" }, t("map.more_in_search", { count: count - items.length })));
    } catch (err) {
      body.replaceChildren(el("li", { class: "msg error" }, err.message));
    }
  });
  return d;
}
