// A licence in plain words: what you may do, and what you must do.
import { t } from "./i18n.js";
import { el } from "./dom.js";

/** One or two sentences for the licence of an item by `creator`. */
export function plainWords(lic, creator) {
  const who = creator || t("licence.the_creator");
  const r = lic.requires || {};
  const parts = [];
  if (r.non_commercial) parts.push(t("licence.noncommercial"));
  else parts.push(t("licence.anything"));
  if (r.attribution) parts.push(t("licence.credit", { creator: who }));
  else parts.push(t("licence.no_credit", { creator: who }));
  if (r.no_derivatives) parts.push(t("licence.no_derivatives"));
  if (r.share_alike) parts.push(t("licence.share_alike"));
  return parts.join(" ");
}

export function licenceBlock(item) {
  const lic = item.licence;
  const copyBtn = el("button", { type: "button", class: "copy" }, t("licence.copy"));
  const attr = el("blockquote", { class: "attribution" }, item.attribution);
  copyBtn.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(item.attribution);
      copyBtn.textContent = t("licence.copied");
    } catch {
      const range = document.createRange();
      range.selectNodeContents(attr);
      getSelection().removeAllRanges();
      getSelection().addRange(range);
    }
  });
  const status = lic.restricted ? t("licence.status_restricted") : lic.open ? t("licence.status_open") : "";
  return el("div", { class: "licence-block" + (lic.restricted ? " restricted" : "") },
    el("p", { class: "plain" }, plainWords(lic, item.creator)),
    status ? el("p", { class: "lic-status" }, status) : null,
    el("p", {}, t("licence.name_is"), " ", el("a", { href: lic.url, target: "_blank", rel: "noopener" },
      `${lic.name} (${lic.spdx})`)),
    el("p", { class: "attr-h" }, t("licence.attribution_line")), attr, copyBtn);
}
