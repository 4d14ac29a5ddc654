// A cluster: what sets it apart, exemplars to listen to, its community labels (propose, vote, history, accept).
import { api, atLeast, currentUser, getItem } from "../api.js";
import { t, fmtNumber, fmtDate, lang, has } from "../i18n.js";
import { el, heading, showError, fmtDuration, nextId, pager, messageBox, errorText, announce, humanise } from "../dom.js";
import { clusterName, labelChip } from "../labels.js";
import { reportForm } from "../report.js";
import { dictionary, resultRow } from "./item.js";

const MEMBERS_PAGE = 20;

export async function render(main, { params }) {
  const id = Number(params[0]);
  const box = el("div", {}, el("p", {}, t("app.loading")));
  main.append(box);
  let c, schemes;
  try {
    [c, schemes] = await Promise.all([api(`/api/clusters/${id}`), api("/api/schemes?limit=200").then((r) => r.items)]);
  } catch (err) {
    box.replaceChildren(heading(1, t("cluster.not_found")));
    showError(box.appendChild(el("div")), err);
    return null;
  }
  const name = clusterName(c);
  const ex = c.explanation || {};
  box.replaceChildren(
    heading(1, name.text, name.lang ? { lang: name.lang } : {}),
    el("p", { class: "byline" }, t("cluster.byline", { id: c.id, run: c.run_id, count: c.size,
      duration: fmtDuration(c.total_duration) }), " ", el("a", { href: "#/map" }, t("cluster.back_to_map"))),
    ex.summary ? el("p", { class: "lead" }, t("cluster.sounds_like", { summary: ex.summary })) : null);
  box.append(section("cl-why", t("cluster.why"), explanationBlock(ex)));
  box.append(section("cl-ex", t("cluster.exemplars"), exemplarBlock(c)));
  const labelsBox = el("div");
  box.append(section("cl-labels", t("cluster.labels"), el("p", { class: "hint" }, t("cluster.labels_intro")), labelsBox));
  renderLabels(labelsBox, c, schemes);
  if (c.lineage && c.lineage.length) box.append(section("cl-lineage", t("cluster.lineage"), lineageBlock(c)));
  box.append(section("cl-members", t("cluster.members"), membersBlock(c)));
  return null;
}

function section(id, title, ...content) {
  return el("section", { class: "panel", "aria-labelledby": `${id}-h` }, el("h2", { id: `${id}-h` }, title), ...content);
}

function explanationBlock(ex) {
  const wrap = el("div");
  const feats = ex.features || [];
  if (ex.licences) {
    wrap.append(el("p", {}, t("cluster.licences"), " ",
      Object.entries(ex.licences).map(([k, v]) => `${k}: ${v}`).join(", ")));
  }
  if (!feats.length) {
    wrap.append(el("p", {}, t("cluster.no_explanation")));
    return wrap;
  }
  const tbody = el("tbody");
  const table = el("div", { class: "table-scroll" }, el("table", { class: "features explain" },
    el("caption", { class: "visually-hidden" }, t("cluster.why")),
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, t("item.feature")), el("th", { scope: "col" }, t("cluster.direction")),
      el("th", { scope: "col" }, t("cluster.median_here")), el("th", { scope: "col" }, t("cluster.median_rest")))),
    tbody));
  wrap.append(el("p", { class: "hint" }, t("cluster.why_intro")), table);
  dictionary().then((dict) => {
    for (const f of feats) {
      const d = dict.byName.get(f.feature);
      const higher = f.effect > 0;
      const strength = Math.abs(f.effect);
      tbody.append(el("tr", { "data-feature": f.feature },
        el("th", { scope: "row" }, el("span", { class: "feat-name" }, humanise(f.feature)),
          f.words ? el("span", { class: "feat-words" }, ` — ${f.words}`) : null,
          d ? el("span", { class: "feat-meaning" }, d.meaning) : null),
        el("td", {}, t(higher ? "cluster.higher" : "cluster.lower"),
          el("span", { class: "effect-bar", "aria-hidden": "true" },
            el("span", { style: `width:${Math.round(strength * 100)}%` })),
          el("span", { class: "visually-hidden" }, t("cluster.effect", { value: fmtNumber(f.effect, 2) }))),
        el("td", {}, `${fmtNumber(f.cluster_median, 2)} ${f.unit && !/dimensionless/.test(f.unit) ? f.unit : ""}`),
        el("td", {}, f.rest_median === null ? "—" : fmtNumber(f.rest_median, 2))));
    }
  }).catch((err) => showError(tbody, err));
  return wrap;
}

function exemplarBlock(c) {
  const list = el("ol", { class: "results exemplars" });
  if (!c.exemplars.length) return el("p", {}, t("cluster.no_exemplars"));
  for (const id of c.exemplars) {
    const li = el("li", { class: "result", "data-item-id": String(id) }, t("app.loading"));
    list.append(li);
    getItem(id).then((it) => li.replaceWith(resultRow({ item: it }))).catch((err) => li.replaceChildren(err.message));
  }
  return el("div", {}, el("p", { class: "hint" }, t("cluster.exemplars_intro")), list);
}

function lineageBlock(c) {
  return el("ul", {}, c.lineage.map((e) => {
    const kind = has(`lineage.${e.kind}`) ? e.kind : "other";
    const other = e.from_cluster_id && e.from_cluster_id !== c.id
      ? el("a", { href: `#/cluster/${e.from_cluster_id}` }, t("cluster.unnamed", { id: e.from_cluster_id }))
      : e.to_cluster_id && e.to_cluster_id !== c.id
        ? el("a", { href: `#/cluster/${e.to_cluster_id}` }, t("cluster.unnamed", { id: e.to_cluster_id })) : null;
    return el("li", {}, t(`lineage.${kind}`, { kind: e.kind, overlap: Math.round((e.overlap || 0) * 100) }), other ? " " : "",
      other);
  }));
}

function membersBlock(c) {
  const box = el("div");
  const load = async (offset) => {
    box.setAttribute("aria-busy", "true");
    try {
      const r = await api(`/api/search?cluster=${c.id}&limit=${MEMBERS_PAGE}&offset=${offset}`);
      box.replaceChildren(el("ol", { class: "results", start: String(offset + 1) }, r.items.map((h) => resultRow(h))),
        r.total > MEMBERS_PAGE ? pager({ total: r.total, limit: MEMBERS_PAGE, offset, onPage: load }) : "");
    } catch (err) {
      showError(box, err);
    }
    box.removeAttribute("aria-busy");
  };
  load(0);
  return box;
}

// -- labels ---------------------------------------------------------------------------------------
function mayAccept(label, scheme) {
  const me = currentUser();
  if (!atLeast("editor")) return false;
  if (atLeast("admin")) return true;
  if (label.created_by === me.name) return false;  // the API refuses to let anyone accept their own label
  const rule = (scheme && scheme.rule) || {};
  if (rule.steward_approval && scheme.stewards.includes(me.name)) return true;
  return rule.min_net_votes !== undefined && rule.min_net_votes !== null && label.net_votes >= rule.min_net_votes;
}

async function renderLabels(box, c, schemes) {
  const bySlug = new Map(schemes.map((s) => [s.slug, s]));
  const labels = (c.labels || []).filter((l) => l.status !== "removed");
  box.replaceChildren();
  if (!labels.length) box.append(el("p", { class: "empty-labels" }, t("cluster.no_labels")));
  const groups = new Map();
  for (const l of labels) {
    if (!groups.has(l.scheme)) groups.set(l.scheme, []);
    groups.get(l.scheme).push(l);
  }
  for (const [slug, list] of groups) {
    const sc = bySlug.get(slug);
    box.append(el("section", { class: "scheme", "data-scheme": slug },
      el("h3", {}, sc ? sc.name : slug, sc && sc.community ? el("span", { class: "meta" }, ` — ${sc.community}`) : null),
      sc ? el("p", { class: "hint" }, ruleText(sc)) : null,
      el("ul", { class: "label-list" }, list.map((l) => labelItem(l, sc, c, box, schemes)))));
  }
  if (c.related_labels && c.related_labels.length) {
    box.append(el("section", { class: "scheme related" }, el("h3", {}, t("cluster.related_labels")),
      el("p", { class: "hint" }, t("cluster.related_intro")),
      el("ul", { class: "label-list" }, c.related_labels.map((l) => el("li", {}, labelChip(l))))));
  }
  box.append(proposeBlock(c, schemes, box));
}

function ruleText(sc) {
  const r = sc.rule || {};
  const parts = [];
  if (r.steward_approval) parts.push(t("scheme.rule_steward", { stewards: (sc.stewards || []).join(", ") || "—" }));
  if (r.min_net_votes !== undefined && r.min_net_votes !== null) parts.push(t("scheme.rule_votes", { count: r.min_net_votes }));
  return parts.join(" ");
}

async function reload(box, c, schemes) {
  const fresh = await api(`/api/clusters/${c.id}`);
  Object.assign(c, fresh);
  await renderLabels(box, c, schemes);
}

function labelItem(l, sc, c, box, schemes) {
  const li = el("li", { class: "label-item", "data-label-id": String(l.id) });
  const out = el("div", { class: "label-out", "aria-live": "polite" });
  li.append(el("div", { class: "label-line" }, labelChip(l, { status: false }),
    el("span", { class: `status-badge status-${l.status}` }, t(`label.status.${l.status}`)),
    el("span", { class: "votes" }, t("label.net_votes", { count: l.net_votes }))));
  if (l.description) li.append(el("p", { class: "label-desc" }, l.description));
  if (l.cultural_context) li.append(el("p", { class: "label-context" }, el("strong", {}, t("label.cultural_context")), " ",
    l.cultural_context));
  li.append(el("p", { class: "meta" }, t("label.proposed_by", { name: l.created_by || "?", date: fmtDate(l.created_at) })));
  const actions = el("div", { class: "actions" });
  const act = async (fn, okMsg) => {
    try {
      await fn();
      announce(okMsg);
      await reload(box, c, schemes);
      const again = box.querySelector(`[data-label-id="${l.id}"] .actions button`);
      if (again) again.focus();
    } catch (err) {
      out.replaceChildren(messageBox(errorText(err)));
    }
  };
  // one may not vote on one's own label (the API refuses it)
  if (atLeast("editor") && l.created_by !== currentUser().name) {
    actions.append(
      el("button", { type: "button", class: "small vote-up", "aria-label": t("label.vote_up_named", { text: l.text }),
        onclick: () => act(() => api(`/api/labels/${l.id}/votes`, { method: "POST", json: { value: 1 } }), t("label.voted")) },
      "▲ ", t("label.vote_up")),
      el("button", { type: "button", class: "small vote-down", "aria-label": t("label.vote_down_named", { text: l.text }),
        onclick: () => act(() => api(`/api/labels/${l.id}/votes`, { method: "POST", json: { value: -1 } }), t("label.voted")) },
      "▼ ", t("label.vote_down")));
    if (l.status === "proposed" && mayAccept(l, sc)) {
      actions.append(el("button", { type: "button", class: "small accept",
        "aria-label": t("label.accept_named", { text: l.text }),
        onclick: () => act(() => api(`/api/labels/${l.id}/accept`, { method: "POST" }), t("label.accepted")) },
      t("label.accept")));
    }
  }
  const histId = nextId("hist");
  const hist = el("div", { id: histId, class: "history", hidden: true });
  const histBtn = el("button", { type: "button", class: "small", "aria-expanded": "false", "aria-controls": histId,
    "aria-label": t("label.history_named", { text: l.text }) }, t("label.history"));
  histBtn.addEventListener("click", async () => {
    const show = hist.hidden;
    hist.hidden = !show;
    histBtn.setAttribute("aria-expanded", String(show));
    if (!show) return;
    hist.replaceChildren(el("p", {}, t("app.loading")));
    try {
      const h = await api(`/api/labels/${l.id}/history`);
      hist.replaceChildren(el("ol", { class: "history-list" }, h.items.map((e) => el("li", {},
        el("time", { datetime: e.at }, fmtDate(e.at)), " — ", historyText(e)))));
    } catch (err) {
      showError(hist, err);
    }
  });
  actions.append(histBtn);
  li.append(actions, hist, reportForm("label", l.id, { compact: true }), out);
  return li;
}

function historyText(e) {
  const d = e.detail || {};
  const action = has(`history.${e.action}`) ? e.action : "other";
  return t(`history.${action}`, { actor: e.actor, action: e.action, value: d.value > 0 ? "+1" : "−1",
    text: d.text || "", lang: d.lang || "", by: d.by || "", reason: d.reason || "" });
}

function proposeBlock(c, schemes, box) {
  if (!atLeast("editor")) {
    const next = encodeURIComponent(location.hash);
    return el("p", { class: "signin-hint" }, t("cluster.signin_to_label"), " ",
      el("a", { href: `#/signin?next=${next}` }, t("account.signin")));
  }
  if (!schemes.length) return el("p", {}, t("cluster.no_schemes"));
  const f = (name, label, input, hint) => {
    const id = nextId(name);
    input.id = id;
    input.name = name;
    const hintEl = hint ? el("span", { class: "hint", id: `${id}-hint` }, hint) : null;
    if (hint) input.setAttribute("aria-describedby", `${id}-hint`);
    return el("div", { class: "field" }, el("label", { for: id }, label), input, hintEl);
  };
  const langList = nextId("langs");
  const form = el("form", { class: "propose" },
    f("scheme", t("propose.scheme"), el("select", { required: true }, schemes.map((s) => el("option", { value: s.slug },
      s.name)))),
    f("text", t("propose.text"), el("input", { type: "text", required: true, maxlength: "500" })),
    f("lang", t("propose.lang"), el("input", { type: "text", required: true, maxlength: "64", value: lang(),
      list: langList, autocomplete: "off", spellcheck: "false" }), t("propose.lang_hint")),
    el("datalist", { id: langList }, ["en", "fr", "es", "pt-BR", "de", "yo", "sw", "zh-Hant", "ar", "hi", "mi"]
      .map((x) => el("option", { value: x }))),
    f("description", t("propose.description"), el("textarea", { rows: "2", maxlength: "5000" })),
    f("cultural_context", t("propose.cultural_context"), el("textarea", { rows: "2", maxlength: "5000" }),
      t("propose.cultural_context_hint")));
  const out = el("div", { class: "propose-out" });
  const submit = el("button", { type: "submit", class: "primary" }, t("propose.submit"));
  form.append(el("div", { class: "actions" }, submit), out);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const v = (n) => form.elements.namedItem(n).value.trim();
    submit.disabled = true;
    try {
      const l = await api("/api/labels", { method: "POST", json: { scheme: v("scheme"), text: v("text"), lang: v("lang"),
        cluster_id: c.id, description: v("description") || null, cultural_context: v("cultural_context") || null } });
      announce(t("propose.done", { text: l.text }));
      await reload(box, c, schemes);
      const mine = box.querySelector(`[data-label-id="${l.id}"]`);
      if (mine) {
        mine.setAttribute("tabindex", "-1");
        mine.focus();
      }
    } catch (err) {
      out.replaceChildren(messageBox(errorText(err)));
      submit.disabled = false;
    }
  });
  return el("section", { class: "propose-box", "aria-labelledby": "propose-h" }, el("h3", { id: "propose-h" },
    t("propose.title")), el("p", { class: "hint" }, t("propose.intro")), form);
}

