// Small DOM helpers and formatting shared by the views.
import { t, fmtNumber } from "./i18n.js";

/** el("a", {href, class, onclick}, child, "text", ...): attributes, listeners (on*), properties (.prop). */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v;
    // through the CSSOM: the Content-Security-Policy refuses style attributes, not style properties
    else if (k === "style") e.style.cssText = v;
    // links come from catalogue data: a javascript: or data: URL there would run on this origin
    else if (k === "href" && safeUrl(v) === null) continue;
    else if (k.startsWith("on") && typeof v === "function") e.addEventListener(k.slice(2), v);
    else if (k.startsWith(".")) e[k.slice(1)] = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  append(e, children);
  return e;
}

/** The URL if it is http(s) (or relative to this page), else null. */
export function safeUrl(url) {
  if (typeof url !== "string" || !url) return null;
  try {
    const u = new URL(url, document.baseURI);
    return u.protocol === "http:" || u.protocol === "https:" ? url : null;
  } catch {
    return null;
  }
}

function append(e, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : String(c));
  }
}

let uid = 0;
export const nextId = (prefix = "id") => `${prefix}-${++uid}`;

export function fmtDuration(s) {
  if (s === null || s === undefined || Number.isNaN(s)) return "?";
  if (s < 60) return t("unit.seconds", { value: fmtNumber(s, s < 10 ? 1 : 0) });
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(Math.floor(s % 60)).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

export function fmtTime(s) {
  if (s === null || s === undefined) return "";
  const m = Math.floor(s / 60);
  return `${m}:${(s % 60).toFixed(1).padStart(4, "0")}`;
}

/** Announce a message to screen readers (polite) without moving focus. */
export function announce(msg) {
  const a = document.getElementById("announcer");
  if (!a) return;
  a.textContent = "";
  setTimeout(() => (a.textContent = msg), 30);
}

/** A visible message box; role=alert for errors. */
export function messageBox(msg, kind = "error") {
  return el("p", { class: `msg ${kind}`, role: kind === "error" ? "alert" : "status" }, msg);
}

export function errorText(err) {
  if (!err) return t("error.unknown");
  return err.message || String(err);
}

/** Replace the content of a region with an error message that says what went wrong. */
export function showError(region, err, prefixKey) {
  const msg = prefixKey ? `${t(prefixKey)} ${errorText(err)}` : errorText(err);
  region.replaceChildren(messageBox(msg, "error"));
}

/** A heading focusable by script (route changes move focus here). */
export function heading(level, text, attrs = {}) {
  return el(`h${level}`, { tabindex: "-1", ...attrs }, text);
}

export function licenceBadge(lic) {
  const cls = lic.restricted ? "lic restricted" : lic.open ? "lic open" : "lic";
  return el("a", { class: cls, href: lic.url, title: lic.name, target: "_blank", rel: "noopener" }, lic.spdx);
}

/** Pager: "Showing 1–20 of 57" and Previous/Next buttons. */
export function pager({ total, limit, offset, onPage, label }) {
  const from = total ? offset + 1 : 0;
  const to = Math.min(offset + limit, total);
  const nav = el("nav", { class: "pager", "aria-label": label || t("pager.label") },
    el("button", { type: "button", disabled: offset <= 0, onclick: () => onPage(Math.max(0, offset - limit)) },
      t("pager.prev")),
    el("span", { class: "pager-status" }, t("pager.status", { from, to, total })),
    el("button", { type: "button", disabled: offset + limit >= total, onclick: () => onPage(offset + limit) },
      t("pager.next")));
  return nav;
}

export function definitionList(pairs) {
  const dl = el("dl", { class: "facts" });
  for (const [k, v] of pairs) {
    if (v === null || v === undefined || v === "") continue;
    dl.append(el("dt", {}, k), el("dd", {}, v));
  }
  return dl;
}

export function humanise(name) {
  return name.replace(/_/g, " ");
}
