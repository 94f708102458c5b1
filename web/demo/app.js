// The demo page: the Fashion-MNIST CNN (cnn.tlite, or its int8 twin cnn_int8.tlite; both written
// by gen_demo.py) on a drawing or a test image, through the JavaScript API (../tandem_lite.js). With ?test=1 the page classifies
// the first test image by itself and writes {index, top, logits} into #result (the headless
// Chromium test reads it); body[data-state] becomes "done" or "error".
import { TandemLite, tensorFromImageData } from '../tandem_lite.js';

const $ = (id) => document.getElementById(id);
const pad = $('pad');
const padCtx = pad.getContext('2d');
const params = new URLSearchParams(location.search);
const testMode = params.has('test');
if (params.get('model') === 'int8') $('model').value = 'cnn_int8.tlite';

let model = null;
let meta = null;
let last = null;  // the last classified image and its label, rerun when the model changes
const models = new Map();  // file -> loaded model

function loadModel(file) {
  if (!models.has(file)) {
    const p = TandemLite.load(new URL(file, import.meta.url));
    p.catch(() => models.delete(file));
    models.set(file, p);
  }
  return models.get(file);
}

function setStatus(text, isError = false) {
  $('status').textContent = text;
  $('status').classList.toggle('error', isError);
}

function clearPad() {
  padCtx.fillStyle = '#000';
  padCtx.fillRect(0, 0, pad.width, pad.height);
}

function softmax(logits) {
  const m = Math.max(...logits);
  const e = Array.from(logits, (v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

// Gray bytes (28x28) as RGBA, the ImageData shape tensorFromImageData reads.
function rgbaFromGray(bytes) {
  const rgba = new Uint8ClampedArray(bytes.length * 4);
  bytes.forEach((v, i) => rgba.set([v, v, v, 255], 4 * i));
  return { data: rgba, width: 28, height: 28 };
}

function drawGray(canvas, image) {
  const small = document.createElement('canvas');
  small.width = 28;
  small.height = 28;
  small.getContext('2d').putImageData(new ImageData(image.data, 28, 28), 0, 0);
  const ctx = canvas.getContext('2d');
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(small, 0, 0, canvas.width, canvas.height);
}

async function classify(image, label) {
  last = { image, label };
  const input = tensorFromImageData(image, { channels: 1, mean: meta.mean, std: meta.std });
  const { output } = await model.run({ input });
  const times = [];
  for (let i = 0; i < 10; ++i) {
    const t0 = performance.now();
    model.runSync({ input });
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const probs = softmax(output.data);
  const order = probs.map((p, i) => i).sort((a, b) => probs[b] - probs[a]);
  const list = $('top3');
  list.replaceChildren(...order.slice(0, 3).map((k) => {
    const li = document.createElement('li');
    const fill = document.createElement('span');
    fill.className = 'fill';
    fill.style.width = `${(probs[k] * 100).toFixed(1)}%`;
    const name = document.createElement('span');
    name.textContent = meta.classes[k];
    const prob = document.createElement('span');
    prob.className = 'prob';
    prob.textContent = `${(probs[k] * 100).toFixed(1)}%`;
    li.append(fill, name, prob);
    return li;
  }));
  $('latency').textContent = `Latency: ${((times[4] + times[5]) / 2).toFixed(2)} ms`;
  setStatus(label === undefined ? 'Your drawing' : `Test image, labelled "${meta.classes[label]}"`);
  return { top: order[0], logits: Array.from(output.data) };
}

function classifyPad() {
  // Downscale the pad to 28x28 (the browser's smoothing averages the strokes).
  const small = document.createElement('canvas');
  small.width = 28;
  small.height = 28;
  const ctx = small.getContext('2d', { willReadFrequently: true });
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(pad, 0, 0, 28, 28);
  return classify(ctx.getImageData(0, 0, 28, 28));
}

function setupDrawing() {
  let drawing = false;
  const at = (e) => {
    const r = pad.getBoundingClientRect();
    return [(e.clientX - r.left) * (pad.width / r.width), (e.clientY - r.top) * (pad.height / r.height)];
  };
  pad.addEventListener('pointerdown', (e) => {
    drawing = true;
    pad.setPointerCapture(e.pointerId);
    for (const b of document.querySelectorAll('.examples button')) b.classList.remove('active');
    padCtx.strokeStyle = '#fff';
    padCtx.lineWidth = 24;
    padCtx.lineCap = 'round';
    padCtx.lineJoin = 'round';
    padCtx.beginPath();
    padCtx.moveTo(...at(e));
  });
  pad.addEventListener('pointermove', (e) => {
    if (!drawing) return;
    padCtx.lineTo(...at(e));
    padCtx.stroke();
  });
  const end = () => {
    if (!drawing) return;
    drawing = false;
    classifyPad().catch(report);
  };
  pad.addEventListener('pointerup', end);
  pad.addEventListener('pointercancel', end);
  $('clear').addEventListener('click', () => {
    clearPad();
    $('top3').replaceChildren();
    $('latency').textContent = '';
    setStatus('Draw something, or pick a test image.');
  });
  $('classify').addEventListener('click', () => classifyPad().catch(report));
}

function setupExamples() {
  const box = $('examples');
  meta.examples.forEach((ex, n) => {
    const bytes = Uint8Array.from(atob(ex.pixels), (c) => c.charCodeAt(0));
    const image = rgbaFromGray(bytes);
    const button = document.createElement('button');
    button.type = 'button';
    button.setAttribute('role', 'listitem');
    button.title = `Test image ${ex.index}: ${meta.classes[ex.label]}`;
    button.setAttribute('aria-label', button.title);
    const thumb = document.createElement('canvas');
    thumb.width = 28;
    thumb.height = 28;
    drawGray(thumb, image);
    button.append(thumb);
    button.addEventListener('click', async () => {
      for (const b of box.querySelectorAll('button')) b.classList.remove('active');
      button.classList.add('active');
      drawGray(pad, image);
      try {
        const r = await classify(image, ex.label);
        if (testMode) finishTest({ example: n, index: ex.index, model: $('model').value, ...r });
      } catch (e) {
        report(e);
      }
    });
    box.append(button);
  });
}

function finishTest(result) {
  $('result').textContent = JSON.stringify(result);
  document.body.dataset.state = 'done';
}

function report(e) {
  console.error(e);
  setStatus(String(e.message || e), true);
  document.body.dataset.state = 'error';
}

async function main() {
  clearPad();
  const [m, examples] = await Promise.all([
    loadModel($('model').value),
    fetch(new URL('examples.json', import.meta.url)).then((r) => {
      if (!r.ok) throw new Error(`examples.json: HTTP ${r.status}`);
      return r.json();
    }),
  ]);
  model = m;
  meta = examples;
  setupDrawing();
  setupExamples();
  $('model').addEventListener('change', async () => {
    const file = $('model').value;
    setStatus('Loading the model…');
    try {
      model = await loadModel(file);
      if (last) await classify(last.image, last.label);
      else setStatus('Draw something, or pick a test image.');
    } catch (e) {
      report(e);
    }
  });
  setStatus('Draw something, or pick a test image.');
  if (testMode) document.querySelector('.examples button').click();
}

main().catch(report);
