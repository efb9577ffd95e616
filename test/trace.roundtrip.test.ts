// Round trips through every format, encoding choice, chunk boundaries and
// streaming with bounded memory.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ENC_BITMAP, ENC_LIST, ENC_RUNS, ENC_SAME, encodeEpoch } from '../src/trace/dpt.js';
import type { Epoch, TraceHeader } from '../src/trace/model.js';
import { fileInput, writeTraceFile } from '../src/trace/node.js';
import { openTrace, readTrace } from '../src/trace/open.js';
import { mulberry32, randInt, type Rng } from '../src/trace/random.js';
import { generateEpochs, generatedHeader } from '../src/trace/generate.js';
import { bytesInput, chunkedInput, dptBytes, ep, header } from './helpers.js';

/** A random trace that exercises every encoding, times, counts and zeroAtStart. */
function randomTrace(rng: Rng): { h: TraceHeader; epochs: Epoch[] } {
  const nPages = 1 + randInt(rng, 3000);
  const hasTimes = rng() < 0.7;
  const hasCounts = rng() < 0.4;
  const h = header({
    nPages, hasTimes, hasCounts, epochLen: 1 + randInt(rng, 1000),
    zeroAtStart: rng() < 0.5 ? Uint32Array.from({ length: nPages }, (_, i) => i).filter(() => rng() < 0.3) : null,
    meta: { seed: rng(), note: 'random ✓' },
  });
  const epochs: Epoch[] = [];
  let t = 0;
  for (let k = 0; k < 1 + randInt(rng, 30); k++) {
    const kind = rng();
    let pages: Uint32Array;
    if (kind < 0.15 && epochs.length > 0) pages = epochs[epochs.length - 1]!.pages.slice();
    else if (kind < 0.35) { const s = randInt(rng, nPages); pages = Uint32Array.from({ length: randInt(rng, nPages - s) }, (_, i) => s + i); }
    else { const d = rng(); pages = Uint32Array.from({ length: nPages }, (_, i) => i).filter(() => rng() < d * d); }
    const t0 = hasTimes ? t + randInt(rng, 3) : k * h.epochLen;
    const t1 = hasTimes ? t0 + randInt(rng, 500) : (k + 1) * h.epochLen;
    t = t1;
    const e: Epoch = { t0, t1, pages };
    if (hasCounts) e.counts = Uint32Array.from(pages, () => 1 + randInt(rng, 300));
    epochs.push(e);
  }
  return { h, epochs };
}

function plain(e: Epoch) {
  return { t0: e.t0, t1: e.t1, pages: Array.from(e.pages), counts: e.counts ? Array.from(e.counts) : undefined };
}

describe('.dpt round trip', () => {
  it('200 random traces: write → read gives the same trace, in any chunking', async () => {
    const rng = mulberry32(99);
    const seen = new Set<number>();
    for (let c = 0; c < 200; c++) {
      const { h, epochs } = randomTrace(rng);
      const bytes = await dptBytes(h, epochs, rng() < 0.5);
      let prev: Uint32Array | null = null;
      for (const e of epochs) { seen.add(encodeEpoch(e, prev, h)[(h.hasTimes ? 16 : 0) + 4]!); prev = e.pages; }
      const chunk = [1, 7, 64, 1 << 20][c % 4]!;
      const t = await readTrace(chunkedInput('r.dpt', bytes, chunk));
      expect(t.header.nPages).toBe(h.nPages);
      expect(t.header.hasTimes).toBe(h.hasTimes);
      expect(t.header.hasCounts).toBe(h.hasCounts);
      expect(t.header.meta).toEqual(h.meta);
      expect(t.header.zeroAtStart ? Array.from(t.header.zeroAtStart) : null).toEqual(h.zeroAtStart ? Array.from(h.zeroAtStart) : null);
      expect(t.epochs.map(plain)).toEqual(epochs.map(plain));
    }
    expect([...seen].sort()).toEqual([ENC_LIST, ENC_BITMAP, ENC_RUNS, ENC_SAME]);
  });

  it('picks the smallest encoding: sparse → list, dense → bitmap, contiguous → runs, repeat → same', () => {
    const h = header({ nPages: 10000 });
    const enc = (e: Epoch, prev: Uint32Array | null = null) => encodeEpoch(e, prev, h)[16 + 4];
    const dense = Uint32Array.from({ length: 10000 }, (_, i) => i).filter((i) => i % 3 !== 0);
    expect(enc(ep(0, 1, [5, 900, 7000]))).toBe(ENC_LIST);
    expect(enc({ t0: 0, t1: 1, pages: dense })).toBe(ENC_BITMAP);
    expect(enc(ep(0, 1, Array.from({ length: 4000 }, (_, i) => 100 + i)))).toBe(ENC_RUNS);
    expect(enc(ep(1, 2, [5, 900]), Uint32Array.from([5, 900]))).toBe(ENC_SAME);
  });

  it('records n_epochs by seeking back, so a cut at an epoch boundary is detected', async () => {
    const h = header({ nEpochs: null });
    const epochs = [ep(0, 10, [1]), ep(10, 20, [2]), ep(20, 30, [3])];
    const bytes = await dptBytes(h, epochs, true);
    expect(new DataView(bytes.buffer).getBigUint64(40, true)).toBe(3n);
    const cut = bytes.slice(0, bytes.length - 26); // drop the last epoch block whole
    await expect(readTrace(bytesInput('cut.dpt', cut))).rejects.toThrow(/cut\.dpt: byte \d+: expected epoch 2 of n_epochs = 3, found end of file/);
    // Without seeking (a pipe), n_epochs stays 0 and the reader reads to the end.
    const unseekable = await dptBytes(h, epochs, false);
    expect(new DataView(unseekable.buffer).getBigUint64(40, true)).toBe(0n);
    expect((await readTrace(bytesInput('pipe.dpt', unseekable))).epochs.length).toBe(3);
  });

  it('streams: reading the first epochs of an endless .dpt never reads the whole input', async () => {
    const h = header({ nPages: 1 << 20, hasTimes: false, epochLen: 1 });
    const headBytes = await dptBytes(h, []);
    let pulled = 0;
    const endless = {
      name: 'endless.dpt',
      async *open() {
        yield headBytes;
        let prev: Uint32Array | null = null;
        for (let k = 0; ; k++) {
          const e = ep(0, 0, [k % (1 << 20), (k * 7919 + 1) % (1 << 20)].sort((a, b) => a - b).filter((v, i, a) => i === 0 || v !== a[i - 1]));
          const block = encodeEpoch(e, prev, h);
          prev = e.pages;
          pulled += block.length;
          yield block;
        }
      },
    };
    const t = await openTrace(endless);
    let n = 0;
    for await (const e of t.epochs) { expect(e.t0).toBe(n); if (++n === 5000) break; }
    expect(n).toBe(5000);
    expect(pulled).toBeLessThan(5000 * 40);
  });
});

describe('files: .dpt, .dpt.gz, .dpt.jsonl', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dirtylab-rt-'));

  it('every format round-trips exactly, detected from content whatever the name', async () => {
    const opts = { kind: 'hotcold' as const, pages: 5000, epochs: 40, epochMs: 50, rate: 20000, seed: 3 };
    const h = generatedHeader(opts);
    const epochs = [...generateEpochs(opts)];
    for (const name of ['a.dpt', 'a.dpt.gz', 'a.dpt.jsonl', 'a.dpt.jsonl.gz']) {
      const path = join(dir, name);
      await writeTraceFile(path, h, epochs);
      const t = await readTrace(fileInput(path));
      expect(t.format).toBe(name.includes('jsonl') ? 'dpt-jsonl' : 'dpt');
      expect(t.header).toEqual(h);
      expect(t.epochs.map(plain)).toEqual(epochs.map(plain));
      writeFileSync(join(dir, 'renamed.bin'), readFileSync(path));
      expect((await readTrace(fileInput(join(dir, 'renamed.bin')))).epochs.length).toBe(40);
    }
  });

  it('generate: dense epochs (counted per page) and sparse ones (sorted) both give sorted distinct pages whose counts sum to the writes drawn', () => {
    // 1,000 pages: 200 writes an epoch take the per-page count (200 × 8 ≥ 1,000), 50 take the sort.
    for (const perEpoch of [200, 50, 1500]) {
      const epochs = [...generateEpochs({ kind: 'uniform', pages: 1000, epochs: 30, epochMs: 100, rate: perEpoch * 10, seed: 9 })];
      const seen = new Set<number>();
      for (const e of epochs) {
        expect(e.counts!.reduce((s, c) => s + c, 0)).toBe(perEpoch);
        for (let i = 0; i < e.pages.length; i++) {
          expect(e.counts![i]).toBeGreaterThan(0);
          if (i > 0) expect(e.pages[i]).toBeGreaterThan(e.pages[i - 1]!);
          seen.add(e.pages[i]!);
        }
      }
      // Uniform draws reach most pages over 30 epochs; the per-page tally is zeroed between epochs.
      expect(seen.size).toBeGreaterThan(perEpoch === 50 ? 700 : 990);
      expect(epochs[1]!.pages).not.toEqual(epochs[0]!.pages);
    }
  });

  it('a gzipped .dpt is detected by its magic bytes', async () => {
    const bytes = await dptBytes(header(), [ep(0, 5, [1, 2, 3])]);
    const t = await openTrace(bytesInput('x', new Uint8Array(gzipSync(bytes))));
    expect(t.gzipped).toBe(true);
    expect(t.format).toBe('dpt');
  });
});
