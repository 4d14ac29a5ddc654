// For rights holders: how to withdraw consent, and what happens then. Plain words.
import { t } from "../i18n.js";
import { el, heading } from "../dom.js";

export async function render(main) {
  const para = (k) => el("p", {}, t(k));
  main.append(
    heading(1, t("consent.title")),
    el("p", { class: "lead" }, t("consent.lead")),
    el("section", { class: "panel", "aria-labelledby": "c-how" }, el("h2", { id: "c-how" }, t("consent.how_title")),
      el("ol", {}, ["consent.how_1", "consent.how_2", "consent.how_3"].map((k) => el("li", {}, t(k)))),
      para("consent.how_report")),
    el("section", { class: "panel", "aria-labelledby": "c-what" }, el("h2", { id: "c-what" }, t("consent.what_title")),
      el("ul", {}, ["consent.what_1", "consent.what_2", "consent.what_3", "consent.what_4", "consent.what_5"]
        .map((k) => el("li", {}, t(k))))),
    el("section", { class: "panel", "aria-labelledby": "c-future" }, el("h2", { id: "c-future" }, t("consent.future_title")),
      para("consent.future_text")),
    el("section", { class: "panel", "aria-labelledby": "c-community" }, el("h2", { id: "c-community" },
      t("consent.community_title")), para("consent.community_text")));
  return null;
}
