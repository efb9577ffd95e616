/**
 * Opening a trace in any supported format, detected from its content: gzip
 * wrapping by its magic bytes (1f 8b), .dpt by "DPTRACE", the JSON-lines twin
 * by its header's "format": "dpt-jsonl", the recorder's JSON lines by a header
 * with "page_size". `format` forces one (gzip is still unwrapped).
 */
import { ByteReader, LineTooLong, gunzip, isGzip, lines as rawLines, type TraceInput } from './bytes.js';
import { looksLikeDpt, readDptEpochs, readDptHeader } from './dpt.js';
import { parseJsonlHeader, readJsonlEpochs } from './jsonl.js';
import { MAX_JSON_DEPTH, TraceError, jsonDepth, jsonObjectLine, type Epoch, type Trace, type TraceFormat, type TraceHeader } from './model.js';
import { openRecorder } from './recorder.js';

/** The formats `--format` accepts. */
export const TRACE_FORMATS: readonly TraceFormat[] = ['dpt', 'dpt-jsonl', 'recorder-jsonl'];

/** An opened trace: its header, and its epochs as a one-shot stream. */
export interface OpenedTrace {
  format: TraceFormat;
  gzipped: boolean;
  header: TraceHeader;
  epochs: AsyncIterable<Epoch>;
}

/** Options of openTrace / readTrace. */
export interface OpenOptions {
  /** Force a format instead of detecting it. */
  format?: TraceFormat;
}

/**
 * Turns errors of the gzip layer into a TraceError naming the file and the
 * compressed byte offset the decompressor had read up to when it failed.
 */
async function* guardGzip(src: AsyncIterable<Uint8Array>, file: string, fed: { bytes: number }): AsyncGenerator<Uint8Array> {
  try {
    yield* src;
  } catch (e) {
    if (e instanceof TraceError) throw e;
    const msg = (e as Error).message ?? String(e);
    const what = /unexpected end|premature|truncat/i.test(msg) ? 'more gzip data (truncated gzip member)' : `valid gzip data (${msg})`;
    throw new TraceError(file, { byte: fed.bytes }, `${what}; the error is in the compressed bytes read so far`);
  }
}

/** Counts the bytes passing through (the gzip layer's input offset, for errors). */
async function* counted(src: AsyncIterable<Uint8Array>, fed: { bytes: number }): AsyncGenerator<Uint8Array> {
  for await (const c of src) {
    fed.bytes += c.length;
    yield c;
  }
}

/** A ByteReader over the decompressed content of an input. */
async function contentReader(input: TraceInput): Promise<{ reader: ByteReader; gzipped: boolean }> {
  const raw = new ByteReader(input.open()[Symbol.asyncIterator]());
  await raw.fill(2);
  if (raw.available >= 2 && isGzip(raw.peek(2))) {
    const fed = { bytes: 0 };
    const src = guardGzip(gunzip(counted(raw.rest(), fed)), input.name, fed);
    return { reader: new ByteReader(src[Symbol.asyncIterator]()), gzipped: true };
  }
  return { reader: raw, gzipped: false };
}

/** Lines of a trace; a line past the limit is a TraceError naming the file and line. */
async function* lines(src: AsyncIterable<Uint8Array>, file: string): AsyncGenerator<{ text: string; line: number }> {
  try {
    yield* rawLines(src);
  } catch (e) {
    if (e instanceof LineTooLong) throw new TraceError(file, { line: e.line }, `lines of at most ${e.maxChars} characters (64 MiB, the line limit of the JSON-lines readers), found a longer one`);
    throw e;
  }
}

async function* lineStream(input: TraceInput): AsyncGenerator<{ text: string; line: number }> {
  const { reader } = await contentReader(input);
  yield* lines(reader.rest(), input.name);
}

/** Open a trace for streaming: memory stays bounded by one epoch. */
export async function openTrace(input: TraceInput, opts: OpenOptions = {}): Promise<OpenedTrace> {
  const file = input.name;
  const { reader, gzipped } = await contentReader(input);
  let format = opts.format;
  if (format === undefined) {
    await reader.fill(8);
    const head = reader.peek(Math.min(8, reader.available));
    if (head.length === 0) throw new TraceError(file, { byte: 0 }, 'a trace (.dpt, .dpt.jsonl or recorder JSON lines), found an empty file');
    if (looksLikeDpt(head)) format = 'dpt';
    else if (head[0] === 0x7b /* { */) format = 'json' as TraceFormat; // decided by the header line below
    else throw new TraceError(file, { byte: 0 }, 'a trace: .dpt (magic "DPTRACE"), .dpt.jsonl or recorder JSON lines (a "{" header line), gzipped or not');
  }
  if (format === 'dpt') {
    const header = await readDptHeader(reader, file);
    return { format, gzipped, header, epochs: readDptEpochs(reader, header, file) };
  }
  // JSON lines: read the header line.
  const it = lines(reader.rest(), file)[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done) throw new TraceError(file, { line: 1 }, 'a JSON header line, found an empty file');
  // A .dpt.jsonl header line holds "meta" one level down: one more level lets
  // its metadata nest as deep as a .dpt's (MAX_JSON_DEPTH), so either converts
  // to the other. A recorder header becomes the metadata itself: checked below.
  const text = first.value.text;
  if (jsonDepth(text, MAX_JSON_DEPTH + 1) > MAX_JSON_DEPTH + 1) throw new TraceError(file, { line: 1 }, `a JSON object as the header line, its metadata nested at most ${MAX_JSON_DEPTH} levels deep, found deeper nesting`);
  const obj = jsonObjectLine(text, file, 1, 'a JSON object as the header line', MAX_JSON_DEPTH + 1);
  if (format !== 'dpt-jsonl' && format !== 'recorder-jsonl') {
    if (obj.format === 'dpt-jsonl') format = 'dpt-jsonl';
    else if ('page_size' in obj) format = 'recorder-jsonl';
    else throw new TraceError(file, { line: 1 }, 'a header line with "format": "dpt-jsonl" or a recorder header with "page_size" and "pages"');
  }
  if (format === 'recorder-jsonl' && jsonDepth(text) > MAX_JSON_DEPTH) throw new TraceError(file, { line: 1 }, `a JSON object as the header line nested at most ${MAX_JSON_DEPTH} levels deep, found deeper nesting`);
  if (format === 'dpt-jsonl') {
    const header = parseJsonlHeader(obj, file, 1);
    const rest = { [Symbol.asyncIterator]: () => it };
    return { format, gzipped, header, epochs: readJsonlEpochs(rest, header, file) };
  }
  const { header, epochs } = await openRecorder(obj, () => lineStream(input), file);
  return { format: 'recorder-jsonl', gzipped, header, epochs };
}

/** Read a whole trace into memory. */
export async function readTrace(input: TraceInput, opts: OpenOptions = {}): Promise<Trace & { format: TraceFormat }> {
  const t = await openTrace(input, opts);
  const epochs: Epoch[] = [];
  for await (const e of t.epochs) epochs.push(e);
  return { header: t.header, epochs, format: t.format };
}
