// Tessera's web app: hash routes (#/map, #/item/5 ...), one view at a time in <main>.
import { initI18n, t, translateDom, languages, lang, setLanguage } from "./i18n.js";
import { atLeast, currentUser, onSessionChange, refreshSession, signOut } from "./api.js";
import { el, announce } from "./dom.js";
import * as basket from "./basket.js";
import * as player from "./player.js";

const ROUTES = {
  map: () => import("./views/map.js"),
  item: () => import("./views/item.js"),
  search: () => import("./views/search.js"),
  cluster: () => import("./views/cluster.js"),
  datasets: () => import("./views/datasets.js"),
  moderation: () => import("./views/moderation.js"),
  consent: () => import("./views/consent.js"),
  signin: () => import("./views/signin.js"),
};

let active = null; // {name, view, cleanup, params}
let renderSeq = 0;

export function parseHash(hash = location.hash) {
  const raw = hash.replace(/^#\/?/, "");
  const [path, qs = ""] = raw.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const name = parts[0] || "map";
  return { name, params: parts.slice(1), query: new URLSearchParams(qs) };
}

export function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

async function route() {
  const { name, params, query } = parseHash();
  const main = document.getElementById("main");
  const seq = ++renderSeq;
  if (!ROUTES[name]) {
    cleanup();
    main.dataset.rendered = location.hash;
    main.replaceChildren(el("h1", { tabindex: "-1" }, t("notfound.title")),
      el("p", {}, t("notfound.text")), el("p", {}, el("a", { href: "#/map" }, t("notfound.back"))));
    focusHeading(main);
    return;
  }
  // same view, new query (filters, pages): let the view update itself without a full re-render
  if (active && active.name === name && active.view.update && sameParams(active.params, params)) {
    delete main.dataset.rendered;
    await active.view.update({ params, query });
    if (seq === renderSeq) main.dataset.rendered = location.hash;
    return;
  }
  cleanup();
  player.stop();
  main.setAttribute("aria-busy", "true");
  delete main.dataset.rendered;
  const view = await ROUTES[name]();
  if (seq !== renderSeq) return;
  main.replaceChildren();
  markNav(name);
  active = { name, view, params, cleanup: null };
  try {
    active.cleanup = (await view.render(main, { params, query })) || null;
  } catch (err) {
    console.error(err);
    main.replaceChildren(el("h1", { tabindex: "-1" }, t("error.title")), el("p", { role: "alert", class: "msg error" },
      err.message || String(err)));
  }
  if (seq !== renderSeq) return;
  main.removeAttribute("aria-busy");
  main.dataset.rendered = location.hash;
  const h1 = main.querySelector("h1");
  document.title = h1 ? `${h1.textContent} · Tessera` : "Tessera";
  if (!firstRender) focusHeading(main);
  firstRender = false;
}
let firstRender = true;

function sameParams(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function cleanup() {
  if (active && typeof active.cleanup === "function") active.cleanup();
  active = null;
}

function focusHeading(main) {
  const h1 = main.querySelector("h1");
  if (h1) {
    if (!h1.hasAttribute("tabindex")) h1.setAttribute("tabindex", "-1");
    h1.focus({ preventScroll: false });
    announce(h1.textContent);
  }
}

function markNav(name) {
  for (const a of document.querySelectorAll("nav a[data-route]")) {
    if (a.dataset.route === name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

function paintAccount() {
  const box = document.getElementById("account");
  const u = currentUser();
  if (u.role === "anonymous" || !u.name) {
    const next = encodeURIComponent(location.hash || "#/map");
    box.replaceChildren(el("a", { href: `#/signin?next=${next}`, class: "signin-link" }, t("account.signin")));
  } else {
    box.replaceChildren(
      el("span", { class: "who" }, t("account.signed_in_as", { name: u.name }), " ",
        el("span", { class: "role-badge" }, t(`role.${u.role}`))),
      el("button", { type: "button", class: "signout", onclick: async () => {
        await signOut();
        announce(t("account.signed_out"));
      } }, t("account.signout")));
  }
  for (const li of document.querySelectorAll("[data-min-role]")) li.hidden = !atLeast(li.dataset.minRole);
}

function paintBasket() {
  const n = basket.items().length;
  const c = document.getElementById("basket-count");
  c.textContent = n ? t("basket.count", { count: n }) : "";
}

function languagePicker() {
  const sel = document.getElementById("lang-select");
  const langs = languages();
  sel.replaceChildren(...Object.entries(langs).map(([code, name]) =>
    el("option", { value: code, lang: code, selected: code === lang() }, name)));
  sel.addEventListener("change", () => {
    setLanguage(sel.value);
    location.reload();
  });
}

async function start() {
  await initI18n();
  translateDom();
  languagePicker();
  paintAccount();
  paintBasket();
  basket.onChange(paintBasket);
  onSessionChange((user, reason) => {
    paintAccount();
    if (reason === "expired") {
      const n = document.getElementById("notice");
      n.textContent = t("account.expired");
    }
    // views show what the role allows: draw the current one again
    if (reason !== "signin") {
      if (active) active.params = ["\u0000"]; // force a full re-render
      route();
    }
  });
  window.addEventListener("hashchange", () => {
    if (!location.hash.startsWith("#/")) return; // an in-page anchor, not a route
    document.getElementById("notice").textContent = "";
    route();
  });
  // the skip link moves focus to the content without touching the address (the routes live in the #)
  document.querySelector(".skip").addEventListener("click", (e) => {
    e.preventDefault();
    document.getElementById("main").focus();
  });
  if (!location.hash.startsWith("#/")) history.replaceState(null, "", "#/map");
  await route();
  refreshSession();
}

window.tessera = { go, parseHash, ready: start() };
