// "Report this item / label": anyone may report; moderators see the queue.
import { api } from "./api.js";
import { t } from "./i18n.js";
import { el, nextId, messageBox, errorText } from "./dom.js";

const REASONS = ["wrong_licence", "harmful", "cultural_sensitivity", "other"];

/** A disclosure button and, when open, a small form posting to /api/reports. */
export function reportForm(kind, id, { compact = false } = {}) {
  const formId = nextId("report");
  const btn = el("button", { type: "button", class: compact ? "small report-btn" : "report-btn", "aria-expanded": "false",
    "aria-controls": formId }, t(kind === "item" ? "report.open_item" : "report.open_label"));
  const reasonName = nextId("reason");
  const fieldset = el("fieldset", {}, el("legend", {}, t("report.reason")),
    REASONS.map((r, i) => el("label", { class: "radio" },
      el("input", { type: "radio", name: reasonName, value: r, required: true, checked: i === 0 }), " ",
      t(`report.reason.${r}`))));
  const textId = nextId("report-text");
  const text = el("textarea", { id: textId, name: "text", rows: "3", maxlength: "5000" });
  const out = el("div", { class: "report-out" });
  const submit = el("button", { type: "submit" }, t("report.send"));
  const form = el("form", { id: formId, class: "report-form", hidden: true },
    el("p", { class: "hint" }, t("report.intro")), fieldset,
    el("label", { for: textId }, t("report.text")), text,
    el("div", { class: "actions" }, submit,
      el("button", { type: "button", onclick: () => toggle(false) }, t("report.cancel"))), out);
  const toggle = (show) => {
    form.hidden = !show;
    btn.setAttribute("aria-expanded", String(show));
    if (show) form.querySelector("input").focus();
  };
  btn.addEventListener("click", () => toggle(form.hidden));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const reason = form.querySelector(`input[name="${reasonName}"]:checked`).value;
    submit.disabled = true;
    try {
      const r = await api("/api/reports", { method: "POST", json: { target_kind: kind, target_id: id, reason,
        text: text.value.trim() || null } });
      form.replaceChildren(messageBox(t("report.thanks", { id: r.id }), "ok"));
      form.hidden = false;
      btn.hidden = true;
      form.querySelector(".msg").setAttribute("tabindex", "-1");
      form.querySelector(".msg").focus();
    } catch (err) {
      out.replaceChildren(messageBox(errorText(err)));
      submit.disabled = false;
    }
  });
  return el("div", { class: "report" }, btn, form);
}
