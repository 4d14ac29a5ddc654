// A waveform drawn from the decoded audio (Web Audio decodeAudioData), with segment marks and a playhead.

const BUCKETS = 2000;

/** Min/max per bucket over all channels: Float32Array [min0, max0, min1, max1, ...]. */
export function peaks(buffer, buckets = BUCKETS) {
  const n = buffer.length;
  const out = new Float32Array(buckets * 2);
  const chans = [];
  for (let c = 0; c < buffer.numberOfChannels; c++) chans.push(buffer.getChannelData(c));
  const step = n / buckets;
  for (let b = 0; b < buckets; b++) {
    const a = Math.floor(b * step);
    const z = Math.max(a + 1, Math.floor((b + 1) * step));
    let lo = 0, hi = 0;
    for (const d of chans) {
      for (let i = a; i < z && i < n; i++) {
        const v = d[i];
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
    out[2 * b] = lo;
    out[2 * b + 1] = hi;
  }
  return out;
}

let ctxSingleton = null;
function audioContext() {
  const AC = window.AudioContext || window.webkitAudioContext;
  if (!AC) return null;
  // an OfflineAudioContext decodes without needing a user gesture
  if (!ctxSingleton) ctxSingleton = window.OfflineAudioContext ? new OfflineAudioContext(1, 1, 44100) : new AC();
  return ctxSingleton;
}

export async function decode(arrayBuffer) {
  const ctx = audioContext();
  if (!ctx) throw new Error("no Web Audio");
  return ctx.decodeAudioData(arrayBuffer);
}

export class Waveform {
  /** canvas; audio: the <audio> element it follows; segments: [{start, end}] */
  constructor(canvas, audio, { segments = [], duration = 0, colors = {} } = {}) {
    this.canvas = canvas;
    this.audio = audio;
    this.segments = segments;
    this.duration = duration;
    this.data = null;
    this.colors = { wave: "#1f4e8c", played: "#0a2a57", seg: "rgba(176, 96, 0, 0.13)", segLine: "#8a4b00",
      head: "#b00020", bg: "#ffffff", ...colors };
    this.raf = 0;
    this.ro = new ResizeObserver(() => this.draw());
    this.ro.observe(canvas);
    const tick = () => {
      this.draw();
      if (!audio.paused) this.raf = requestAnimationFrame(tick);
    };
    this.onPlay = () => {
      cancelAnimationFrame(this.raf);
      this.raf = requestAnimationFrame(tick);
    };
    this.onTime = () => this.draw();
    audio.addEventListener("play", this.onPlay);
    audio.addEventListener("timeupdate", this.onTime);
    audio.addEventListener("seeked", this.onTime);
    canvas.addEventListener("click", (e) => {
      const d = this.duration || audio.duration;
      if (!d) return;
      const r = canvas.getBoundingClientRect();
      audio.currentTime = ((e.clientX - r.left) / r.width) * d;
    });
  }

  setBuffer(buffer) {
    this.data = peaks(buffer);
    if (!this.duration) this.duration = buffer.duration;
    this.draw();
  }

  destroy() {
    cancelAnimationFrame(this.raf);
    this.ro.disconnect();
    this.audio.removeEventListener("play", this.onPlay);
    this.audio.removeEventListener("timeupdate", this.onTime);
    this.audio.removeEventListener("seeked", this.onTime);
  }

  draw() {
    const c = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(c.clientWidth * dpr)), h = Math.max(1, Math.round(c.clientHeight * dpr));
    if (c.width !== w || c.height !== h) {
      c.width = w;
      c.height = h;
    }
    const g = c.getContext("2d");
    g.fillStyle = this.colors.bg;
    g.fillRect(0, 0, w, h);
    const d = this.duration || 1;
    // segment marks: alternate shaded bands, a line and a number at each start
    g.font = `${11 * dpr}px system-ui, sans-serif`;
    this.segments.forEach((s, i) => {
      const x0 = (s.start / d) * w, x1 = (s.end / d) * w;
      if (i % 2 === 0) {
        g.fillStyle = this.colors.seg;
        g.fillRect(x0, 0, x1 - x0, h);
      }
      g.fillStyle = this.colors.segLine;
      g.fillRect(Math.round(x0), 0, Math.max(1, dpr), h);
      g.fillText(String(i + 1), x0 + 3 * dpr, 12 * dpr);
    });
    const mid = h / 2;
    const played = this.audio && d ? (this.audio.currentTime / d) * w : 0;
    if (this.data) {
      const b = this.data.length / 2;
      for (let x = 0; x < w; x++) {
        const k0 = Math.floor((x / w) * b), k1 = Math.max(k0 + 1, Math.floor(((x + 1) / w) * b));
        let lo = 0, hi = 0;
        for (let k = k0; k < k1 && k < b; k++) {
          if (this.data[2 * k] < lo) lo = this.data[2 * k];
          if (this.data[2 * k + 1] > hi) hi = this.data[2 * k + 1];
        }
        g.fillStyle = x < played ? this.colors.played : this.colors.wave;
        const top = mid - hi * mid * 0.95, bot = mid - lo * mid * 0.95;
        g.fillRect(x, top, 1, Math.max(1, bot - top));
      }
    } else {
      g.fillStyle = this.colors.wave;
      g.fillRect(0, mid, w, Math.max(1, dpr));
    }
    if (played > 0) {
      g.fillStyle = this.colors.head;
      g.fillRect(Math.min(w - 2 * dpr, played), 0, 2 * dpr, h);
    }
  }
}
