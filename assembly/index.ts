// dirtylab bitset kernel (AssemblyScript → WebAssembly, SIMD).
//
// A bitmap is a run of little-endian 64-bit words in linear memory; page p is
// bit (p & 63) of word (p >> 6), i.e. byte p >> 3, bit p & 7 — the same layout
// as a .dpt raw-bitmap epoch, so such an epoch can be copied in unchanged.
// Pointers are byte offsets chosen by the caller (src/kernel/index.ts lays the
// bitmaps out itself: the stub runtime cannot allocate 1 GiB in one piece).
// Bit positions are u32, so one bitmap covers at most 2^32 − 1 pages.
//
// Every function has a twin with the same name and meaning in
// src/kernel/reference.ts; test/kernel.property.test.ts requires both to agree.
//
// Range functions work on bits [lo, hi) and leave all other bits untouched.
// Measured on this machine (../shared/research/perf.md): V8 lowers
// i8x16.popcnt poorly, so popcounts use scalar i64.popcnt unrolled ×4, while
// the or/and/andNot/copy streams use v128.

// ---- helpers -------------------------------------------------------------

/** Mask of the bits ≥ (b & 63) within a word. */
// @ts-ignore: decorator
@inline function maskFrom(b: u32): u64 {
  return (<u64>-1) << <u64>(b & 63);
}

/** Mask of the bits ≤ (b & 63) within a word. */
// @ts-ignore: decorator
@inline function maskThrough(b: u32): u64 {
  return (<u64>-1) >>> <u64>(63 - (b & 63));
}

// @ts-ignore: decorator
@inline function wordPtr(base: usize, w: u32): usize {
  return base + ((<usize>w) << 3);
}

const OP_OR: i32 = 0;
const OP_AND: i32 = 1;
const OP_ANDNOT: i32 = 2;
const OP_COPY: i32 = 3;

// @ts-ignore: decorator
@inline function op64(op: i32, a: u64, b: u64): u64 {
  if (op == OP_OR) return a | b;
  if (op == OP_AND) return a & b;
  if (op == OP_ANDNOT) return a & ~b;
  return a;
}

// @ts-ignore: decorator
@inline function op128(op: i32, a: v128, b: v128): v128 {
  if (op == OP_OR) return v128.or(a, b);
  if (op == OP_AND) return v128.and(a, b);
  if (op == OP_ANDNOT) return v128.andnot(a, b);
  return a;
}

/** dst[w] = op(a[w], b[w]) for whole words [w0, w1), 128 bytes per step. */
// @ts-ignore: decorator
@inline function streamWords(op: i32, dst: usize, a: usize, b: usize, w0: u32, w1: u32): void {
  const start = (<usize>w0) << 3;
  let pa = a + start;
  let pb = b + start;
  let pd = dst + start;
  const end = a + ((<usize>w1) << 3);
  while (pa + 128 <= end) {
    const x0 = op128(op, v128.load(pa), v128.load(pb));
    const x1 = op128(op, v128.load(pa, 16), v128.load(pb, 16));
    const x2 = op128(op, v128.load(pa, 32), v128.load(pb, 32));
    const x3 = op128(op, v128.load(pa, 48), v128.load(pb, 48));
    const x4 = op128(op, v128.load(pa, 64), v128.load(pb, 64));
    const x5 = op128(op, v128.load(pa, 80), v128.load(pb, 80));
    const x6 = op128(op, v128.load(pa, 96), v128.load(pb, 96));
    const x7 = op128(op, v128.load(pa, 112), v128.load(pb, 112));
    v128.store(pd, x0); v128.store(pd, x1, 16); v128.store(pd, x2, 32); v128.store(pd, x3, 48);
    v128.store(pd, x4, 64); v128.store(pd, x5, 80); v128.store(pd, x6, 96); v128.store(pd, x7, 112);
    pa += 128; pb += 128; pd += 128;
  }
  while (pa < end) {
    store<u64>(pd, op64(op, load<u64>(pa), load<u64>(pb)));
    pa += 8; pb += 8; pd += 8;
  }
}

/** Apply op on bits [lo, hi): masked edge words, streamed middle. */
// @ts-ignore: decorator
@inline function rangeOp(op: i32, dst: usize, a: usize, b: usize, lo: u32, hi: u32): void {
  if (lo >= hi) return;
  const w0 = lo >>> 6;
  const w1 = (hi - 1) >>> 6;
  let m0 = maskFrom(lo);
  const m1 = maskThrough(hi - 1);
  if (w0 == w1) m0 &= m1;
  let p = wordPtr(dst, w0);
  let d = load<u64>(p);
  store<u64>(p, (d & ~m0) | (op64(op, load<u64>(wordPtr(a, w0)), load<u64>(wordPtr(b, w0))) & m0));
  if (w0 == w1) return;
  streamWords(op, dst, a, b, w0 + 1, w1);
  p = wordPtr(dst, w1);
  d = load<u64>(p);
  store<u64>(p, (d & ~m1) | (op64(op, load<u64>(wordPtr(a, w1)), load<u64>(wordPtr(b, w1))) & m1));
}

// ---- whole-word streams ----------------------------------------------------

/** dst = a | b on bits [lo, hi). dst may alias a or b. */
export function or(dst: usize, a: usize, b: usize, lo: u32, hi: u32): void {
  rangeOp(OP_OR, dst, a, b, lo, hi);
}

/** dst = a & b on bits [lo, hi). */
export function and(dst: usize, a: usize, b: usize, lo: u32, hi: u32): void {
  rangeOp(OP_AND, dst, a, b, lo, hi);
}

/** dst = a & ~b on bits [lo, hi). */
export function andNot(dst: usize, a: usize, b: usize, lo: u32, hi: u32): void {
  rangeOp(OP_ANDNOT, dst, a, b, lo, hi);
}

/** dst = src on bits [lo, hi). dst and src are the same bitmap or disjoint. */
export function copy(dst: usize, src: usize, lo: u32, hi: u32): void {
  rangeOp(OP_COPY, dst, src, src, lo, hi);
}

/** Clear bits [lo, hi). */
export function clear(dst: usize, lo: u32, hi: u32): void {
  fillRange(dst, lo, hi, 0);
}

/** Set bits [lo, hi). */
export function fill(dst: usize, lo: u32, hi: u32): void {
  fillRange(dst, lo, hi, <u64>-1);
}

// @ts-ignore: decorator
@inline function fillRange(dst: usize, lo: u32, hi: u32, v: u64): void {
  if (lo >= hi) return;
  const w0 = lo >>> 6;
  const w1 = (hi - 1) >>> 6;
  let m0 = maskFrom(lo);
  const m1 = maskThrough(hi - 1);
  if (w0 == w1) m0 &= m1;
  let p = wordPtr(dst, w0);
  store<u64>(p, (load<u64>(p) & ~m0) | (v & m0));
  if (w0 == w1) return;
  // memory.fill: V8 lowers it to memset, measured faster here than a v128 store loop.
  memory.fill(wordPtr(dst, w0 + 1), <u8>(v & 0xff), (<usize>(w1 - w0 - 1)) << 3);
  p = wordPtr(dst, w1);
  store<u64>(p, (load<u64>(p) & ~m1) | (v & m1));
}

// ---- counting ----------------------------------------------------------------

/** Number of set bits in [lo, hi). */
export function popcount(a: usize, lo: u32, hi: u32): u32 {
  if (lo >= hi) return 0;
  const w0 = lo >>> 6;
  const w1 = (hi - 1) >>> 6;
  let m0 = maskFrom(lo);
  const m1 = maskThrough(hi - 1);
  if (w0 == w1) return <u32>popcnt<u64>(load<u64>(wordPtr(a, w0)) & m0 & m1);
  let n = popcnt<u64>(load<u64>(wordPtr(a, w0)) & m0) + popcnt<u64>(load<u64>(wordPtr(a, w1)) & m1);
  let p = wordPtr(a, w0 + 1);
  const end = wordPtr(a, w1);
  let c0: u64 = 0, c1: u64 = 0, c2: u64 = 0, c3: u64 = 0;
  while (p + 64 <= end) {
    c0 += popcnt<u64>(load<u64>(p)) + popcnt<u64>(load<u64>(p, 32));
    c1 += popcnt<u64>(load<u64>(p, 8)) + popcnt<u64>(load<u64>(p, 40));
    c2 += popcnt<u64>(load<u64>(p, 16)) + popcnt<u64>(load<u64>(p, 48));
    c3 += popcnt<u64>(load<u64>(p, 24)) + popcnt<u64>(load<u64>(p, 56));
    p += 64;
  }
  while (p < end) {
    n += popcnt<u64>(load<u64>(p));
    p += 8;
  }
  return <u32>(n + c0 + c1 + c2 + c3);
}

/** Number of set bits of (a & ~b) in [lo, hi), in one pass. */
export function popcountAndNot(a: usize, b: usize, lo: u32, hi: u32): u32 {
  if (lo >= hi) return 0;
  const w0 = lo >>> 6;
  const w1 = (hi - 1) >>> 6;
  let m0 = maskFrom(lo);
  const m1 = maskThrough(hi - 1);
  if (w0 == w1) {
    return <u32>popcnt<u64>(load<u64>(wordPtr(a, w0)) & ~load<u64>(wordPtr(b, w0)) & m0 & m1);
  }
  let n = popcnt<u64>(load<u64>(wordPtr(a, w0)) & ~load<u64>(wordPtr(b, w0)) & m0)
        + popcnt<u64>(load<u64>(wordPtr(a, w1)) & ~load<u64>(wordPtr(b, w1)) & m1);
  let pa = wordPtr(a, w0 + 1);
  let pb = wordPtr(b, w0 + 1);
  const end = wordPtr(a, w1);
  let c0: u64 = 0, c1: u64 = 0, c2: u64 = 0, c3: u64 = 0;
  while (pa + 64 <= end) {
    const x = v128.andnot(v128.load(pa), v128.load(pb));
    const y = v128.andnot(v128.load(pa, 16), v128.load(pb, 16));
    const z = v128.andnot(v128.load(pa, 32), v128.load(pb, 32));
    const t = v128.andnot(v128.load(pa, 48), v128.load(pb, 48));
    c0 += popcnt<u64>(i64x2.extract_lane(x, 0)) + popcnt<u64>(i64x2.extract_lane(z, 0));
    c1 += popcnt<u64>(i64x2.extract_lane(x, 1)) + popcnt<u64>(i64x2.extract_lane(z, 1));
    c2 += popcnt<u64>(i64x2.extract_lane(y, 0)) + popcnt<u64>(i64x2.extract_lane(t, 0));
    c3 += popcnt<u64>(i64x2.extract_lane(y, 1)) + popcnt<u64>(i64x2.extract_lane(t, 1));
    pa += 64; pb += 64;
  }
  while (pa < end) {
    n += popcnt<u64>(load<u64>(pa) & ~load<u64>(pb));
    pa += 8; pb += 8;
  }
  return <u32>(n + c0 + c1 + c2 + c3);
}

/**
 * The sender's advance: the position just after the k-th set bit at or after
 * `from` (bits [from, end) only), or `end` if that range holds fewer than k set
 * bits. k = 0 returns `from`.
 */
export function advance(a: usize, from: u32, k: u32, end: u32): u32 {
  if (k == 0 || from >= end) return from < end ? from : end;
  let w = from >>> 6;
  const wl = (end - 1) >>> 6;
  let left = k;
  let word = load<u64>(wordPtr(a, w)) & maskFrom(from);
  while (true) {
    if (w == wl) word &= maskThrough(end - 1);
    const c = <u32>popcnt<u64>(word);
    if (c >= left) {
      // Drop the lowest left-1 set bits; the next one is the k-th.
      while (left > 1) { word &= word - 1; left--; }
      return (w << 6) + <u32>ctz<u64>(word) + 1;
    }
    left -= c;
    if (w == wl) return end;
    w++;
    // Skip whole words four at a time while they cannot hold the k-th bit.
    while (w + 4 <= wl) {
      const p = wordPtr(a, w);
      const c4 = <u32>(popcnt<u64>(load<u64>(p)) + popcnt<u64>(load<u64>(p, 8))
                     + popcnt<u64>(load<u64>(p, 16)) + popcnt<u64>(load<u64>(p, 24)));
      if (c4 >= left) break;
      left -= c4;
      w += 4;
    }
    word = load<u64>(wordPtr(a, w));
  }
  return end; // unreachable
}

// ---- iterating ---------------------------------------------------------------

/**
 * Write the indices of the set bits of a in [lo, hi), ascending, to the u32
 * buffer `out`, at most `max` of them. Returns how many were written; when it
 * returns max, resume from the last index + 1.
 */
export function collect(a: usize, lo: u32, hi: u32, out: usize, max: u32): u32 {
  return collectRange(a, 0, false, lo, hi, out, max);
}

/** As collect, for the set bits of (a & ~b). */
export function collectAndNot(a: usize, b: usize, lo: u32, hi: u32, out: usize, max: u32): u32 {
  return collectRange(a, b, true, lo, hi, out, max);
}

/** Append the set bits of `word` (bit 0 = position base) to out; returns the new count. */
// @ts-ignore: decorator
@inline function emitWord(word: u64, base: u32, out: usize, n: u32, max: u32): u32 {
  while (word != 0) {
    store<u32>(out + ((<usize>n) << 2), base + <u32>ctz<u64>(word));
    n++;
    if (n == max) return n;
    word &= word - 1;
  }
  return n;
}

// @ts-ignore: decorator
@inline function collectRange(a: usize, b: usize, useB: bool, lo: u32, hi: u32, out: usize, max: u32): u32 {
  if (lo >= hi || max == 0) return 0;
  const w0 = lo >>> 6;
  const wl = (hi - 1) >>> 6;
  let first = load<u64>(wordPtr(a, w0));
  if (useB) first &= ~load<u64>(wordPtr(b, w0));
  first &= maskFrom(lo);
  if (w0 == wl) return emitWord(first & maskThrough(hi - 1), w0 << 6, out, 0, max);
  let n = emitWord(first, w0 << 6, out, 0, max);
  if (n == max) return n;
  // Whole middle words: pointers walk both bitmaps; zero words cost one test.
  let pa = wordPtr(a, w0 + 1);
  let pb = wordPtr(b, w0 + 1);
  const end = wordPtr(a, wl);
  let base = (w0 + 1) << 6;
  let po = out + ((<usize>n) << 2);
  const pmax = out + ((<usize>max) << 2);
  while (pa < end) {
    let word = load<u64>(pa);
    if (useB) word &= ~load<u64>(pb);
    while (word != 0) {
      store<u32>(po, base + <u32>ctz<u64>(word));
      po += 4;
      if (po == pmax) return max;
      word &= word - 1;
    }
    pa += 8; pb += 8; base += 64;
  }
  n = <u32>((po - out) >>> 2);
  let last = load<u64>(wordPtr(a, wl));
  if (useB) last &= ~load<u64>(wordPtr(b, wl));
  return emitWord(last & maskThrough(hi - 1), wl << 6, out, n, max);
}

// ---- page lists ----------------------------------------------------------------

/**
 * Set the bits listed in the u32 buffer `list` (n entries, any order).
 * Returns how many bits were newly set (QEMU counts dirty pages this way), or
 * −1 − i when entry i is ≥ nBits (entries before it are applied).
 */
export function setList(bm: usize, nBits: u32, list: usize, n: u32): i32 {
  let added: u32 = 0;
  let pl = list;
  const end = list + ((<usize>n) << 2);
  while (pl < end) {
    const p = load<u32>(pl);
    if (p >= nBits) return -1 - <i32>((pl - list) >>> 2);
    // 32-bit words: the same bit layout as the u64 words, little-endian.
    const q = bm + ((<usize>(p >>> 5)) << 2);
    const w = load<u32>(q);
    added += (~w >>> (p & 31)) & 1;
    store<u32>(q, w | ((<u32>1) << (p & 31)));
    pl += 4;
  }
  return <i32>added;
}

/**
 * Set the bits listed in `list` in two bitmaps at once (a and b may be the
 * same), without counting: the engine's write path (the dirty log and the
 * non-zero map). Returns 0, or −1 − i when entry i is ≥ nBits (entries before
 * it are applied).
 */
export function setList2(a: usize, b: usize, nBits: u32, list: usize, n: u32): i32 {
  let pl = list;
  const end = list + ((<usize>n) << 2);
  while (pl < end) {
    const p = load<u32>(pl);
    if (p >= nBits) return -1 - <i32>((pl - list) >>> 2);
    const o = (<usize>(p >>> 5)) << 2;
    const m: u32 = (<u32>1) << (p & 31);
    store<u32>(a + o, load<u32>(a + o) | m);
    store<u32>(b + o, load<u32>(b + o) | m);
    pl += 4;
  }
  return 0;
}

/**
 * Clear the bits listed in `list` (n entries, any order). Returns how many
 * were set before, or −1 − i when entry i is ≥ nBits.
 */
export function clearList(bm: usize, nBits: u32, list: usize, n: u32): i32 {
  let removed: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const p = load<u32>(list + ((<usize>i) << 2));
    if (p >= nBits) return -1 - <i32>i;
    const q = bm + ((<usize>(p >>> 6)) << 3);
    const m = (<u64>1) << <u64>(p & 63);
    const w = load<u64>(q);
    removed += <u32>((w & m) != 0);
    store<u64>(q, w & ~m);
  }
  return <i32>removed;
}

// ---- decoding ------------------------------------------------------------------

/** Error codes of decodeDeltaVarint (negative returns). */
export const DECODE_TRUNCATED: i32 = -1;
export const DECODE_OUT_OF_RANGE: i32 = -2;
export const DECODE_NOT_INCREASING: i32 = -3;
export const DECODE_OVERLONG: i32 = -4;

let errorOffset: u32 = 0;

/** Byte offset (from src) of the value that made the last decode fail. */
export function lastErrorOffset(): u32 {
  return errorOffset;
}

/**
 * Decode a .dpt sorted-list payload (unsigned LEB128: first page absolute,
 * then gaps ≥ 1) of `len` bytes at `src` straight into bitmap bm (OR).
 * Returns the number of pages decoded, or a DECODE_* code with
 * lastErrorOffset() naming the byte where the bad value starts.
 */
export function decodeDeltaVarint(bm: usize, nBits: u32, src: usize, len: u32): i32 {
  let pos: u32 = 0;
  let n: u32 = 0;
  let page: u64 = 0;
  while (pos < len) {
    const start = pos;
    let v: u64 = <u64>load<u8>(src + pos);
    pos++;
    if (v >= 0x80) {
      // Multi-byte value: 7 bits per byte, at most 5 bytes.
      v &= 0x7f;
      let shift: u64 = 7;
      while (true) {
        if (pos >= len) { errorOffset = start; return DECODE_TRUNCATED; }
        if (shift > 28) { errorOffset = start; return DECODE_OVERLONG; }
        const byte = <u64>load<u8>(src + pos);
        pos++;
        v |= (byte & 0x7f) << shift;
        if ((byte & 0x80) == 0) break;
        shift += 7;
      }
    }
    if (n > 0 && v == 0) { errorOffset = start; return DECODE_NOT_INCREASING; }
    page = n == 0 ? v : page + v;
    if (page >= <u64>nBits) { errorOffset = start; return DECODE_OUT_OF_RANGE; }
    const p = <u32>page;
    const q = bm + ((<usize>(p >>> 6)) << 3);
    store<u64>(q, load<u64>(q) | ((<u64>1) << <u64>(p & 63)));
    n++;
  }
  return <i32>n;
}

// ---- .dpt payloads and write tallies (inspect's one pass) ----------------------

export const DECODE_TRAILING: i32 = -5;
export const DECODE_COUNT: i32 = -6;

/**
 * Decode exactly n values of a .dpt sorted-list payload (unsigned LEB128 of
 * at most 5 bytes: the first page, then gaps ≥ 1) of `len` bytes at src into
 * the u32 buffer `out`. Returns n, or a DECODE_* code — DECODE_TRUNCATED when
 * the block ends before n values, DECODE_TRAILING when bytes are left after
 * them — with lastErrorOffset() naming the byte. Accepts exactly what
 * src/trace/dpt.ts decodeSet accepts (the caller asks it for the message).
 */
export function decodeList(out: usize, nBits: u32, src: usize, len: u32, n: u32): i32 {
  let pos: u32 = 0;
  let page: u64 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const start = pos;
    if (pos >= len) { errorOffset = start; return DECODE_TRUNCATED; }
    let v: u64 = <u64>load<u8>(src + pos);
    pos++;
    if (v >= 0x80) {
      v &= 0x7f;
      let shift: u64 = 7;
      while (true) {
        if (shift > 28) { errorOffset = start; return DECODE_OVERLONG; }
        if (pos >= len) { errorOffset = start; return DECODE_TRUNCATED; }
        const byte = <u64>load<u8>(src + pos);
        pos++;
        v |= (byte & 0x7f) << shift;
        if ((byte & 0x80) == 0) break;
        shift += 7;
      }
    }
    if (i > 0 && v == 0) { errorOffset = start; return DECODE_NOT_INCREASING; }
    page = i == 0 ? v : page + v;
    if (page >= <u64>nBits) { errorOffset = start; return DECODE_OUT_OF_RANGE; }
    store<u32>(out + ((<usize>i) << 2), <u32>page);
  }
  if (pos != len) { errorOffset = pos; return DECODE_TRAILING; }
  return <i32>n;
}

/**
 * Check n .dpt write counts (unsigned LEB128 of at most 5 bytes, each
 * 1 … 2^32 − 1) in the `len` bytes at src. Returns the bytes they take, or
 * DECODE_TRUNCATED / DECODE_OVERLONG / DECODE_COUNT (a value of 0 or ≥ 2^32)
 * with lastErrorOffset().
 */
export function checkCounts(src: usize, len: u32, n: u32): i32 {
  let pos: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const start = pos;
    if (pos >= len) { errorOffset = start; return DECODE_TRUNCATED; }
    let b = <u32>load<u8>(src + pos);
    pos++;
    if (b - 1 < 0x7f) continue; // one byte, 1 … 127
    let v: u64 = <u64>(b & 0x7f);
    let shift: u64 = 7;
    while (b >= 0x80) {
      if (shift > 28) { errorOffset = start; return DECODE_OVERLONG; }
      if (pos >= len) { errorOffset = start; return DECODE_TRUNCATED; }
      b = <u32>load<u8>(src + pos);
      pos++;
      v |= (<u64>(b & 0x7f)) << shift;
      shift += 7;
    }
    if (v == 0 || v > 0xffffffff) { errorOffset = start; return DECODE_COUNT; }
  }
  return <i32>pos;
}

/**
 * Tally one epoch's n pages (u32 buffer `pages`, each < nBits) into per-page
 * counters: counts[p] += 1, and last[p] := j1 (the epoch's ordinal + 1) after
 * reading its old value s (0: never written). With hist ≠ 0 the old values
 * are histogrammed in four interleaved lanes (so that runs of pages with the
 * same s do not wait on one counter): hist[4·b + (i & 3)] += 1 with
 * b = s − fmin for s > fmin, else 0; with hist = 0 they are written to
 * prevOut[i]. Returns how many pages were written for the first time, or
 * −1 − i when entry i is ≥ nBits (entries before it are tallied).
 */
export function tallyPages(pages: usize, n: u32, nBits: u32, counts: usize, last: usize, j1: u32, hist: usize, fmin: u32, prevOut: usize): i32 {
  let fresh: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const p = load<u32>(pages + ((<usize>i) << 2));
    if (p >= nBits) return -1 - <i32>i;
    const pc = counts + ((<usize>p) << 2);
    const c = load<u32>(pc);
    fresh += <u32>(c == 0);
    store<u32>(pc, c + 1);
    const pl = last + ((<usize>p) << 2);
    const s = load<u32>(pl);
    store<u32>(pl, j1);
    if (hist != 0) {
      const b: u32 = s > fmin ? s - fmin : 0;
      const h = hist + ((<usize>((b << 2) | (i & 3))) << 2);
      store<u32>(h, load<u32>(h) + 1);
    } else {
      store<u32>(prevOut + ((<usize>i) << 2), s);
    }
  }
  return <i32>fresh;
}
