// The dataset builder: the basket, new datasets, their licence summary, versions, members and export.
import { api, atLeast, getItem } from "../api.js";
import { t, fmtDate } from "../i18n.js";
import { el, heading, showError, nextId, messageBox, errorText, announce, fmtTime, licenceBadge } from "../dom.js";
import * as basket from "../basket.js";
import { go } from "../app.js";

const MEMBER_TITLES = 60;

export async function render(main, { params }) {
  if (params[0]) return renderDataset(main, Number(params[0]));
  main.append(heading(1, t("datasets.title")), el("p", { class: "intro" }, t("datasets.intro")));
  const basketBox = el("div");
  main.append(section("ds-basket", t("basket.title"), basketBox));
  const paint = () => paintBasket(basketBox);
  paint();
  const off = basket.onChange(paint);
  const createBox = el("div");
  main.append(section("ds-create", t("datasets.create"), createBox));
  paintCreate(createBox);
  const listBox = el("div", {}, el("p", {}, t("app.loading")));
  main.append(section("ds-list", t("datasets.existing"), listBox));
  try {
    const r = await api("/api/datasets?limit=50");
    listBox.replaceChildren(r.items.length ? el("ul", { class: "dataset-list" }, r.items.map((d) => el("li", {},
      el("a", { href: `#/datasets/${d.id}` }, d.name), " ",
      el("span", { class: "meta" }, t("datasets.line", { version: d.latest_version || 0, by: d.created_by || "?",
        date: fmtDate(d.created_at) }))))) : el("p", {}, t("datasets.none")));
  } catch (err) {
    showError(listBox, err);
  }
  return off;
}

function section(id, title, ...content) {
  return el("section", { class: "panel", "aria-labelledby": `${id}-h` }, el("h2", { id: `${id}-h` }, title), ...content);
}

function entryName(b) {
  const title = b.title || `#${b.item_id}`;
  return b.segment_id ? t("basket.segment_name", { title, start: Math.round(b.start ?? 0), end: Math.round(b.end ?? 0) }) : title;
}

function paintBasket(box) {
  const list = basket.items();
  if (!list.length) {
    box.replaceChildren(el("p", { class: "empty-basket" }, t("basket.empty")));
    return;
  }
  const counts = {};
  for (const b of list) if (b.licence) counts[b.licence] = (counts[b.licence] || 0) + 1;
  box.replaceChildren(
    el("p", {}, t("basket.holds", { count: list.length }), " ",
      Object.entries(counts).map(([k, v]) => `${k}: ${v}`).join(", ")),
    el("ul", { class: "basket-list" }, list.map((b) => el("li", { "data-item-id": String(b.item_id) },
      el("a", { href: `#/item/${b.item_id}` }, entryName(b)), b.licence ? ` (${b.licence}) ` : " ",
      el("button", { type: "button", class: "small", "aria-label": t("basket.remove_named", { title: entryName(b) }),
        onclick: () => {
          basket.remove(b);
          announce(t("basket.removed", { title: entryName(b) }));
        } }, t("basket.remove"))))),
    el("button", { type: "button", onclick: () => {
      if (confirm(t("basket.clear_confirm"))) basket.clear();
    } }, t("basket.clear")));
}

function field(name, label, input, hint) {
  const id = nextId(name);
  input.id = id;
  input.name = name;
  const h = hint ? el("span", { class: "hint", id: `${id}-hint` }, hint) : null;
  if (hint) input.setAttribute("aria-describedby", `${id}-hint`);
  return el("div", { class: "field" }, el("label", { for: id }, label), input, h);
}

function paintCreate(box) {
  if (!atLeast("editor")) {
    box.replaceChildren(el("p", { class: "signin-hint" }, t("datasets.signin_to_create"), " ",
      el("a", { href: `#/signin?next=${encodeURIComponent("#/datasets")}` }, t("account.signin"))));
    return;
  }
  const form = el("form", { class: "create-dataset" },
    field("name", t("datasets.name"), el("input", { type: "text", required: true, maxlength: "200" })),
    field("description", t("datasets.description"), el("textarea", { rows: "3", maxlength: "20000" }), t("datasets.description_hint")),
    field("notes", t("datasets.notes"), el("textarea", { rows: "3", maxlength: "20000" }), t("datasets.notes_hint")));
  const out = el("div");
  const submit = el("button", { type: "submit", class: "primary" }, t("datasets.create_from_basket"));
  form.append(el("div", { class: "actions" }, submit), out);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const v = (n) => form.elements.namedItem(n).value.trim();
    const members = basket.items().map((b) => ({ item_id: b.item_id, segment_id: b.segment_id ?? null }));
    if (!members.length) {
      out.replaceChildren(messageBox(t("datasets.basket_empty")));
      return;
    }
    submit.disabled = true;
    try {
      const d = await api("/api/datasets", { method: "POST", json: { name: v("name"), description: v("description") || null,
        notes: v("notes") || null, members } });
      basket.clear();
      announce(t("datasets.created", { name: d.name }));
      go(`#/datasets/${d.id}`);
    } catch (err) {
      out.replaceChildren(messageBox(errorText(err)));
      submit.disabled = false;
    }
  });
  box.replaceChildren(form);
}

// -- one dataset ----------------------------------------------------------------------------------
async function renderDataset(main, id) {
  const box = el("div", {}, el("p", {}, t("app.loading")));
  main.append(box);
  let d, versions;
  try {
    [d, versions] = await Promise.all([api(`/api/datasets/${id}`), api(`/api/datasets/${id}/versions`)]);
  } catch (err) {
    box.replaceChildren(heading(1, t("datasets.not_found")));
    showError(box.appendChild(el("div")), err);
    return null;
  }
  const latest = d.latest;
  box.replaceChildren(heading(1, d.name),
    el("p", { class: "byline" }, t("datasets.byline", { by: d.created_by || "?", date: fmtDate(d.created_at),
      version: d.latest_version || 0 }), " ", el("a", { href: "#/datasets" }, t("datasets.back"))),
    d.description ? el("p", { class: "lead" }, d.description) : null,
    d.notes ? el("div", { class: "notes" }, el("h2", {}, t("datasets.notes")), el("p", {}, d.notes)) : null);
  const licBox = el("div", {}, el("p", {}, t("app.loading")));
  box.append(section("ds-licence", t("datasets.licence"), licBox));
  api(`/api/datasets/${id}/licence`).then((l) => licBox.replaceChildren(licenceSummary(l)))
    .catch((err) => showError(licBox, err));
  box.append(section("ds-versions", t("datasets.versions"), versionsTable(d, versions.items)));
  const membersBox = el("div");
  box.append(section("ds-members", t("datasets.members", { count: latest ? latest.member_count : 0 }), membersBox));
  paintMembers(membersBox, d, latest);
  return null;
}

function licenceSummary(l) {
  const yes = (b) => (b ? t("datasets.yes") : t("datasets.no"));
  return el("div", { class: "licence-summary" },
    el("p", { class: "plain" }, l.summary),
    el("ul", {},
      el("li", {}, t("datasets.commercial_use"), " ", el("strong", {}, yes(l.commercial_use))),
      el("li", {}, t("datasets.derivatives"), " ", el("strong", {}, yes(l.derivatives))),
      el("li", {}, t("datasets.attribution_required"), " ", el("strong", {}, yes(l.attribution_required))),
      el("li", {}, t("datasets.share_alike"), " ", el("strong", {}, yes(l.share_alike)))),
    el("p", {}, t("datasets.licence_counts"), " ", Object.entries(l.counts || {}).map(([k, v]) => `${k}: ${v}`).join(", ")),
    l.requires && l.requires.length ? el("p", {}, t("datasets.requires"), " ", l.requires.join("; ")) : null,
    l.forbids && l.forbids.length ? el("p", {}, t("datasets.forbids"), " ", l.forbids.join("; ")) : null,
    l.warnings && l.warnings.length ? el("ul", { class: "warnings" }, l.warnings.map((w) => el("li", { class: "msg warn" }, w))) : null,
    l.withdrawn ? el("p", { class: "msg warn" }, t("datasets.withdrawn", { count: l.withdrawn })) : null);
}

function versionsTable(d, versions) {
  return el("div", { class: "table-scroll" }, el("table", { class: "versions" },
    el("caption", { class: "visually-hidden" }, t("datasets.versions")),
    el("thead", {}, el("tr", {}, ["datasets.version", "datasets.date", "datasets.by", "datasets.count", "datasets.notes",
      "datasets.export"].map((k) => el("th", { scope: "col" }, t(k))))),
    el("tbody", {}, [...versions].reverse().map((v) => el("tr", { "data-version": String(v.version) },
      el("th", { scope: "row" }, String(v.version)), el("td", {}, fmtDate(v.created_at)), el("td", {}, v.created_by || "?"),
      el("td", {}, String(v.member_count)), el("td", {}, v.notes || ""),
      el("td", {}, el("a", { href: `/api/datasets/${d.id}/export?version=${v.version}`, download: "",
        "aria-label": t("datasets.export_named", { version: v.version }) }, t("datasets.export_zip"))))))));
}

async function paintMembers(box, d, latest) {
  const members = (latest && latest.members) || [];
  const editor = atLeast("editor");
  const form = el("form", { class: "members-form" });
  const list = el("ul", { class: "member-list" });
  members.forEach((m, i) => {
    const cbId = nextId("m");
    const name = el("span", {}, m.segment_id ? `#${m.item_id} (${fmtTime(m.start)}–${fmtTime(m.end)})` : `#${m.item_id}`);
    const link = el("a", { href: `#/item/${m.item_id}` }, name);
    if (i < MEMBER_TITLES) {
      getItem(m.item_id).then((it) => {
        name.textContent = m.segment_id ? `${it.title} (${fmtTime(m.start)}–${fmtTime(m.end)})` : it.title;
        link.after(" ", licenceBadge(it.licence));
      }).catch(() => {
        name.textContent += ` — ${t("datasets.member_gone")}`;
      });
    }
    list.append(el("li", { "data-item-id": String(m.item_id) },
      editor ? el("input", { type: "checkbox", id: cbId, name: "remove", value: JSON.stringify({ item_id: m.item_id,
        segment_id: m.segment_id }), "aria-label": t("datasets.select_member", { id: m.item_id }) }) : null, " ", link));
  });
  if (!members.length) list.append(el("li", {}, t("datasets.no_members")));
  form.append(list);
  if (!editor) {
    box.replaceChildren(form, el("p", { class: "signin-hint" }, t("datasets.signin_to_edit")));
    return;
  }
  const inBasket = basket.items();
  const notesId = nextId("notes");
  const notes = el("textarea", { id: notesId, rows: "2", maxlength: "20000" });
  const addBasket = el("input", { type: "checkbox", id: nextId("addb"), checked: inBasket.length > 0,
    disabled: inBasket.length === 0 });
  const out = el("div");
  const submit = el("button", { type: "submit", class: "primary" }, t("datasets.save_version"));
  form.append(el("fieldset", {}, el("legend", {}, t("datasets.change")),
    el("p", { class: "hint" }, t("datasets.change_hint")),
    el("label", { class: "check" }, addBasket, " ", t("datasets.add_basket", { count: inBasket.length })),
    el("label", { for: notesId }, t("datasets.version_notes")), notes,
    el("div", { class: "actions" }, submit), out));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const remove = [...form.querySelectorAll('input[name="remove"]:checked')].map((c) => JSON.parse(c.value));
    const add = addBasket.checked ? basket.items().map((b) => ({ item_id: b.item_id, segment_id: b.segment_id ?? null })) : [];
    if (!add.length && !remove.length) {
      out.replaceChildren(messageBox(t("datasets.nothing_to_change")));
      return;
    }
    submit.disabled = true;
    try {
      const v = await api(`/api/datasets/${d.id}/members`, { method: "POST", json: { add, remove,
        notes: notes.value.trim() || null } });
      if (add.length) basket.clear();
      announce(t("datasets.version_saved", { version: v.version }));
      go(`#/datasets/${d.id}?v=${v.version}`);
    } catch (err) {
      out.replaceChildren(messageBox(errorText(err)));
      submit.disabled = false;
    }
  });
  box.replaceChildren(form);
}
