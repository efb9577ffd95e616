/**
 * The .dpt v1 binary trace format (docs/dpt-format.md), little-endian:
 *
 *   magic "DPTRACE\x01" | hdr_len u32 | flags u32 | page_size u32 | n_pages u64 |
 *   time_unit u32 | epoch_len u64 | n_epochs u64 | json_len u32 | JSON meta
 *   [zeroAtStart block (flags bit2): n u32 | enc u8 | len u32 | payload]
 *   epoch blocks: [t0 u64, t1 u64 (bit0)] | n_dirty u32 | enc u8 | len u32 |
 *                 payload | [write counts (bit1): LEB128 per page, page order]
 *
 * enc 0 sorted list (LEB128: first page, then gaps), 1 raw bitmap
 * (ceil(n_pages/8) bytes, LSB-first), 2 runs (LEB128 start − previous run's
 * end, LEB128 length), 3 same set as the previous epoch (len 0).
 *
 * The reader is strict and streams: memory is bounded by one block. The writer
 * picks the smallest encoding per epoch and records n_epochs (up front when
 * known, else by seeking back when the sink can), so truncation is detected.
 */
import { ByteReader, getVarint, putVarint, varintSize } from './bytes.js';
import { MAX_SET_PAGES, PAGE_SIZE_RULE, TIME_UNITS, TraceError, parseJsonChecked, samePages, validPageSize, type Epoch, type TraceHeader } from './model.js';

/** The 8 magic bytes of .dpt v1. */
export const DPT_MAGIC = new Uint8Array([0x44, 0x50, 0x54, 0x52, 0x41, 0x43, 0x45, 0x01]); // "DPTRACE\x01"
/** Bytes of the fixed header before the JSON. */
export const DPT_FIXED_HEADER = 52;
/** Offset of n_epochs in the header (patched by the writer at the end). */
export const DPT_N_EPOCHS_OFFSET = 40;

export const FLAG_TIMES = 1;
export const FLAG_COUNTS = 2;
export const FLAG_ZERO_AT_START = 4;

/** Epoch encodings. */
export const ENC_LIST = 0;
export const ENC_BITMAP = 1;
export const ENC_RUNS = 2;
export const ENC_SAME = 3;

const MAX_JSON = 64 * 2 ** 20;

// ---------------------------------------------------------------- reading

function u64(dv: DataView, at: number, file: string, offset: number, what: string): number {
  const v = dv.getBigUint64(at, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new TraceError(file, { byte: offset }, `${what} ≤ 2^53 − 1, found ${v}`);
  }
  return Number(v);
}

async function need(r: ByteReader, n: number, file: string, what: string): Promise<Uint8Array> {
  const at = r.offset;
  if (!(await r.fill(n))) {
    throw new TraceError(file, { byte: at }, `${what} (${n} bytes), found end of file after ${r.available} (truncated file)`);
  }
  return r.take(n);
}

/** Whether bytes start with the .dpt magic (any version). */
export function looksLikeDpt(head: Uint8Array): boolean {
  for (let i = 0; i < 7; i++) if (head[i] !== DPT_MAGIC[i]) return false;
  return head.length >= 7;
}

/** Read and check a .dpt header (and its zeroAtStart block). */
export async function readDptHeader(r: ByteReader, file: string): Promise<TraceHeader> {
  const head = await need(r, DPT_FIXED_HEADER, file, 'a .dpt header');
  for (let i = 0; i < 7; i++) {
    if (head[i] !== DPT_MAGIC[i]) throw new TraceError(file, { byte: i }, 'the magic bytes "DPTRACE\\x01" of a .dpt file');
  }
  if (head[7] !== 1) throw new TraceError(file, { byte: 7 }, `.dpt version 1, found version ${head[7]}`);
  const dv = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const hdrLen = dv.getUint32(8, true);
  const flags = dv.getUint32(12, true);
  if ((flags & ~7) !== 0) throw new TraceError(file, { byte: 12 }, `flags with only bits 0–2 set, found 0x${flags.toString(16)}`);
  const pageSize = dv.getUint32(16, true);
  if (!validPageSize(pageSize)) {
    throw new TraceError(file, { byte: 16 }, `page_size: ${PAGE_SIZE_RULE}, found ${pageSize}`);
  }
  const nPages = u64(dv, 20, file, 20, 'n_pages');
  if (nPages < 1 || nPages >= 2 ** 32) throw new TraceError(file, { byte: 20 }, `1 ≤ n_pages < 2^32, found ${nPages}`);
  const unitCode = dv.getUint32(28, true);
  const timeUnit = TIME_UNITS[unitCode];
  if (timeUnit === undefined) throw new TraceError(file, { byte: 28 }, `time_unit 0 (ns), 1 (instructions) or 2 (rounds), found ${unitCode}`);
  const epochLen = u64(dv, 32, file, 32, 'epoch_len');
  if (epochLen === 0 && (flags & FLAG_TIMES) === 0) {
    throw new TraceError(file, { byte: 32 }, 'epoch_len > 0 when epochs carry no t0/t1 (flags bit 0 clear)');
  }
  const nEpochs = u64(dv, 40, file, 40, 'n_epochs');
  const jsonLen = dv.getUint32(48, true);
  if (jsonLen > MAX_JSON) throw new TraceError(file, { byte: 48 }, `json_len ≤ ${MAX_JSON}, found ${jsonLen}`);
  if (hdrLen < DPT_FIXED_HEADER + jsonLen) {
    throw new TraceError(file, { byte: 8 }, `hdr_len ≥ ${DPT_FIXED_HEADER + jsonLen} (52 + json_len), found ${hdrLen}`);
  }
  const jsonBytes = await need(r, jsonLen, file, 'the JSON metadata');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(jsonBytes);
  } catch {
    throw new TraceError(file, { byte: DPT_FIXED_HEADER }, 'UTF-8 JSON metadata');
  }
  const meta = parseJsonChecked(text, file, { byte: DPT_FIXED_HEADER }, 'UTF-8 JSON metadata');
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) {
    throw new TraceError(file, { byte: DPT_FIXED_HEADER }, 'a JSON object as metadata');
  }
  const tz = (meta as Record<string, unknown>).timeZeroNs;
  if (tz !== undefined && (typeof tz !== 'number' || !Number.isFinite(tz))) {
    throw new TraceError(file, { byte: DPT_FIXED_HEADER }, 'a finite number as meta.timeZeroNs');
  }
  if (hdrLen > DPT_FIXED_HEADER + jsonLen) await need(r, hdrLen - DPT_FIXED_HEADER - jsonLen, file, 'the rest of the header');

  const header: TraceHeader = {
    pageSize,
    nPages,
    timeUnit,
    epochLen,
    nEpochs: nEpochs === 0 ? null : nEpochs,
    hasTimes: (flags & FLAG_TIMES) !== 0,
    hasCounts: (flags & FLAG_COUNTS) !== 0,
    zeroAtStart: null,
    meta: meta as TraceHeader['meta'],
  };
  if (flags & FLAG_ZERO_AT_START) {
    const start = r.offset;
    const b = await need(r, 9, file, 'the zeroAtStart block header');
    const bdv = new DataView(b.buffer, b.byteOffset, 9);
    const n = bdv.getUint32(0, true);
    const enc = b[4]!;
    const len = bdv.getUint32(5, true);
    if (enc === ENC_SAME) throw new TraceError(file, { byte: start + 4 }, 'zeroAtStart encoding 0, 1 or 2 (3 needs a previous epoch)');
    header.zeroAtStart = await readSet(r, file, start, n, enc, len, nPages, null, 'zeroAtStart');
  }
  return header;
}

/** Decode one set payload (after its n | enc | len fields at blockStart). */
async function readSet(
  r: ByteReader, file: string, fieldsAt: number, n: number, enc: number, len: number,
  nPages: number, prev: Uint32Array | null, what: string,
): Promise<Uint32Array> {
  checkSetFields(file, fieldsAt, n, enc, len, nPages, what);
  const payloadAt = r.offset;
  const payload = await need(r, len, file, `${what}'s payload`);
  if (enc === ENC_SAME) return decodeSet(payload, 0, payloadAt, file, fieldsAt, n, enc, len, nPages, prev, what, null);
  return decodeSet(payload, 0, payloadAt, file, fieldsAt, n, enc, len, nPages, prev, what, new Uint32Array(n));
}

/**
 * Check a set's n | enc | len fields (at fieldsAt) before its payload is
 * read; throws the TraceError the strict reader gives.
 */
export function checkSetFields(file: string, fieldsAt: number, n: number, enc: number, len: number, nPages: number, what: string): void {
  if (n > nPages) throw new TraceError(file, { byte: fieldsAt }, `${what}: n_dirty ≤ n_pages (${nPages}), found ${n}`);
  if (n > MAX_SET_PAGES) throw new TraceError(file, { byte: fieldsAt }, `${what}: n_dirty ≤ ${MAX_SET_PAGES} (2^27, the most pages one epoch may hold in memory), found ${n}`);
  if (enc === ENC_LIST && len < n) throw new TraceError(file, { byte: fieldsAt + 5 }, `${what}: len ≥ n_dirty = ${n} for a page list (one LEB128 byte at least per page), found ${len}`);
  if (enc === ENC_RUNS && len < (n > 0 ? 2 : 0)) throw new TraceError(file, { byte: fieldsAt + 5 }, `${what}: len ≥ 2 for ${n} pages as runs, found ${len}`);
  const bitmapLen = Math.ceil(nPages / 8);
  const maxLen = enc === ENC_LIST ? 5 * n : enc === ENC_RUNS ? 10 * n : enc === ENC_BITMAP ? bitmapLen : 0;
  if (enc > 3) throw new TraceError(file, { byte: fieldsAt + 4 }, `${what}: encoding 0, 1, 2 or 3, found ${enc}`);
  if (enc === ENC_BITMAP ? len !== bitmapLen : len > maxLen) {
    const want = enc === ENC_BITMAP ? `len = ${bitmapLen} for a bitmap` : enc === ENC_SAME ? 'len = 0 for "same as previous"' : `len ≤ ${maxLen} for ${n} pages`;
    throw new TraceError(file, { byte: fieldsAt + 5 }, `${what}: ${want}, found ${len}`);
  }
}

/** Check an epoch's stored times (both .dpt readers: the same messages at the same bytes). */
export function checkEpochTimes(file: string, blockAt: number, k: number, t0: number, t1: number, prevT1: number): void {
  if (t1 < t0) throw new TraceError(file, { byte: blockAt + 8 }, `epoch ${k}: t1 ≥ t0 = ${t0}, found ${t1}`);
  if (t0 < prevT1) throw new TraceError(file, { byte: blockAt }, `epoch ${k}: t0 ≥ the previous epoch's t1 = ${prevT1} (time going backwards), found ${t0}`);
}

/** Epoch k's times in a file without stored ones: [k·epoch_len, (k + 1)·epoch_len], refused past 2^53 − 1. */
export function nominalEpochTimes(file: string, blockAt: number, k: number, header: TraceHeader): [number, number] {
  const t1 = (k + 1) * header.epochLen;
  if (!Number.isSafeInteger(t1)) throw new TraceError(file, { byte: blockAt }, `epoch ${k} to end by 2^53 − 1 ${header.timeUnit} (epoch_len × epochs), found ${t1}`);
  return [k * header.epochLen, t1];
}

/**
 * Decode a set payload (buf[at, at + len), at file offset payloadAt) into
 * `out` (≥ n entries; the pages land in out[0, n)), checking it strictly.
 * ENC_SAME returns `prev`. Tight loops, no allocation: the streamed reader
 * decodes into reused buffers with it.
 */
export function decodeSet(
  buf: Uint8Array, at: number, payloadAt: number, file: string, fieldsAt: number, n: number, enc: number, len: number,
  nPages: number, prev: Uint32Array | null, what: string, out: Uint32Array | null,
): Uint32Array {
  const bad = (rel: number, msg: string): never => {
    throw new TraceError(file, { byte: payloadAt + rel }, `${what}: ${msg}`);
  };
  if (enc === ENC_SAME) {
    if (prev === null) throw new TraceError(file, { byte: fieldsAt + 4 }, `${what}: encoding 0–2 for the first epoch (3 means "same as the previous epoch")`);
    if (n !== prev.length) throw new TraceError(file, { byte: fieldsAt }, `${what}: n_dirty = ${prev.length} (same set as the previous epoch), found ${n}`);
    return prev;
  }
  const pages = out!;
  const end = at + len;
  if (enc === ENC_LIST) {
    let pos = at;
    let page = 0;
    for (let i = 0; i < n; i++) {
      const vAt = pos;
      if (pos >= end) bad(pos - at, `${n} LEB128 page values, found ${i} before the end of the block`);
      let b = buf[pos++]!;
      let v = b & 0x7f;
      if (b & 0x80) {
        if (pos >= end) bad(vAt - at, `${n} LEB128 page values, found ${i} before the end of the block`);
        b = buf[pos++]!;
        v |= (b & 0x7f) << 7;
        if (b & 0x80) {
          if (pos >= end) bad(vAt - at, `${n} LEB128 page values, found ${i} before the end of the block`);
          b = buf[pos++]!;
          v |= (b & 0x7f) << 14;
          if (b & 0x80) {
            if (pos >= end) bad(vAt - at, `${n} LEB128 page values, found ${i} before the end of the block`);
            b = buf[pos++]!;
            v = (v | ((b & 0x7f) << 21)) >>> 0;
            if (b & 0x80) {
              if (pos >= end) bad(vAt - at, `${n} LEB128 page values, found ${i} before the end of the block`);
              b = buf[pos++]!;
              v += (b & 0x7f) * 2 ** 28;
              if (b & 0x80) bad(vAt - at, 'a LEB128 value of at most 5 bytes');
            }
          }
        }
      }
      if (i > 0 && v === 0) bad(vAt - at, `strictly increasing pages, found page ${page} twice`);
      page = i === 0 ? v : page + v;
      if (page >= nPages) bad(vAt - at, `a page index < n_pages (${nPages}), found ${page}`);
      pages[i] = page;
    }
    if (pos !== end) bad(pos - at, `the block to end after ${n} pages, found ${end - pos} more bytes`);
    return pages;
  }
  if (enc === ENC_BITMAP) {
    let k = 0;
    for (let byte = 0; byte < len; byte++) {
      let x = buf[at + byte]!;
      while (x !== 0) {
        const bit = 31 - Math.clz32(x & -x);
        const p = byte * 8 + bit;
        if (p >= nPages) bad(byte, `zero padding bits after page ${nPages - 1}, found page ${p} set`);
        if (k >= n) bad(byte, `${n} set bits (n_dirty), found more`);
        pages[k++] = p;
        x &= x - 1;
      }
    }
    if (k !== n) bad(0, `${n} set bits (n_dirty), found ${k}`);
    return pages;
  }
  // ENC_RUNS
  const payload = at === 0 && buf.length === len ? buf : buf.subarray(at, end);
  let pos = 0;
  let runEnd = 0;
  let k = 0;
  let first = true;
  while (pos < len) {
    const runAt = pos;
    const g = getVarint(payload, pos);
    if (g === null || g === 'overlong') bad(pos, 'a LEB128 run start');
    const l = getVarint(payload, (g as [number, number])[1]);
    if (l === null || l === 'overlong') bad((g as [number, number])[1], 'a LEB128 run length');
    const [gap] = g as [number, number];
    const [length, next] = l as [number, number];
    if (length === 0) bad(runAt, 'a run length ≥ 1');
    const start = (first ? 0 : runEnd) + gap;
    if (start + length > nPages) bad(runAt, `runs within n_pages (${nPages}), found a run ending at ${start + length}`);
    if (k + length > n) bad(runAt, `runs totalling n_dirty = ${n} pages, found more`);
    for (let p = start; p < start + length; p++) pages[k++] = p;
    runEnd = start + length;
    first = false;
    pos = next;
  }
  if (k !== n) bad(len, `runs totalling n_dirty = ${n} pages, found ${k}`);
  return pages;
}

/**
 * Stream the epochs of a .dpt after its header. Checks every block field,
 * time order (t0 ≤ t1, t0 ≥ previous t1) and n_epochs against the file.
 */
export async function* readDptEpochs(r: ByteReader, header: TraceHeader, file: string): AsyncGenerator<Epoch> {
  let prev: Uint32Array | null = null;
  let prevT1 = 0;
  let k = 0;
  const fixed = (header.hasTimes ? 16 : 0) + 9;
  while (true) {
    if (header.nEpochs !== null && k === header.nEpochs) {
      if (!(await r.atEnd())) throw new TraceError(file, { byte: r.offset }, `end of file after n_epochs = ${header.nEpochs} epochs, found more bytes`);
      return;
    }
    if (await r.atEnd()) {
      if (header.nEpochs !== null) {
        throw new TraceError(file, { byte: r.offset }, `epoch ${k} of n_epochs = ${header.nEpochs}, found end of file (truncated file)`);
      }
      return;
    }
    const blockAt = r.offset;
    const b = await need(r, fixed, file, `epoch ${k}'s block header`);
    const dv = new DataView(b.buffer, b.byteOffset, fixed);
    let t0: number;
    let t1: number;
    let o = 0;
    if (header.hasTimes) {
      t0 = u64(dv, 0, file, blockAt, `epoch ${k}'s t0`);
      t1 = u64(dv, 8, file, blockAt + 8, `epoch ${k}'s t1`);
      checkEpochTimes(file, blockAt, k, t0, t1, prevT1);
      o = 16;
    } else {
      [t0, t1] = nominalEpochTimes(file, blockAt, k, header);
    }
    const n = dv.getUint32(o, true);
    const enc = b[o + 4]!;
    const len = dv.getUint32(o + 5, true);
    const pages = await readSet(r, file, blockAt + o, n, enc, len, header.nPages, prev, `epoch ${k}`);
    const epoch: Epoch = { t0, t1, pages };
    if (header.hasCounts) epoch.counts = await readCounts(r, file, n, k);
    yield epoch;
    prev = pages;
    prevT1 = t1;
    k++;
  }
}

/** The write counts of an epoch: n LEB128 values, decoded from the buffered bytes in bulk. */
async function readCounts(r: ByteReader, file: string, n: number, k: number): Promise<Uint32Array> {
  const counts = new Uint32Array(n);
  let i = 0;
  while (i < n) {
    const want = Math.min(5 * (n - i), 1 << 16);
    await r.fill(want);
    const buf = r.peek(Math.min(r.available, want));
    let pos = 0;
    while (i < n) {
      const at = pos;
      let v = 0;
      let scale = 1;
      let j = 0;
      let complete = false;
      while (pos < buf.length) {
        if (j >= 5) throw new TraceError(file, { byte: r.offset + at }, `epoch ${k}: a write count of at most 5 LEB128 bytes`);
        const byte = buf[pos++]!;
        j++;
        v += (byte & 0x7f) * scale;
        if ((byte & 0x80) === 0) { complete = true; break; }
        scale *= 128;
      }
      if (!complete) {
        if (j >= 5) throw new TraceError(file, { byte: r.offset + at }, `epoch ${k}: a write count of at most 5 LEB128 bytes`);
        pos = at;
        break;
      }
      if (v === 0 || v > 0xffffffff) throw new TraceError(file, { byte: r.offset + at }, `epoch ${k}: a write count between 1 and 2^32 − 1, found ${v}`);
      counts[i++] = v;
    }
    if (pos === 0) {
      // Not one whole value in what is left of the input: the file ends inside a count.
      throw new TraceError(file, { byte: r.offset + buf.length }, `epoch ${k}'s write count ${i} of ${n}, found end of file (truncated file)`);
    }
    r.take(pos);
  }
  return counts;
}

// ---------------------------------------------------------------- writing

/** Where a writer puts bytes; writeAt (when present) lets it patch n_epochs. */
export interface ByteSink {
  write(bytes: Uint8Array): Promise<void> | void;
  writeAt?(position: number, bytes: Uint8Array): Promise<void> | void;
}

/** Encode the .dpt header (and zeroAtStart block), n_epochs as given. */
export function encodeDptHeader(h: TraceHeader, nEpochs: number): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(h.meta));
  const out = new Uint8Array(DPT_FIXED_HEADER + json.length);
  out.set(DPT_MAGIC, 0);
  const dv = new DataView(out.buffer);
  dv.setUint32(8, out.length, true);
  const flags = (h.hasTimes ? FLAG_TIMES : 0) | (h.hasCounts ? FLAG_COUNTS : 0) | (h.zeroAtStart ? FLAG_ZERO_AT_START : 0);
  dv.setUint32(12, flags, true);
  dv.setUint32(16, h.pageSize, true);
  dv.setBigUint64(20, BigInt(h.nPages), true);
  dv.setUint32(28, TIME_UNITS.indexOf(h.timeUnit), true);
  dv.setBigUint64(32, BigInt(h.epochLen), true);
  dv.setBigUint64(40, BigInt(nEpochs), true);
  dv.setUint32(48, json.length, true);
  out.set(json, DPT_FIXED_HEADER);
  if (!h.zeroAtStart) return out;
  const set = encodeSet(h.zeroAtStart, null, h.nPages, false);
  return concat([out, set]);
}

/** Sizes of a sorted page set in each encoding (same = Infinity unless equal to prev). */
export function encodingSizes(pages: Uint32Array, prev: Uint32Array | null, nPages: number): number[] {
  let list = 0;
  let runs = 0;
  let last = 0;
  let runEnd = 0;
  let i = 0;
  while (i < pages.length) {
    let j = i + 1;
    while (j < pages.length && pages[j] === pages[j - 1]! + 1) j++;
    runs += varintSize(pages[i]! - runEnd) + varintSize(j - i);
    runEnd = pages[j - 1]! + 1;
    i = j;
  }
  for (let k = 0; k < pages.length; k++) {
    list += varintSize(k === 0 ? pages[0]! : pages[k]! - last);
    last = pages[k]!;
  }
  const same = prev !== null && samePages(pages, prev) ? 0 : Infinity;
  return [list, Math.ceil(nPages / 8), runs, same];
}

/** n | enc | len | payload for a sorted set, in its smallest encoding. */
function encodeSet(pages: Uint32Array, prev: Uint32Array | null, nPages: number, allowSame: boolean): Uint8Array {
  const sizes = encodingSizes(pages, allowSame ? prev : null, nPages);
  // Ties go to the simplest decode: same, list, runs, bitmap.
  let enc = ENC_SAME;
  for (const e of [ENC_LIST, ENC_RUNS, ENC_BITMAP]) if (sizes[e]! < sizes[enc]!) enc = e;
  const len = sizes[enc]!;
  const out = new Uint8Array(9 + len);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, pages.length, true);
  out[4] = enc;
  dv.setUint32(5, len, true);
  let pos = 9;
  if (enc === ENC_LIST) {
    let last = 0;
    for (let k = 0; k < pages.length; k++) {
      pos = putVarint(out, pos, k === 0 ? pages[0]! : pages[k]! - last);
      last = pages[k]!;
    }
  } else if (enc === ENC_BITMAP) {
    for (const p of pages) out[9 + (p >>> 3)]! |= 1 << (p & 7);
  } else if (enc === ENC_RUNS) {
    let runEnd = 0;
    let i = 0;
    while (i < pages.length) {
      let j = i + 1;
      while (j < pages.length && pages[j] === pages[j - 1]! + 1) j++;
      pos = putVarint(out, pos, pages[i]! - runEnd);
      pos = putVarint(out, pos, j - i);
      runEnd = pages[j - 1]! + 1;
      i = j;
    }
  }
  return out;
}

/** Encode one epoch block. */
export function encodeEpoch(e: Epoch, prev: Uint32Array | null, h: TraceHeader): Uint8Array {
  const parts: Uint8Array[] = [];
  if (h.hasTimes) {
    const t = new Uint8Array(16);
    const dv = new DataView(t.buffer);
    dv.setBigUint64(0, BigInt(e.t0), true);
    dv.setBigUint64(8, BigInt(e.t1), true);
    parts.push(t);
  }
  parts.push(encodeSet(e.pages, prev, h.nPages, true));
  if (h.hasCounts) {
    const counts = e.counts;
    if (!counts || counts.length !== e.pages.length) throw new Error('a trace with write counts needs one count per page in every epoch');
    const c = new Uint8Array(counts.reduce((s, v) => s + varintSize(v), 0));
    let pos = 0;
    for (const v of counts) pos = putVarint(c, pos, v);
    parts.push(c);
  }
  return concat(parts);
}

/** Writes a .dpt stream: header first, then epochs; n_epochs patched at close. */
export class DptWriter {
  private prev: Uint32Array | null = null;
  private count = 0;
  private started = false;

  constructor(private readonly sink: ByteSink, private readonly header: TraceHeader) {}

  /** Append one epoch (pages sorted and unique). */
  async writeEpoch(e: Epoch): Promise<void> {
    if (!this.started) await this.start();
    if (!Number.isSafeInteger(e.t0) || !Number.isSafeInteger(e.t1) || e.t0 < 0) {
      throw new Error(`epoch ${this.count}: times must be non-negative integers in ${this.header.timeUnit}`);
    }
    await this.sink.write(encodeEpoch(e, this.prev, this.header));
    this.prev = e.pages;
    this.count++;
  }

  /** Finish: patch n_epochs when it was not known up front. */
  async close(): Promise<{ epochs: number; nEpochsRecorded: boolean }> {
    if (!this.started) await this.start();
    const known = this.header.nEpochs;
    if (known !== null && known !== this.count) {
      throw new Error(`header promised ${known} epochs, ${this.count} were written`);
    }
    if (known === null && this.sink.writeAt) {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setBigUint64(0, BigInt(this.count), true);
      await this.sink.writeAt(DPT_N_EPOCHS_OFFSET, b);
      return { epochs: this.count, nEpochsRecorded: true };
    }
    return { epochs: this.count, nEpochsRecorded: known !== null };
  }

  private async start(): Promise<void> {
    this.started = true;
    await this.sink.write(encodeDptHeader(this.header, this.header.nEpochs ?? 0));
  }
}

/** Concatenate byte arrays. */
export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}
