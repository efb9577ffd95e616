// Shared pieces of the notebooks: dirtylab's browser build (copied under
// .lib/ by `npm run notebooks`), the bundled traces, plain-HTML inputs, tables,
// vega-lite charts through vega-embed (bundled, never from a CDN), CSV
// downloads, and a comparison run in slices so the page can show progress, or
// over a pool of Workers so the page stays free.
import * as dl from './.lib/dirtylab/dist/browser.js';
import embed from 'vega-embed';

export { dl };

/** The bundled real traces (data/*.dpt), as URLs Vite emits next to the notebooks. */
export const BUNDLED = {
  'light-bw32-dt300': new URL('./.lib/data/light-bw32-dt300.dpt', import.meta.url).href,
  'medium-bw32-dt300': new URL('./.lib/data/medium-bw32-dt300.dpt', import.meta.url).href,
  'heavy-bw32-dt300': new URL('./.lib/data/heavy-bw32-dt300.dpt', import.meta.url).href,
};

/** What each bundled trace is (data/README.md). */
export const BUNDLED_ABOUT = {
  'light-bw32-dt300': 'light: 64 MiB buffer, 500 pages/s, 4 MiB hot set written 90 % of the time',
  'medium-bw32-dt300': 'medium: 64 MiB buffer, 2,000 pages/s, 4 MiB hot set written 50 % of the time',
  'heavy-bw32-dt300': 'heavy: 128 MiB buffer, 20,000 pages/s, 8 MiB hot set written 20 % of the time (QEMU cancelled it at 30 s: no convergence)',
};

let kernelPromise;
/** One kernel for the page. */
export function kernel() {
  kernelPromise ??= dl.Kernel.load();
  return kernelPromise;
}

const traceCache = new Map();
/** Read a bundled trace (fetch + readTrace), once per page. */
export function loadBundled(name) {
  if (!traceCache.has(name)) {
    traceCache.set(name, (async () => {
      const res = await fetch(BUNDLED[name]);
      if (!res.ok) throw new Error(`cannot fetch ${name}.dpt: HTTP ${res.status}`);
      const bytes = new Uint8Array(await res.arrayBuffer());
      return { name, trace: await dl.readTrace(dl.bytesInput(`${name}.dpt`, bytes)), sha256: await sha256(bytes) };
    })());
  }
  return traceCache.get(name);
}

/** Hex SHA-256 of bytes (the CLI records it with each run). */
export async function sha256(bytes) {
  if (!globalThis.crypto?.subtle) return null;
  const h = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(h, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** A trace's name as the CLI derives it from a file name. */
export function traceName(fileName) {
  return fileName.split('/').pop().replace(/\.(dpt|jsonl|gz)$/g, '').replace(/\.(dpt|jsonl)$/g, '').replace(/\.trace$/, '');
}

// ---------------------------------------------------------------- inputs --

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'style' && typeof v === 'object') Object.assign(e.style, v);
    else if (k in e && typeof v !== 'string') e[k] = v;
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) e.append(c);
  return e;
}
export { el };

const LABEL = { style: { display: 'inline-block', minWidth: '11em', fontWeight: '600' } };

/** A labelled <input type=range>; value: a number. `format` shows it. For view(). */
export function slider({ label, min, max, step = 1, value, format = (x) => String(x), name }) {
  const input = el('input', { type: 'range', min, max, step, value, name, 'aria-label': label, style: { width: '16em', verticalAlign: 'middle' } });
  const out = el('output', { style: { marginLeft: '0.6em', fontVariantNumeric: 'tabular-nums' } });
  const root = el('div', { class: 'nb-input', style: { margin: '0.3em 0' } }, el('label', LABEL, label), input, out);
  const show = () => { out.textContent = format(input.valueAsNumber); };
  input.addEventListener('input', show);
  show();
  Object.defineProperty(root, 'value', { get: () => input.valueAsNumber });
  return root;
}

/** A labelled <select>; value: the chosen option's value. For view(). */
export function select({ label, options, value, name }) {
  const s = el('select', { name, 'aria-label': label }, options.map((o) => {
    const [v, text] = Array.isArray(o) ? o : [o, o];
    return el('option', { value: v, selected: v === value }, text);
  }));
  const root = el('div', { class: 'nb-input', style: { margin: '0.3em 0' } }, el('label', LABEL, label), s);
  s.addEventListener('change', () => root.dispatchEvent(new Event('input', { bubbles: true })));
  s.addEventListener('input', (e) => e.stopPropagation());
  Object.defineProperty(root, 'value', { get: () => s.value });
  return root;
}

/** Labelled checkboxes; value: the checked values. */
export function checkboxes({ label, options, value = [], name }) {
  const boxes = options.map((o) => {
    const [v, text] = Array.isArray(o) ? o : [o, o];
    const b = el('input', { type: 'checkbox', value: v, name, checked: value.includes(v) });
    return [b, el('label', { style: { marginRight: '1em', whiteSpace: 'nowrap' } }, b, ' ', text)];
  });
  const root = el('div', { class: 'nb-input', style: { margin: '0.3em 0' } }, el('span', LABEL, label), el('span', {}, boxes.map(([, l]) => l)));
  Object.defineProperty(root, 'value', { get: () => boxes.filter(([b]) => b.checked).map(([b]) => b.value) });
  return root;
}

/** A labelled text or number field. */
export function field({ label, value, name, type = 'text', size = 24, title }) {
  const input = el('input', { type, value, name, size, title, 'aria-label': label });
  const root = el('div', { class: 'nb-input', style: { margin: '0.3em 0' } }, el('label', LABEL, label), input);
  Object.defineProperty(root, 'value', { get: () => input.value });
  return root;
}

/**
 * A form of inputs with a submit button: its value (an object of the inputs'
 * values by name) changes only when submitted, so a long computation runs once
 * per click, not on every keystroke. For view().
 */
export function form(inputs, { submit = 'Run' } = {}) {
  const button = el('button', { type: 'submit', style: { marginTop: '0.4em', padding: '0.2em 1.2em', fontWeight: '600' } }, submit);
  const f = el('form', { class: 'nb-form' }, Object.values(inputs), button);
  let current = snapshot();
  function snapshot() { return Object.fromEntries(Object.entries(inputs).map(([k, i]) => [k, i.value])); }
  // The inputs' own events stop here (registered before view()'s listener).
  f.addEventListener('input', (e) => { if (e.target !== f) e.stopImmediatePropagation(); });
  f.addEventListener('submit', (e) => {
    e.preventDefault();
    current = snapshot();
    f.dispatchEvent(new Event('input', { bubbles: true }));
  });
  Object.defineProperty(f, 'value', { get: () => current });
  return f;
}

/**
 * A file picker that also takes a dropped file; value: the File (or null).
 * Fires `input` once per file chosen or dropped. For view().
 */
export function filePicker({ label, accept }) {
  const input = el('input', { type: 'file', accept, 'aria-label': label });
  const zone = el('div', {
    class: 'nb-drop',
    style: { border: '2px dashed #999', borderRadius: '8px', padding: '1.2em', margin: '0.5em 0', textAlign: 'center', background: '#fafafa' },
  }, el('div', { style: { marginBottom: '0.5em' } }, label), input);
  let file = null;
  const set = (f) => { file = f; zone.dispatchEvent(new Event('input', { bubbles: true })); };
  input.addEventListener('input', (e) => e.stopPropagation());
  input.addEventListener('change', (e) => { e.stopPropagation(); if (input.files?.[0]) set(input.files[0]); });
  zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.style.background = '#eef5ff'; });
  zone.addEventListener('dragleave', () => { zone.style.background = '#fafafa'; });
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.style.background = '#fafafa';
    const f = e.dataTransfer?.files?.[0];
    if (f) set(f);
  });
  Object.defineProperty(zone, 'value', { get: () => file });
  return zone;
}

/** Read the query string: ?key=value overrides of a notebook's defaults. */
export function params() {
  return new URLSearchParams(globalThis.location?.search ?? '');
}

// ---------------------------------------------------------- formatting --

export const fmt = {
  ms: (v) => (v === null || v === undefined ? '–' : !Number.isFinite(v) ? '∞' : v < 10 ? v.toFixed(1) : v.toFixed(0)),
  s: (v) => (v === null || v === undefined ? '–' : !Number.isFinite(v) ? '∞' : (v / 1000).toFixed(2)),
  mb: (v) => (v === null || v === undefined ? '–' : !Number.isFinite(v) ? '∞' : (v / 1e6).toFixed(1)),
  int: (v) => (v === null || v === undefined ? '–' : Math.round(v).toLocaleString('en-US')),
  p: (v) => (v === null || v === undefined ? '–' : v >= 0.001 ? v.toPrecision(2) : v.toExponential(1)),
  pct: (v) => (v === null || v === undefined ? '–' : `${Math.round(v * 100)} %`),
  ratio: (v) => (v === null ? '∞' : v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(v >= 10 ? 1 : 2)),
  bw: (b) => dl.fmtBw(b),
};

/** "median [lo, hi]" of a summary Stat, scaled by f. */
export function withCI(stat, f) {
  if (!stat || stat.median === null) return '–';
  return `${f(stat.median)} [${f(stat.ci[0])}, ${f(stat.ci[1])}]`;
}

/**
 * An HTML table. columns: [{ label, get(row) → text, value?(row) → number
 * (kept in data-value for tests), align? }].
 */
export function table(rows, columns, { caption, rowAttrs } = {}) {
  const t = el('table', { class: 'nb-table', style: { borderCollapse: 'collapse', fontSize: '12px', margin: '0.6em 0', maxWidth: 'none', width: 'max-content' } });
  if (caption) t.append(el('caption', { style: { textAlign: 'left', fontWeight: '600', padding: '0.3em 0' } }, caption));
  t.append(el('thead', {}, el('tr', {}, columns.map((c) => el('th', { style: { borderBottom: '2px solid #444', padding: '3px 6px', textAlign: c.align ?? 'left', verticalAlign: 'bottom', whiteSpace: 'normal' } }, c.label)))));
  const body = el('tbody');
  rows.forEach((r, i) => {
    const tr = el('tr', rowAttrs ? rowAttrs(r) : {});
    for (const c of columns) {
      const text = c.group && i > 0 && c.get(rows[i - 1]) === c.get(r) ? '' : c.get(r);
      const td = el('td', { style: { borderBottom: '1px solid #ddd', padding: '3px 6px', textAlign: c.align ?? 'left', whiteSpace: 'nowrap', fontVariantNumeric: 'tabular-nums' } }, text);
      if (c.key) td.dataset.key = c.key;
      if (c.value) { const v = c.value(r); td.dataset.value = v === null || v === undefined ? '' : String(v); }
      tr.append(td);
    }
    body.append(tr);
  });
  t.append(body);
  return el('div', { class: 'nb-table-wrap', style: { overflowX: 'visible' } }, t);
}

// ---------------------------------------------------------------- charts --

/** Render a vega-lite spec to SVG with the bundled vega-embed (no actions menu, nothing fetched). */
export async function chart(spec) {
  const div = el('div', { class: 'nb-chart', style: { margin: '0.5em 0' } });
  await embed(div, spec, { renderer: 'svg', actions: false });
  return div;
}

// ------------------------------------------------------------ downloads --

/** A download link for text made in the page (a Blob URL; nothing leaves the page). */
export function download(fileName, text, label = fileName) {
  const url = URL.createObjectURL(new Blob([text], { type: 'text/csv' }));
  return el('a', { href: url, download: fileName, class: 'nb-download', style: { marginRight: '1.2em', fontWeight: '600' } }, `⬇ ${label}`);
}

// ------------------------------------------------------------ comparison --

/**
 * dl.compare() over `slices` shards run one after the other on the main
 * thread, yielding to the page between slices (progress, and a stale run
 * stops when `signal.aborted`). The shards merge into exactly the unsharded
 * runs (compare's canonical grid order), so the summary is the CLI's.
 */
export async function compareInSlices(options, { onProgress, signal, slices } = {}) {
  const k = await kernel();
  const spec = dl.compareSpec(options);
  const total = spec.traces.length * spec.bandwidths.length * spec.downtimeLimits.length * (spec.writeTimeBand ? 3 : 1) * spec.replicates * spec.methods.length;
  const n = Math.max(1, Math.min(total, slices ?? Math.ceil(total / 8)));
  const runs = [];
  let out;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    if (signal?.aborted) throw new DOMException('superseded', 'AbortError');
    out = await dl.compare({ ...options, kernel: k, shard: { index: i, count: n } });
    runs.push(...out.runs);
    onProgress?.(runs.length, total, performance.now() - t0);
    await new Promise((r) => setTimeout(r, 0));
  }
  runs.sort((a, b) => a.index - b.index);
  return { spec: out.spec, runs, total, ms: performance.now() - t0 };
}

/**
 * The worker count for a comparison in the page: navigator.hardwareConcurrency,
 * at most 4 (`?workers=N` overrides, 1–16).
 */
export function workerCount(q = params()) {
  const asked = Number(q.get('workers'));
  if (Number.isInteger(asked) && asked >= 1 && asked <= 16) return asked;
  return Math.max(1, Math.min(4, globalThis.navigator?.hardwareConcurrency || 2));
}

/**
 * dl.compare() over a pool of `workers` module Workers (dl.createPool: each
 * worker loads its own kernel and gets the traces once), so the page's main
 * thread stays free while it runs. The pool's default worker script is
 * `new Worker(new URL('./worker.browser.js', import.meta.url), {type: 'module'})`
 * in dirtylab's pool.js, which Vite (`notebooks build`) bundles and emits next
 * to the notebooks (assets/worker.browser-*.js, its kernel with it). The pool
 * is disposed (its workers terminated) when the run ends, fails, or `signal`
 * aborts — the cell re-running — mid-run. The runs are compare()'s in its
 * canonical order whatever the worker count, so the summary is the CLI's.
 */
export async function compareInWorkers(options, { workers = workerCount(), onProgress, signal } = {}) {
  const aborted = () => new DOMException('superseded', 'AbortError');
  if (signal?.aborted) throw aborted();
  const t0 = performance.now();
  const pool = await dl.createPool({ workers });
  const stop = () => { pool.dispose(); };
  signal?.addEventListener('abort', stop, { once: true });
  try {
    if (signal?.aborted) throw aborted();
    const out = await dl.compare({ ...options, pool, onProgress: (done, total) => onProgress?.(done, total, performance.now() - t0) });
    return { spec: out.spec, runs: out.runs, total: out.total, ms: performance.now() - t0, workers: pool.size };
  } catch (e) {
    throw signal?.aborted ? aborted() : e;
  } finally {
    signal?.removeEventListener('abort', stop);
    await pool.dispose();
  }
}

/** A progress line for a comparison (text updated in place). */
export function progressLine(text = '') {
  const p = el('div', { class: 'nb-progress', style: { fontStyle: 'italic', color: '#555', margin: '0.4em 0' } }, text);
  p.update = (s) => { p.textContent = s; };
  return p;
}

/**
 * A progress bar and line for a comparison: update(text, done, total) moves
 * the bar; finish(text) drops the bar and leaves the line.
 */
export function progressBar(text = '') {
  const bar = el('progress', { max: 1, value: 0, style: { width: '16em', verticalAlign: 'middle', marginRight: '0.8em' } });
  const line = el('span', {}, text);
  const p = el('div', { class: 'nb-progress', style: { fontStyle: 'italic', color: '#555', margin: '0.4em 0' } }, bar, line);
  p.update = (s, done, total) => {
    line.textContent = s;
    if (total) { bar.max = total; bar.value = done; }
  };
  p.finish = (s) => { bar.remove(); line.textContent = s; };
  return p;
}

/** The per-method table of a summary (one condition per trace). */
export function summaryTable(sum, { caption } = {}) {
  const cmp = (c, metric) => sum.comparisons.find((x) => x.metric === metric && x.method === c.method && x.trace === c.trace && x.bandwidthBytesPerSec === c.bandwidthBytesPerSec && x.downtimeLimitMs === c.downtimeLimitMs);
  const multiCond = new Set(sum.cells.map((c) => `${c.bandwidthBytesPerSec}|${c.downtimeLimitMs}`)).size > 1;
  const cols = [
    { label: 'trace', get: (c) => c.trace, key: 'trace', group: true },
    ...(multiCond ? [{ label: 'condition', get: (c) => `${fmt.bw(c.bandwidthBytesPerSec)}, ${c.downtimeLimitMs} ms` }] : []),
    { label: 'method', get: (c) => `${c.method}${c.ships ? '' : ' ·'}`, key: 'method' },
    { label: 'done', get: (c) => fmt.pct(c.completionRate), value: (c) => c.completionRate, key: 'completionRate', align: 'right' },
    { label: 'downtime ms [95 % CI]', get: (c) => withCI(c.downtimeMs, fmt.ms), value: (c) => c.downtimeMs.median, key: 'downtimeMs', align: 'right' },
    { label: 'total time s [CI]', get: (c) => withCI(c.totalTimeMs, fmt.s), value: (c) => c.totalTimeMs.median, key: 'totalTimeMs', align: 'right' },
    { label: 'MB sent [CI]', get: (c) => withCI(c.transferredBytes, fmt.mb), value: (c) => c.transferredBytes.median, key: 'transferredBytes', align: 'right' },
    { label: `downtime × ${sum.spec.baseline} [CI]`, get: (c) => { const k = cmp(c, 'downtimeMs'); return k ? `${fmt.ratio(k.ratio)} [${fmt.ratio(k.ratioCI?.[0])}, ${fmt.ratio(k.ratioCI?.[1])}]` : 'baseline'; }, value: (c) => cmp(c, 'downtimeMs')?.ratio ?? null, key: 'ratio', align: 'right' },
    { label: 'p Holm', get: (c) => { const k = cmp(c, 'downtimeMs'); return k ? fmt.p(k.pHolm) : ''; }, value: (c) => cmp(c, 'downtimeMs')?.pHolm ?? null, key: 'pHolm', align: 'right' },
    { label: 'wins', get: (c) => { const k = cmp(c, 'downtimeMs'); return k ? fmt.pct(k.winRate) : ''; }, value: (c) => cmp(c, 'downtimeMs')?.winRate ?? null, key: 'winRate', align: 'right' },
    { label: 'flags', get: (c) => c.flags.join(', ') },
  ];
  return table(sum.cells, cols, { caption, rowAttrs: (c) => ({ 'data-trace': c.trace, 'data-method': c.method, 'data-bandwidth': String(c.bandwidthBytesPerSec), 'data-limit': String(c.downtimeLimitMs), class: 'nb-cell' }) });
}

/** The downtime distribution chart of a comparison: every run (those that did not complete at the axis's end), medians with 95 % CIs, the downtime limit. */
export function downtimeChart(sum, runs) {
  const cond = (c) => `${c.trace} · ${dl.fmtBw ? dl.fmtBw(c.bandwidthBytesPerSec) : c.bandwidthBytesPerSec} · downtime-limit ${c.downtimeLimitMs} ms`;
  const main = runs.filter((r) => !r.band);
  const limits = [...new Map(sum.cells.map((c) => [cond(c), { condition: cond(c), ms: c.downtimeLimitMs, label: `downtime limit ${c.downtimeLimitMs} ms` }])).values()];
  return dl.distributionChart({
    title: 'Downtime per run', axisTitle: 'downtime', methods: sum.spec.methods, unitMs: 1,
    caption: 'Each mark is one run\'s downtime in the method\'s colour and shape, the black tick and bar its median and 95 % CI, the red dashed line the downtime limit, on a log axis.',
    points: main.map((r) => ({ method: r.method, condition: cond(r), valueMs: r.result.completed ? r.result.downtimeMs : null })),
    cis: sum.cells.map((c) => ({ method: c.method, condition: cond(c), medianMs: c.downtimeMs.median, loMs: c.downtimeMs.ci?.[0] ?? Infinity, hiMs: c.downtimeMs.ci?.[1] ?? Infinity })),
    rules: limits,
  });
}

/** The answers of a summary as a list. */
export function answers(sum) {
  return el('ul', { class: 'nb-answers' }, sum.recommendations.map((r) => el('li', { style: { margin: '0.3em 0' } }, r.text)),
    sum.cells.length && !sum.recommendations.length ? [el('li', {}, 'No method completed every run within the downtime limit: no answer.')] : []);
}

// ----------------------------------------------------------- your trace --

/** The importers that read one file (bitmap-dir reads a directory: CLI only). */
export function fileImporters() {
  return dl.IMPORTERS.filter((i) => i.input === 'file');
}

/** Parse `key=value key=value` importer options by the importer's option kinds. */
export function importOptions(importer, text) {
  const out = {};
  for (const pair of text.split(/[\s,]+/).filter(Boolean)) {
    const m = /^-*([a-z-]+)=(.+)$/.exec(pair);
    if (!m) throw new Error(`import options are key=value pairs, not "${pair}"`);
    const spec = importer.options.find((o) => o.flag === m[1]);
    if (!spec) throw new Error(`"${m[1]}" is not an option of import ${importer.id}; its options: ${importer.options.map((o) => o.flag).join(', ')}`);
    if (spec.kind === 'path') throw new Error(`--${spec.flag} writes a file: CLI only`);
    const raw = m[2];
    out[spec.flag] = spec.kind === 'int' || spec.kind === 'number' ? Number(raw)
      : spec.kind === 'duration' ? dl.parseDurationMs(raw)
        : spec.kind === 'size' ? dl.parseSize(raw)
          : raw;
    if (typeof out[spec.flag] === 'number' && !Number.isFinite(out[spec.flag])) throw new Error(`--${spec.flag} takes a number, not "${raw}"`);
  }
  return out;
}

/**
 * Read a File chosen or dropped: the trace formats readTrace detects
 * (.dpt, .dpt.jsonl, recorder JSON lines; gzipped or not), or one of the
 * file importers. Traces timed in guest instructions are mapped to time at
 * the default rate, as the CLI does. Returns a CompareTrace plus notes.
 */
export async function readUserTrace(file, format = 'auto', optionText = '') {
  const bytes = new Uint8Array(await file.arrayBuffer());
  const input = dl.bytesInput(file.name, bytes);
  const notes = [];
  let trace;
  if (format === 'auto') {
    const t = await dl.readTrace(input);
    trace = { header: t.header, epochs: t.epochs };
    notes.push(`read as ${t.format}${bytes[0] === 0x1f && bytes[1] === 0x8b ? ' (gzipped)' : ''}`);
  } else {
    const imp = dl.getImporter(format);
    const r = await imp.run(input, { options: importOptions(imp, optionText), kernel: await kernel(), version: 'notebook' });
    const epochs = [];
    for await (const e of r.epochs) epochs.push(e);
    trace = { header: r.header, epochs };
    notes.push(`imported with ${imp.id}`, ...r.notes);
  }
  if (!trace.epochs.length) throw new Error(`${file.name} has no epochs`);
  if (trace.header.timeUnit === 'instructions') {
    trace = dl.instructionsToNs(trace, dl.DEFAULT_INSTRUCTIONS_PER_SECOND);
    notes.push(`timed in guest instructions: mapped to time at ${dl.DEFAULT_INSTRUCTIONS_PER_SECOND.toExponential(0)} instructions/s (the CLI's default)`);
  }
  return { name: traceName(file.name), fileName: file.name, trace, sha256: await sha256(bytes), notes, bytes: bytes.length };
}

/** Parse a comma-separated list with a unit parser (e.g. "32MiB/s,1Gbit/s"). */
export function listOf(text, parse, what) {
  const out = text.split(',').map((x) => x.trim()).filter(Boolean).map((x) => {
    try { return parse(x); } catch (e) { throw new Error(`${what}: ${e.message}`); }
  });
  if (!out.length) throw new Error(`${what}: give at least one value`);
  return out;
}
