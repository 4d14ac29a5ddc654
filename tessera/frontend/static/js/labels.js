// Cluster names from community labels, label chips with language tags, cluster colours.
import { t, lang } from "./i18n.js";
import { el } from "./dom.js";

/** The best name for a cluster: an accepted label in the reader's language, any accepted one, the most
 * voted proposal, else "Cluster N". */
export function clusterName(c) {
  const labels = (c.labels || []).filter((l) => l.status !== "removed");
  const mine = (l) => l.lang && l.lang.toLowerCase().split("-")[0] === lang();
  const pick = labels.find((l) => l.status === "accepted" && mine(l))
    || labels.find((l) => l.status === "accepted")
    || [...labels].sort((a, b) => b.net_votes - a.net_votes).find((l) => l.net_votes > 0);
  return pick ? { text: pick.text, lang: pick.lang, label: pick } : { text: t("cluster.unnamed", { id: c.id }) };
}

export function nameNode(c) {
  const n = clusterName(c);
  return n.lang ? el("span", { lang: n.lang }, n.text) : el("span", {}, n.text);
}

/** A label's text in its own language, with a visible language tag and its status. */
export function labelChip(l, { status = true } = {}) {
  return el("span", { class: `label-chip status-${l.status}` },
    el("span", { lang: l.lang, class: "label-text" }, l.text),
    " ", el("abbr", { class: "lang-tag", title: t("label.language_tag", { lang: l.lang }) }, l.lang),
    status && l.status !== "accepted" ? el("span", { class: "label-status" }, ` ${t(`label.status.${l.status}`)}`)
      : null);
}

// distinguishable colours, dark enough to stand on white (3:1 for graphics)
const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#e07b00", "#8c564b", "#e377c2", "#17becf",
  "#7f7f00", "#3b4cc0", "#b8860b", "#008080", "#c71585", "#556b2f", "#4b0082", "#a0522d"];
export const NOISE_COLOUR = "#9a9a9a";

export function clusterColour(index) {
  if (index < PALETTE.length) return PALETTE[index];
  const h = (index * 137.508) % 360; // golden angle: further colours stay apart
  return `hsl(${h.toFixed(0)} 70% 38%)`;
}

/** "#rrggbb" or "hsl(...)" -> [r, g, b] bytes */
export function rgb(colour) {
  if (colour.startsWith("#")) {
    const v = parseInt(colour.slice(1), 16);
    return [v >> 16 & 255, v >> 8 & 255, v & 255];
  }
  const probe = document.createElement("canvas").getContext("2d");
  probe.fillStyle = colour;
  return rgb(probe.fillStyle);
}
