/**
 * The writers' side of the readers' rules: a writer checks what it is given
 * against what the .dpt and .dpt.jsonl readers accept, and refuses (a
 * TraceError naming the output file) instead of writing a file dirtylab would
 * then reject. The checks mirror src/trace/dpt.ts and src/trace/jsonl.ts:
 * page size, page count, times (non-negative safe integers, never going
 * backwards, fixed-length epochs ending by 2^53 − 1), sorted unique pages
 * below nPages, at most MAX_SET_PAGES per set, write counts ≥ 1, metadata
 * (an object, nested at most MAX_JSON_DEPTH deep, at most 64 MiB as JSON,
 * timeZeroNs finite), and for .dpt.jsonl the reader's line limit.
 */
import { jsonlEpochLineLength, runsChars } from './jsonl.js';
import {
  MAX_JSON_DEPTH, MAX_LINE, MAX_SET_PAGES, PAGE_SIZE_RULE, TIME_UNITS, TraceError, jsonDepth, validPageSize,
  type Epoch, type TraceHeader,
} from './model.js';

/** Most bytes of JSON metadata a .dpt header may hold (json_len). */
export const MAX_META_BYTES = 64 * 2 ** 20;

/** The format a writer produces. */
export type WriteFormat = 'dpt' | 'dpt-jsonl';

function uint(v: unknown, max = Number.MAX_SAFE_INTEGER): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max;
}

/** Checks a header, then each epoch in order, against the readers' rules. */
export class WriteCheck {
  private k = 0;
  private prevT1 = 0;
  /** The metadata as JSON (checked), for the writer to reuse. */
  readonly metaJson: string;

  constructor(private readonly h: TraceHeader, private readonly file: string, private readonly format: WriteFormat) {
    this.metaJson = this.checkHeader();
  }

  private fail(what: string, where: { line: number } | Record<string, never> = {}): never {
    const reader = this.format === 'dpt' ? '.dpt' : '.dpt.jsonl';
    throw new TraceError(this.file, where, `${what} (the ${reader} reader refuses anything else, so nothing was written)`);
  }

  private checkHeader(): string {
    const h = this.h;
    if (!validPageSize(h.pageSize)) this.fail(`a page size that is ${PAGE_SIZE_RULE}, found ${h.pageSize}`);
    if (!uint(h.nPages, 2 ** 32 - 1) || h.nPages < 1) this.fail(`a page count from 1 to 2^32 − 1, found ${h.nPages}`);
    if (!TIME_UNITS.includes(h.timeUnit)) this.fail(`a time unit among ${TIME_UNITS.join(', ')}, found ${String(h.timeUnit)}`);
    if (!uint(h.epochLen)) this.fail(`an epoch length that is an integer from 0 to 2^53 − 1 ${h.timeUnit}, found ${h.epochLen}`);
    if (!h.hasTimes && h.epochLen === 0) this.fail('an epoch length > 0 when epochs carry no t0/t1');
    if (h.nEpochs !== null && !uint(h.nEpochs)) this.fail(`an epoch count that is a non-negative integer or null, found ${h.nEpochs}`);
    if (h.zeroAtStart !== null) this.checkSet(h.zeroAtStart, 'zeroAtStart');
    const meta = h.meta as unknown;
    if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) this.fail('metadata that is a JSON object');
    const tz = (meta as Record<string, unknown>).timeZeroNs;
    if (tz !== undefined && (typeof tz !== 'number' || !Number.isFinite(tz))) this.fail(`meta.timeZeroNs to be a finite number, found ${String(tz)}`);
    let json: string;
    try {
      json = JSON.stringify(meta);
    } catch (e) {
      this.fail(`metadata that can be written as JSON (${(e as Error).message})`);
    }
    if (jsonDepth(json, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) this.fail(`metadata nested at most ${MAX_JSON_DEPTH} levels deep`);
    const bytes = new TextEncoder().encode(json).length;
    if (bytes > MAX_META_BYTES) this.fail(`metadata of at most ${MAX_META_BYTES} bytes (64 MiB) as JSON, found ${bytes}`);
    if (this.format === 'dpt-jsonl') {
      // Everything but the metadata and zeroAtStart takes under 400 characters.
      const len = 400 + json.length + (h.zeroAtStart ? runsChars(h.zeroAtStart) : 4);
      if (len > MAX_LINE) this.fail(`a header line of at most ${MAX_LINE} characters (64 MiB, the .dpt.jsonl line limit), found about ${len} (metadata and zeroAtStart): write .dpt or .dpt.gz instead`, { line: 1 });
    }
    return json;
  }

  private checkSet(pages: Uint32Array, what: string): void {
    if (!(pages instanceof Uint32Array)) this.fail(`${what} to be a Uint32Array of page indices`);
    if (pages.length > MAX_SET_PAGES) this.fail(`${what} to hold at most ${MAX_SET_PAGES} pages (2^27), found ${pages.length}`);
    let prev = -1;
    for (let i = 0; i < pages.length; i++) {
      const p = pages[i]!;
      if (p <= prev) this.fail(`${what}: pages sorted and unique, found ${p} after ${prev}`);
      if (p >= this.h.nPages) this.fail(`${what}: pages < nPages (${this.h.nPages}), found ${p}`);
      prev = p;
    }
  }

  /** Check the next epoch; returns its line length for .dpt.jsonl (else 0). */
  epoch(e: Epoch): number {
    const h = this.h;
    const k = this.k;
    const what = `epoch ${k}`;
    if (h.nEpochs !== null && k >= h.nEpochs) this.fail(`at most nEpochs = ${h.nEpochs} epochs, found more`);
    if (h.hasTimes) {
      if (!uint(e.t0) || !uint(e.t1)) this.fail(`${what}: t0 and t1 as integers from 0 to 2^53 − 1 ${h.timeUnit}, found ${e.t0}, ${e.t1}`);
      if (e.t1 < e.t0) this.fail(`${what}: t1 ≥ t0 = ${e.t0}, found ${e.t1}`);
      if (e.t0 < this.prevT1) this.fail(`${what}: t0 ≥ the previous epoch's t1 = ${this.prevT1} (time going backwards), found ${e.t0}`);
    } else {
      const t1 = (k + 1) * h.epochLen;
      if (!Number.isSafeInteger(t1)) this.fail(`${what} to end by 2^53 − 1 ${h.timeUnit} (epochLen × epochs), found ${t1}`);
      if (e.t0 !== k * h.epochLen || e.t1 !== t1) this.fail(`${what} to be [${k * h.epochLen}, ${t1}) (fixed-length epochs: the header carries no times), found [${e.t0}, ${e.t1})`);
    }
    this.checkSet(e.pages, what);
    if (h.hasCounts) {
      const c = e.counts;
      if (!(c instanceof Uint32Array) || c.length !== e.pages.length) this.fail(`${what}: one write count per page (${e.pages.length}), found ${c?.length ?? 'none'}`);
      for (let i = 0; i < c.length; i++) if (c[i] === 0) this.fail(`${what}: write counts ≥ 1, found 0 for page ${e.pages[i]}`);
    }
    let len = 0;
    if (this.format === 'dpt-jsonl') {
      len = jsonlEpochLineLength(e, h);
      if (len > MAX_LINE) {
        this.fail(`lines of at most ${MAX_LINE} characters (64 MiB, the .dpt.jsonl line limit), found ${len} for ${what} (${e.pages.length} pages): write .dpt or .dpt.gz instead`, { line: k + 2 });
      }
    }
    this.prevT1 = h.hasTimes ? e.t1 : (k + 1) * h.epochLen;
    this.k++;
    return len;
  }

  /** Epochs checked so far. */
  get epochs(): number {
    return this.k;
  }
}
