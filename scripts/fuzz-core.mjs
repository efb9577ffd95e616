// Seeded mutational fuzzing of every reader dirtylab has (issue 15 item 12):
// .dpt, .dpt.gz, .dpt.jsonl, recorder JSON lines, the six importers and run
// directories. Each case mutates a valid seed input (bit flips, boundary
// values, truncation, chunk duplication, huge declared counts, deep nesting,
// long lines) and runs the reader in-process on the built library (dist/).
// Bad input must end in a TraceError (exit 2) or, for importer options, a
// RangeError naming the flag (exit 1); anything else is a crash (exit 3). A
// case slower than `slowMs` counts as a hang. Whatever a reader accepts is
// written back as .dpt and .dpt.jsonl and must read back identically.
import { existsSync, mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
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

const enc = new TextEncoder();
const isDigit = (c) => c >= 0x30 && c <= 0x39;
// The big insertions are built once: a case pays for copying them, not for making them.
const cache = new Map();
const cached = (key, make) => cache.get(key) ?? (cache.set(key, make()), cache.get(key));

/**
 * Text mutations work on bytes, near a random position: the next number (a
 * digit run, its sign, fraction and exponent) or the next value after ':', '['
 * or ','. No decode / re-encode of the whole input per mutation (invalid UTF-8
 * from an earlier flip is kept as it is, not replaced by U+FFFD).
 */
function nextNumber(b, from) {
  for (let k = 0; k < b.length; k++) {
    const i = (from + k) % b.length;
    if (!isDigit(b[i])) continue;
    let s = i;
    while (s > 0 && isDigit(b[s - 1])) s--;
    if (s > 0 && b[s - 1] === 0x2d) s--;
    let e = i;
    while (e < b.length && isDigit(b[e])) e++;
    if (b[e] === 0x2e && isDigit(b[e + 1])) { e++; while (e < b.length && isDigit(b[e])) e++; }
    if (b[e] === 0x65) {
      let f = e + 1;
      if (b[f] === 0x2b || b[f] === 0x2d) f++;
      if (isDigit(b[f])) { e = f; while (e < b.length && isDigit(b[e])) e++; }
    }
    return [s, e];
  }
  return null;
}

const VALUE_START = new Set([...'-0123456789[nt"'].map((c) => c.charCodeAt(0)));
function nextValueSlot(b, from) {
  for (let k = 0; k < b.length; k++) {
    const i = (from + k) % b.length;
    const c = b[i];
    if (c !== 0x3a && c !== 0x5b && c !== 0x2c) continue;
    let j = i + 1;
    while (j < b.length && (b[j] === 0x20 || b[j] === 0x09)) j++;
    if (j < b.length && VALUE_START.has(b[j])) return i + 1;
  }
  return -1;
}

/** One mutation of bytes (binary or text); returns new bytes and the mutator's name. */
export function mutate(seed, r, text) {
  let b = seed;
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
        const v = kind === 'huge' ? r.pick(['4294967295', '1000000000', '2147483648', '134217729', '9007199254740991']) : r.pick(TEXT_VALUES);
        const m = b.length ? nextNumber(b, at) : null;
        if (!m) break;
        b = splice(b, m[0], m[1] - m[0], cached(`v${v}`, () => enc.encode(v)));
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
      const arr = r.int(2) === 1;
      if (text) {
        const i = b.length ? nextValueSlot(b, at) : -1;
        if (i < 0) break;
        b = splice(b, i, 0, cached(`n${arr}${n},`, () => enc.encode(arr ? `${'['.repeat(n)}${']'.repeat(n)},` : `${'{"a":'.repeat(n)}${'}'.repeat(n)},`)));
      } else b = splice(b, at, 0, cached(`n${arr}${n}`, () => enc.encode(arr ? `${'['.repeat(n)}${']'.repeat(n)}` : `${'{"a":'.repeat(n)}${'}'.repeat(n)}`)));
      break;
    }
    case 'longline': {
      // 64 KiB most of the time; 1 MiB (the importers' line limit) and 3 MiB
      // (past it) less often: a long line costs the reader time ∝ its length.
      const u = r.next();
      const n = u < 0.6 ? 1 << 16 : u < 0.9 ? 1 << 20 : 3 << 20;
      const digits = r.int(2) === 1;
      b = splice(b, at, 0, cached(`l${digits}${n}`, () => enc.encode(digits ? '1,'.repeat(n / 2) : 'a'.repeat(n))));
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
    run: await dist('validate/run.js'), kernel: await dist('kernel/index.js'), fit: await dist('trace/fit.js'), impCommon: await dist('trace/import/common.js'),
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
    // The recorder's own files are gzipped (trace.jsonl.gz, what validate reads): mutate the compressed bytes.
    trace('recorder-jsonl-gz', [new Uint8Array(gzipSync(recorder))], false),
  ];
  const importerOpts = {
    'kvm-dirty-ring': { slots: '0:160,1:65281@0x100000' },
    'qemu-trace': { 'ram-size': 131076 * 1024 },
    // The rate importers synthesize a trace (fitTrace); 1 s epochs instead of 100 ms make it 100
    // epochs instead of 400 (the input is read the same way).
    'calc-dirty-rate': { 'ram-size': 131076 * 1024, 'epoch-ms': 1000 },
    'query-migrate': { 'epoch-ms': 1000 },
  };
  const importerSeed = {
    lackey: 'import/tiny.lackey.gz', 'kvm-dirty-ring': 'import/kvm-dirty-ring.perf.txt.gz', 'qemu-trace': 'import/qemu-trace-tcg.log.gz',
    'calc-dirty-rate': 'import/calc-dirty-rate.jsonl', 'query-migrate': 'import/query-migrate.jsonl.gz',
  };
  const keepLines = (bytes, keep) => {
    const s = new TextDecoder().decode(bytes).trimEnd().split('\n');
    return new TextEncoder().encode(s.filter((_, i) => keep(i, s.length)).join('\n') + '\n');
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
    if (!seedPath) throw new Error(`fuzz: no seed for importer ${imp.id}`);
    let seed = fx(seedPath);
    const gz = seed[0] === 0x1f && seed[1] === 0x8b;
    // Mutate the text inside (the gzip layer has its own targets); keep the size small:
    // 16 KiB of whole lines (every record kind of these fixtures is in it); query-migrate: the
    // first 3 and last 9 of its 89 replies (setup, active, the syncs with a dirty-pages-rate, completed).
    let text = gz ? new Uint8Array(gunzipSync(seed)) : seed;
    if (imp.id === 'query-migrate') text = keepLines(text, (i, n) => i < 3 || i >= n - 9);
    if (text.length > 16 * 1024) {
      const s = new TextDecoder().decode(text.subarray(0, 16 * 1024));
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
  // Run directories (what validate reads): result.json, sent.jsonl.gz and
  // qmp.jsonl.gz on disk (readRun takes a directory), in a tmpfs when there is
  // one. One directory per target, made once: a case rewrites only the file
  // it mutates. trace.jsonl.gz is read by readTrace (recorder-jsonl-gz above).
  const runDir = join(root, 'test/fixtures/qemu-runs/light-bw32-dt300');
  const pcDir = join(root, 'test/fixtures/qemu-runs/heavy-bw32-dt300-pc3');
  const tmp = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'dirtylab-fuzz-'));
  const result = new Uint8Array(readFileSync(join(runDir, 'result.json')));
  // sent.jsonl.gz: the header and its rounds (4), round 1's 31 292 pages cut to its first 400.
  const sentLines = gunzipSync(readFileSync(join(runDir, 'sent.jsonl.gz'))).toString('utf8').split('\n').slice(0, 6).filter((l) => l.trim() !== '').map((l, i) => {
    if (i === 0) return l;
    const o = JSON.parse(l);
    if (o.pages.length > 400) { o.pages = o.pages.slice(0, 400); o.n = 400; }
    return JSON.stringify(o);
  });
  const sent = new TextEncoder().encode(sentLines.join('\n') + '\n');
  // qmp.jsonl.gz is read only for post-copy runs (bytes before the destination's
  // LISTEN) and xbzrle runs whose result.json lacks the cache counters: a
  // post-copy result.json with xbzrle added, and its replies around the switch
  // (the last one given xbzrle-cache counters).
  const pcResult = JSON.parse(readFileSync(join(pcDir, 'result.json'), 'utf8'));
  pcResult.params.capabilities_enabled = [...pcResult.params.capabilities_enabled, 'xbzrle'];
  pcResult.qemu_parameters = { ...pcResult.qemu_parameters, 'xbzrle-cache-size': 33554432 };
  const qmpResult = new TextEncoder().encode(JSON.stringify(pcResult, null, 1));
  const qmpAll = gunzipSync(readFileSync(join(pcDir, 'qmp.jsonl.gz'))).toString('utf8').trim().split('\n');
  const qmpKeep = qmpAll.filter((l, i) => { const t = JSON.parse(l).t_ms; return i < 2 || (t >= 3000 && t <= 3500); });
  const lastQ = JSON.parse(qmpKeep[qmpKeep.length - 1]);
  lastQ['xbzrle-cache'] = { 'cache-size': 33554432, bytes: 1234567, pages: 2345, 'cache-miss': 345, 'cache-miss-rate': 0.1, 'encoding-rate': 2.5, overflow: 3 };
  qmpKeep[qmpKeep.length - 1] = JSON.stringify(lastQ);
  const qmp = new TextEncoder().encode(qmpKeep.join('\n') + '\n');
  const gz1 = (b) => gzipSync(b, { level: 1 });
  const makeRunDir = (name, files) => {
    const d = join(tmp, name);
    mkdirSync(d);
    writeFileSync(join(d, 'trace.jsonl.gz'), readFileSync(join(runDir, 'trace.jsonl.gz')));
    for (const [f, b] of Object.entries(files)) writeFileSync(join(d, f), b);
    return d;
  };
  const runCase = async (d) => {
    lib.run.readRun(d);
    await lib.run.readSentRounds(join(d, 'sent.jsonl.gz'));
  };
  const dResult = makeRunDir('result', { 'sent.jsonl.gz': gz1(sent), 'qmp.jsonl.gz': readFileSync(join(runDir, 'qmp.jsonl.gz')) });
  const dSent = makeRunDir('sent', { 'result.json': result, 'qmp.jsonl.gz': readFileSync(join(runDir, 'qmp.jsonl.gz')) });
  const dQmp = makeRunDir('qmp', { 'result.json': qmpResult, 'sent.jsonl.gz': gz1(sent) });
  out.push({ name: 'rundir-result', text: true, seeds: [result], run: (b) => { writeFileSync(join(dResult, 'result.json'), b); return runCase(dResult); } });
  out.push({ name: 'rundir-sent', text: true, seeds: [sent], run: (b) => { writeFileSync(join(dSent, 'sent.jsonl.gz'), gz1(b)); return runCase(dSent); } });
  out.push({ name: 'rundir-qmp', text: true, seeds: [qmp], run: (b) => { writeFileSync(join(dQmp, 'qmp.jsonl.gz'), gz1(b)); return runCase(dQmp); } });
  // fit --curve: a curve file, JSON or CSV, read as the CLI reads it (contentText, parseCurveText).
  const curveJson = new TextEncoder().encode('{"nPages": 65536, "pageSize": 4096, "source": "fuzz", "points": [{"windowMs": 100, "pages": 120}, {"windowMs": 400, "pages": 380}, {"windowMs": 1600, "pages": 900}, [6400, 1800]]}\n');
  const curveCsv = new TextEncoder().encode('window_ms,pages\n# measured\n100,120\n400,380\n1600,900\n6400,1800\n');
  out.push({ name: 'fit-curve', text: true, seeds: [curveJson, curveCsv], run: async (b, si = 0) => { lib.fit.parseCurveText(await lib.impCommon.contentText(lib.bytes.bytesInput(si ? 'c.csv' : 'c.json', b)), si ? 'c.csv' : 'c.json'); } });
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
export async function campaign(target, { cases, seed = 1, budgetMs = Infinity, slowMs = 5000, cpuHangs = false, TraceError, onCase } = {}) {
  const r = rng(seed);
  const messages = new Map();
  const crashes = [];
  const hangs = [];
  let accepted = 0;
  let crashCount = 0;
  let done = 0;
  let peakRss = process.memoryUsage().rss;
  const cpu0 = process.cpuUsage();
  let slowest = 0;
  let slowestCpu = 0;
  let slowWall = 0;
  let hangCount = 0;
  const t0 = Date.now();
  for (; done < cases && Date.now() - t0 < budgetMs; done++) {
    const si = r.int(target.seeds.length);
    let m = { bytes: target.seeds[si], kind: 'none' };
    const chain = [];
    for (let i = 0, k = 1 + r.int(3); i < k; i++) { m = mutate(m.bytes, r, target.text); chain.push(m.kind); }
    m.kind = chain.join('+');
    const c0 = Date.now();
    const u0 = process.cpuUsage();
    try {
      await target.run(m.bytes, si);
      accepted++;
    } catch (e) {
      if (isRefusal(e, TraceError)) {
        const msg = String(e.message).replace(/\/(dev\/shm|tmp)\/dirtylab-fuzz-[^/]+\//g, '<tmp>/').replace(/\d+/g, 'N').replace(/"[^"]*"/g, '"…"').slice(0, 160);
        messages.set(msg, (messages.get(msg) ?? 0) + 1);
      } else if (++crashCount <= 20) crashes.push({ kind: m.kind, error: `${e?.name}: ${e?.message}`.slice(0, 300), input: Buffer.from(m.bytes.subarray(0, 4 << 20)).toString('base64') });
    }
    // A hang is a case that used more than `slowMs` of CPU (or, with cpuHangs false, of
    // wall time): on a shared machine at nice 19 wall time also counts the waiting.
    const ms = Date.now() - c0;
    const u = process.cpuUsage(u0);
    const cpuMs = (u.user + u.system) / 1000;
    if (ms > slowest) slowest = ms;
    if (cpuMs > slowestCpu) slowestCpu = cpuMs;
    if (ms > slowMs) slowWall++;
    if ((cpuHangs ? cpuMs : ms) > slowMs && hangCount++ < 20) hangs.push({ kind: m.kind, ms, cpuMs: Math.round(cpuMs), input: Buffer.from(m.bytes.subarray(0, 4 << 20)).toString('base64') });
    if ((done & 63) === 0) peakRss = Math.max(peakRss, process.memoryUsage().rss);
    onCase?.(done);
  }
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
  const cpu = process.cpuUsage(cpu0);
  return { target: target.name, cases: done, accepted, refused: done - accepted - crashCount, crashCount, crashes, hangs, messages, peakRss, ms: Date.now() - t0, cpuMs: (cpu.user + cpu.system) / 1000, slowestMs: slowest, slowestCpuMs: Math.round(slowestCpu), slowWall, hangCount };
}
