// The streamed .dpt (src/trace/dpt-file.ts): the same epochs, the same errors
// (file, byte offset, message) and the same simulation results as the
// in-memory reader, byte for byte.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Kernel } from '../src/kernel/index.js';
import { DptFile, isPlainDptFile, openDptFile } from '../src/trace/dpt-file.js';
import { generatedHeader, generateEpochs } from '../src/trace/generate.js';
import { TraceError, type Epoch, type Trace, type TraceHeader } from '../src/trace/model.js';
import { readTrace } from '../src/trace/open.js';
import { bytesInput } from '../src/trace/bytes.js';
import { mulberry32, randInt } from '../src/trace/random.js';
import { summarizeTrace } from '../src/trace/views.js';
import { simulate } from '../src/sim/simulate.js';
import '../src/sim/profiles.js';
import { dptBytes, header, hex } from './helpers.js';
import { GOLDEN_HEX } from './fixtures/golden.js';

const dir = mkdtempSync(join(tmpdir(), 'dirtylab-stream-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let serial = 0;
function onDisk(bytes: Uint8Array, name = `t${serial++}.dpt`): string {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

let kernelP: Promise<Kernel> | undefined;
const sharedKernel = (): Promise<Kernel> => (kernelP ??= Kernel.load());

/** The error (or null) each path gives for the same bytes. */
async function outcomes(bytes: Uint8Array): Promise<[string | null, string | null]> {
  const path = onDisk(bytes);
  // The commands stream only files that start with the .dpt magic (isPlainDptFile); others go to the format detection.
  if (!isPlainDptFile(path)) return [null, null];
  let mem: string | null = null;
  let str: string | null = null;
  try { await readTrace(bytesInput(path, bytes)); } catch (e) { if (!(e instanceof TraceError)) throw e; mem = e.message; }
  try { (await openDptFile(path)).close(); } catch (e) { if (!(e instanceof TraceError)) throw e; str = e.message; }
  // The scan that decodes in the kernel (inspect, simulate) refuses the same bytes with the same message.
  let ker: string | null = null;
  try { (await openDptFile(path, undefined, await sharedKernel())).close(); } catch (e) { if (!(e instanceof TraceError)) throw e; ker = e.message; }
  expect(ker, 'the kernel-decoding scan').toBe(str);
  return [mem, str];
}

/** A random trace: lists, bitmaps, runs, repeated sets, counts, times. */
function randomTrace(seed: number): { h: TraceHeader; epochs: Epoch[] } {
  const rng = mulberry32(seed);
  const nPages = 1 + randInt(rng, 3000);
  const hasCounts = rng() < 0.5;
  const hasTimes = rng() < 0.5;
  const h = header({ nPages, hasCounts, hasTimes, epochLen: 1_000_000, nEpochs: rng() < 0.5 ? null : undefined as never });
  const epochs: Epoch[] = [];
  let t = 0;
  let prev: Uint32Array | null = null;
  const n = 1 + randInt(rng, 40);
  for (let k = 0; k < n; k++) {
    let pages: Uint32Array;
    const kind = rng();
    if (prev && kind < 0.15) pages = prev;
    else if (kind < 0.3) { const s = randInt(rng, nPages); const l = 1 + randInt(rng, nPages - s); pages = Uint32Array.from({ length: l }, (_, i) => s + i); }
    else { const d = rng() < 0.3 ? 0.6 : 0.02; pages = Uint32Array.from({ length: nPages }, (_, i) => i).filter(() => rng() < d); }
    const t0 = hasTimes ? t + randInt(rng, 3) * 1000 : k * h.epochLen;
    const t1 = hasTimes ? t0 + 1000 + randInt(rng, 5_000_000) : (k + 1) * h.epochLen;
    t = t1;
    const e: Epoch = { t0, t1, pages };
    if (hasCounts) e.counts = Uint32Array.from(pages, () => (rng() < 0.9 ? 1 + randInt(rng, 100) : 1 + randInt(rng, 2 ** 32 - 1)));
    epochs.push(e);
    prev = pages;
  }
  if (h.nEpochs === undefined) h.nEpochs = epochs.length;
  return { h, epochs };
}

describe('streamed .dpt reader', () => {
  it('gives the epochs the in-memory reader gives (100 random traces)', async () => {
    for (let seed = 1; seed <= 100; seed++) {
      const { h, epochs } = randomTrace(seed);
      const bytes = await dptBytes(h, epochs);
      const path = onDisk(bytes);
      const mem = await readTrace(bytesInput(path, bytes));
      const f = await openDptFile(path);
      try {
        expect(f.length).toBe(mem.epochs.length);
        expect(f.header).toEqual(mem.header);
        // Random access, out of order, through the two-epoch cache.
        const order = mem.epochs.map((_, k) => k).reverse().concat(mem.epochs.map((_, k) => k));
        for (const k of order) {
          const e = mem.epochs[k]!;
          expect([f.t0(k), f.t1(k), f.size(k)]).toEqual([e.t0, e.t1, e.pages.length]);
          expect(Array.from(f.pages(k))).toEqual(Array.from(e.pages));
        }
      } finally {
        f.close();
      }
      // Decoding in the kernel: the same pages, the kernel's copy where kernelPtr says.
      const kernel = await sharedKernel();
      const g = await DptFile.open(path);
      try {
        let k = 0;
        for (const e of g.scanEpochs(kernel)) {
          expect(Array.from(e.pages), `seed ${seed} epoch ${k}`).toEqual(Array.from(mem.epochs[k]!.pages));
          if (e.kernelPtr! >= 0) expect(Array.from(kernel.u32.subarray(e.kernelPtr! >>> 2, (e.kernelPtr! >>> 2) + e.pages.length))).toEqual(Array.from(e.pages));
          k++;
        }
        expect(k).toBe(mem.epochs.length);
      } finally {
        g.close();
      }
    }
  });

  it('refuses every corrupt golden file with the in-memory reader\'s message', async () => {
    const golden = hex(GOLDEN_HEX);
    // Every byte set to a few values, and every truncation.
    let refused = 0;
    for (let at = 0; at < golden.length; at++) {
      for (const v of [0, 3, 0x80, golden[at]! ^ 0x10]) {
        const b = golden.slice();
        b[at] = v;
        const [mem, str] = await outcomes(b);
        expect(str, `byte ${at} = ${v}`).toBe(mem);
        if (mem) refused++;
      }
      const [mem, str] = await outcomes(golden.slice(0, at));
      expect(str, `truncated at ${at}`).toBe(mem);
    }
    expect(refused).toBeGreaterThan(300);
  });

  it('refuses corrupt random traces with counts as the in-memory reader does', async () => {
    const rng = mulberry32(99);
    for (let seed = 1; seed <= 30; seed++) {
      const { h, epochs } = randomTrace(seed);
      const bytes = await dptBytes(h, epochs);
      for (let i = 0; i < 10; i++) {
        const b = bytes.slice();
        const at = 52 + randInt(rng, b.length - 52);
        b[at] = randInt(rng, 256);
        const cut = rng() < 0.2 ? randInt(rng, b.length) : b.length;
        const [mem, str] = await outcomes(b.subarray(0, cut));
        expect(str, `seed ${seed}, byte ${at}, cut ${cut}`).toBe(mem);
      }
    }
  });

  it('inspect\'s summary is the same streamed and in memory', async () => {
    const kernel = await Kernel.load();
    const opts = { kind: 'phases' as const, pages: 5000, epochs: 300, epochMs: 50, rate: 40_000, seed: 5, phaseEpochs: 40 };
    const bytes = await dptBytes(generatedHeader(opts), generateEpochs(opts));
    const path = onDisk(bytes);
    const mem = await readTrace(bytesInput(path, bytes));
    const a = await summarizeTrace(mem.header, mem.epochs, kernel);
    const f2 = await DptFile.open(path);
    const b = await summarizeTrace(f2.header, f2.scanEpochs(), kernel);
    f2.close();
    expect(b).toEqual(a);
    expect(a.wt.filter((w) => w.pages !== null).length).toBeGreaterThan(2);
    // inspect's way: decoded and tallied in the kernel; and the JS tally (no kernel).
    const f3 = await DptFile.open(path);
    const c = await summarizeTrace(f3.header, f3.scanEpochs(kernel), kernel);
    f3.close();
    expect(c).toEqual(a);
    expect(await summarizeTrace(mem.header, mem.epochs, null)).toEqual(a);
  });

  it('the kernel tally and the JS tally agree on random traces, windows spanning few or many epochs', async () => {
    const kernel = await sharedKernel();
    for (let seed = 1; seed <= 40; seed++) {
      const { h, epochs } = randomTrace(seed);
      // 1 ms epochs: 0.5 ms windows (span 0) up to 10 s ones (every epoch: the list path when epochs are small).
      for (const windowsMs of [[0.5, 2, 7], [100, 10_000], []]) {
        const js = await summarizeTrace(h, epochs, null, { windowsMs, hotThreshold: 0.3 });
        const ker = await summarizeTrace(h, epochs, kernel, { windowsMs, hotThreshold: 0.3 });
        expect(ker, `seed ${seed} windows ${windowsMs}`).toEqual(js);
      }
    }
    // Sparse epochs under a long window (span > 2n + 64 epochs): the previous writes go as a list.
    const rng = mulberry32(5);
    const sparse: Epoch[] = Array.from({ length: 400 }, (_, k) => ({
      t0: k * 1e6, t1: (k + 1) * 1e6,
      pages: Uint32Array.from(new Set(Array.from({ length: randInt(rng, 4) }, () => randInt(rng, 50)))).sort(),
    }));
    const hs = header({ nPages: 50, epochLen: 1e6 });
    const js = await summarizeTrace(hs, sparse, null, { windowsMs: [1, 150, 10_000] });
    expect(await summarizeTrace(hs, sparse, kernel, { windowsMs: [1, 150, 10_000] })).toEqual(js);
    expect(js.wt[1]!.pages).toBeGreaterThan(20);
    // A huge guest without the kernel counts in chunks made as pages are written: the same summary
    // as the same writes in a small guest (an 8 TiB guest's flat counters took 8 GB).
    for (let seed = 1; seed <= 10; seed++) {
      const { h, epochs } = randomTrace(seed);
      const huge = { ...h, nPages: 2 ** 27 + 12_345 };
      const small = await summarizeTrace(h, epochs, null, { hotThreshold: 0.2 });
      const big = await summarizeTrace(huge, epochs, null, { hotThreshold: 0.2 });
      expect({ ...big, nPages: h.nPages }, `seed ${seed}`).toEqual(small);
    }
  });
});

describe("when the kernel's 4 GiB run out", () => {
  /** A kernel with only `left` bytes of its 4 GiB not yet taken (the rest reserved, never touched). */
  async function nearlyFull(left: number): Promise<Kernel> {
    const k = await Kernel.load();
    k.alloc(4 * 2 ** 30 - (k as unknown as { top: number }).top - left);
    return k;
  }

  it("inspect's tally goes on in JS from the kernel's counters: the same summary", async () => {
    const rng = mulberry32(21);
    const nPages = 100_000;
    const epochs: Epoch[] = Array.from({ length: 30 }, (_, k) => ({
      t0: k * 1e8, t1: (k + 1) * 1e8,
      // Small epochs first (counted in the kernel), then ones too big for what is left of it.
      pages: Uint32Array.from(new Set(Array.from({ length: k < 10 ? 200 : 60_000 }, () => randInt(rng, nPages)))).sort(),
    }));
    const h = header({ nPages, epochLen: 1e8 });
    const js = await summarizeTrace(h, epochs, null);
    const k = await nearlyFull(2 * 4 * nPages + 64 * 1024);
    expect(await summarizeTrace(h, epochs, k)).toEqual(js);
    expect(js.distinctPages).toBeGreaterThan(90_000);
  });

  it('the scan decodes in JS from the epoch the kernel has no room for: the same pages', async () => {
    // Without write counts (whose check could run out first) and with generated ones.
    const opts = { kind: 'uniform' as const, pages: 200_000, epochs: 12, epochMs: 100, rate: 300_000, seed: 6 };
    const bare = [...generateEpochs(opts)].map(({ t0, t1, pages }) => ({ t0, t1, pages }));
    for (const bytes of [await dptBytes(header({ nPages: 200_000, epochLen: 1e8 }), bare), await dptBytes(generatedHeader(opts), generateEpochs(opts))]) {
      const path = onDisk(bytes);
      const mem = await readTrace(bytesInput(path, bytes));
      const f = await DptFile.open(path);
      try {
        let k = 0;
        let inKernel = 0;
        for (const e of f.scanEpochs(await nearlyFull(256 * 1024))) {
          expect(Array.from(e.pages), `epoch ${k}`).toEqual(Array.from(mem.epochs[k]!.pages));
          if (e.kernelPtr! >= 0) inKernel++;
          k++;
        }
        expect(k).toBe(12);
        expect(inKernel).toBeLessThan(12);
      } finally {
        f.close();
      }
    }
  });
});

describe('simulate on a streamed .dpt', () => {
  const cases: [string, Record<string, unknown>][] = [
    ['qemu-precopy', {}],
    ['qemu-precopy', { onTraceEnd: 'loop', maxTimeMs: 120_000, bandwidth: 4 * 2 ** 20 }],
    ['precopy', { startEpoch: 7 }],
    ['precopy', { startTimeMs: 1234.5, params: { 'write-time': 'start' } }],
    ['precopy', { onTraceEnd: 'stop', params: { 'write-time': 'end' } }],
    ['postcopy', {}],
    ['hybrid', { startEpoch: 3 }],
    ['double-iteration', {}],
    ['qemu-auto-converge', { maxTimeMs: 60_000, bandwidth: 8 * 2 ** 20 }],
    ['qemu-precopy', { calibration: 'qemu-7.2-tcg' }],
    ['qemu-precopy', { recordedThrottle: [{ fromMs: 500, rate: 0.5 }, { fromMs: 1500, rate: 1 }] }],
    ['stop-and-copy', { onTraceEnd: 'idle' }],
  ];
  const opts = { kind: 'hotcold' as const, pages: 20_000, epochs: 40, epochMs: 100, rate: 60_000, seed: 11, hotFraction: 0.05 };
  let path = '';
  let mem: Trace;

  it.each(cases)('%s %j: the result equals the in-memory one', async (method, o) => {
    if (!path) {
      const bytes = await dptBytes(generatedHeader(opts), generateEpochs(opts));
      path = onDisk(bytes, 'sim.dpt');
      mem = await readTrace(bytesInput(path, bytes));
    }
    const kernel = await Kernel.load();
    const a = await simulate(mem, { method, kernel, ...o });
    const f = await openDptFile(path);
    try {
      const b = await simulate(f, { method, kernel, ...o });
      expect(JSON.stringify(b)).toBe(JSON.stringify(a));
    } finally {
      f.close();
    }
  });
});
