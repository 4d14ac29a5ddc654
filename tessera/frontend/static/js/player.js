// One shared audio element for play buttons in lists and the map's hover previews.
import { api, token } from "./api.js";
import { t } from "./i18n.js";
import { el, announce } from "./dom.js";

const audio = new Audio();
audio.preload = "none";
let owner = null; // {id, button, onstop}
let stopTimer = null;
const blobUrls = new Map();

function reset() {
  clearTimeout(stopTimer);
  stopTimer = null;
  if (owner && owner.button) setButton(owner.button, false);
  if (owner && owner.onstop) owner.onstop();
  owner = null;
}

function setButton(btn, playing) {
  btn.classList.toggle("playing", playing);
  btn.dataset.state = playing ? "playing" : "stopped";
  const label = btn.querySelector(".label");
  if (label) label.textContent = playing ? t("player.stop") : t("player.play");
  const name = btn.dataset.name;
  if (name) btn.setAttribute("aria-label", t(playing ? "player.stop_named" : "player.play_named", { title: name }));
}

audio.addEventListener("ended", reset);

/** Has the person pressed a key or a pointer on the page yet? No sound before that. */
export function hasInteracted() {
  return interacted;
}
let interacted = false;
for (const ev of ["pointerdown", "keydown"]) {
  window.addEventListener(ev, (e) => {
    if (e.isTrusted) interacted = true;
  }, { capture: true });
}

async function authorisedUrl(id) {
  // the plain URL streams with Range requests; when the server wants a key for audio we fetch with ours
  if (blobUrls.has(id)) return blobUrls.get(id);
  const r = await api(`/api/items/${id}/audio`, { raw: true });
  const url = URL.createObjectURL(await r.blob());
  blobUrls.set(id, url);
  return url;
}

/**
 * Play item `id` from `start` seconds, for at most `duration` seconds (previews); `button` shows the state.
 * Answers a promise that settles once playback has started (or failed).
 */
export async function play(id, { start = 0, duration = null, button = null, onstop = null, quiet = false } = {}) {
  stop();
  owner = { id, button, onstop, quiet };
  if (button) setButton(button, true);
  const mine = owner;
  audio.src = `/api/items/${id}/audio`;
  try {
    await seekAndPlay(start);
  } catch (err) {
    if (owner !== mine) return;
    if (token() && err.name !== "NotAllowedError") {
      try {
        audio.src = await authorisedUrl(id);
        await seekAndPlay(start);
      } catch (err2) {
        return failed(mine, err2);
      }
    } else return failed(mine, err);
  }
  if (duration && owner === mine) stopTimer = setTimeout(() => owner === mine && stop(), duration * 1000);
}

function failed(mine, err) {
  if (owner === mine) reset();
  // previews fail quietly (e.g. the server's audio rate limit); a pressed Play button says so
  if (err && err.name !== "AbortError" && !mine.quiet) announce(t("player.failed"));
}

let cancelPending = () => {};

function seekAndPlay(start) {
  cancelPending();
  return new Promise((resolve, reject) => {
    const onErr = () => {
      cleanup();
      reject(audio.error || new Error("audio error"));
    };
    const go = () => {
      cleanup();
      try {
        if (start) audio.currentTime = start;
      } catch {
        /* not seekable yet */
      }
      audio.play().then(resolve, reject);
    };
    const cleanup = () => {
      audio.removeEventListener("loadedmetadata", go);
      audio.removeEventListener("error", onErr);
    };
    cancelPending = () => {
      cleanup();
      reject(new DOMException("replaced", "AbortError"));
    };
    audio.addEventListener("loadedmetadata", go);
    audio.addEventListener("error", onErr);
    audio.preload = "auto";
    audio.load();
  });
}

export function stop() {
  cancelPending();
  if (!audio.paused) audio.pause();
  reset();
}

export const playingId = () => (owner ? owner.id : null);
export const element = audio;

/** A Play/Stop toggle button for an item (or a segment of it). */
export function playButton(item, { start = 0, duration = null, label = null } = {}) {
  const name = label || item.title;
  const btn = el("button", { type: "button", class: "play", "data-state": "stopped", "data-name": name,
    "aria-label": t("player.play_named", { title: name }), "data-item-id": String(item.id) },
  el("span", { class: "icon", "aria-hidden": "true" }), el("span", { class: "label" }, t("player.play")));
  btn.addEventListener("click", () => {
    if (owner && owner.button === btn) stop();
    else play(item.id, { start, duration, button: btn });
  });
  return btn;
}
