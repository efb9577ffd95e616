// Property tests: the WebAssembly kernel and its pure-TS twin must agree
// exactly on every operation, over ≥ 1000 random cases each: sizes that are
// not multiples of 64/128 bits, empty and full sets, ranges touching both ends.
import { beforeAll, describe, expect, it } from 'vitest';
import { Kernel, type Bitmap, DecodeError } from '../src/kernel/index.js';
import * as ref from '../src/kernel/reference.js';
import { mulberry32, randInt, type Rng } from '../src/trace/random.js';

const CASES = 1000;
let k: Kernel;

beforeAll(async () => {
  k = await Kernel.load();
});

/** Sizes: mostly odd ones, some exact multiples, some across several SIMD blocks. */
function randomSize(rng: Rng): number {
  const special = [1, 2, 63, 64, 65, 127, 128, 129, 191, 255, 256, 257, 511, 513, 1023, 1025];
  const r = rng();
  if (r < 0.25) return special[randInt(rng, special.length)]!;
  if (r < 0.9) return 1 + randInt(rng, 1500);
  return 1500 + randInt(rng, 6000);
}

/** Random content: empty, full, or a random density. */
function randomBits(rng: Rng, n: number): Uint8Array {
  const bytes = new Uint8Array(Math.ceil(n / 8));
  const kind = rng();
  const density = kind < 0.1 ? 0 : kind < 0.2 ? 1 : kind < 0.4 ? rng() * 0.02 : rng();
  for (let p = 0; p < n; p++) if (rng() < density) ref.putBit(bytes, p, true);
  return bytes;
}

/** A range [lo, hi) that often touches 0 and/or n, sometimes empty. */
function randomRange(rng: Rng, n: number): [number, number] {
  const r = rng();
  if (r < 0.2) return [0, n];
  if (r < 0.3) return [0, randInt(rng, n + 1)];
  if (r < 0.4) return [randInt(rng, n + 1), n];
  if (r < 0.45) { const x = randInt(rng, n + 1); return [x, x]; }
  const a = randInt(rng, n + 1);
  const b = randInt(rng, n + 1);
  return a <= b ? [a, b] : [b, a];
}

/** Put bytes into a fresh kernel bitmap; the padding beyond n stays as given. */
function load(bytes: Uint8Array, n: number): Bitmap {
  const bm = k.bitmap(n);
  k.u8.set(bytes, bm.ptr);
  return bm;
}

function fullBytes(bm: Bitmap): Uint8Array {
  return k.u8.slice(bm.ptr, bm.ptr + Math.ceil(bm.nBits / 8));
}

/** A random page list (some entries ≥ n) and a kernel buffer holding it. */
function randomList(rng: Rng, n: number): { list: Uint32Array; buf: ReturnType<Kernel['buffer']>; len: number } {
  const len = randInt(rng, 200);
  const list = new Uint32Array(len);
  for (let i = 0; i < len; i++) list[i] = randInt(rng, n + (rng() < 0.01 ? 10 : 0));
  const buf = k.buffer(Math.max(1, len));
  k.writeList(buf, list);
  return { list, buf, len };
}

function withBitmaps(count: number, n: number, rng: Rng, body: (kb: Bitmap[], rb: Uint8Array[]) => void): void {
  const rb = Array.from({ length: count }, () => randomBits(rng, n));
  const kb = rb.map((b) => load(b, n));
  body(kb, rb);
  for (const b of kb) k.dispose(b);
}

describe('kernel vs reference twin', () => {
  for (const op of ['or', 'and', 'andNot'] as const) {
    it(`${op} on random ranges`, () => {
      const rng = mulberry32(0xa11ce + op.length);
      for (let c = 0; c < CASES; c++) {
        const n = randomSize(rng);
        const [lo, hi] = randomRange(rng, n);
        withBitmaps(3, n, rng, ([kd, ka, kb], [rd, ra, rb]) => {
          k[op](kd!, ka!, kb!, lo, hi);
          ref[op](rd!, ra!, rb!, lo, hi);
          expect(fullBytes(kd!), `${op} n=${n} [${lo},${hi}) case ${c}`).toEqual(rd);
        });
      }
    });
  }

  it('or/and/andNot in place (dst aliases a)', () => {
    const rng = mulberry32(77);
    for (let c = 0; c < CASES; c++) {
      const n = randomSize(rng);
      const [lo, hi] = randomRange(rng, n);
      const op = (['or', 'and', 'andNot'] as const)[c % 3]!;
      withBitmaps(2, n, rng, ([ka, kb], [ra, rb]) => {
        k[op](ka!, ka!, kb!, lo, hi);
        ref[op](ra!, ra!, rb!, lo, hi);
        expect(fullBytes(ka!)).toEqual(ra);
      });
    }
  });

  for (const op of ['copy', 'clear', 'fill'] as const) {
    it(`${op} on random ranges`, () => {
      const rng = mulberry32(2 + op.length);
      for (let c = 0; c < CASES; c++) {
        const n = randomSize(rng);
        const [lo, hi] = randomRange(rng, n);
        withBitmaps(2, n, rng, ([kd, ks], [rd, rs]) => {
          if (op === 'copy') { k.copy(kd!, ks!, lo, hi); ref.copy(rd!, rs!, lo, hi); }
          if (op === 'clear') { k.clear(kd!, lo, hi); ref.clear(rd!, lo, hi); }
          if (op === 'fill') { k.fill(kd!, lo, hi); ref.fill(rd!, lo, hi); }
          expect(fullBytes(kd!), `${op} n=${n} [${lo},${hi})`).toEqual(rd);
        });
      }
    });
  }

  it('popcount and popcountAndNot', () => {
    const rng = mulberry32(3);
    for (let c = 0; c < CASES; c++) {
      const n = randomSize(rng);
      const [lo, hi] = randomRange(rng, n);
      withBitmaps(2, n, rng, ([ka, kb], [ra, rb]) => {
        expect(k.popcount(ka!, lo, hi)).toBe(ref.popcount(ra!, lo, hi));
        expect(k.popcountAndNot(ka!, kb!, lo, hi)).toBe(ref.popcountAndNot(ra!, rb!, lo, hi));
      });
    }
  });

  it('advance (the sender skipping k set bits from a cursor)', () => {
    const rng = mulberry32(4);
    for (let c = 0; c < CASES; c++) {
      const n = randomSize(rng);
      const [from, end] = randomRange(rng, n);
      withBitmaps(1, n, rng, ([ka], [ra]) => {
        const total = ref.popcount(ra!, from, end);
        const kk = rng() < 0.2 ? total + 1 + randInt(rng, 3) : randInt(rng, total + 1);
        expect(k.advance(ka!, from, kk, end), `n=${n} from=${from} k=${kk} end=${end}`)
          .toBe(ref.advance(ra!, from, kk, end));
      });
    }
  });

  it('collect and collectAndNot, with and without a max', () => {
    const rng = mulberry32(5);
    const out = new Uint32Array(8000);
    for (let c = 0; c < CASES; c++) {
      const n = randomSize(rng);
      const [lo, hi] = randomRange(rng, n);
      const max = rng() < 0.3 ? randInt(rng, 20) : 8000;
      const kout = k.buffer(8000);
      withBitmaps(2, n, rng, ([ka, kb], [ra, rb]) => {
        const n1 = k.collect(ka!, kout, lo, hi, max);
        const r1 = ref.collect(ra!, lo, hi, out, max);
        expect(n1).toBe(r1);
        expect(k.entriesOf(kout, n1)).toEqual(out.subarray(0, r1));
        const n2 = k.collectAndNot(ka!, kb!, kout, lo, hi, max);
        const r2 = ref.collectAndNot(ra!, rb!, lo, hi, out, max);
        expect(n2).toBe(r2);
        expect(k.entriesOf(kout, n2)).toEqual(out.subarray(0, r2));
      });
      k.dispose(kout);
    }
  });

  it('setList and clearList with unsorted, duplicated and out-of-range entries', () => {
    const rng = mulberry32(6);
    for (let c = 0; c < CASES; c++) {
      const n = randomSize(rng);
      const { list, buf, len } = randomList(rng, n);
      withBitmaps(1, n, rng, ([kb], [rb]) => {
        expect(k.setList(kb!, buf, len)).toBe(ref.setList(rb!, n, list, len));
        expect(fullBytes(kb!)).toEqual(rb);
        expect(k.clearList(kb!, buf, len)).toBe(ref.clearList(rb!, n, list, len));
        expect(fullBytes(kb!)).toEqual(rb);
      });
      k.dispose(buf);
    }
  });

  it('setList2 sets the same bits in two bitmaps (or one, twice)', () => {
    const rng = mulberry32(61);
    for (let c = 0; c < CASES; c++) {
      const n = randomSize(rng);
      const { list, buf, len } = randomList(rng, n);
      withBitmaps(2, n, rng, ([ka, kb], [ra, rb]) => {
        const same = c % 5 === 0;
        expect(k.setList2(ka!, same ? ka! : kb!, buf, len)).toBe(ref.setList2(ra!, same ? ra! : rb!, n, list, len));
        expect(fullBytes(ka!)).toEqual(ra);
        expect(fullBytes(kb!)).toEqual(rb);
      });
      k.dispose(buf);
    }
  });

  it('decodeDeltaVarint on valid and corrupt payloads', () => {
    const rng = mulberry32(7);
    for (let c = 0; c < CASES; c++) {
      const n = randomSize(rng);
      const bits = randomBits(rng, n);
      const pages: number[] = [];
      for (let p = 0; p < n; p++) if (ref.getBit(bits, p)) pages.push(p);
      const bytes: number[] = [];
      let prev = 0;
      pages.forEach((p, i) => {
        let v = i === 0 ? p : p - prev;
        prev = p;
        do { let b = v & 0x7f; v = Math.floor(v / 128); if (v > 0) b |= 0x80; bytes.push(b); } while (v > 0);
      });
      // Corrupt a third of the cases: flip a byte, cut the end, or add a zero gap.
      const r = rng();
      if (r < 0.1 && bytes.length > 0) bytes[randInt(rng, bytes.length)] = randInt(rng, 256);
      else if (r < 0.2 && bytes.length > 0) bytes[bytes.length - 1]! |= 0x80;
      else if (r < 0.3 && bytes.length > 0) bytes.push(0);
      else if (r < 0.33) bytes.push(0xff, 0xff, 0xff, 0xff, 0xff, 0x01);
      const payload = Uint8Array.from(bytes);
      const kb = k.bitmap(n);
      const rb = new Uint8Array(Math.ceil(n / 8));
      const rr = ref.decodeDeltaVarint(rb, n, payload, payload.length);
      let kr: number;
      try {
        kr = k.decodeDeltaVarint(kb, payload);
      } catch (e) {
        expect(e).toBeInstanceOf(DecodeError);
        kr = (e as DecodeError).code;
        expect((e as DecodeError).offset).toBe(ref.lastErrorOffset());
      }
      expect(kr, `case ${c} payload ${Array.from(payload.slice(-8))} n=${n}`).toBe(rr);
      if (rr >= 0) expect(fullBytes(kb)).toEqual(rb);
      k.dispose(kb);
    }
  });
});

describe('kernel: .dpt payloads and write tallies (inspect)', () => {
  /** LEB128 bytes of v (any size). */
  const leb = (v: number, out: number[]): void => {
    do { let b = v & 0x7f; v = Math.floor(v / 128); if (v > 0) b |= 0x80; out.push(b); } while (v > 0);
  };
  /** Copy bytes into kernel memory; its byte offset. */
  const put = (bytes: Uint8Array): number => {
    const ptr = k.alloc(bytes.length + 8);
    k.u8.set(bytes, ptr);
    return ptr;
  };

  it('decodeList agrees with its twin on valid and corrupt payloads (and on what n it is told)', () => {
    const rng = mulberry32(11);
    for (let c = 0; c < CASES; c++) {
      const nBits = randomSize(rng);
      const bits = randomBits(rng, nBits);
      const pages: number[] = [];
      for (let p = 0; p < nBits; p++) if (ref.getBit(bits, p)) pages.push(p);
      const bytes: number[] = [];
      pages.forEach((p, i) => leb(i === 0 ? p : p - pages[i - 1]!, bytes));
      let n = pages.length;
      const r = rng();
      if (r < 0.08 && bytes.length > 0) bytes[randInt(rng, bytes.length)] = randInt(rng, 256);
      else if (r < 0.14 && bytes.length > 0) bytes.pop();
      else if (r < 0.2) bytes.push(randInt(rng, 3));
      else if (r < 0.24) bytes.push(0xff, 0xff, 0xff, 0xff, 0xff, 0x01);
      else if (r < 0.3) n = Math.max(0, n + (rng() < 0.5 ? -1 : 1));
      else if (r < 0.33) leb(2 ** 32 + randInt(rng, 1000), bytes);
      const payload = Uint8Array.from(bytes);
      const src = put(payload);
      const out = k.buffer(Math.max(1, n));
      const refOut = new Uint32Array(Math.max(1, n));
      const want = ref.decodeList(refOut, nBits, payload, payload.length, n);
      const got = k.decodeList(out, nBits, src, payload.length, n);
      expect(got, `case ${c}`).toBe(want);
      if (want < 0) expect(k.raw.lastErrorOffset()).toBe(ref.lastErrorOffset());
      else {
        expect(Array.from(k.entriesOf(out, n))).toEqual(Array.from(refOut.subarray(0, n)));
        if (r >= 0.33) expect(Array.from(refOut.subarray(0, n))).toEqual(pages);
      }
      k.dispose(out);
      k.release(src, payload.length + 8);
    }
  });

  it('checkCounts agrees with its twin: 1 … 2^32 − 1 in at most 5 bytes, nothing else', () => {
    const rng = mulberry32(12);
    const edge = [1, 127, 128, 16383, 16384, 2 ** 28 - 1, 2 ** 28, 2 ** 32 - 1];
    for (let c = 0; c < CASES; c++) {
      const n = randInt(rng, 60);
      const bytes: number[] = [];
      for (let i = 0; i < n; i++) leb(rng() < 0.3 ? edge[randInt(rng, edge.length)]! : 1 + randInt(rng, rng() < 0.5 ? 127 : 100000), bytes);
      const r = rng();
      if (r < 0.1) leb(0, bytes);
      else if (r < 0.2) leb(2 ** 32 + randInt(rng, 5), bytes);
      else if (r < 0.25) bytes.push(0x80, 0x80, 0x80, 0x80, 0x80, 0x01);
      else if (r < 0.3 && bytes.length > 0) bytes[randInt(rng, bytes.length)] = randInt(rng, 256);
      else if (r < 0.35 && bytes.length > 0) bytes.pop();
      const m = n + (r < 0.35 ? 1 : 0);
      const payload = Uint8Array.from(bytes);
      const src = put(payload);
      const want = ref.checkCounts(payload, payload.length, m);
      expect(k.checkCounts(src, payload.length, m), `case ${c}`).toBe(want);
      if (want < 0) expect(k.raw.lastErrorOffset()).toBe(ref.lastErrorOffset());
      if (r >= 0.35) expect(want).toBe(payload.length);
      k.release(src, payload.length + 8);
    }
  });

  it('tallyPages agrees with its twin over a sequence of epochs (histogram and list modes, out-of-range pages)', () => {
    const rng = mulberry32(13);
    for (let c = 0; c < 200; c++) {
      const nBits = randomSize(rng);
      const counts = k.buffer(nBits);
      const last = k.buffer(nBits);
      const rc = new Uint32Array(nBits);
      const rl = new Uint32Array(nBits);
      for (let j = 0; j < 1 + randInt(rng, 12); j++) {
        const bits = randomBits(rng, nBits);
        const list: number[] = [];
        for (let p = 0; p < nBits; p++) if (ref.getBit(bits, p)) list.push(p);
        if (rng() < 0.05) list.push(nBits + randInt(rng, 5));
        const n = list.length;
        const pages = k.buffer(Math.max(1, n));
        k.entriesOf(pages, n).set(list);
        const fmin = randInt(rng, j + 1);
        const useHist = rng() < 0.5;
        const hist = useHist ? k.buffer(4 * (j - fmin + 2)) : null;
        const prev = useHist ? null : k.buffer(Math.max(1, n));
        const rh = useHist ? new Uint32Array(4 * (j - fmin + 2)) : null;
        const rp = useHist ? null : new Uint32Array(Math.max(1, n));
        const want = ref.tallyPages(Uint32Array.from(list), n, nBits, rc, rl, j + 1, rh, fmin, rp);
        expect(k.tallyPages(pages, n, nBits, counts, last, j + 1, hist, fmin, prev), `case ${c} epoch ${j}`).toBe(want);
        if (useHist) expect(Array.from(k.entriesOf(hist!))).toEqual(Array.from(rh!));
        else if (want >= 0) expect(Array.from(k.entriesOf(prev!, n))).toEqual(Array.from(rp!.subarray(0, n)));
        for (const b of [pages, hist, prev]) if (b) k.dispose(b);
      }
      expect(Array.from(k.entriesOf(counts))).toEqual(Array.from(rc));
      expect(Array.from(k.entriesOf(last))).toEqual(Array.from(rl));
      k.dispose(counts);
      k.dispose(last);
    }
  });
});

describe('kernel memory', () => {
  it('grows on demand, keeps data across growth, and reuses released bitmaps', async () => {
    const kk = await Kernel.load();
    const a = kk.bitmap(1000);
    kk.fill(a, 10, 990);
    const before = kk.memoryBytes;
    const big = kk.bitmap(2 ** 28); // 32 MiB: forces growth
    expect(kk.memoryBytes).toBeGreaterThan(before);
    expect(kk.popcount(a)).toBe(980);
    kk.fill(big, 2 ** 28 - 100, 2 ** 28);
    expect(kk.popcount(big)).toBe(100);
    kk.dispose(big);
    const again = kk.bitmap(2 ** 28);
    expect(again.ptr).toBe(big.ptr);
    expect(kk.popcount(again)).toBe(0); // reused memory comes back zeroed
  });

  it('grows to the 4 GiB wasm32 limit and refuses, with a clear error, to go past it', async () => {
    const kk = await Kernel.load();
    expect(() => kk.alloc(5 * 2 ** 30)).toThrow(/4 GiB/);
    // Growing reserves address space only; nothing is touched but two bitmaps at the top.
    kk.alloc(4 * 2 ** 30 - 2 ** 26); // + the first 64 KiB: one 32 MiB bitmap fits, two do not
    expect(kk.memoryBytes).toBeGreaterThan(3.9 * 2 ** 30);
    const top = kk.bitmap(2 ** 28);
    expect(top.ptr).toBeGreaterThan(2 ** 31); // a pointer above 2 GiB works (>>> 0 on returns)
    kk.fill(top, 2 ** 28 - 77, 2 ** 28);
    expect(kk.popcount(top)).toBe(77);
    expect(kk.advance(top, 0, 77)).toBe(2 ** 28);
    expect(() => kk.bitmap(2 ** 28)).toThrow(/needs .* of WebAssembly memory; wasm32 allows at most 4 GiB/);
  });
});
