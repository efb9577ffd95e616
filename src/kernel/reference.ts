/**
 * The pure-TypeScript twin of the WebAssembly kernel (assembly/index.ts).
 *
 * Same names, same meaning, written for clarity rather than speed: a bitmap is
 * a Uint8Array in which page p is bit (p & 7) of byte (p >> 3), LSB-first —
 * the byte layout of the kernel's little-endian 64-bit words and of a .dpt
 * raw-bitmap epoch. Range functions work on bits [lo, hi) and leave all other
 * bits alone. The property tests run both on random inputs and require
 * identical results; when the two disagree, this file is the specification.
 */

/** Whether bit p is set. */
export function getBit(bm: Uint8Array, p: number): boolean {
  return ((bm[p >>> 3]! >>> (p & 7)) & 1) === 1;
}

/** Set or clear bit p. */
export function putBit(bm: Uint8Array, p: number, v: boolean): void {
  if (v) bm[p >>> 3]! |= 1 << (p & 7);
  else bm[p >>> 3]! &= ~(1 << (p & 7));
}

/** dst = a | b on bits [lo, hi). */
export function or(dst: Uint8Array, a: Uint8Array, b: Uint8Array, lo: number, hi: number): void {
  for (let p = lo; p < hi; p++) putBit(dst, p, getBit(a, p) || getBit(b, p));
}

/** dst = a & b on bits [lo, hi). */
export function and(dst: Uint8Array, a: Uint8Array, b: Uint8Array, lo: number, hi: number): void {
  for (let p = lo; p < hi; p++) putBit(dst, p, getBit(a, p) && getBit(b, p));
}

/** dst = a & ~b on bits [lo, hi). */
export function andNot(dst: Uint8Array, a: Uint8Array, b: Uint8Array, lo: number, hi: number): void {
  for (let p = lo; p < hi; p++) putBit(dst, p, getBit(a, p) && !getBit(b, p));
}

/** dst = src on bits [lo, hi). */
export function copy(dst: Uint8Array, src: Uint8Array, lo: number, hi: number): void {
  for (let p = lo; p < hi; p++) putBit(dst, p, getBit(src, p));
}

/** Clear bits [lo, hi). */
export function clear(dst: Uint8Array, lo: number, hi: number): void {
  for (let p = lo; p < hi; p++) putBit(dst, p, false);
}

/** Set bits [lo, hi). */
export function fill(dst: Uint8Array, lo: number, hi: number): void {
  for (let p = lo; p < hi; p++) putBit(dst, p, true);
}

/** Number of set bits in [lo, hi). */
export function popcount(a: Uint8Array, lo: number, hi: number): number {
  let n = 0;
  for (let p = lo; p < hi; p++) if (getBit(a, p)) n++;
  return n;
}

/** Number of set bits of (a & ~b) in [lo, hi). */
export function popcountAndNot(a: Uint8Array, b: Uint8Array, lo: number, hi: number): number {
  let n = 0;
  for (let p = lo; p < hi; p++) if (getBit(a, p) && !getBit(b, p)) n++;
  return n;
}

/**
 * The sender's advance: the position just after the k-th set bit at or after
 * `from` within [from, end), or `end` if there are fewer than k. k = 0 → from.
 */
export function advance(a: Uint8Array, from: number, k: number, end: number): number {
  if (from >= end) return end;
  if (k === 0) return from;
  let seen = 0;
  for (let p = from; p < end; p++) {
    if (getBit(a, p)) {
      seen++;
      if (seen === k) return p + 1;
    }
  }
  return end;
}

/**
 * Write the indices of the set bits of a in [lo, hi), ascending, into out,
 * at most max of them; returns how many were written.
 */
export function collect(a: Uint8Array, lo: number, hi: number, out: Uint32Array, max: number): number {
  let n = 0;
  for (let p = lo; p < hi && n < max; p++) if (getBit(a, p)) out[n++] = p;
  return n;
}

/** As collect, for the set bits of (a & ~b). */
export function collectAndNot(
  a: Uint8Array, b: Uint8Array, lo: number, hi: number, out: Uint32Array, max: number,
): number {
  let n = 0;
  for (let p = lo; p < hi && n < max; p++) if (getBit(a, p) && !getBit(b, p)) out[n++] = p;
  return n;
}

/**
 * Set the bits listed in list[0..n). Returns how many were newly set, or
 * −1 − i when entry i is ≥ nBits (entries before it are applied).
 */
export function setList(bm: Uint8Array, nBits: number, list: Uint32Array, n: number): number {
  let added = 0;
  for (let i = 0; i < n; i++) {
    const p = list[i]!;
    if (p >= nBits) return -1 - i;
    if (!getBit(bm, p)) added++;
    putBit(bm, p, true);
  }
  return added;
}

/** Set the listed bits in a and in b (without counting); 0, or −1 − i when entry i is ≥ nBits. */
export function setList2(a: Uint8Array, b: Uint8Array, nBits: number, list: Uint32Array, n: number): number {
  for (let i = 0; i < n; i++) {
    const p = list[i]!;
    if (p >= nBits) return -1 - i;
    putBit(a, p, true);
    putBit(b, p, true);
  }
  return 0;
}

/** Clear the bits listed in list[0..n). Returns how many were set, or −1 − i. */
export function clearList(bm: Uint8Array, nBits: number, list: Uint32Array, n: number): number {
  let removed = 0;
  for (let i = 0; i < n; i++) {
    const p = list[i]!;
    if (p >= nBits) return -1 - i;
    if (getBit(bm, p)) removed++;
    putBit(bm, p, false);
  }
  return removed;
}

/** Error codes of decodeDeltaVarint, equal to the kernel's. */
export const DECODE_TRUNCATED = -1;
export const DECODE_OUT_OF_RANGE = -2;
export const DECODE_NOT_INCREASING = -3;
export const DECODE_OVERLONG = -4;

let errorOffset = 0;

/** Byte offset of the value that made the last decodeDeltaVarint fail. */
export function lastErrorOffset(): number {
  return errorOffset;
}

/**
 * Decode a .dpt sorted-list payload (unsigned LEB128: first page absolute,
 * then gaps ≥ 1) into bm (OR). Returns the page count or a DECODE_* code.
 * A value may take at most 5 bytes.
 */
export function decodeDeltaVarint(bm: Uint8Array, nBits: number, src: Uint8Array, len: number): number {
  let pos = 0;
  let n = 0;
  let page = 0;
  while (pos < len) {
    const start = pos;
    let v = 0;
    let scale = 1;
    for (let i = 0; ; i++) {
      if (pos >= len) { errorOffset = start; return DECODE_TRUNCATED; }
      if (i >= 5) { errorOffset = start; return DECODE_OVERLONG; }
      const byte = src[pos++]!;
      v += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) break;
      scale *= 128;
    }
    if (n > 0 && v === 0) { errorOffset = start; return DECODE_NOT_INCREASING; }
    page = n === 0 ? v : page + v;
    if (page >= nBits) { errorOffset = start; return DECODE_OUT_OF_RANGE; }
    putBit(bm, page, true);
    n++;
  }
  return n;
}

/** Error codes of decodeList and checkCounts beyond decodeDeltaVarint's, equal to the kernel's. */
export const DECODE_TRAILING = -5;
export const DECODE_COUNT = -6;

/** Read an unsigned LEB128 value of at most 5 bytes at pos: [value, next] or an error code. */
function leb5(src: Uint8Array, pos: number, len: number): [number, number] | number {
  let v = 0;
  let scale = 1;
  for (let i = 0; ; i++) {
    if (i >= 5) return DECODE_OVERLONG;
    if (pos >= len) return DECODE_TRUNCATED;
    const byte = src[pos++]!;
    v += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) return [v, pos];
    scale *= 128;
  }
}

/**
 * Decode exactly n values of a .dpt sorted-list payload into out. Returns n,
 * or a DECODE_* code (TRUNCATED: fewer than n values; TRAILING: bytes left).
 */
export function decodeList(out: Uint32Array, nBits: number, src: Uint8Array, len: number, n: number): number {
  let pos = 0;
  let page = 0;
  for (let i = 0; i < n; i++) {
    const start = pos;
    const r = leb5(src, pos, len);
    if (typeof r === 'number') { errorOffset = start; return r; }
    const [v, next] = r;
    pos = next;
    if (i > 0 && v === 0) { errorOffset = start; return DECODE_NOT_INCREASING; }
    page = i === 0 ? v : page + v;
    if (page >= nBits) { errorOffset = start; return DECODE_OUT_OF_RANGE; }
    out[i] = page;
  }
  if (pos !== len) { errorOffset = pos; return DECODE_TRAILING; }
  return n;
}

/** Check n write counts (LEB128 ≤ 5 bytes, 1 … 2^32 − 1) in src[0, len): bytes taken or a DECODE_* code. */
export function checkCounts(src: Uint8Array, len: number, n: number): number {
  let pos = 0;
  for (let i = 0; i < n; i++) {
    const start = pos;
    const r = leb5(src, pos, len);
    if (typeof r === 'number') { errorOffset = start; return r; }
    const [v, next] = r;
    pos = next;
    if (v === 0 || v > 0xffffffff) { errorOffset = start; return DECODE_COUNT; }
  }
  return pos;
}

/**
 * Tally an epoch's pages: counts[p] += 1; last[p] := j1 after reading its old
 * value s, which goes to hist[4·(s > fmin ? s − fmin : 0) + (i & 3)] (hist given) or
 * prevOut[i]. Returns the pages written for the first time, or −1 − i for
 * an entry ≥ nBits.
 */
export function tallyPages(
  pages: Uint32Array, n: number, nBits: number, counts: Uint32Array, last: Uint32Array, j1: number,
  hist: Uint32Array | null, fmin: number, prevOut: Uint32Array | null,
): number {
  let fresh = 0;
  for (let i = 0; i < n; i++) {
    const p = pages[i]!;
    if (p >= nBits) return -1 - i;
    if (counts[p] === 0) fresh++;
    counts[p]!++;
    const s = last[p]!;
    last[p] = j1;
    if (hist) hist[4 * (s > fmin ? s - fmin : 0) + (i & 3)]!++;
    else prevOut![i] = s;
  }
  return fresh;
}
