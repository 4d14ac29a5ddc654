// The dataset basket: items (or segments of them) picked anywhere, kept in localStorage until a dataset is made.
import { t } from "./i18n.js";
import { el, announce } from "./dom.js";

const KEY = "tessera.basket";
const listeners = new Set();

export function items() {
  try {
    const v = JSON.parse(localStorage.getItem(KEY) || "[]");
    return Array.isArray(v) ? v : [];
  } catch {
    return [];
  }
}

function save(list) {
  localStorage.setItem(KEY, JSON.stringify(list));
  for (const fn of listeners) fn(list);
}

const same = (a, b) => a.item_id === b.item_id && (a.segment_id ?? null) === (b.segment_id ?? null);

export function has(ref) {
  return items().some((x) => same(x, ref));
}

export function add(entry) {
  const list = items();
  if (!list.some((x) => same(x, entry))) list.push(entry);
  save(list);
}

export function remove(ref) {
  save(items().filter((x) => !same(x, ref)));
}

export function clear() {
  save([]);
}

export function onChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

window.addEventListener("storage", (e) => {
  if (e.key === KEY) for (const fn of listeners) fn(items());
});

/** "Add to dataset basket" / "Remove from basket" toggle for an item or one of its segments. */
export function basketButton(item, segment = null) {
  const ref = { item_id: item.id, segment_id: segment ? segment.id : null };
  const btn = el("button", { type: "button", class: "basket-btn" });
  const name = segment ? t("basket.segment_name", { title: item.title, start: Math.round(segment.start),
    end: Math.round(segment.end) }) : item.title;
  const paint = () => {
    const inside = has(ref);
    btn.textContent = inside ? t("basket.remove") : t("basket.add");
    btn.setAttribute("aria-label", t(inside ? "basket.remove_named" : "basket.add_named", { title: name }));
    btn.classList.toggle("in-basket", inside);
  };
  btn.addEventListener("click", () => {
    if (has(ref)) {
      remove(ref);
      announce(t("basket.removed", { title: name }));
    } else {
      add({ ...ref, title: item.title, licence: item.licence ? item.licence.spdx : null,
        start: segment ? segment.start : null, end: segment ? segment.end : null });
      announce(t("basket.added", { title: name }));
    }
  });
  paint();
  const off = onChange(() => (btn.isConnected ? paint() : off()));
  return btn;
}
