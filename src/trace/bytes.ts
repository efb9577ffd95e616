/**
 * Streaming byte and line readers over async chunk sources, gzip detection,
 * and unsigned LEB128. Memory is bounded by the largest single read (one
 * epoch block or one JSON line), never the whole input. Browser-safe: uses
 * only web streams (DecompressionStream), fetch and TextDecoder.
 */
import { TraceError } from './model.js';

/** A re-openable byte source: a file, a Blob, a fetch, bytes in memory. */
export interface TraceInput {
  /** Name used in error messages (usually the path). */
  readonly name: string;
  /** A fresh stream of the raw (possibly gzipped) bytes. */
  open(): AsyncIterable<Uint8Array>;
}

/** A TraceInput over bytes already in memory. */
export function bytesInput(name: string, bytes: Uint8Array): TraceInput {
  return {
    name,
    async *open() {
      yield bytes;
    },
  };
}

/** The chunks of a web ReadableStream (cancelled if the reader stops early). */
export async function* streamChunks(stream: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = stream.getReader();
  let done = false;
  try {
    while (true) {
      const r = await reader.read();
      if (r.done) { done = true; return; }
      yield r.value;
    }
  } finally {
    if (!done) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}

/**
 * A TraceInput over a Blob or a File (an `<input type="file">` or a drop):
 * streamed, so a large file is never held whole. The name defaults to the
 * File's name.
 */
export function blobInput(blob: Blob, name?: string): TraceInput {
  const n = name ?? ((blob as Blob & { name?: unknown }).name as string | undefined) ?? 'blob';
  return {
    name: n,
    open: () => streamChunks(blob.stream() as ReadableStream<Uint8Array>),
  };
}

/**
 * A TraceInput over a URL, fetched (and streamed) on every open(): http(s),
 * blob: and data: URLs in browsers, http(s) in Node (use fileInput for
 * files). A gzip Content-Encoding is undone by fetch; a gzipped file served
 * as is (.dpt.gz) is unwrapped by the readers.
 */
export function urlInput(url: string | URL, init?: RequestInit): TraceInput {
  const name = url instanceof URL ? url.href : url;
  return {
    name,
    async *open() {
      let res: Response;
      try {
        res = await fetch(url, init);
      } catch (e) {
        throw new TraceError(name, {}, `a URL that can be fetched (${(e as Error).message})`);
      }
      if (!res.ok) throw new TraceError(name, {}, `a URL that can be fetched, got HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`);
      if (!res.body) return;
      yield* streamChunks(res.body);
    },
  };
}

/** Pulls bytes from an async chunk iterator on demand, counting the offset. */
export class ByteReader {
  private chunks: Uint8Array[] = [];
  private head = 0;
  private avail = 0;
  private ended = false;
  /** Bytes consumed so far (the offset of the next byte). */
  offset = 0;

  constructor(private readonly it: AsyncIterator<Uint8Array>) {}

  /** Make n bytes available; false if the input ends first. */
  async fill(n: number): Promise<boolean> {
    while (this.avail < n && !this.ended) {
      const { value, done } = await this.it.next();
      if (done) { this.ended = true; break; }
      if (value.length === 0) continue;
      this.chunks.push(value);
      this.avail += value.length;
    }
    return this.avail >= n;
  }

  /** Bytes available without reading further. */
  get available(): number {
    return this.avail;
  }

  /** True when no byte is left. */
  async atEnd(): Promise<boolean> {
    return !(await this.fill(1));
  }

  /** The next n bytes without consuming them (n must be available). */
  peek(n: number): Uint8Array {
    const first = this.chunks[0];
    if (first && first.length - this.head >= n) return first.subarray(this.head, this.head + n);
    return this.copyOut(n, false);
  }

  /** Consume n available bytes (a view when they lie in one chunk). */
  take(n: number): Uint8Array {
    const first = this.chunks[0];
    let out: Uint8Array;
    if (first && first.length - this.head >= n) {
      out = first.subarray(this.head, this.head + n);
      this.head += n;
      if (this.head === first.length) { this.chunks.shift(); this.head = 0; }
    } else {
      out = this.copyOut(n, true);
    }
    this.avail -= n;
    this.offset += n;
    return out;
  }

  private copyOut(n: number, consume: boolean): Uint8Array {
    const out = new Uint8Array(n);
    let got = 0;
    let ci = 0;
    let h = this.head;
    while (got < n) {
      const c = this.chunks[ci]!;
      const m = Math.min(n - got, c.length - h);
      out.set(c.subarray(h, h + m), got);
      got += m;
      h += m;
      if (h === c.length) { ci++; h = 0; }
    }
    if (consume) {
      this.chunks.splice(0, ci);
      this.head = h;
    }
    return out;
  }

  /** The rest of the input (buffered bytes first) as a chunk stream. */
  async *rest(): AsyncGenerator<Uint8Array> {
    const first = this.chunks[0];
    if (first) yield first.subarray(this.head);
    for (const c of this.chunks.slice(1)) yield c;
    this.chunks = [];
    this.avail = 0;
    while (true) {
      const { value, done } = await this.it.next();
      if (done) return;
      yield value;
    }
  }
}

/** Whether bytes start with gzip's magic (1f 8b). */
export function isGzip(head: Uint8Array): boolean {
  return head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
}

/** Gunzip a chunk stream with the web-standard DecompressionStream. */
export async function* gunzip(src: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const it = src[Symbol.asyncIterator]();
  const input = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { value, done } = await it.next();
      if (done) controller.close();
      else controller.enqueue(value);
    },
  });
  const out = input.pipeThrough(new DecompressionStream('gzip') as unknown as TransformStream<Uint8Array, Uint8Array>);
  const reader = out.getReader();
  while (true) {
    const { value, done } = await reader.read();
    if (done) return;
    yield value;
  }
}

/** Number of bytes of v as unsigned LEB128. */
export function varintSize(v: number): number {
  let n = 1;
  while (v >= 128) { v = Math.floor(v / 128); n++; }
  return n;
}

/** Append v as unsigned LEB128 to out at pos; returns the new pos. */
export function putVarint(out: Uint8Array, pos: number, v: number): number {
  while (v >= 128) {
    out[pos++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 128);
  }
  out[pos++] = v;
  return pos;
}

/**
 * Read one unsigned LEB128 from buf at pos (at most 5 bytes, value < 2^35).
 * Returns [value, next pos], or null if buf ends inside it, or 'overlong'.
 */
export function getVarint(buf: Uint8Array, pos: number): [number, number] | null | 'overlong' {
  let v = 0;
  let scale = 1;
  for (let i = 0; i < 5; i++) {
    if (pos >= buf.length) return null;
    const b = buf[pos++]!;
    v += (b & 0x7f) * scale;
    if ((b & 0x80) === 0) return [v, pos];
    scale *= 128;
  }
  return 'overlong';
}

/** Longest line the line readers accept, characters (64 Mi): a longer one is refused, not buffered. */
export const MAX_LINE_LENGTH = 64 * 2 ** 20;

/**
 * Yields the lines of a UTF-8 chunk stream with their 1-based numbers. Linear
 * in the input however long a line is (a partial line is kept as pieces); a
 * line longer than `maxChars` is refused with an Error naming its number
 * (`LineTooLong`; the trace readers turn it into a TraceError).
 */
export async function* lines(src: AsyncIterable<Uint8Array>, maxChars = MAX_LINE_LENGTH): AsyncGenerator<{ text: string; line: number }> {
  const dec = new TextDecoder('utf-8');
  let pieces: string[] = [];
  let pending = 0;
  let line = 0;
  const take = (tail: string): string => {
    const text = pieces.length === 0 ? tail : pieces.join('') + tail;
    pieces = [];
    pending = 0;
    return text;
  };
  for await (const chunk of src) {
    const s = dec.decode(chunk, { stream: true });
    let start = 0;
    let nl: number;
    while ((nl = s.indexOf('\n', start)) >= 0) {
      line++;
      if (pending + nl - start > maxChars) throw new LineTooLong(line + 0, maxChars);
      yield { text: take(s.slice(start, nl)), line };
      start = nl + 1;
    }
    if (start < s.length) {
      pieces.push(s.slice(start));
      pending += s.length - start;
      if (pending > maxChars) throw new LineTooLong(line + 1, maxChars);
    }
  }
  const last = take(dec.decode());
  if (last.length > 0) yield { text: last, line: line + 1 };
}

/** A line longer than the readers accept. */
export class LineTooLong extends Error {
  constructor(readonly line: number, readonly maxChars: number) {
    super(`line ${line} is longer than ${maxChars} characters`);
    this.name = 'LineTooLong';
  }
}
