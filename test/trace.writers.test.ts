// Issue 15 items 4 and 5: every writer writes only what the readers accept.
// A seeded property test (no new dependency): random small traces, edge
// values included, written in every output format by writeTraceFile (what
// convert, generate, import and record use), by the convert and generate
// commands, and read back identically; what the readers would refuse is
// refused by the writers (exit 2, no file left); .dpt.jsonl streams by epoch
// and its line limit is enforced on both sides.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../src/cli/main.js';
import { fileInput, writeTraceFile } from '../src/trace/node.js';
import { readTrace } from '../src/trace/open.js';
import { MAX_LINE, MAX_SET_PAGES, TIME_UNITS, TraceError, type Epoch, type TraceHeader } from '../src/trace/model.js';
import { jsonlEpochLine, jsonlEpochLineLength } from '../src/trace/jsonl.js';
import { generatedHeader, generateEpochs, type GenerateOptions } from '../src/trace/generate.js';
import { mulberry32, type Rng } from '../src/trace/random.js';

afterEach(() => vi.restoreAllMocks());

/** Run the CLI in-process: exit code and what went to stderr. */
async function run(...args: string[]): Promise<{ code: number; err: string }> {
  let err = '';
  const w = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => { err += String(s); return true; });
  const o = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  try {
    return { code: await main(['node', 'dirtylab', ...args]), err };
  } finally {
    w.mockRestore();
    o.mockRestore();
  }
}

const FORMATS = ['.dpt', '.dpt.gz', '.dpt.jsonl', '.dpt.jsonl.gz'] as const;

const pick = <T,>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)]!;
const int = (rng: Rng, lo: number, hi: number): number => lo + Math.floor(rng() * (hi - lo + 1));

/** A sorted set of up to `max` pages below nPages, edges (0, nPages − 1, runs) likely. */
function pageSet(rng: Rng, nPages: number, max: number): Uint32Array {
  const shape = rng();
  const set = new Set<number>();
  if (shape < 0.15 || max === 0) return new Uint32Array(0);
  const n = Math.min(nPages, int(rng, 1, max));
  if (shape < 0.35) {
    // one run, often at the top of the page range
    const start = rng() < 0.5 ? nPages - n : int(rng, 0, nPages - n);
    for (let i = 0; i < n; i++) set.add(start + i);
  } else {
    if (rng() < 0.3) set.add(0);
    if (rng() < 0.3) set.add(nPages - 1);
    while (set.size < n) set.add(Math.floor(rng() * nPages));
  }
  return Uint32Array.from([...set].sort((a, b) => a - b));
}

/** Random JSON metadata, nested up to `depth` levels (the object itself is level 1). */
function meta(rng: Rng, depth: number): Record<string, unknown> {
  const value = (d: number): unknown => {
    const r = rng();
    if (d > 1 && r < 0.2) return [value(d - 1), value(d - 1)];
    if (d > 1 && r < 0.35) return { k: value(d - 1) };
    return pick(rng, [0, -1.5, 2 ** 53 - 1, 1e300, 'x', 'ünïcødé ✓', '', true, false, null]);
  };
  const m: Record<string, unknown> = {};
  const n = int(rng, 0, 4);
  for (let i = 0; i < n; i++) m[`key${i}`] = value(depth - 1);
  if (rng() < 0.5) m.timeZeroNs = pick(rng, [0, 123456789, -5e8, 2 ** 53 - 1]);
  return m;
}

/** Nest a value `levels` objects deep: {"d":{"d":…}}. */
function nested(levels: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < levels; i++) v = { d: v };
  return v;
}

/** A random valid trace (small, edge values likely). */
function randomTrace(rng: Rng): { header: TraceHeader; epochs: Epoch[] } {
  const pageSize = pick(rng, [512, 1024, 4096, 65536, 2 ** 21, 2 ** 30]);
  const nPages = pick(rng, [1, 2, 7, 64, 1000, 65537, 2 ** 31, 2 ** 32 - 1, int(rng, 1, 2 ** 32 - 1)]);
  const hasTimes = rng() < 0.6;
  const hasCounts = rng() < 0.5;
  const nEp = pick(rng, [0, 1, 1, 2, 3, 5, 8]);
  let epochLen = pick(rng, [0, 1, 1000, 100_000_000, int(rng, 1, 2 ** 40)]);
  if (!hasTimes) {
    if (epochLen === 0) epochLen = 1;
    // Fixed-length epochs must end by 2^53 − 1: the largest length that fits, sometimes.
    if (nEp > 0 && rng() < 0.3) epochLen = Math.floor(Number.MAX_SAFE_INTEGER / nEp);
  }
  const zeroAtStart = rng() < 0.5 ? null : pageSet(rng, nPages, 300);
  const depth = rng() < 0.1 ? 64 : int(rng, 1, 4);
  const m = meta(rng, Math.min(depth, 4));
  if (depth === 64) m.deep = nested(63); // meta nested exactly 64 deep: both formats accept it
  const header: TraceHeader = {
    pageSize, nPages, timeUnit: pick(rng, TIME_UNITS), epochLen,
    nEpochs: rng() < 0.5 ? nEp : null, hasTimes, hasCounts, zeroAtStart, meta: m,
  };
  const epochs: Epoch[] = [];
  let t = rng() < 0.2 ? Number.MAX_SAFE_INTEGER - 10 * nEp : int(rng, 0, 1000);
  for (let k = 0; k < nEp; k++) {
    // Reuse the previous set now and then (.dpt's "same as previous" encoding).
    const pages = k > 0 && rng() < 0.2 ? epochs[k - 1]!.pages.slice() : pageSet(rng, nPages, pick(rng, [0, 5, 50, 3000]));
    let t0: number;
    let t1: number;
    if (hasTimes) {
      t0 = t + (rng() < 0.5 ? 0 : int(rng, 0, 3));
      t1 = t0 + (rng() < 0.2 ? 0 : int(rng, 0, 5));
      t = t1;
    } else {
      t0 = k * epochLen;
      t1 = (k + 1) * epochLen;
    }
    const e: Epoch = { t0, t1, pages };
    if (hasCounts) e.counts = Uint32Array.from(pages, () => pick(rng, [1, 1, 2, 127, 128, 2 ** 32 - 1, int(rng, 1, 1000)]));
    epochs.push(e);
  }
  return { header, epochs };
}

/** What a reader gives back for a written trace: the header with the epoch count filled in. */
function expectedHeader(h: TraceHeader, n: number): TraceHeader {
  return { ...h, nEpochs: n === 0 ? null : n, meta: JSON.parse(JSON.stringify(h.meta)) as TraceHeader['meta'] };
}

function plainEpochs(epochs: Epoch[], hasCounts: boolean): unknown[] {
  return epochs.map((e) => ({ t0: e.t0, t1: e.t1, pages: Array.from(e.pages), ...(hasCounts ? { counts: Array.from(e.counts ?? []) } : {}) }));
}

async function readBack(path: string): Promise<{ header: TraceHeader; epochs: Epoch[] }> {
  const t = await readTrace(fileInput(path));
  return { header: t.header, epochs: t.epochs };
}

describe('4: anything written reads back identically (seeded property test)', () => {
  it('300 random traces × 4 formats through writeTraceFile', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dl-prop-'));
    const rng = mulberry32(15_4);
    for (let i = 0; i < 300; i++) {
      const { header, epochs } = randomTrace(rng);
      const ext = FORMATS[i % FORMATS.length]!;
      const path = join(dir, `t${i}${ext}`);
      const ctx = `case ${i} (${ext}): ${JSON.stringify({ ...header, zeroAtStart: header.zeroAtStart?.length ?? null, meta: '…' })}`;
      const w = await writeTraceFile(path, header, epochs);
      expect(w.epochs, ctx).toBe(epochs.length);
      const back = await readBack(path);
      expect(back.header, ctx).toEqual(expectedHeader(header, epochs.length));
      expect(plainEpochs(back.epochs, header.hasCounts), ctx).toEqual(plainEpochs(epochs, header.hasCounts));
    }
    // Nothing but the outputs: no temporary file left behind.
    expect(readdirSync(dir).filter((n) => n.startsWith('.'))).toEqual([]);
  }, 120_000);

  it('convert between every pair of formats reads back identically (40 random traces)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dl-prop-cv-'));
    const rng = mulberry32(2026);
    for (let i = 0; i < 40; i++) {
      const { header, epochs } = randomTrace(rng);
      const from = FORMATS[i % FORMATS.length]!;
      const to = FORMATS[(i + 1 + (i >> 2)) % FORMATS.length]!;
      const src = join(dir, `s${i}${from}`);
      await writeTraceFile(src, header, epochs);
      const dst = join(dir, `d${i}${to}`);
      const r = await run('convert', src, dst);
      expect(r.err, `case ${i}`).toBe('');
      expect(r.code, `case ${i}`).toBe(0);
      const back = await readBack(dst);
      expect(back.header, `case ${i}`).toEqual(expectedHeader(header, epochs.length));
      expect(plainEpochs(back.epochs, header.hasCounts), `case ${i}`).toEqual(plainEpochs(epochs, header.hasCounts));
      // inspect itself (its W(t) and hot set need bitmaps of nPages: only for small guests here).
      if (header.nPages <= 2 ** 20) expect((await run('inspect', dst, '--json')).code, `case ${i}: inspect`).toBe(0);
    }
  }, 120_000);

  it('generate (random kinds and options, page sizes 512 B and 1 GiB) reads back as generated', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dl-prop-gen-'));
    const rng = mulberry32(7);
    const kinds = ['uniform', 'hotcold', 'zipf', 'scan', 'phases'] as const;
    for (let i = 0; i < 25; i++) {
      const o: GenerateOptions = {
        kind: kinds[i % kinds.length]!, pages: pick(rng, [1, 3, 512, 4097, 2 ** 32 - 1]), epochs: int(rng, 1, 6),
        epochMs: pick(rng, [0.001, 1, 100, 2500]), rate: pick(rng, [0, 10, 5000, 40000]), seed: int(rng, 0, 2 ** 32 - 1),
        pageSize: pick(rng, [512, 4096, 2 ** 30]),
      };
      const path = join(dir, `g${i}${FORMATS[i % FORMATS.length]}`);
      const r = await run('generate', o.kind, '--pages', String(o.pages), '--epochs', String(o.epochs), '--epoch-ms', String(o.epochMs),
        '--rate', String(o.rate), '--seed', String(o.seed), '--page-size', String(o.pageSize), '-o', path);
      expect(r.err, `case ${i}`).toBe('');
      expect(r.code, `case ${i}`).toBe(0);
      const want = generatedHeader({ ...o, hotFraction: 0.1, hotProbability: 0.9, zipfS: 1.1, phaseEpochs: 50 }, '0');
      const back = await readBack(path);
      const { meta: _m, ...rest } = back.header;
      const { meta: _w, ...wantRest } = want;
      expect(rest, `case ${i}`).toEqual(wantRest);
      expect(plainEpochs(back.epochs, true), `case ${i}`).toEqual(plainEpochs([...generateEpochs(o)], true));
    }
  }, 120_000);

  it('import of recorder JSON lines: edge epoch_ms and page sizes convert to files the readers read', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dl-prop-rec-'));
    for (const [pageSize, epochMs] of [[512, 1e-7], [2 ** 30, 9007199254], [4096, 0.5], [4096, null]] as const) {
      const src = join(dir, `r-${pageSize}-${epochMs}.jsonl`);
      writeFileSync(src, JSON.stringify({ page_size: pageSize, pages: 2 ** 32 - 1, epoch_ms: epochMs, deep: nested(62) }) + '\n'
        + JSON.stringify({ t0_ms: -4503599627, t1_ms: -4503599626.5, pages: [2 ** 32 - 2, 0, 5, 5] }) + '\n'
        + JSON.stringify({ t0_ms: 0, t1_ms: 4503599627, pages: [] }) + '\n');
      for (const ext of FORMATS) {
        const dst = join(dir, `r-${pageSize}-${epochMs}${ext}`);
        const r = await run('convert', src, dst);
        expect(r.err).toBe('');
        expect(r.code).toBe(0);
        const back = await readBack(dst);
        expect(back.header.pageSize).toBe(pageSize);
        expect(back.epochs.map((e) => Array.from(e.pages))).toEqual([[0, 5, 2 ** 32 - 2], []]);

      }
    }
  }, 60_000);
});

describe('4: what the readers would refuse, the writers refuse (TraceError naming the output, no file)', () => {
  const base = (over: Partial<TraceHeader> = {}): TraceHeader => ({
    pageSize: 4096, nPages: 16, timeUnit: 'ns', epochLen: 100, nEpochs: null, hasTimes: true, hasCounts: false, zeroAtStart: null, meta: {}, ...over,
  });
  const e = (t0: number, t1: number, pages: number[], counts?: number[]): Epoch => ({ t0, t1, pages: Uint32Array.from(pages), ...(counts ? { counts: Uint32Array.from(counts) } : {}) });
  it.each([
    ['page size 3', base({ pageSize: 3 }), [], /expected a page size that is a power of two from 512 B to 1 GiB, found 3/],
    ['page size 2^32', base({ pageSize: 2 ** 32 }), [], /found 4294967296/],
    ['0 pages', base({ nPages: 0 }), [], /a page count from 1 to 2\^32 − 1/],
    ['epoch length 2^53', base({ epochLen: 2 ** 53 }), [], /an epoch length that is an integer from 0 to 2\^53 − 1/],
    ['fixed epochs past 2^53 − 1 ns', base({ hasTimes: false, epochLen: 2 ** 53 - 1 }), [e(0, 2 ** 53 - 1, [1]), e(2 ** 53 - 1, 2 ** 54, [2])], /epoch 1 to end by 2\^53 − 1 ns/],
    ['time going backwards', base(), [e(0, 10, [1]), e(5, 20, [2])], /epoch 1: t0 ≥ the previous epoch's t1 = 10/],
    ['t1 < t0', base(), [e(10, 5, [1])], /epoch 0: t1 ≥ t0 = 10, found 5/],
    ['unsorted pages', base(), [e(0, 1, [3, 2])], /epoch 0: pages sorted and unique, found 2 after 3/],
    ['a page ≥ nPages', base(), [e(0, 1, [16])], /epoch 0: pages < nPages \(16\), found 16/],
    ['a write count of 0', base({ hasCounts: true }), [e(0, 1, [1, 2], [1, 0])], /write counts ≥ 1, found 0 for page 2/],
    ['counts missing', base({ hasCounts: true }), [e(0, 1, [1, 2])], /one write count per page \(2\), found none/],
    ['meta.timeZeroNs NaN', base({ meta: { timeZeroNs: NaN } }), [], /meta.timeZeroNs to be a finite number, found NaN/],
    ['meta nested 65 deep', base({ meta: { deep: nested(64) } as TraceHeader['meta'] }), [], /metadata nested at most 64 levels deep/],
    ['more epochs than nEpochs', base({ nEpochs: 1 }), [e(0, 1, [1]), e(1, 2, [1])], /at most nEpochs = 1 epochs, found more/],
  ] as [string, TraceHeader, Epoch[], RegExp][])('%s', async (_name, h, epochs, msg) => {
    const dir = mkdtempSync(join(tmpdir(), 'dl-refuse-'));
    for (const ext of FORMATS) {
      const path = join(dir, `out${ext}`);
      const err = await writeTraceFile(path, h, epochs).then(() => null, (x: unknown) => x);
      expect(err, ext).toBeInstanceOf(TraceError);
      expect((err as Error).message).toMatch(msg);
      expect((err as Error).message.startsWith(`${path}: `)).toBe(true);
      expect(readdirSync(dir)).toEqual([]);
    }
  });
});

describe('5: .dpt.jsonl streams epoch by epoch; the 64 MiB line limit on both sides', () => {
  it('a multi-epoch trace whose JSON is large (~24 MB, 8 epochs of 300,000 pages) round-trips', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dl-big-'));
    const nPages = 2 ** 32 - 1;
    const rng = mulberry32(5);
    const h: TraceHeader = { pageSize: 4096, nPages, timeUnit: 'ns', epochLen: 1e8, nEpochs: null, hasTimes: true, hasCounts: true, zeroAtStart: null, meta: { big: true } };
    function* epochs(): Generator<Epoch> {
      for (let k = 0; k < 8; k++) {
        const pages = new Uint32Array(300_000);
        let p = Math.floor(rng() * 1000);
        for (let i = 0; i < pages.length; i++) { pages[i] = p; p += 1 + Math.floor(rng() * 10_000); }
        yield { t0: k * 1e8, t1: (k + 1) * 1e8, pages, counts: pages.map((_, i) => 1 + (i % 300)) };
      }
    }
    const want = [...epochs()];
    const src = join(dir, 'big.dpt');
    await writeTraceFile(src, h, want);
    const dst = join(dir, 'big.dpt.jsonl');
    const r = await run('convert', src, dst);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const back = await readBack(dst);
    expect(back.header.nEpochs).toBe(8);
    expect(back.epochs.length).toBe(8);
    // Compared as bytes: a deep-equality diff of 300,000 numbers would be slow.
    const same = (a: Uint32Array | undefined, b: Uint32Array | undefined) => !!a && !!b && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
    for (let k = 0; k < 8; k++) {
      expect(same(back.epochs[k]!.pages, want[k]!.pages), `epoch ${k} pages`).toBe(true);
      expect(same(back.epochs[k]!.counts, want[k]!.counts), `epoch ${k} counts`).toBe(true);
    }
    // The pieces make the same line as the one-string encoder, and its length is known up front.
    expect(jsonlEpochLine(want[0]!, h).length).toBe(jsonlEpochLineLength(want[0]!, h));
  }, 120_000);

  it('the writer refuses an epoch whose line would pass 64 MiB (exit 2, naming the output and line), with no file left', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dl-long-'));
    // 7,000,000 consecutive pages near 2^32: a few bytes as a .dpt run, 77 MB as a JSON line.
    const n = 7_000_000;
    const h: TraceHeader = { pageSize: 4096, nPages: 2 ** 32 - 1, timeUnit: 'ns', epochLen: 100, nEpochs: 2, hasTimes: true, hasCounts: false, zeroAtStart: null, meta: {} };
    const pages = new Uint32Array(n);
    for (let i = 0; i < n; i++) pages[i] = 4_000_000_000 + i;
    expect(n).toBeLessThan(MAX_SET_PAGES);
    const src = join(dir, 'wide.dpt');
    await writeTraceFile(src, h, [{ t0: 0, t1: 100, pages: new Uint32Array([1]) }, { t0: 100, t1: 200, pages }]);
    const dst = join(dir, 'wide.dpt.jsonl');
    const r = await run('convert', src, dst);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(new RegExp(`^dirtylab: ${dst.replace(/[.]/g, '\\.')}: line 3: expected lines of at most ${MAX_LINE} characters \\(64 MiB, the \\.dpt\\.jsonl line limit\\), found 77000029 for epoch 1 \\(7000000 pages\\): write \\.dpt or \\.dpt\\.gz instead`));
    expect(r.err.split('\n').filter(Boolean)).toHaveLength(1);
    expect(readdirSync(dir)).toEqual(['wide.dpt']);
  }, 60_000);

  it('the reader refuses a line past 64 MiB: exit 2 naming the file and line, never a partial output', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dl-longread-'));
    const src = join(dir, 'long.dpt.jsonl');
    const head = JSON.stringify({ format: 'dpt-jsonl', version: 1, pageSize: 4096, nPages: 2 ** 32 - 1, timeUnit: 'ns', epochLen: 100, nEpochs: null, hasTimes: false, hasCounts: false, zeroAtStart: null, meta: {} });
    writeFileSync(src, `${head}\n{"pages":[1]}\n{"pages":[${'7,'.repeat(MAX_LINE / 2)}8]}\n`);
    for (const cmd of [['inspect', src], ['convert', src, join(dir, 'out.dpt')]]) {
      const r = await run(...cmd);
      expect(r.code).toBe(2);
      expect(r.err).toBe(`dirtylab: ${src}: line 3: expected lines of at most ${MAX_LINE} characters (64 MiB, the line limit of the JSON-lines readers), found a longer one\n`);
    }
    expect(readdirSync(dir)).toEqual(['long.dpt.jsonl']);
  }, 60_000);
});
