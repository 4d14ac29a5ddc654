// A small WebGL scatter renderer for up to a few million points: pan and zoom by two uniforms, picking on
// the CPU through a uniform grid over the data. Falls back to a 2-D canvas without WebGL (said on the page).
//
// Level of detail on zoom: the points sit in the GPU buffer sorted by the cells of a coarse grid (tiles),
// so a frame draws only the rows of tiles in view, one gl.drawArrays range per row: zoomed in, only the
// points near the view cost anything. Where drawing every point in view is slow (software rendering,
// weak GPUs, many points in view), frames drawn while the view moves use an evenly strided subset, and
// every point in view is drawn as soon as the view rests.

const LOD_MIN_POINTS = 30000; // below this, always draw everything
const LOD_POINTS = 15000; // size of the subset drawn while moving
const LOD_SLOW_MS = 34; // a frame predicted slower than this (about 30 fps) while moving draws the subset
const IDLE_MS = 160; // the view rests after this long without a change
const TILE_GRID = 96; // tiles per side for culling (at most this many draw calls a frame)
const LOD_UNMEASURED = 200000; // points in view above which the subset is drawn until frames are measured
const RASTER_MIN = 20000; // the 2-D canvas plots pixels into an ImageData above this many points in view

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
  /** maxG: cells per side at most (512 for picking; fewer for drawing ranges). */
  constructor(xs, ys, maxG = 512) {
    const n = xs.length;
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (let i = 0; i < n; i++) {
      if (xs[i] < x0) x0 = xs[i];
      if (xs[i] > x1) x1 = xs[i];
      if (ys[i] < y0) y0 = ys[i];
      if (ys[i] > y1) y1 = ys[i];
    }
    if (!n) x0 = y0 = 0, x1 = y1 = 1;
    const g = Math.max(1, Math.min(maxG, Math.ceil(Math.sqrt(n / 4))));
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

  /** [first column, last column, first row, last row] of the cells a data box overlaps, or null. */
  cellsOf(x0, y0, x1, y1) {
    const { g, cw, ch } = this;
    const ca = Math.floor((x0 - this.x0) / cw), cb = Math.floor((x1 - this.x0) / cw);
    const ra = Math.floor((y0 - this.y0) / ch), rb = Math.floor((y1 - this.y0) / ch);
    if (cb < 0 || rb < 0 || ca > g - 1 || ra > g - 1) return null;
    return [Math.max(0, ca), Math.min(g - 1, cb), Math.max(0, ra), Math.min(g - 1, rb)];
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
  /** canvas: the element to draw in; opts.onView(view) after every pan/zoom; opts.webgl=false forces 2-D. */
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
    this.msPerPoint = 0; // running estimate of what one drawn point costs, from frames drawing many
    this.lastDrawn = 0; // points drawn by the last frame
    this.moving = false;
    this.idleTimer = 0;
    this.gl = null;
    this.fallbackReason = null;
    if (opts.webgl !== false) {
      try {
        this.gl = canvas.getContext("webgl", { antialias: false, alpha: false, preserveDrawingBuffer: false });
        if (this.gl) this.initGl();
        else this.fallbackReason = "no-webgl";
      } catch (err) { // a blocked or broken WebGL (shaders refused, context lost at birth): draw in 2-D
        this.gl = null;
        this.fallbackReason = "webgl-failed";
      }
    } else this.fallbackReason = "disabled";
    if (!this.gl) this.ctx = canvas.getContext("2d");
    else {
      // the GPU process can drop the context (driver reset, too many tabs): wait for it, then upload again
      canvas.addEventListener("webglcontextlost", (e) => {
        e.preventDefault();
        this.lost = true;
      });
      canvas.addEventListener("webglcontextrestored", () => {
        this.lost = false;
        this.initGl();
        if (this.xs) this.setPoints(this.xs, this.ys, this.colors, { fit: false });
      });
    }
    this.mode = this.gl ? "webgl" : this.ctx ? "canvas2d" : "none";
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
    clearTimeout(this.idleTimer);
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
    this.grid = new PointGrid(xs, ys); // picking
    this.tiles = new PointGrid(xs, ys, TILE_GRID); // drawing: the buffers below are in tile order
    this.pointSize = this.n > 300000 ? 2 : this.n > 50000 ? 3 : this.n > 5000 ? 4 : this.n > 500 ? 6 : 10;
    const order = this.tiles.order;
    const pos = new Float32Array(this.n * 2), col = new Uint8Array(this.n * 4);
    for (let j = 0; j < this.n; j++) {
      const i = order[j];
      pos[2 * j] = xs[i];
      pos[2 * j + 1] = ys[i];
      col[4 * j] = colors[4 * i];
      col[4 * j + 1] = colors[4 * i + 1];
      col[4 * j + 2] = colors[4 * i + 2];
      col[4 * j + 3] = colors[4 * i + 3];
    }
    this.pos = pos;
    this.col = col;
    // the subset: every k-th point of the given order, so each cluster keeps its share
    this.lodN = 0;
    this.lodPos = this.lodCol = null;
    if (this.n >= LOD_MIN_POINTS) {
      const k = Math.ceil(this.n / LOD_POINTS);
      const m = Math.ceil(this.n / k);
      const lpos = new Float32Array(2 * m), lcol = new Uint8Array(4 * m);
      for (let j = 0, i = 0; i < this.n; i += k, j++) {
        lpos[2 * j] = xs[i];
        lpos[2 * j + 1] = ys[i];
        lcol.set(colors.subarray(4 * i, 4 * i + 4), 4 * j);
      }
      this.lodPos = lpos;
      this.lodCol = lcol;
      this.lodN = m;
    }
    if (this.gl) {
      const gl = this.gl;
      gl.bindBuffer(gl.ARRAY_BUFFER, this.posBuf);
      gl.bufferData(gl.ARRAY_BUFFER, pos, gl.STATIC_DRAW);
      gl.bindBuffer(gl.ARRAY_BUFFER, this.colBuf);
      gl.bufferData(gl.ARRAY_BUFFER, col, gl.STATIC_DRAW);
      if (this.lodN) {
        gl.bindBuffer(gl.ARRAY_BUFFER, this.lodPosBuf);
        gl.bufferData(gl.ARRAY_BUFFER, this.lodPos, gl.STATIC_DRAW);
        gl.bindBuffer(gl.ARRAY_BUFFER, this.lodColBuf);
        gl.bufferData(gl.ARRAY_BUFFER, this.lodCol, gl.STATIC_DRAW);
      }
    }
    this.msPerPoint = 0;
    this.fullPaintAt = 0;
    if (fit) this.fit();
    else this.requestDraw();
  }

  resize() {
    const w = Math.max(1, Math.round(this.canvas.clientWidth * this.dpr));
    const h = Math.max(1, Math.round(this.canvas.clientHeight * this.dpr));
    if (this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas.width = w;
      this.canvas.height = h;
      this.image = null;
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
    if (!box) this.baseScale = this.view.scale;
    else if (!this.baseScale) this.baseScale = this.view.scale;
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
      this.requestDraw(); // at rest: every point in view
    }, IDLE_MS);
    this.requestDraw();
    if (this.opts.onView) this.opts.onView(this.view);
  }

  /** Ranges [first, count] of the tile-ordered buffers in view (a margin of one point size): one per row
   * of tiles, or one for them all when whole rows are in view; and how many points they hold. */
  visibleRanges(margin) {
    if (!this.tiles || !this.n) return { ranges: [], count: 0 };
    const [x0, y1] = this.toData(-margin, -margin);
    const [x1, y0] = this.toData(this.width + margin, this.height + margin);
    const cells = this.tiles.cellsOf(x0, y0, x1, y1);
    if (!cells) return { ranges: [], count: 0 };
    const [ca, cb, ra, rb] = cells;
    const { g, start } = this.tiles;
    const ranges = [];
    let count = 0;
    if (ca === 0 && cb === g - 1) {
      const first = start[ra * g], end = start[rb * g + g];
      if (end > first) ranges.push([first, end - first]);
      count = end - first;
    } else {
      for (let r = ra; r <= rb; r++) {
        const first = start[r * g + ca], end = start[r * g + cb + 1];
        if (end > first) {
          ranges.push([first, end - first]);
          count += end - first;
        }
      }
    }
    return { ranges, count };
  }

  /** Draw the subset now? Only while moving, and when drawing every point in view is predicted slow
   * (before any frame has been measured: when very many points are in view, so that the first paint of
   * a large map is the quick subset, followed by every point as soon as the view rests). */
  useLod(visible) {
    if (!(this.lodEnabled && this.moving && this.lodN > 0 && visible > this.lodN)) return false;
    if (!this.msPerPoint) return visible >= LOD_UNMEASURED;
    return this.msPerPoint * visible > LOD_SLOW_MS;
  }

  /** Fold a measured frame into the cost-per-point estimate (only frames drawing many points say much). */
  measured(ms, drawn) {
    if (drawn < LOD_MIN_POINTS) return;
    const per = ms / drawn;
    this.msPerPoint = this.msPerPoint ? 0.6 * this.msPerPoint + 0.4 * per : per;
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
    const { ranges, count } = this.visibleRanges(size);
    const lod = this.useLod(count);
    this.lastDrawLod = lod;
    this.lastDrawn = lod ? this.lodN : count;
    this.lastRanges = lod ? 1 : ranges.length;
    if (!lod && this.n && !this.fullPaintAt) {
      // for measurements: when the first frame with every point in view has been shown
      this.fullPaintAt = -1;
      requestAnimationFrame(() => requestAnimationFrame(() => (this.fullPaintAt = performance.now())));
    }
    if (this.gl) {
      if (this.lost) return;
      const gl = this.gl;
      gl.viewport(0, 0, this.canvas.width, this.canvas.height);
      gl.clear(gl.COLOR_BUFFER_BIT);
      if (!this.n) return;
      const v = this.view;
      gl.uniform2f(this.loc.center, v.cx, v.cy);
      gl.uniform2f(this.loc.scale, (2 * v.scale) / this.width, (2 * v.scale) / this.height);
      gl.uniform1f(this.loc.size, Math.min(size * this.dpr, this.maxPointSize));
      this.bindPoints(lod);
      if (lod) gl.drawArrays(gl.POINTS, 0, this.lodN);
      else for (const [first, n] of ranges) gl.drawArrays(gl.POINTS, first, n);
      if (!lod && count >= LOD_MIN_POINTS) {
        // how long until the browser can show the next frame tells how slow drawing these points is
        requestAnimationFrame(() => this.measured(performance.now() - now, count));
      }
      return;
    }
    if (!this.ctx) return;
    if (lod) this.draw2d([[0, this.lodN]], this.lodN, this.lodPos, this.lodCol, size);
    else this.draw2d(ranges, count, this.pos, this.col, size);
    if (!lod) this.measured(performance.now() - now, count);
  }

  /** The 2-D canvas: squares by fillRect for a few points, pixels in an ImageData for many. */
  draw2d(ranges, count, pos, col, size) {
    const ctx = this.ctx;
    const v = this.view, w = this.width, h = this.height;
    if (count >= RASTER_MIN) {
      const W = this.canvas.width, H = this.canvas.height, d = this.dpr;
      if (!this.image || this.image.width !== W || this.image.height !== H) {
        this.image = ctx.createImageData(W, H);
        this.pixels = new Uint32Array(this.image.data.buffer);
      }
      const px = this.pixels;
      px.fill(0xffffffff);
      const col32 = new Uint32Array(col.buffer, col.byteOffset, col.length / 4); // RGBA bytes = ABGR words
      const side = Math.max(1, Math.round(size * d * 0.75)), half = side >> 1;
      const k = v.scale * d, ox = W / 2 - v.cx * k, oy = H / 2 + v.cy * k;
      for (const [first, n] of ranges) {
        for (let j = first; j < first + n; j++) {
          const x0 = Math.round(pos[2 * j] * k + ox) - half, y0 = Math.round(oy - pos[2 * j + 1] * k) - half;
          if (x0 >= W || y0 >= H || x0 + side <= 0 || y0 + side <= 0) continue;
          const c = col32[j];
          const xa = Math.max(0, x0), xb = Math.min(W, x0 + side), yb = Math.min(H, y0 + side);
          for (let y = Math.max(0, y0); y < yb; y++) px.fill(c, y * W + xa, y * W + xb);
        }
      }
      ctx.putImageData(this.image, 0, 0);
      return;
    }
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, w, h);
    const half = size / 2;
    let last = -1;
    for (const [first, n] of ranges) {
      for (let j = first; j < first + n; j++) {
        const sx = (pos[2 * j] - v.cx) * v.scale + w / 2, sy = h / 2 - (pos[2 * j + 1] - v.cy) * v.scale;
        if (sx < -half || sy < -half || sx > w + half || sy > h + half) continue;
        const c = col[4 * j] << 16 | col[4 * j + 1] << 8 | col[4 * j + 2];
        if (c !== last) {
          ctx.fillStyle = `#${c.toString(16).padStart(6, "0")}`;
          last = c;
        }
        ctx.fillRect(sx - half, sy - half, size, size);
      }
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
