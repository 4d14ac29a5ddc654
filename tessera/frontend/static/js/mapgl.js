// A small WebGL scatter renderer: every point in one gl.POINTS draw call, pan and zoom by two uniforms,
// picking on the CPU through a uniform grid over the data. Falls back to a 2-D canvas without WebGL.
//
// Level of detail: where drawing every point is slow (software rendering, weak GPUs), frames drawn while the
// view moves use an evenly strided subset (still one draw call), and the full set is drawn as soon as it rests.

const LOD_MIN_POINTS = 30000; // below this, always draw everything
const LOD_POINTS = 15000; // size of the subset drawn while moving
const LOD_SLOW_MS = 34; // a full frame slower than this (about 30 fps) turns the subset on
const IDLE_MS = 160; // the view rests after this long without a change

const VERT = `
attribute vec2 a_pos;
attribute vec4 a_color;
uniform vec2 u_center;
uniform vec2 u_scale;
uniform float u_size;
varying vec4 v_color;
void main() {
  gl_Position = vec4((a_pos - u_center) * u_scale, 0.0, 1.0);
  gl_PointSize = u_size;
  v_color = a_color;
}`;

const FRAG = `
precision mediump float;
varying vec4 v_color;
void main() {
  vec2 c = gl_PointCoord - vec2(0.5);
  float d = dot(c, c);
  if (d > 0.25) discard;
  gl_FragColor = vec4(d > 0.13 ? v_color.rgb * 0.55 : v_color.rgb, 1.0);
}`;

function compile(gl, type, src) {
  const s = gl.createShader(type);
  gl.shaderSource(s, src);
  gl.compileShader(s);
  if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(s));
  return s;
}

/** A uniform grid over the points' bounding box, for nearest-point queries in data space. */
export class PointGrid {
  constructor(xs, ys) {
    const n = xs.length;
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (let i = 0; i < n; i++) {
      if (xs[i] < x0) x0 = xs[i];
      if (xs[i] > x1) x1 = xs[i];
      if (ys[i] < y0) y0 = ys[i];
      if (ys[i] > y1) y1 = ys[i];
    }
    if (!n) x0 = y0 = 0, x1 = y1 = 1;
    const g = Math.max(1, Math.min(512, Math.ceil(Math.sqrt(n / 4))));
    this.g = g;
    this.x0 = x0;
    this.y0 = y0;
    this.cw = (x1 - x0 || 1) / g;
    this.ch = (y1 - y0 || 1) / g;
    this.bounds = { x0, y0, x1, y1 };
    const cellOf = new Int32Array(n);
    const counts = new Int32Array(g * g + 1);
    for (let i = 0; i < n; i++) {
      const cx = Math.min(g - 1, Math.floor((xs[i] - x0) / this.cw));
      const cy = Math.min(g - 1, Math.floor((ys[i] - y0) / this.ch));
      cellOf[i] = cy * g + cx;
      counts[cellOf[i] + 1]++;
    }
    for (let c = 0; c < g * g; c++) counts[c + 1] += counts[c];
    this.start = counts;
    this.order = new Int32Array(n);
    const fill = counts.slice(0, g * g);
    for (let i = 0; i < n; i++) this.order[fill[cellOf[i]]++] = i;
    this.xs = xs;
    this.ys = ys;
  }

  /** Index of the point nearest (x, y) within radius r (data units), or -1. */
  nearest(x, y, r, accept = null) {
    const { g, x0, y0, cw, ch, start, order, xs, ys } = this;
    const ca = Math.max(0, Math.floor((x - r - x0) / cw));
    const cb = Math.min(g - 1, Math.floor((x + r - x0) / cw));
    const ra = Math.max(0, Math.floor((y - r - y0) / ch));
    const rb = Math.min(g - 1, Math.floor((y + r - y0) / ch));
    let best = -1;
    let bestD = r * r;
    for (let cy = ra; cy <= rb; cy++) {
      for (let cx = ca; cx <= cb; cx++) {
        const c = cy * g + cx;
        for (let k = start[c]; k < start[c + 1]; k++) {
          const i = order[k];
          const dx = xs[i] - x, dy = ys[i] - y;
          const d = dx * dx + dy * dy;
          if (d <= bestD && (!accept || accept(i))) {
            bestD = d;
            best = i;
          }
        }
      }
    }
    return best;
  }
}

export class PointMap {
  /** canvas: the element to draw in; opts.onView(view) after every pan/zoom. */
  constructor(canvas, opts = {}) {
    this.canvas = canvas;
    this.opts = opts;
    this.n = 0;
    this.view = { cx: 0, cy: 0, scale: 1 }; // data units -> CSS pixels
    this.pointSize = 6;
    this.dpr = window.devicePixelRatio || 1;
    this.frameRequested = false;
    this.drawCount = 0;
    this.lodEnabled = true;
    this.lodN = 0;
    this.fullFrameMs = 0; // running estimate of how long a frame with every point takes
    this.moving = false;
    this.idleTimer = 0;
    this.gl = canvas.getContext("webgl", { antialias: false, alpha: false, preserveDrawingBuffer: false });
    if (this.gl) this.initGl();
    else this.ctx = canvas.getContext("2d");
    this.mode = this.gl ? "webgl" : "canvas2d";
    this.resizeObserver = new ResizeObserver(() => this.resize());
    this.resizeObserver.observe(canvas);
    this.resize();
  }

  initGl() {
    const gl = this.gl;
    const prog = gl.createProgram();
    gl.attachShader(prog, compile(gl, gl.VERTEX_SHADER, VERT));
    gl.attachShader(prog, compile(gl, gl.FRAGMENT_SHADER, FRAG));
    gl.linkProgram(prog);
    if (!gl.getProgramParameter(prog, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(prog));
    gl.useProgram(prog);
    this.prog = prog;
    this.loc = {
      pos: gl.getAttribLocation(prog, "a_pos"),
      color: gl.getAttribLocation(prog, "a_color"),
      center: gl.getUniformLocation(prog, "u_center"),
      scale: gl.getUniformLocation(prog, "u_scale"),
      size: gl.getUniformLocation(prog, "u_size"),
    };
    this.posBuf = gl.createBuffer();
    this.colBuf = gl.createBuffer();
    this.lodPosBuf = gl.createBuffer();
    this.lodColBuf = gl.createBuffer();
    const range = gl.getParameter(gl.ALIASED_POINT_SIZE_RANGE);
    this.maxPointSize = range ? range[1] : 64;
    gl.clearColor(1, 1, 1, 1);
  }

  destroy() {
    this.resizeObserver.disconnect();
    if (this.gl) {
      for (const b of [this.posBuf, this.colBuf, this.lodPosBuf, this.lodColBuf]) this.gl.deleteBuffer(b);
      this.gl.deleteProgram(this.prog);
    }
  }

  /** xs, ys: Float32Array; colors: Uint8Array of RGBA per point. Keeps the current view unless fit. */
  setPoints(xs, ys, colors, { fit = true } = {}) {
    this.xs = xs;
    this.ys = ys;
    this.colors = colors;
    this.n = xs.length;
    this.grid = new PointGrid(xs, ys);
    this.pointSize = this.n > 50000 ? 3 : this.n > 5000 ? 4 : this.n > 500 ? 6 : 10;
    if (this.gl) {
      const gl = this.gl;
      const pos = new Float32Array(this.n * 2);
      for (let i = 0; i < this.n; i++) {
        pos[2 * i] = xs[i];
        pos[2 * i + 1] = ys[i];
      }
      gl.bindBuffer(gl.ARRAY_BUFFER, this.posBuf);
      gl.bufferData(gl.ARRAY_BUFFER, pos, gl.STATIC_DRAW);
      gl.bindBuffer(gl.ARRAY_BUFFER, this.colBuf);
      gl.bufferData(gl.ARRAY_BUFFER, colors, gl.STATIC_DRAW);
      // the subset: every k-th point, so each cluster keeps its share and the drawing order is kept
      this.lodN = 0;
      if (this.n >= LOD_MIN_POINTS) {
        const k = Math.ceil(this.n / LOD_POINTS);
        const m = Math.ceil(this.n / k);
        const lpos = new Float32Array(2 * m), lcol = new Uint8Array(4 * m);
        for (let j = 0, i = 0; i < this.n; i += k, j++) {
          lpos[2 * j] = pos[2 * i];
          lpos[2 * j + 1] = pos[2 * i + 1];
          lcol.set(colors.subarray(4 * i, 4 * i + 4), 4 * j);
        }
        gl.bindBuffer(gl.ARRAY_BUFFER, this.lodPosBuf);
        gl.bufferData(gl.ARRAY_BUFFER, lpos, gl.STATIC_DRAW);
        gl.bindBuffer(gl.ARRAY_BUFFER, this.lodColBuf);
        gl.bufferData(gl.ARRAY_BUFFER, lcol, gl.STATIC_DRAW);
        this.lodN = m;
      }
      this.fullFrameMs = 0;
    }
    if (fit) this.fit();
    else this.requestDraw();
  }

  resize() {
    const w = Math.max(1, Math.round(this.canvas.clientWidth * this.dpr));
    const h = Math.max(1, Math.round(this.canvas.clientHeight * this.dpr));
    if (this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas.width = w;
      this.canvas.height = h;
    }
    this.requestDraw();
  }

  get width() {
    return this.canvas.clientWidth || 1;
  }

  get height() {
    return this.canvas.clientHeight || 1;
  }

  /** Fit the view to a box in data units (default: all points), with a margin. */
  fit(box = null) {
    const b = box || (this.grid ? this.grid.bounds : { x0: -1, y0: -1, x1: 1, y1: 1 });
    const w = Math.max(b.x1 - b.x0, 1e-6), h = Math.max(b.y1 - b.y0, 1e-6);
    this.view.cx = (b.x0 + b.x1) / 2;
    this.view.cy = (b.y0 + b.y1) / 2;
    this.view.scale = Math.min(this.width / w, this.height / h) * 0.88;
    if (!isFinite(this.view.scale) || this.view.scale <= 0) this.view.scale = 1;
    this.baseScale = this.view.scale;
    this.changed();
  }

  toScreen(x, y) {
    const v = this.view;
    return [(x - v.cx) * v.scale + this.width / 2, this.height / 2 - (y - v.cy) * v.scale];
  }

  toData(px, py) {
    const v = this.view;
    return [(px - this.width / 2) / v.scale + v.cx, (this.height / 2 - py) / v.scale + v.cy];
  }

  panBy(dxPx, dyPx) {
    this.view.cx -= dxPx / this.view.scale;
    this.view.cy += dyPx / this.view.scale;
    this.changed();
  }

  /** Zoom by `factor` keeping the data point under (px, py) in place (default: the centre). */
  zoomAt(factor, px = this.width / 2, py = this.height / 2) {
    const base = this.baseScale || this.view.scale;
    const next = Math.min(base * 4000, Math.max(base * 0.2, this.view.scale * factor));
    const [x, y] = this.toData(px, py);
    this.view.scale = next;
    const [x2, y2] = this.toData(px, py);
    this.view.cx += x - x2;
    this.view.cy += y - y2;
    this.changed();
  }

  zoomLevel() {
    return this.view.scale / (this.baseScale || this.view.scale);
  }

  changed() {
    this.moving = true;
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.moving = false;
      this.requestDraw(); // at rest: every point
    }, IDLE_MS);
    this.requestDraw();
    if (this.opts.onView) this.opts.onView(this.view);
  }

  /** Draw the subset now? Only while moving, with many points, once full frames have proved slow. */
  useLod() {
    return this.lodEnabled && this.moving && this.lodN > 0 && this.fullFrameMs > LOD_SLOW_MS;
  }

  bindPoints(lod) {
    const gl = this.gl;
    gl.bindBuffer(gl.ARRAY_BUFFER, lod ? this.lodPosBuf : this.posBuf);
    gl.enableVertexAttribArray(this.loc.pos);
    gl.vertexAttribPointer(this.loc.pos, 2, gl.FLOAT, false, 0, 0);
    gl.bindBuffer(gl.ARRAY_BUFFER, lod ? this.lodColBuf : this.colBuf);
    gl.enableVertexAttribArray(this.loc.color);
    gl.vertexAttribPointer(this.loc.color, 4, gl.UNSIGNED_BYTE, true, 0, 0);
  }

  /** Nearest point to the CSS pixel (px, py) within radiusPx; -1 if none. */
  pick(px, py, radiusPx = 8, accept = null) {
    if (!this.grid || !this.n) return -1;
    const [x, y] = this.toData(px, py);
    return this.grid.nearest(x, y, radiusPx / this.view.scale, accept);
  }

  requestDraw() {
    if (this.frameRequested) return;
    this.frameRequested = true;
    requestAnimationFrame(() => {
      this.frameRequested = false;
      this.draw();
    });
  }

  currentPointSize() {
    // points grow a little as one zooms in, so dense clouds separate
    const z = Math.max(1, this.zoomLevel());
    return Math.min(this.pointSize * (1 + Math.log2(z) * 0.35), 18);
  }

  draw() {
    this.drawCount++;
    const size = this.currentPointSize();
    const now = performance.now();
    if (this.gl) {
      const gl = this.gl;
      gl.viewport(0, 0, this.canvas.width, this.canvas.height);
      gl.clear(gl.COLOR_BUFFER_BIT);
      if (!this.n) return;
      const lod = this.useLod();
      this.lastDrawLod = lod;
      const v = this.view;
      gl.uniform2f(this.loc.center, v.cx, v.cy);
      gl.uniform2f(this.loc.scale, (2 * v.scale) / this.width, (2 * v.scale) / this.height);
      gl.uniform1f(this.loc.size, Math.min(size * this.dpr, this.maxPointSize));
      this.bindPoints(lod);
      gl.drawArrays(gl.POINTS, 0, lod ? this.lodN : this.n);
      if (!lod && this.lodN) {
        // how long until the browser can show the next frame tells how slow drawing everything is
        requestAnimationFrame(() => {
          const ms = performance.now() - now;
          this.fullFrameMs = this.fullFrameMs ? 0.6 * this.fullFrameMs + 0.4 * ms : ms;
        });
      }
      return;
    }
    const ctx = this.ctx;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, this.width, this.height);
    const half = size / 2;
    let last = -1;
    for (let i = 0; i < this.n; i++) {
      const [sx, sy] = this.toScreen(this.xs[i], this.ys[i]);
      if (sx < -half || sy < -half || sx > this.width + half || sy > this.height + half) continue;
      const c = this.colors[4 * i] << 16 | this.colors[4 * i + 1] << 8 | this.colors[4 * i + 2];
      if (c !== last) {
        ctx.fillStyle = `#${c.toString(16).padStart(6, "0")}`;
        last = c;
      }
      ctx.fillRect(sx - half, sy - half, size, size);
    }
  }

  /** Waits for the GPU: for measurements only. */
  finish() {
    if (this.gl) {
      const px = new Uint8Array(4);
      this.gl.readPixels(0, 0, 1, 1, this.gl.RGBA, this.gl.UNSIGNED_BYTE, px);
    }
  }
}
