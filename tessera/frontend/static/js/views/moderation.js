// The moderation queue: open reports about items and labels, and what a moderator does about them.
import { api, atLeast } from "../api.js";
import { t, fmtDate } from "../i18n.js";
import { el, heading, showError, nextId, messageBox, errorText, announce, pager } from "../dom.js";
import { getItem } from "../api.js";

const ACTIONS = { item: ["dismiss", "no_change", "withdraw_item"], label: ["dismiss", "no_change", "remove_label", "purge_label"] };
const LIMIT = 50;

export async function render(main, { query }) {
  main.append(heading(1, t("moderation.title")));
  if (!atLeast("moderator")) {
    main.append(el("p", { class: "msg warn" }, t("moderation.need_role")), el("p", {},
      el("a", { href: `#/signin?next=${encodeURIComponent("#/moderation")}` }, t("account.signin"))));
    return null;
  }
  const status = query.get("status") || "open";
  const offset = Number(query.get("offset") || 0);
  const sel = el("select", { id: nextId("status") }, ["open", "resolved", "dismissed"].map((s) =>
    el("option", { value: s, selected: s === status }, t(`moderation.status.${s}`))));
  sel.addEventListener("change", () => (location.hash = `#/moderation?status=${sel.value}`));
  main.append(el("p", { class: "intro" }, t("moderation.intro")),
    el("div", { class: "field inline" }, el("label", { for: sel.id }, t("moderation.show")), sel));
  const box = el("div", {}, el("p", {}, t("app.loading")));
  main.append(box, auditLog());
  try {
    const r = await api(`/api/reports?status=${status}&limit=${LIMIT}&offset=${offset}`);
    if (!r.items.length) {
      box.replaceChildren(el("p", { class: "empty-queue" }, t("moderation.empty")));
      return null;
    }
    box.replaceChildren(el("p", {}, t("moderation.count", { count: r.total })),
      el("ol", { class: "reports" }, r.items.map((rep) => reportItem(rep))),
      r.total > LIMIT ? pager({ total: r.total, limit: LIMIT, offset,
        onPage: (o) => (location.hash = `#/moderation?status=${status}&offset=${o}`) }) : "");
  } catch (err) {
    showError(box, err);
  }
  return null;
}

/** The audit log: who did what, to what, when (never the content itself). */
function auditLog() {
  const body = el("div");
  const d = el("details", { class: "panel audit" }, el("summary", {}, t("moderation.audit")), body);
  d.addEventListener("toggle", async () => {
    if (!d.open) return;
    body.replaceChildren(el("p", {}, t("app.loading")));
    try {
      const r = await api("/api/audit?limit=50");
      body.replaceChildren(r.items.length ? el("ul", { class: "audit-list" }, r.items.map((a) => el("li", {},
        el("time", { datetime: a.at }, fmtDate(a.at)), " — ", t("moderation.audit_line", { actor: a.actor, action: a.action,
          target: `${a.target_kind}${a.target_id ? ` #${a.target_id}` : ""}` })))) : el("p", {}, t("moderation.audit_empty")));
    } catch (err) {
      showError(body, err);
    }
  });
  return d;
}

function target(rep) {
  const span = el("span", {}, `${rep.target_kind} #${rep.target_id}`);
  if (rep.target_kind === "item") {
    const a = el("a", { href: `#/item/${rep.target_id}` }, t("moderation.item", { id: rep.target_id }));
    getItem(rep.target_id).then((it) => (a.textContent = it.title)).catch(() => a.after(` (${t("moderation.gone")})`));
    return a;
  }
  api(`/api/labels/${rep.target_id}`).then((l) => span.replaceChildren(t("moderation.label", { id: l.id }), " “",
    el("span", { lang: l.lang }, l.text), "” (", l.lang, ", ", t(`label.status.${l.status}`), ")"))
    .catch(() => {});
  return span;
}

function reportItem(rep) {
  const li = el("li", { class: "report-item", "data-report-id": String(rep.id) },
    el("h2", { class: "h3" }, t("moderation.report_title", { id: rep.id, reason: t(`report.reason.${rep.reason}`) })),
    el("p", {}, t("moderation.about"), " ", target(rep)),
    rep.text ? el("blockquote", {}, rep.text) : null,
    el("p", { class: "meta" }, t("moderation.by", { who: rep.reporter, date: fmtDate(rep.created_at) })));
  if (rep.status !== "open") {
    li.append(el("p", {}, t("moderation.handled", { action: t(`moderation.action.${rep.action}`), who: rep.handled_by || "?",
      date: fmtDate(rep.handled_at) }), rep.note ? ` — ${rep.note}` : ""));
    return li;
  }
  const name = nextId("action");
  const noteId = nextId("note");
  const out = el("div");
  const submit = el("button", { type: "submit", class: "primary" }, t("moderation.resolve"));
  const form = el("form", { class: "resolve" },
    el("fieldset", {}, el("legend", {}, t("moderation.what_to_do")),
      ACTIONS[rep.target_kind].map((a, i) => el("label", { class: "radio" },
        el("input", { type: "radio", name, value: a, checked: i === 0 }), " ", t(`moderation.action.${a}`)))),
    el("label", { for: noteId }, t("moderation.note")), el("textarea", { id: noteId, rows: "2", maxlength: "5000" }),
    el("div", { class: "actions" }, submit), out);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const action = form.querySelector(`input[name="${name}"]:checked`).value;
    if ((action === "withdraw_item" || action === "purge_label") && !confirm(t(`moderation.confirm.${action}`))) return;
    submit.disabled = true;
    try {
      const r = await api(`/api/reports/${rep.id}/resolve`, { method: "POST", json: { action,
        note: form.querySelector("textarea").value.trim() || null } });
      form.replaceWith(messageBox(t("moderation.done", { id: r.id, status: t(`moderation.status.${r.status}`) }), "ok"));
      announce(t("moderation.done", { id: r.id, status: t(`moderation.status.${r.status}`) }));
    } catch (err) {
      out.replaceChildren(messageBox(errorText(err)));
      submit.disabled = false;
    }
  });
  li.append(form);
  return li;
}
