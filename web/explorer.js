// The in-browser explorer of the report site: the shipped models (ONNX graphs written by
// bumpdiff.app.webexplorer) run by onnxruntime-web (WebAssembly, served with the site; nothing is fetched
// from elsewhere). Pick a model and a checkpoint, drag the requested centre (μx, μy) on the canvas, and
// the page generates samples with DDIM from seeded noise (η = 0, deterministic, the analysis's sampler;
// or η = 1, which adds fresh noise at every step), shows the denoising trajectory,
// and places the request on the layer-4 latent map (the projection computed in Python; here only a
// forward pass and a product).
//
// The noise generator is mulberry32 with Box–Muller; bumpdiff.app.webexplorer.page_noise is its twin,
// so a test can compute the same samples in PyTorch. window.bumpdiffExplorer exposes request() and the
// last answer for the browser test.
import * as ort from "../ort/ort.wasm.bundle.min.mjs";

ort.env.wasm.wasmPaths = new URL("../ort/", import.meta.url).href;
ort.env.wasm.numThreads = 1;   // threads need cross-origin isolation, which a static host may not give
ort.env.wasm.proxy = false;

const root = document.getElementById("bumpdiff-explorer");
const $ = (sel) => root.querySelector(sel);
const meta = await (await fetch(new URL("meta.json", import.meta.url))).json();
const sessions = new Map();

function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a) >>> 0;
    t = ((t + (Math.imul(t ^ (t >>> 7), 61 | t) >>> 0)) >>> 0) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
}

export function pageNoise(seed, count) {
  const next = mulberry32(seed);
  const out = new Float32Array(count + (count % 2));
  for (let i = 0; i < out.length; i += 2) {
    const u1 = (next() + 1) / 4294967297;
    const u2 = next() / 4294967296;
    const r = Math.sqrt(-2 * Math.log(u1));
    out[i] = r * Math.cos(2 * Math.PI * u2);
    out[i + 1] = r * Math.sin(2 * Math.PI * u2);
  }
  return out.subarray(0, count);
}

async function session(set, ckpt) {
  const url = new URL(ckpt.file, import.meta.url).href;
  if (!sessions.has(url)) {
    sessions.set(url, ort.InferenceSession.create(url, { executionProviders: ["wasm"] }));
  }
  return sessions.get(url);
}

function feeds(x, t, centers, b, n) {
  return {
    x: new ort.Tensor("float32", x, [b, 1, n, n]),
    t: new ort.Tensor("int64", BigInt64Array.from({ length: b }, () => BigInt(t)), [b]),
    centers: new ort.Tensor("float32", centers, [b, 2]),
  };
}

// DDIM over the set's timesteps, as bumpdiff.core.diffusion.Diffusion.ddim_step. The seed's noise is x_T
// (b * px values), then, when eta > 0, one fresh draw z of b * px values for each step but the last.
async function generate(set, ckpt, mx, my, seed, eta) {
  const n = set.image_size, b = meta.n_samples, px = n * n;
  const sess = await session(set, ckpt);
  const ts = set.timesteps, ab = set.alphas_cumprod;
  const noise = pageNoise(seed, b * px * (eta > 0 ? ts.length : 1));
  const x = Float32Array.from(noise.subarray(0, b * px));
  const centers = new Float32Array(2 * b);
  for (let i = 0; i < b; i++) { centers[2 * i] = mx; centers[2 * i + 1] = my; }
  const every = Math.max(1, Math.floor(ts.length / meta.trajectory_frames));
  const trajectory = [];
  const x0 = new Float32Array(b * px);
  for (let k = 0; k < ts.length; k++) {
    const t = ts[k], tPrev = k + 1 < ts.length ? ts[k + 1] : -1;
    const eps = (await sess.run(feeds(x, t, centers, b, n))).eps.data;
    const aT = ab[t], aPrev = tPrev >= 0 ? ab[tPrev] : 1;
    const sa = Math.fround(Math.sqrt(aT)), s1a = Math.fround(Math.sqrt(1 - aT));
    const sigma = tPrev >= 0 ? eta * Math.sqrt((1 - aPrev) / (1 - aT) * (1 - aT / aPrev)) : 0;
    const z = sigma > 0 ? noise.subarray((k + 1) * b * px, (k + 2) * b * px) : null;
    for (let i = 0; i < x.length; i++) {
      let p = (x[i] - s1a * eps[i]) / sa;
      if (set.clip_denoised) p = Math.min(1, Math.max(-1, p));
      x0[i] = p;
      const e = (x[i] - sa * x0[i]) / s1a;
      x[i] = Math.sqrt(aPrev) * x0[i] + Math.sqrt(Math.max(0, 1 - aPrev - sigma * sigma)) * e + (z ? sigma * z[i] : 0);
    }
    if (k % every === every - 1 || k === ts.length - 1) trajectory.push({ t, x0: x0.slice(0, px) });
  }
  return { images: Array.from({ length: b }, (_, i) => x.slice(i * px, (i + 1) * px)), trajectory };
}

async function placeOnMap(set, ckpt, mx, my) {
  const sess = await session(set, ckpt);
  const n = set.image_size;
  const out = await sess.run(feeds(Float32Array.from(set.read.noise), set.read.t, new Float32Array([mx, my]), 1, n));
  const z = out.latent.data, { mean, components } = ckpt.pca;
  return components.map((c) => c.reduce((s, w, d) => s + w * (z[d] - mean[d]), 0));
}

function drawImage(canvas, data, n, marker) {
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(n, n);
  for (let i = 0; i < n * n; i++) {
    const v = Math.round(255 * (Math.min(1, Math.max(-1, data[i])) + 1) / 2);
    img.data.set([v, v, v, 255], 4 * i);
  }
  const tmp = new OffscreenCanvas(n, n);
  tmp.getContext("2d").putImageData(img, 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(tmp, 0, 0, canvas.width, canvas.height);
  if (marker) {
    const s = canvas.width / n;
    ctx.strokeStyle = "#e4572e";
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.arc((marker[0] + 0.5) * s, (marker[1] + 0.5) * s, 1.0 * s, 0, 2 * Math.PI);   // the 1 px tolerance
    ctx.stroke();
  }
}

function drawMap(canvas, ckpt, set, here) {
  const ctx = canvas.getContext("2d"), w = canvas.width, h = canvas.height;
  const pts = ckpt.pca.points, grid = ckpt.pca.grid;
  const xs = pts.map((p) => p[0]).concat(here ? [here[0]] : []);
  const ys = pts.map((p) => p[1]).concat(here ? [here[1]] : []);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const sx = (v) => 12 + (w - 24) * (v - x0) / (x1 - x0 || 1), sy = (v) => h - 12 - (h - 24) * (v - y0) / (y1 - y0 || 1);
  const n = set.image_size;
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, w, h);
  pts.forEach((p, i) => {   // hue: μx, lightness: μy, so an ordered map shows both axes
    ctx.fillStyle = `hsl(${Math.round(300 * grid[i][0] / (n - 1))}, 70%, ${Math.round(25 + 50 * grid[i][1] / (n - 1))}%)`;
    ctx.fillRect(sx(p[0]) - 2, sy(p[1]) - 2, 4, 4);
  });
  if (here) {
    ctx.strokeStyle = "#000";
    ctx.lineWidth = 2.5;
    ctx.beginPath();
    ctx.arc(sx(here[0]), sy(here[1]), 7, 0, 2 * Math.PI);
    ctx.stroke();
  }
}

const mid = (meta.sets[0].image_size - 1) / 2;
const state = { set: meta.sets[0], ckpt: null, mx: mid, my: mid, seed: 0, eta: 0, busy: false, queued: false };
const api = { meta, last: null, answers: 0, busy: () => state.busy || state.queued };
window.bumpdiffExplorer = api;

function fillChoices() {
  $("#bx-model").innerHTML = meta.sets.map((s, i) => `<option value="${i}">${s.arch} · ${s.profile} · seed ${s.seed}</option>`).join("");
  fillCheckpoints();
}

function fillCheckpoints() {
  const cks = state.set.checkpoints;
  $("#bx-checkpoint").innerHTML = cks.map((c, i) =>
    `<option value="${i}">${c.label} · step ${c.step} · accuracy ${c.accuracy.toFixed(2)}</option>`).join("");
  const final = cks.findIndex((c) => c.label === "final");
  $("#bx-checkpoint").value = String(final >= 0 ? final : cks.length - 1);
  state.ckpt = cks[Number($("#bx-checkpoint").value)];
}

// One answer at a time; a request made while one runs replaces any queued one (the latest wins).
async function request(mx, my, seed, eta) {
  const set = state.set, ckpt = state.ckpt, t0 = performance.now();
  const [gen, here] = await Promise.all([generate(set, ckpt, mx, my, seed, eta), placeOnMap(set, ckpt, mx, my)]);
  const ms = performance.now() - t0, n = set.image_size;
  root.querySelectorAll(".bx-sample").forEach((c, i) => drawImage(c, gen.images[i], n, [mx, my]));
  root.querySelectorAll(".bx-frame").forEach((c, i) => {
    const f = gen.trajectory[Math.min(i, gen.trajectory.length - 1)];
    drawImage(c, f.x0, n, null);
    c.title = `x̂0 at t = ${f.t}`;
  });
  drawMap($("#bx-map"), ckpt, set, here);
  $("#bx-status").textContent = `${set.arch} ${ckpt.label} (step ${ckpt.step}) · μ = (${mx.toFixed(1)}, ${my.toFixed(1)}) · ` +
    `seed ${seed} · ${set.ddim_steps} DDIM steps, η = ${eta} in ${Math.round(ms)} ms`;
  api.answers += 1;
  api.last = { set: set.id, checkpoint: ckpt.label, mx, my, seed, eta, ms, images: gen.images.map((a) => Array.from(a)),
               latent: here };
  return api.last;
}

async function refresh() {
  if (state.busy) { state.queued = true; return; }
  state.busy = true;
  try {
    do {
      state.queued = false;
      await request(state.mx, state.my, state.seed, state.eta);
    } while (state.queued);
  } finally {
    state.busy = false;
  }
}

function drawPad() {
  const c = $("#bx-pad"), ctx = c.getContext("2d"), n = state.set.image_size, s = c.width / n;
  ctx.fillStyle = "#111";
  ctx.fillRect(0, 0, c.width, c.height);
  ctx.strokeStyle = "#333";
  for (let i = 0; i <= n; i += 4) {
    ctx.beginPath(); ctx.moveTo(i * s, 0); ctx.lineTo(i * s, c.height); ctx.stroke();
    ctx.beginPath(); ctx.moveTo(0, i * s); ctx.lineTo(c.width, i * s); ctx.stroke();
  }
  ctx.fillStyle = "#e4572e";
  ctx.beginPath();
  ctx.arc((state.mx + 0.5) * s, (state.my + 0.5) * s, 5, 0, 2 * Math.PI);
  ctx.fill();
  $("#bx-mx").value = state.mx.toFixed(1);
  $("#bx-my").value = state.my.toFixed(1);
}

function setCentre(mx, my) {
  const n = state.set.image_size;
  state.mx = Math.min(n - 1, Math.max(0, mx));
  state.my = Math.min(n - 1, Math.max(0, my));
  drawPad();
  refresh();
}

function fromPointer(ev) {
  const c = $("#bx-pad"), r = c.getBoundingClientRect(), n = state.set.image_size;
  setCentre(Math.round(10 * ((ev.clientX - r.left) / r.width * n - 0.5)) / 10,
            Math.round(10 * ((ev.clientY - r.top) / r.height * n - 0.5)) / 10);
}

const pad = $("#bx-pad");
pad.addEventListener("pointerdown", (ev) => { pad.setPointerCapture(ev.pointerId); fromPointer(ev); });
pad.addEventListener("pointermove", (ev) => { if (pad.hasPointerCapture(ev.pointerId)) fromPointer(ev); });
$("#bx-mx").addEventListener("change", () => setCentre(Number($("#bx-mx").value), state.my));
$("#bx-my").addEventListener("change", () => setCentre(state.mx, Number($("#bx-my").value)));
$("#bx-seed").addEventListener("change", () => { state.seed = Math.max(0, Math.floor(Number($("#bx-seed").value))); refresh(); });
$("#bx-eta").addEventListener("change", () => { state.eta = Number($("#bx-eta").value); refresh(); });
$("#bx-model").addEventListener("change", () => {
  state.set = meta.sets[Number($("#bx-model").value)];
  fillCheckpoints();
  setCentre(state.mx, state.my);   // clamped to the new canvas, then answered
});
$("#bx-checkpoint").addEventListener("change", () => { state.ckpt = state.set.checkpoints[Number($("#bx-checkpoint").value)]; refresh(); });

// For the browser test and the benchmark: choose a model and checkpoint, then answer one request.
api.request = async (mx, my, seed = 0, setId = null, label = null, eta = 0) => {
  if (setId) {
    const i = meta.sets.findIndex((s) => s.id === setId);
    state.set = meta.sets[i];
    $("#bx-model").value = String(i);
    fillCheckpoints();
  }
  if (label) {
    const j = state.set.checkpoints.findIndex((c) => c.label === label);
    state.ckpt = state.set.checkpoints[j];
    $("#bx-checkpoint").value = String(j);
  }
  state.mx = mx; state.my = my; state.seed = seed; state.eta = eta;
  $("#bx-seed").value = String(seed);
  $("#bx-eta").value = String(eta);
  drawPad();
  while (state.busy) await new Promise((r) => setTimeout(r, 10));
  state.busy = true;
  try { return await request(mx, my, seed, eta); } finally { state.busy = false; }
};

fillChoices();
drawPad();
api.ready = refresh().then(() => true);
