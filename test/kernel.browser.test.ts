// In headless Chromium: the browser entry loads the same build/bitset.wasm by
// fetch (no Node API), agrees with the twin, grows memory, and reads a
// gzipped .dpt through DecompressionStream.
import { describe, expect, it } from 'vitest';
import { Kernel, reference as ref, mulberry32, DptWriter, readTrace, bytesInput, summarizeTrace, type ByteSink } from '../src/browser.js';

describe('kernel in the browser', () => {
  it('runs in a real browser, not Node', () => {
    expect(typeof window).toBe('object');
    expect(typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node).toBe('undefined');
  });

  it('agrees with the twin on 300 random cases of or, andNot, popcount, advance and collect', async () => {
    const k = await Kernel.load();
    const rng = mulberry32(2024);
    for (let c = 0; c < 300; c++) {
      const n = 1 + Math.floor(rng() * 2000);
      const ra = new Uint8Array(Math.ceil(n / 8)).map(() => Math.floor(rng() * 256));
      const rb = new Uint8Array(Math.ceil(n / 8)).map(() => Math.floor(rng() * 256));
      for (let p = n; p < ra.length * 8; p++) { ref.putBit(ra, p, false); ref.putBit(rb, p, false); }
      const ka = k.bitmap(n), kb = k.bitmap(n), kd = k.bitmap(n);
      k.u8.set(ra, ka.ptr); k.u8.set(rb, kb.ptr);
      const lo = Math.floor(rng() * n), hi = lo + Math.floor(rng() * (n - lo + 1));
      const rd = new Uint8Array(ra.length);
      k.or(kd, ka, kb, lo, hi); ref.or(rd, ra, rb, lo, hi);
      expect(k.u8.slice(kd.ptr, kd.ptr + rd.length)).toEqual(rd);
      k.andNot(kd, ka, kb, lo, hi); ref.andNot(rd, ra, rb, lo, hi);
      expect(k.u8.slice(kd.ptr, kd.ptr + rd.length)).toEqual(rd);
      expect(k.popcount(ka, lo, hi)).toBe(ref.popcount(ra, lo, hi));
      expect(k.popcountAndNot(ka, kb, lo, hi)).toBe(ref.popcountAndNot(ra, rb, lo, hi));
      expect(k.advance(ka, lo, 3, hi)).toBe(ref.advance(ra, lo, 3, hi));
      expect(Array.from(k.toList(ka, kb, lo, hi))).toEqual(Array.from({ length: n }, (_, p) => p).filter((p) => p >= lo && p < hi && ref.getBit(ra, p) && !ref.getBit(rb, p)));
      for (const b of [ka, kb, kd]) k.dispose(b);
    }
  });

  it('grows memory for a 2^28-page bitmap', async () => {
    const k = await Kernel.load();
    const big = k.bitmap(2 ** 28);
    k.fill(big, 2 ** 28 - 1000, 2 ** 28);
    expect(k.popcount(big)).toBe(1000);
    expect(k.memoryBytes).toBeGreaterThan(32 * 2 ** 20);
  });

  it('reads a gzipped .dpt and summarises it', async () => {
    const parts: Uint8Array[] = [];
    const sink: ByteSink = { write: (b) => void parts.push(b.slice()) };
    const h = { pageSize: 4096, nPages: 100, timeUnit: 'ns' as const, epochLen: 1e8, nEpochs: 3, hasTimes: false, hasCounts: false, zeroAtStart: null, meta: { where: 'browser' } };
    const w = new DptWriter(sink, h);
    for (const pages of [[1, 2, 3], [2, 3, 4], [50]]) await w.writeEpoch({ t0: 0, t1: 0, pages: Uint32Array.from(pages) });
    await w.close();
    const raw = new Blob(parts as BlobPart[]);
    const gz = new Uint8Array(await new Response(raw.stream().pipeThrough(new CompressionStream('gzip'))).arrayBuffer());
    const t = await readTrace(bytesInput('in-browser.dpt.gz', gz));
    expect(t.epochs.map((e) => Array.from(e.pages))).toEqual([[1, 2, 3], [2, 3, 4], [50]]);
    async function* again() { yield* t.epochs; }
    const s = await summarizeTrace(t.header, again(), await Kernel.load(), { windowsMs: [100, 200] });
    expect(s.distinctPages).toBe(5);
    expect(s.wt[1]!.pages).toBe(4); // {1,2,3} ∪ {2,3,4} = 4 pages, then {2,3,4} ∪ {50} = 4
  });
});

describe('simulate in the browser', async () => {
  const { simulate: sim, generatedHeader, generateEpochs } = await import('../src/browser.js');
  it('replays a generated trace through QEMU pre-copy like Node does', async () => {
    const g = { kind: 'hotcold' as const, pages: 4096, epochs: 20, epochMs: 100, rate: 2000, seed: 3 };
    const r = await sim({ header: generatedHeader(g), epochs: [...generateEpochs(g)] }, { method: 'qemu-precopy', bandwidth: 8 * 2 ** 20 });
    expect(r.completed).toBe(true);
    expect(r.pagesSent - r.pagesResent).toBe(4096);
    expect(r.dirtySyncCount).toBe(r.rounds.length);
  });
});
