/**
 * The JSON-lines twin of .dpt (`.dpt.jsonl`), for tests and debugging:
 *
 *   {"format":"dpt-jsonl","version":1,"pageSize":4096,"nPages":…,"timeUnit":"ns",
 *    "epochLen":…,"nEpochs":…|null,"hasTimes":true,"hasCounts":false,
 *    "zeroAtStart":[[first, count],…]|null,"meta":{…}}
 *   {"t0":…,"t1":…,"pages":[…],"counts":[…]?}      one line per epoch
 *
 * t0/t1 appear iff hasTimes. The reader is as strict as the .dpt reader:
 * sorted unique pages below nPages, time never going backwards, nEpochs
 * checked against the lines.
 */
import { MAX_SET_PAGES, PAGE_SIZE_RULE, TIME_UNITS, TraceError, jsonObjectLine, validPageSize, type Epoch, type TraceHeader, type TimeUnit } from './model.js';

/** The header line object of a .dpt.jsonl file. */
export interface JsonlHeaderLine {
  format: 'dpt-jsonl';
  version: 1;
  pageSize: number;
  nPages: number;
  timeUnit: TimeUnit;
  epochLen: number;
  nEpochs: number | null;
  hasTimes: boolean;
  hasCounts: boolean;
  zeroAtStart: [number, number][] | null;
  meta: Record<string, unknown>;
}

/** Sorted pages → [first, count] runs. */
export function toRuns(pages: Uint32Array): [number, number][] {
  const runs: [number, number][] = [];
  let i = 0;
  while (i < pages.length) {
    let j = i + 1;
    while (j < pages.length && pages[j] === pages[j - 1]! + 1) j++;
    runs.push([pages[i]!, j - i]);
    i = j;
  }
  return runs;
}

/** Characters of `[[first,count],…]` for a sorted page set as runs (its header-line form). */
export function runsChars(pages: Uint32Array): number {
  let n = 2;
  let i = 0;
  let runs = 0;
  while (i < pages.length) {
    let j = i + 1;
    while (j < pages.length && pages[j] === pages[j - 1]! + 1) j++;
    n += 3 + digits(pages[i]!) + digits(j - i);
    runs++;
    i = j;
  }
  return n + Math.max(0, runs - 1);
}

/** Encode the header line (without newline). */
export function jsonlHeaderLine(h: TraceHeader): string {
  const line: JsonlHeaderLine = {
    format: 'dpt-jsonl',
    version: 1,
    pageSize: h.pageSize,
    nPages: h.nPages,
    timeUnit: h.timeUnit,
    epochLen: h.epochLen,
    nEpochs: h.nEpochs,
    hasTimes: h.hasTimes,
    hasCounts: h.hasCounts,
    zeroAtStart: h.zeroAtStart ? toRuns(h.zeroAtStart) : null,
    meta: h.meta,
  };
  return JSON.stringify(line);
}

/** Pages (or counts) per piece of an epoch line: pieces stay a few hundred KiB. */
const PIECE = 32768;

/** Characters of the decimal form of a non-negative integer. */
function digits(v: number): number {
  let n = 1;
  while (v >= 10) { v = Math.floor(v / 10); n++; }
  return n;
}

/** Characters of `[a,b,…]` for a list of non-negative integers. */
function listChars(a: Uint32Array): number {
  let n = 2 + Math.max(0, a.length - 1);
  for (let i = 0; i < a.length; i++) {
    const v = a[i]!;
    n += v < 10 ? 1 : v < 100 ? 2 : v < 1000 ? 3 : v < 10000 ? 4 : v < 100000 ? 5 : v < 1000000 ? 6 : digits(v);
  }
  return n;
}

/** `[a,b,…]` as pieces of at most PIECE numbers each. */
function* listPieces(a: Uint32Array): Generator<string> {
  if (a.length === 0) { yield '[]'; return; }
  for (let i = 0; i < a.length; i += PIECE) {
    const body = a.subarray(i, Math.min(a.length, i + PIECE)).join(',');
    yield (i === 0 ? '[' : ',') + body + (i + PIECE >= a.length ? ']' : '');
  }
}

/** The `{"t0":…,"t1":…,"pages":` prefix of an epoch line. */
function epochPrefix(e: Epoch, h: TraceHeader): string {
  return h.hasTimes ? `{"t0":${e.t0},"t1":${e.t1},"pages":` : '{"pages":';
}

/**
 * Characters (= UTF-8 bytes: the line is ASCII) of one epoch line without its
 * newline, computed without building it: the writer refuses a line longer
 * than the reader's limit (MAX_LINE) before writing any of it.
 */
export function jsonlEpochLineLength(e: Epoch, h: TraceHeader): number {
  let n = epochPrefix(e, h).length + listChars(e.pages) + 1;
  if (h.hasCounts) n += ',"counts":'.length + listChars(e.counts ?? new Uint32Array(0));
  return n;
}

/**
 * One epoch line (without newline) as a sequence of pieces, so a writer's
 * memory is bounded by a piece, not by the line (an epoch of 10^6 pages is a
 * line of several MB).
 */
export function* jsonlEpochPieces(e: Epoch, h: TraceHeader): Generator<string> {
  yield epochPrefix(e, h);
  yield* listPieces(e.pages);
  if (h.hasCounts) {
    yield ',"counts":';
    yield* listPieces(e.counts ?? new Uint32Array(0));
  }
  yield '}';
}

/** Encode one epoch line (without newline). */
export function jsonlEpochLine(e: Epoch, h: TraceHeader): string {
  return Array.from(jsonlEpochPieces(e, h)).join('');
}

function isUint(v: unknown, max = Number.MAX_SAFE_INTEGER): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max;
}

/** Parse and check the header line. */
export function parseJsonlHeader(obj: Record<string, unknown>, file: string, line: number): TraceHeader {
  const bad = (what: string): never => {
    throw new TraceError(file, { line }, what);
  };
  if (obj.format !== 'dpt-jsonl') bad('"format": "dpt-jsonl" in the header line');
  if (obj.version !== 1) bad(`"version": 1, found ${JSON.stringify(obj.version)}`);
  if (!validPageSize(obj.pageSize)) bad(`"pageSize" to be ${PAGE_SIZE_RULE}, found ${JSON.stringify(obj.pageSize)}`);
  if (!isUint(obj.nPages, 2 ** 32 - 1) || obj.nPages < 1) bad('"nPages" to be an integer from 1 to 2^32 − 1');
  const unit = obj.timeUnit ?? 'ns';
  if (!TIME_UNITS.includes(unit as TimeUnit)) bad(`"timeUnit" to be one of ${TIME_UNITS.join(', ')}`);
  const hasTimes = obj.hasTimes ?? true;
  const hasCounts = obj.hasCounts ?? false;
  if (typeof hasTimes !== 'boolean' || typeof hasCounts !== 'boolean') bad('"hasTimes" and "hasCounts" to be booleans');
  if (!isUint(obj.epochLen ?? 0)) bad('"epochLen" to be a non-negative integer');
  const epochLen = (obj.epochLen ?? 0) as number;
  if (!hasTimes && epochLen === 0) bad('"epochLen" > 0 when epochs carry no t0/t1');
  if (obj.nEpochs !== undefined && obj.nEpochs !== null && !isUint(obj.nEpochs)) bad('"nEpochs" to be a non-negative integer or null');
  const meta = obj.meta ?? {};
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) bad('"meta" to be an object');
  const tz = (meta as Record<string, unknown>).timeZeroNs;
  if (tz !== undefined && (typeof tz !== 'number' || !Number.isFinite(tz))) bad(`"meta.timeZeroNs" to be a finite number, found ${JSON.stringify(tz)}`);
  let zeroAtStart: Uint32Array | null = null;
  if (obj.zeroAtStart !== undefined && obj.zeroAtStart !== null) {
    zeroAtStart = runsToPages(obj.zeroAtStart, obj.nPages as number, (why) => bad(`"zeroAtStart" to be sorted, non-overlapping [first, count] runs within nPages${why ? ` (${why})` : ''}`));
  }
  const nEpochs = (obj.nEpochs ?? null) as number | null;
  return {
    pageSize: obj.pageSize as number,
    nPages: obj.nPages as number,
    timeUnit: unit as TimeUnit,
    epochLen,
    nEpochs: nEpochs === 0 ? null : nEpochs,
    hasTimes: hasTimes as boolean,
    hasCounts: hasCounts as boolean,
    zeroAtStart,
    meta: meta as TraceHeader['meta'],
  };
}

/** [first, count] runs (sorted, disjoint) → sorted page list; onBad() throws. */
export function runsToPages(runs: unknown, nPages: number, onBad: (why?: string) => never): Uint32Array {
  if (!Array.isArray(runs)) onBad();
  let total = 0;
  let end = 0;
  for (const r of runs as unknown[]) {
    if (!Array.isArray(r) || r.length !== 2 || !isUint(r[0]) || !isUint(r[1]) || r[1] < 1) onBad();
    const [first, count] = r as [number, number];
    if (first < end || first + count > nPages) onBad();
    end = first + count;
    total += count;
  }
  if (total > MAX_SET_PAGES) onBad(`at most ${MAX_SET_PAGES} pages (2^27, the most one set may hold in memory), found ${total}`);
  const out = new Uint32Array(total);
  let k = 0;
  for (const [first, count] of runs as [number, number][]) for (let p = first; p < first + count; p++) out[k++] = p;
  return out;
}

/** Check a JSON array of pages: integers, strictly increasing, below nPages. */
export function strictPages(v: unknown, nPages: number, bad: (what: string) => never): Uint32Array {
  if (!Array.isArray(v)) bad('"pages" to be an array of page indices');
  const arr = v as unknown[];
  if (arr.length > MAX_SET_PAGES) bad(`"pages" to hold at most ${MAX_SET_PAGES} pages, found ${arr.length}`);
  const out = new Uint32Array(arr.length);
  let prev = -1;
  for (let i = 0; i < arr.length; i++) {
    const p = arr[i];
    if (!isUint(p)) bad(`"pages"[${i}] to be a non-negative integer, found ${JSON.stringify(p)}`);
    if ((p as number) >= nPages) bad(`"pages"[${i}] < nPages (${nPages}), found ${p}`);
    if ((p as number) <= prev) bad(`"pages" sorted and unique, found ${p} after ${prev}`);
    out[i] = p as number;
    prev = p as number;
  }
  return out;
}

/** Stream and check the epoch lines after the header line. */
export async function* readJsonlEpochs(
  src: AsyncIterable<{ text: string; line: number }>, h: TraceHeader, file: string,
): AsyncGenerator<Epoch> {
  let k = 0;
  let prevT1 = 0;
  let lastLine = 1;
  for await (const { text, line } of src) {
    lastLine = line;
    if (text.trim() === '') continue;
    const bad = (what: string): never => {
      throw new TraceError(file, { line }, what);
    };
    if (h.nEpochs !== null && k >= h.nEpochs) bad(`end of file after nEpochs = ${h.nEpochs} epochs, found another line`);
    const o = jsonObjectLine(text, file, line);
    let t0 = k * h.epochLen;
    let t1 = (k + 1) * h.epochLen;
    if (!h.hasTimes && !Number.isSafeInteger(t1)) bad(`epoch ${k} to end by 2^53 − 1 ${h.timeUnit} (epochLen × epochs), found ${t1}`);
    if (h.hasTimes) {
      if (!isUint(o.t0) || !isUint(o.t1)) bad('"t0" and "t1" as non-negative integers');
      t0 = o.t0 as number;
      t1 = o.t1 as number;
      if (t1 < t0) bad(`"t1" ≥ "t0" = ${t0}, found ${t1}`);
      if (t0 < prevT1) bad(`"t0" ≥ the previous epoch's t1 = ${prevT1} (time going backwards), found ${t0}`);
    }
    const pages = strictPages(o.pages, h.nPages, bad);
    const e: Epoch = { t0, t1, pages };
    if (h.hasCounts) {
      const c = o.counts;
      if (!Array.isArray(c) || c.length !== pages.length || !c.every((x) => isUint(x, 0xffffffff) && x >= 1)) {
        bad('"counts": one write count ≥ 1 per page');
      }
      e.counts = Uint32Array.from(c as number[]);
    }
    yield e;
    prevT1 = t1;
    k++;
  }
  if (h.nEpochs !== null && k < h.nEpochs) {
    throw new TraceError(file, { line: lastLine + 1 }, `${h.nEpochs} epochs (nEpochs), found end of file after ${k} (truncated file)`);
  }
}
