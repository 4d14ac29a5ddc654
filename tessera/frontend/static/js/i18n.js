// The interface's words: en.json is complete, other locales may be partial and fall back to English.
// t("key", {name: "x", count: 3}) picks "key_one"/"key_other" by the plural rules when count is given.

const BASE = "/static/i18n/";
const STORE_KEY = "tessera.lang";
let strings = {};
let english = {};
let current = "en";
let available = { en: "English" };

async function load(lang) {
  const r = await fetch(`${BASE}${lang}.json`);
  if (!r.ok) throw new Error(`no locale ${lang}`);
  return r.json();
}

/** The best available language for a list like navigator.languages ("fr-CA" falls back to "fr"). */
export function choose(languages, known) {
  for (const raw of languages || []) {
    const tag = String(raw).toLowerCase();
    if (known.includes(tag)) return tag;
    const base = tag.split("-")[0];
    if (known.includes(base)) return base;
  }
  return "en";
}

export async function initI18n(languages = navigator.languages) {
  const manifest = await load("index").catch(() => ({ languages: { en: "English" } }));
  available = manifest.languages;
  english = await load("en");
  let wanted = languages;
  const saved = localStorage.getItem(STORE_KEY);
  if (saved && available[saved]) wanted = [saved];
  current = choose(wanted, Object.keys(available));
  strings = current === "en" ? english : await load(current).catch(() => english);
  document.documentElement.lang = current;
  return current;
}

export function setLanguage(lang) {
  localStorage.setItem(STORE_KEY, lang);
}

export const lang = () => current;
export const languages = () => available;

function lookup(key) {
  if (Object.hasOwn(strings, key)) return strings[key];
  if (Object.hasOwn(english, key)) return english[key];
  return undefined;
}

export function t(key, vars = {}) {
  let s;
  if (typeof vars.count === "number") {
    const rule = new Intl.PluralRules(current).select(vars.count);
    s = lookup(`${key}_${rule}`) ?? lookup(`${key}_other`);
  }
  s = s ?? lookup(key);
  if (s === undefined) {
    console.warn("missing string", key);
    return key;
  }
  return s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? fmtVar(vars[k]) : m));
}

function fmtVar(v) {
  return typeof v === "number" ? new Intl.NumberFormat(current).format(v) : String(v);
}

/** Does this key exist (in the chosen language or in English)? */
export const has = (key) => lookup(key) !== undefined;

/** Fill elements marked data-i18n="key" and data-i18n-attr="attr:key;attr2:key2". */
export function translateDom(root = document) {
  for (const e of root.querySelectorAll("[data-i18n]")) e.textContent = t(e.dataset.i18n);
  for (const e of root.querySelectorAll("[data-i18n-attr]")) {
    for (const pair of e.dataset.i18nAttr.split(";")) {
      const [attr, key] = pair.split(":");
      e.setAttribute(attr, t(key));
    }
  }
}

export function fmtNumber(v, digits = 2) {
  return new Intl.NumberFormat(current, { maximumFractionDigits: digits }).format(v);
}

export function fmtDate(iso) {
  if (!iso) return "";
  try {
    return new Intl.DateTimeFormat(current, { dateStyle: "medium", timeStyle: "short" }).format(new Date(iso));
  } catch {
    return iso;
  }
}
