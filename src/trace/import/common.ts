/**
 * What importers share (docs/dpt-format.md): the importer contract the registry
 * and the CLI read, gzip-or-plain input with errors that name the byte where
 * the compressed data broke, a line reader that refuses unbounded lines, and
 * number parsing that never loses precision silently.
 *
 * Importers of other tools' output normalise (sort, dedupe) and count what
 * they fixed in meta.importFixes; what they cannot interpret is an error naming
 * the file, the line or byte, and what was expected.
 */
import type { Kernel } from '../../kernel/index.js';
import { gunzip, isGzip, type TraceInput } from '../bytes.js';
import { TraceError, type Epoch, type TraceHeader } from '../model.js';

/** A directory input: its name and its entries (files), each re-openable. */
export interface DirInput {
  readonly name: string;
  /** The directory's regular files (any order), each named by its base name. */
  entries(): Promise<(TraceInput & { readonly baseName: string })[]>;
}

/** The kind of value an import option takes (checked by the CLI: a bad value is a usage error). */
export type ImportOptionKind = 'int' | 'number' | 'duration' | 'size' | 'string' | 'path' | readonly string[];

/** One command-line option of an importer. */
export interface ImportOption {
  /** Kebab-case flag without dashes, e.g. `epoch-ms`. */
  flag: string;
  kind: ImportOptionKind;
  /** What this importer does with it, including its default. */
  description: string;
}

/** What an importer is handed. */
export interface ImportContext {
  /** Option values by flag (`epoch-ms`), already parsed: numbers for int/number/duration (ms)/size (bytes). */
  options: Record<string, unknown>;
  /** For importers that derive curves (W(t) is computed with the kernel). */
  kernel: Kernel;
  /** dirtylab's version, for provenance. */
  version: string;
}

/** An imported trace, ready for writeTraceFile, and what the user should be told. */
export interface ImportResult {
  header: TraceHeader;
  epochs: AsyncIterable<Epoch> | Iterable<Epoch>;
  /** One line each: what was learned, assumed or fixed (also in meta). */
  notes: string[];
  /** For rate-only inputs: the W(t) curve that was fitted (written by --curve-out). */
  curve?: { windowMs: number; pages: number }[];
}

/** An importer: one file under src/trace/import/, registered in index.ts. */
export interface ImporterSpec {
  /** The CLI name: `dirtylab import ID INPUT -o FILE`. */
  id: string;
  /** One line for --help. */
  summary: string;
  /** What INPUT is. */
  input: 'file' | 'directory';
  options: ImportOption[];
  run(input: TraceInput | DirInput, ctx: ImportContext): Promise<ImportResult>;
}

/** Longest line a text importer accepts, in characters (a longer one is binary data or a wrong format). */
export const MAX_LINE_CHARS = 1 << 20;

/**
 * Most epochs an importer cuts time-stamped input into: 2^20 (1 048 576), 29
 * hours at the default 100 ms. Two stamps far apart (a corrupt or mixed-up log)
 * would otherwise make an unbounded run of empty epochs from a two-line input.
 */
export const MAX_IMPORT_EPOCHS = 2 ** 20;

/** Refuse a time span that would make more than MAX_IMPORT_EPOCHS epochs of `epochNs`. */
export function checkEpochSpan(file: string, line: number, spanNs: number, epochNs: number): void {
  const n = Math.floor(spanNs / epochNs) + 1;
  if (!(n <= MAX_IMPORT_EPOCHS)) {
    throw new TraceError(file, { line: Math.max(1, line) }, `time stamps spanning at most ${MAX_IMPORT_EPOCHS} epochs of ${epochNs / 1e6} ms (${((MAX_IMPORT_EPOCHS * epochNs) / 1e9).toFixed(0)} s; a longer --epoch-ms for a longer span), found ${(spanNs / 1e9).toPrecision(6)} s`);
  }
}

/**
 * The decompressed bytes of an input: gzip is detected from its magic bytes.
 * A corrupt or truncated gzip stream is a TraceError naming the compressed
 * byte offset reached (the file's length when it is truncated).
 */
export async function* contentChunks(input: TraceInput): AsyncGenerator<Uint8Array> {
  const it = input.open()[Symbol.asyncIterator]();
  const first: Uint8Array[] = [];
  let have = 0;
  let done = false;
  while (have < 2 && !done) {
    const r = await it.next();
    if (r.done) done = true;
    else { first.push(r.value); have += r.value.length; }
  }
  const head = concat(first);
  if (!isGzip(head)) {
    if (head.length > 0) yield head;
    while (!done) {
      const r = await it.next();
      if (r.done) break;
      yield r.value;
    }
    return;
  }
  let fed = 0;
  async function* compressed(): AsyncGenerator<Uint8Array> {
    fed += head.length;
    yield head;
    while (true) {
      const r = await it.next();
      if (r.done) return;
      fed += r.value.length;
      yield r.value;
    }
  }
  try {
    yield* gunzip(compressed());
  } catch (e) {
    if (e instanceof TraceError) throw e;
    throw new TraceError(input.name, { byte: fed }, `a complete, valid gzip stream; it breaks by compressed byte ${fed} (${(e as Error).message || 'corrupt data'}; a truncated file?)`);
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

/** The whole decompressed content (for inputs that are small by nature: one bitmap, one JSON document). */
export async function contentBytes(input: TraceInput, maxBytes = 1 << 30): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let n = 0;
  for await (const c of contentChunks(input)) {
    n += c.length;
    if (n > maxBytes) throw new TraceError(input.name, { byte: maxBytes }, `at most ${maxBytes} bytes (decompressed)`);
    parts.push(c);
  }
  return parts.length === 0 ? new Uint8Array(0) : concat(parts);
}

/**
 * The lines of an input (gzipped or not) with 1-based numbers, without their
 * line ends ("\r\n" too), in batches (one per decompressed chunk: per-line
 * async iteration would cost more than the parsing). A line longer than
 * `maxChars` is an error at that line: memory stays bounded whatever the
 * input holds.
 */
export async function* textLineBatches(input: TraceInput, maxChars = MAX_LINE_CHARS): AsyncGenerator<{ text: string; line: number }[]> {
  const dec = new TextDecoder('utf-8');
  let carry = '';
  let line = 0;
  const tooLong = (): never => {
    throw new TraceError(input.name, { line: line + 1 }, `a text line of at most ${maxChars} characters, found a longer one (binary data, or not this format?)`);
  };
  const strip = (s: string) => (s.endsWith('\r') ? s.slice(0, -1) : s);
  for await (const chunk of contentChunks(input)) {
    const s = carry + dec.decode(chunk, { stream: true });
    const batch: { text: string; line: number }[] = [];
    let start = 0;
    let nl: number;
    while ((nl = s.indexOf('\n', start)) >= 0) {
      if (nl - start > maxChars) { if (batch.length) yield batch; tooLong(); }
      line++;
      batch.push({ text: strip(s.slice(start, nl)), line });
      start = nl + 1;
    }
    carry = s.slice(start);
    if (batch.length) yield batch;
    if (carry.length > maxChars) tooLong();
  }
  carry += dec.decode();
  if (carry.length > maxChars) tooLong();
  if (carry.length > 0) yield [{ text: strip(carry), line: line + 1 }];
}

/** The lines of an input one by one (see textLineBatches). */
export async function* textLines(input: TraceInput, maxChars = MAX_LINE_CHARS): AsyncGenerator<{ text: string; line: number }> {
  for await (const batch of textLineBatches(input, maxChars)) yield* batch;
}

/** The whole input as text (small inputs: JSON documents, virsh output). */
export async function contentText(input: TraceInput, maxBytes = 256 * 2 ** 20): Promise<string> {
  return new TextDecoder('utf-8').decode(await contentBytes(input, maxBytes));
}

/**
 * A non-negative integer written in decimal or 0x-hex, or null when the text
 * is not one. Values above 2^53 − 1 are refused by the caller's message, so
 * addresses never lose bits silently.
 */
export function parseUint(text: string): number | null {
  let v: number;
  if (/^0x[0-9a-f]+$/i.test(text)) v = parseInt(text.slice(2), 16);
  else if (/^[0-9]+$/.test(text)) v = Number(text);
  else return null;
  return Number.isSafeInteger(v) ? v : null;
}

/**
 * Page number of a hex address (no 0x) for a page size 2^shift, exact for
 * any 64-bit address (the low `shift` bits are dropped before converting).
 */
export function hexPage(hex: string, shift: number): number | null {
  if (!/^[0-9a-f]+$/i.test(hex)) return null;
  if (hex.length <= 13) return Math.floor(parseInt(hex, 16) / 2 ** shift);
  const p = BigInt('0x' + hex) >> BigInt(shift);
  return p <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(p) : null;
}

/** log2 of a power-of-two page size, or a RangeError. */
export function pageShift(pageSize: number): number {
  if (!Number.isInteger(pageSize) || pageSize < 1 || (pageSize & (pageSize - 1)) !== 0) throw new RangeError(`--page-size must be a power of two, not ${pageSize}`);
  return Math.log2(pageSize);
}

/** Sort and de-duplicate a page list in place; returns the unique prefix and how many duplicates went. */
export function sortUnique(pages: Uint32Array): { pages: Uint32Array; duplicates: number } {
  pages.sort();
  let w = 0;
  for (let i = 0; i < pages.length; i++) if (w === 0 || pages[i] !== pages[w - 1]) pages[w++] = pages[i]!;
  return { pages: pages.subarray(0, w), duplicates: pages.length - w };
}

/** Dense page indices for a sparse set of page numbers, with the address map as runs. */
export class PageCompactor {
  private readonly index = new Map<number, number>();
  /** Runs of consecutive page numbers: [first page number, first dense index, count]. */
  readonly runs: [number, number, number][] = [];

  /** Build from every page number that will be seen (any order, duplicates allowed). */
  constructor(pageNumbers: Iterable<number>) {
    const sorted = Float64Array.from(new Set(pageNumbers)).sort();
    for (let i = 0; i < sorted.length; i++) {
      const p = sorted[i]!;
      this.index.set(p, i);
      const last = this.runs[this.runs.length - 1];
      if (last && last[0] + last[2] === p) last[2]++;
      else this.runs.push([p, i, 1]);
    }
  }

  /** Number of dense pages. */
  get size(): number {
    return this.index.size;
  }

  /** Dense index of a page number (it must have been given to the constructor). */
  dense(page: number): number {
    const i = this.index.get(page);
    if (i === undefined) throw new Error(`page ${page} was not seen in the first pass`);
    return i;
  }
}

/** Round to a 1-2-5 × 10^k number at or below x (≥ 1). */
export function niceFloor(x: number): number {
  if (x < 1) return 1;
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [5, 2, 1]) if (m * p <= x) return m * p;
  return p;
}

/** Named helper for an importer's bad-line error. */
export function badLine(file: string, line: number, expected: string): never {
  throw new TraceError(file, { line }, expected);
}

/**
 * A decimal time stamp in seconds ("1795559697.038269", "1234.567890123")
 * as [whole seconds, nanoseconds], exact (no float rounding of the fraction).
 */
export function parseSeconds(text: string): [number, number] | null {
  const m = /^(\d+)(?:\.(\d{1,9}))?$/.exec(text);
  if (!m) return null;
  const sec = Number(m[1]);
  if (!Number.isSafeInteger(sec)) return null;
  return [sec, m[2] ? Number(m[2].padEnd(9, '0')) : 0];
}

/** Nanoseconds from `origin` to `t`, both [seconds, ns] (exact while the span is under 2^53 ns, 104 days). */
export function nsSince(origin: [number, number], t: [number, number]): number {
  return (t[0] - origin[0]) * 1e9 + (t[1] - origin[1]);
}

/** A short, printable quotation of input text for an error message (control and non-ASCII bytes as "?"). */
export function preview(text: string, max = 60): string {
  const s = text.length > max ? `${text.slice(0, max)}…` : text;
  return `"${s.replace(/[^\x20-\x7e…]/g, '?')}"`;
}
