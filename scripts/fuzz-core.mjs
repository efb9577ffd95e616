// Seeded mutational fuzzing of every reader dirtylab has (issue 15 item 12):
// .dpt, .dpt.gz, .dpt.jsonl, recorder JSON lines, the six importers and run
// directories. Each case mutates a valid seed input (bit flips, boundary
// values, truncation, chunk duplication, huge declared counts, deep nesting,
// long lines) and runs the reader in-process on the built library (dist/).
// Bad input must end in a TraceError (exit 2) or, for importer options, a
// RangeError naming the flag (exit 1); anything else is a crash (exit 3). A
// case slower than `slowMs` counts as a hang. Whatever a reader accepts is
// written back as .dpt and .dpt.jsonl and must read back identically.
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';

const root = new URL('..', import.meta.url).pathname;
const dist = (p) => import(join(root, 'dist', p));

/** mulberry32: a small seeded PRNG. */
export function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (n) => Math.floor(next() * n), pick: (xs) => xs[Math.floor(next() * xs.length)] };
}

const BIN_VALUES = [0, 1, 2, 7, 0x7f, 0x80, 0xff, 0x100, 0x1000, 0x7fff, 0xffff, 1e6, 1e9, 0x7fffffff, 0x80000000, 0xffffffff];
const TEXT_VALUES = ['0', '-1', '1', '1e300', '-1e300', '1e-9', '0.5', '4294967295', '4294967296', '9007199254740993', '2147483648', '1e10', 'null', '"x"', 'true', '[]', '{}', '-0', '1e400'];

function splice(b, at, del, ins) {
  const out = new Uint8Array(b.length - del + ins.length);
  out.set(b.subarray(0, at), 0);
  out.set(ins, at);
  out.set(b.subarray(at + del), at + ins.length);
  return out;
}

/** One mutation of bytes (binary or text); returns new bytes and the mutator's name. */
export function mutate(seed, r, text) {
  let b = seed;
  const enc = new TextEncoder();
  const kinds = ['flip', 'boundary', 'truncate', 'duplicate', 'huge', 'nest', 'longline', 'delete'];
  const kind = r.pick(kinds);
  const at = b.length === 0 ? 0 : r.int(b.length);
  switch (kind) {
    case 'flip': {
      b = b.slice();
      for (let i = 0, n = 1 + r.int(8); i < n && b.length; i++) b[r.int(b.length)] ^= 1 << r.int(8);
      break;
    }
    case 'boundary':
    case 'huge': {
      if (text) {
        const s = new TextDecoder().decode(b);
        const nums = [...s.matchAll(/-?\d+(\.\d+)?(e[+-]?\d+)?/g)];
        if (nums.length === 0) break;
        const m = r.pick(nums);
        const v = kind === 'huge' ? r.pick(['4294967295', '1000000000', '2147483648', '134217729', '9007199254740991']) : r.pick(TEXT_VALUES);
        b = enc.encode(s.slice(0, m.index) + v + s.slice(m.index + m[0].length));
      } else {
        const width = r.pick([1, 2, 4, 8]);
        const v = kind === 'huge' ? r.pick([0xffffffff, 1e9, 0x80000000, 2 ** 27 + 1]) : r.pick(BIN_VALUES);
        const pos = Math.min(at, Math.max(0, b.length - width));
        b = b.slice();
        const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
        if (width === 1 && pos < b.length) dv.setUint8(pos, v & 0xff);
        else if (width === 2 && pos + 2 <= b.length) dv.setUint16(pos, v & 0xffff, true);
        else if (width === 4 && pos + 4 <= b.length) dv.setUint32(pos, v >>> 0, true);
        else if (width === 8 && pos + 8 <= b.length) dv.setBigUint64(pos, BigInt(Math.floor(v)) * (r.int(4) === 0 ? 1n << 20n : 1n), true);
      }
      break;
    }
    case 'truncate':
      b = b.slice(0, at);
      break;
    case 'delete':
      b = splice(b, at, Math.min(b.length - at, 1 + r.int(16)), new Uint8Array(0));
      break;
    case 'duplicate': {
      const len = Math.min(b.length - at, 1 + r.int(256));
      const chunk = b.slice(at, at + len);
      b = splice(b, r.int(b.length + 1), 0, chunk);
      break;
    }
    case 'nest': {
      const n = r.pick([100, 5000, 50000]);
      const open = r.int(2) ? '['.repeat(n) : '{"a":'.repeat(n);
      const close = open[0] === '[' ? ']'.repeat(n) : '}'.repeat(n);
      if (text) {
        const s = new TextDecoder().decode(b);
        const m = [...s.matchAll(/[:\[,]\s*(-?\d+|\[|null|true|"[^"]*")/g)];
        if (m.length === 0) break;
        const x = r.pick(m);
        const i = x.index + 1;
        b = enc.encode(s.slice(0, i) + open + close + ',' + s.slice(i));
      } else b = splice(b, at, 0, enc.encode(open + close));
      break;
    }
    case 'longline': {
      const n = r.pick([1 << 16, 1 << 20, 3 << 20]);
      const fill = r.int(2) ? '1,'.repeat(n / 2) : 'a'.repeat(n);
      b = splice(b, at, 0, enc.encode(fill));
      break;
    }
  }
  return { bytes: b, kind };
}

/** Read every epoch of a trace; whatever is accepted must survive the writers. */
async function readAndRoundTrip(lib, name, bytes) {
  const t = await lib.open.readTrace(lib.bytes.bytesInput(name, bytes));
  await roundTrip(lib, t.header, t.epochs);
}

async function roundTrip(lib, header, epochsIt) {
  const epochs = [];
  for await (const e of epochsIt) epochs.push(e);
  if (epochs.length > 5000) return;
  const chunks = [];
  let size = 0;
  const sink = { write(b) { chunks.push(b.slice()); size += b.length; }, writeAt(pos, b) { const all = lib.dpt.concat(chunks); all.set(b, pos); chunks.length = 0; chunks.push(all); } };
  const w = new lib.dpt.DptWriter(sink, { ...header, nEpochs: null });
  for (const e of epochs) await w.writeEpoch(e);
  await w.close();
  void size;
  const back = await lib.open.readTrace(lib.bytes.bytesInput('roundtrip.dpt', lib.dpt.concat(chunks)));
  const jsonl = [lib.jsonl.jsonlHeaderLine({ ...header, nEpochs: epochs.length }), ...epochs.map((e) => lib.jsonl.jsonlEpochLine(e, header))].join('\n') + '\n';
  const back2 = await lib.open.readTrace(lib.bytes.bytesInput('roundtrip.dpt.jsonl', new TextEncoder().encode(jsonl)));
  for (const b of [back, back2]) {
    if (b.epochs.length !== epochs.length) throw new Error(`round trip: ${epochs.length} epochs written, ${b.epochs.length} read`);
    for (let k = 0; k < epochs.length; k++) {
      const x = epochs[k], y = b.epochs[k];
      if (x.t0 !== y.t0 || x.t1 !== y.t1 || !lib.model.samePages(x.pages, y.pages)) throw new Error(`round trip: epoch ${k} differs`);
    }
    if (b.header.pageSize !== header.pageSize || b.header.nPages !== header.nPages || b.header.timeUnit !== header.timeUnit) throw new Error('round trip: header differs');
  }
}

/** The fuzz targets: a name, seed inputs, whether they are text, and how to run one input. */
export async function targets() {
  const lib = {
    open: await dist('trace/open.js'), bytes: await dist('trace/bytes.js'), dpt: await dist('trace/dpt.js'),
    jsonl: await dist('trace/jsonl.js'), model: await dist('trace/model.js'), imp: await dist('trace/import/index.js'),
    run: await dist('validate/run.js'), kernel: await dist('kernel/index.js'),
  };
  const kernel = await lib.kernel.Kernel.load();
  const fx = (p) => new Uint8Array(readFileSync(join(root, 'test/fixtures', p)));
  const golden = fx('golden.dpt');
  const goldenTrace = await lib.open.readTrace(lib.bytes.bytesInput('g', golden));
  const goldenJsonl = new TextEncoder().encode([lib.jsonl.jsonlHeaderLine({ ...goldenTrace.header, nEpochs: 5 }), ...goldenTrace.epochs.map((e) => lib.jsonl.jsonlEpochLine(e, goldenTrace.header))].join('\n') + '\n');
  const recorderText = gunzipSync(fx('light-bw32-dt300.trace.jsonl.gz')).toString('utf8').split('\n').slice(0, 12).join('\n') + '\n';
  const recorder = new TextEncoder().encode(recorderText);
  const trace = (name, seeds, text) => ({ name, seeds, text, run: (b) => readAndRoundTrip(lib, name, b) });
  const out = [
    trace('dpt', [golden], false),
    trace('dpt-gz', [new Uint8Array(gzipSync(golden))], false),
    trace('dpt-jsonl', [goldenJsonl], true),
    trace('recorder-jsonl', [recorder], true),
  ];
  const importerOpts = {
    'kvm-dirty-ring': { slots: '0:160,1:65281@0x100000' },
    'qemu-trace': { 'ram-size': 131076 * 1024 },
    'calc-dirty-rate': { 'ram-size': 131076 * 1024 },
  };
  const importerSeed = {
    lackey: 'import/tiny.lackey.gz', 'kvm-dirty-ring': 'import/kvm-dirty-ring.perf.txt.gz', 'qemu-trace': 'import/qemu-trace-tcg.log.gz',
    'calc-dirty-rate': 'import/calc-dirty-rate.jsonl', 'query-migrate': 'import/query-migrate.jsonl.gz',
  };
  for (const imp of lib.imp.IMPORTERS) {
    const ctx = { options: importerOpts[imp.id] ?? {}, kernel, version: 'fuzz' };
    if (imp.input === 'directory') {
      const dir = join(root, 'test/fixtures/import/bitmap-dir');
      const files = readdirSync(dir).sort().map((n) => [n, new Uint8Array(readFileSync(join(dir, n)))]);
      out.push({
        name: `import-${imp.id}`, text: false, seeds: files.map((f) => f[1]),
        // The mutated bytes replace one file of the directory (the seed index chooses which).
        run: async (b, seedIndex = 0) => {
          const entries = files.map(([n, bytes], i) => ({ ...lib.bytes.bytesInput(`${dir}/${n}`, i === seedIndex ? b : bytes), baseName: n }));
          const r = await imp.run({ name: dir, entries: async () => entries }, ctx);
          await roundTrip(lib, r.header, r.epochs);
        },
      });
      continue;
    }
    const seedPath = importerSeed[imp.id];
    let seed = fx(seedPath);
    const gz = seed[0] === 0x1f && seed[1] === 0x8b;
    // Mutate the text inside (the gzip layer has its own target); keep the size small.
    let text = gz ? new Uint8Array(gunzipSync(seed)) : seed;
    if (text.length > 64 * 1024) {
      const s = new TextDecoder().decode(text.subarray(0, 64 * 1024));
      text = new TextEncoder().encode(s.slice(0, s.lastIndexOf('\n') + 1));
    }
    out.push({
      name: `import-${imp.id}`, text: true, seeds: [text],
      run: async (b) => {
        const r = await imp.run(lib.bytes.bytesInput(`in.${imp.id}`, b), ctx);
        await roundTrip(lib, r.header, r.epochs);
      },
    });
  }
  // Run directories: result.json (text) and sent.jsonl.gz's content, on disk.
  const runDir = join(root, 'test/fixtures/qemu-runs/light-bw32-dt300');
  const tmp = mkdtempSync(join(tmpdir(), 'dirtylab-fuzz-'));
  const result = new Uint8Array(readFileSync(join(runDir, 'result.json')));
  const sent = gunzipSync(readFileSync(join(runDir, 'sent.jsonl.gz'))).toString('utf8').split('\n').slice(0, 6).join('\n') + '\n';
  let n = 0;
  const runCase = async (resultBytes, sentBytes) => {
    const d = join(tmp, `run${n++ % 4}`);
    rmSync(d, { recursive: true, force: true });
    mkdirSync(d);
    for (const f of ['qmp.jsonl.gz', 'trace.jsonl.gz']) writeFileSync(join(d, f), readFileSync(join(runDir, f)));
    writeFileSync(join(d, 'result.json'), resultBytes);
    writeFileSync(join(d, 'sent.jsonl.gz'), gzipSync(sentBytes));
    lib.run.readRun(d);
    await lib.run.readSentRounds(join(d, 'sent.jsonl.gz'));
  };
  out.push({ name: 'rundir-result', text: true, seeds: [result], run: (b) => runCase(b, sent) });
  out.push({ name: 'rundir-sent', text: true, seeds: [new TextEncoder().encode(sent)], run: (b) => runCase(result, b) });
  out.cleanup = () => rmSync(tmp, { recursive: true, force: true });
  out.TraceError = lib.model.TraceError;
  return out;
}

/** Whether an error is a clean refusal (exit 1 or 2) rather than a crash. */
export function isRefusal(e, TraceError) {
  if (e instanceof TraceError) return true;
  return e instanceof RangeError && /--[a-z]/.test(e.message) && !/Invalid (array|typed array|string) length|call stack/i.test(e.message);
}

/**
 * Run `cases` mutated inputs against one target (or stop at `budgetMs`).
 * Returns counts, crashes (with the input), hangs, the distinct messages and peak RSS.
 */
export async function campaign(target, { cases, seed = 1, budgetMs = Infinity, slowMs = 5000, TraceError, onCase } = {}) {
  const r = rng(seed);
  const messages = new Map();
  const crashes = [];
  const hangs = [];
  let accepted = 0;
  let crashCount = 0;
  let done = 0;
  let peakRss = process.memoryUsage().rss;
  const t0 = Date.now();
  for (; done < cases && Date.now() - t0 < budgetMs; done++) {
    const si = r.int(target.seeds.length);
    let m = { bytes: target.seeds[si], kind: 'none' };
    for (let i = 0, k = 1 + r.int(3); i < k; i++) m = mutate(m.bytes, r, target.text);
    const c0 = Date.now();
    try {
      await target.run(m.bytes, si);
      accepted++;
    } catch (e) {
      if (isRefusal(e, TraceError)) {
        const msg = String(e.message).replace(/\d+/g, 'N').replace(/"[^"]*"/g, '"…"').slice(0, 160);
        messages.set(msg, (messages.get(msg) ?? 0) + 1);
      } else if (++crashCount <= 20) crashes.push({ kind: m.kind, error: `${e?.name}: ${e?.message}`.slice(0, 300), input: Buffer.from(m.bytes.subarray(0, 4 << 20)).toString('base64') });
    }
    const ms = Date.now() - c0;
    if (ms > slowMs && hangs.length < 20) hangs.push({ kind: m.kind, ms, input: Buffer.from(m.bytes.subarray(0, 4 << 20)).toString('base64') });
    if ((done & 63) === 0) peakRss = Math.max(peakRss, process.memoryUsage().rss);
    onCase?.(done);
  }
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
  return { target: target.name, cases: done, accepted, refused: done - accepted - crashCount, crashCount, crashes, hangs, messages, peakRss, ms: Date.now() - t0 };
}
