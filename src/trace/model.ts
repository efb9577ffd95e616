/**
 * The trace model (docs/dpt-format.md): a header and a sequence of epochs, epoch k
 * covering [t0, t1) on the trace's own time axis and holding W_k, the sorted
 * set of pages written at least once in it.
 */

/** Unit of the trace's time axis. */
export type TimeUnit = 'ns' | 'instructions' | 'rounds';

/** .dpt's numeric codes of the time units. */
export const TIME_UNITS: readonly TimeUnit[] = ['ns', 'instructions', 'rounds'];

/** Everything known about a trace before its first epoch. */
export interface TraceHeader {
  /** Bytes per page (4096 usually). */
  pageSize: number;
  /** Pages in the guest; page indices are 0 … nPages − 1. */
  nPages: number;
  timeUnit: TimeUnit;
  /** Nominal epoch length in timeUnit (the real one is t1 − t0). */
  epochLen: number;
  /** Number of epochs when known up front, else null. */
  nEpochs: number | null;
  /** Epochs carry their own t0/t1 (else epoch k is [k·epochLen, (k+1)·epochLen)). */
  hasTimes: boolean;
  /** Epochs carry a write count per page. */
  hasCounts: boolean;
  /** Pages holding zeros when migration starts, sorted; null = none known. */
  zeroAtStart: Uint32Array | null;
  /**
   * JSON provenance: source, recorder, workload, licence…; `timeZeroNs` is
   * where t = 0 of the trace's own axis lies (e.g. when `migrate` was sent),
   * measured from the first epoch's start.
   */
  meta: TraceMeta;
}

/** A trace's JSON metadata (free-form provenance plus a few known keys). */
export interface TraceMeta {
  timeZeroNs?: number;
  [key: string]: unknown;
}

/** One epoch: pages written at least once in [t0, t1). */
export interface Epoch {
  /** Start, in timeUnit, from the first epoch's start. */
  t0: number;
  /** End (exclusive), in timeUnit. */
  t1: number;
  /** Sorted, unique page indices < nPages. */
  pages: Uint32Array;
  /** Write counts, one per page in `pages` (only when the header hasCounts). */
  counts?: Uint32Array;
}

/** A trace held in memory. */
export interface Trace {
  header: TraceHeader;
  epochs: Epoch[];
}

/** The formats dirtylab reads. */
export type TraceFormat = 'dpt' | 'dpt-jsonl' | 'recorder-jsonl';

/** A position in an input, for error messages. */
export type Where = { byte: number } | { line: number } | Record<string, never>;

/**
 * Bad input: names the file, the byte offset or line, and what was expected.
 * The CLI prints its message as one line and exits with status 2.
 */
export class TraceError extends Error {
  constructor(
    readonly file: string,
    readonly where: Where,
    readonly expected: string,
  ) {
    const at = 'byte' in where ? `byte ${where.byte}: ` : 'line' in where ? `line ${where.line}: ` : '';
    super(`${file}: ${at}expected ${expected}`);
    this.name = 'TraceError';
  }
}

/** Parse one line as a JSON object, or throw a TraceError naming the file, the line and `what`. */
export function jsonObjectLine(text: string, file: string, line: number, what = 'a JSON object per line', maxDepth = MAX_JSON_DEPTH): Record<string, unknown> {
  const o = parseJsonChecked(text, file, { line }, what, maxDepth);
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new TraceError(file, { line }, what);
  return o as Record<string, unknown>;
}

/** Whether two sorted page lists hold the same pages. */
export function samePages(a: Uint32Array, b: Uint32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Smallest and largest page size a trace may declare (bytes, powers of two). */
export const MIN_PAGE_SIZE = 512;
export const MAX_PAGE_SIZE = 2 ** 30;
/** Shortest ns-timed epoch a simulation accepts (a finer grid only costs time). */
export const MIN_EPOCH_NS = 1000;
/** Deepest JSON nesting a reader accepts (metadata, lines). */
export const MAX_JSON_DEPTH = 64;
/**
 * Most pages one set (an epoch's W_k, zeroAtStart) may hold in memory: 2^27
 * pages, 512 MiB as a page list — a 512 GiB guest of 4 KiB pages all dirty in
 * one epoch.
 */
export const MAX_SET_PAGES = 2 ** 27;
/** Longest JSON line a reader accepts (characters): 64 MiB. */
export const MAX_LINE = 64 * 2 ** 20;

/** Whether a page size is a power of two from 512 B to 1 GiB. */
export function validPageSize(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= MIN_PAGE_SIZE && v <= MAX_PAGE_SIZE && (v & (v - 1)) === 0;
}

/** The page-size rule as words, for error messages. */
export const PAGE_SIZE_RULE = 'a power of two from 512 B to 1 GiB';

/**
 * Nesting depth of JSON text (brackets outside strings), stopping once past
 * `limit`: a linear scan run before JSON.parse, so nothing downstream recurses
 * into a document nested thousands deep.
 */
export function jsonDepth(text: string, limit = MAX_JSON_DEPTH): number {
  let depth = 0;
  let max = 0;
  let inStr = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inStr) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inStr = false;
    } else if (c === 0x22) inStr = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) { max = depth; if (max > limit) return max; }
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

/** JSON.parse after a depth check; throws a TraceError (where, `what`) for bad or too-deep JSON. */
export function parseJsonChecked(text: string, file: string, where: Where, what: string, maxDepth = MAX_JSON_DEPTH): unknown {
  if (text.length > MAX_LINE) throw new TraceError(file, where, `${what} of at most ${MAX_LINE} characters (64 MiB), found ${text.length}`);
  if (jsonDepth(text, maxDepth) > maxDepth) throw new TraceError(file, where, `${what} nested at most ${maxDepth} levels deep, found deeper nesting`);
  try {
    return JSON.parse(text);
  } catch {
    throw new TraceError(file, where, what);
  }
}
