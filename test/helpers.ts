// Shared test helpers: in-memory sinks and inputs, trace builders.
import { bytesInput, type TraceInput } from '../src/trace/bytes.js';
import { DptWriter, type ByteSink } from '../src/trace/dpt.js';
import type { Epoch, TraceHeader } from '../src/trace/model.js';

/** A seekable in-memory sink. */
export class MemorySink implements ByteSink {
  private buf = new Uint8Array(1024);
  length = 0;
  write(b: Uint8Array): void {
    this.writeAt(this.length, b);
  }
  writeAt(pos: number, b: Uint8Array): void {
    const end = pos + b.length;
    if (end > this.buf.length) {
      const nb = new Uint8Array(Math.max(end, this.buf.length * 2));
      nb.set(this.buf);
      this.buf = nb;
    }
    this.buf.set(b, pos);
    this.length = Math.max(this.length, end);
  }
  bytes(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

/** Encode a trace to .dpt bytes in memory (seekable unless told otherwise). */
export async function dptBytes(h: TraceHeader, epochs: Iterable<Epoch>, seekable = true): Promise<Uint8Array> {
  const sink = new MemorySink();
  const target: ByteSink = seekable ? sink : { write: (b) => sink.write(b) };
  const w = new DptWriter(target, h);
  for (const e of epochs) await w.writeEpoch(e);
  await w.close();
  return sink.bytes();
}

/** An input that yields its bytes in chunks of `size` (1 = byte by byte). */
export function chunkedInput(name: string, bytes: Uint8Array, size: number): TraceInput {
  return {
    name,
    async *open() {
      for (let i = 0; i < bytes.length; i += size) yield bytes.slice(i, i + size);
    },
  };
}

export { bytesInput };

/** A header with defaults for tests. */
export function header(over: Partial<TraceHeader> = {}): TraceHeader {
  return {
    pageSize: 4096, nPages: 20, timeUnit: 'ns', epochLen: 100, nEpochs: null,
    hasTimes: true, hasCounts: false, zeroAtStart: null, meta: {}, ...over,
  };
}

/** An epoch from a plain page list. */
export function ep(t0: number, t1: number, pages: number[], counts?: number[]): Epoch {
  const e: Epoch = { t0, t1, pages: Uint32Array.from(pages) };
  if (counts) e.counts = Uint32Array.from(counts);
  return e;
}

/** Hex string (whitespace and # comments ignored) → bytes. */
export function hex(s: string): Uint8Array {
  const clean = s.split('\n').map((l) => l.replace(/#.*$/, '')).join('').replace(/\s+/g, '');
  return Uint8Array.from(clean.match(/../g)!.map((b) => parseInt(b, 16)));
}
