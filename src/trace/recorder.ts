/**
 * Importer for the recorder's JSON lines (test/fixtures/qemu-runs/NAME/trace.jsonl.gz,
 * tools/recorder): a header line with `page_size` and `pages` (required),
 * `epoch_ms`, `zero_at_start` ({ranges: [[first, count]…]}), `time_zero` /
 * `t_zero_unix_ms`, `vm_stop_t_ms`, `postcopy_start_t_ms` (optional) and
 * provenance; then {"t0_ms","t1_ms","pages"[,"n","scan_us"]} per epoch, times
 * in ms relative to t = 0 (when `migrate` was sent; negative before it).
 *
 * As an importer of another tool's output it normalises instead of refusing:
 * page lists are sorted and de-duplicated (the heavy runs need it: the
 * recorder's scan restarts when its buffer fills) and the fixes are counted in
 * meta.importFixes. Empty epochs after the source VM stopped are cut: they
 * mark the end of recording, not an idle guest. Times become integer ns from
 * the first epoch's start; t = 0 is kept as meta.timeZeroNs.
 *
 * Two passes over the input (it is re-opened): the first checks every line and
 * learns the epoch count, the cut and the fixes, so the header is complete
 * before the first epoch is streamed.
 */
import { PAGE_SIZE_RULE, TraceError, jsonObjectLine, validPageSize, type Epoch, type TraceHeader } from './model.js';
import { runsToPages } from './jsonl.js';

/** Header keys that become fields of the trace rather than provenance. */
const STRUCTURAL = new Set(['page_size', 'pages', 'zero_at_start']);

interface RawEpoch {
  t0Ms: number;
  t1Ms: number;
  pages: Uint32Array;
  sorted: boolean;
  duplicates: number;
}

/** Largest time in ms that is still a safe integer in ns. */
const MAX_MS = Math.floor(Number.MAX_SAFE_INTEGER / 1e6);

function finite(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

/** Parse and check the header object. */
export function parseRecorderHeader(o: Record<string, unknown>, file: string): {
  pageSize: number; nPages: number; epochMs: number | null; stopMs: number | null; zeroAtStart: Uint32Array | null;
} {
  const bad = (what: string): never => {
    throw new TraceError(file, { line: 1 }, what);
  };
  const ps = o.page_size;
  if (!validPageSize(ps)) bad(`"page_size" to be ${PAGE_SIZE_RULE} in the header line, found ${JSON.stringify(ps)}`);
  const n = o.pages;
  if (!Number.isInteger(n) || (n as number) < 1 || (n as number) >= 2 ** 32) bad('"pages" (the page count) to be an integer from 1 to 2^32 − 1 in the header line');
  const nPages = n as number;
  if (o.epoch_ms !== undefined && o.epoch_ms !== null && !(finite(o.epoch_ms) && o.epoch_ms > 0 && o.epoch_ms <= MAX_MS)) bad(`"epoch_ms" to be a positive number of at most ${MAX_MS} (2^53 − 1 ns), found ${JSON.stringify(o.epoch_ms)}`);
  for (const k of ['vm_stop_t_ms', 'postcopy_start_t_ms']) {
    if (o[k] !== undefined && o[k] !== null && !finite(o[k])) bad(`"${k}" to be a number or null`);
  }
  const stops = [o.vm_stop_t_ms, o.postcopy_start_t_ms].filter(finite);
  let zeroAtStart: Uint32Array | null = null;
  const z = o.zero_at_start;
  if (z !== undefined && z !== null) {
    const ranges = typeof z === 'object' && !Array.isArray(z) ? (z as Record<string, unknown>).ranges : z;
    zeroAtStart = runsToPages(ranges, nPages, () => bad('"zero_at_start" to hold sorted, disjoint [first page, count] runs within the page count'));
    const count = typeof z === 'object' && !Array.isArray(z) ? (z as Record<string, unknown>).pages : undefined;
    if (count !== undefined && count !== zeroAtStart.length) bad(`"zero_at_start.pages" = ${zeroAtStart.length} (the pages in its ranges), found ${count}`);
  }
  return {
    pageSize: ps as number,
    nPages,
    epochMs: (o.epoch_ms as number | undefined) ?? null,
    stopMs: stops.length > 0 ? Math.min(...stops) : null,
    zeroAtStart,
  };
}

/** Parse and check one epoch line; pages come back sorted and unique. */
function parseEpochLine(text: string, line: number, nPages: number, file: string): RawEpoch {
  const bad = (what: string): never => {
    throw new TraceError(file, { line }, what);
  };
  const o = jsonObjectLine(text, file, line);
  if (!finite(o.t0_ms) || !finite(o.t1_ms)) bad('"t0_ms" and "t1_ms" as numbers');
  if (Math.abs(o.t0_ms as number) > MAX_MS / 2 || Math.abs(o.t1_ms as number) > MAX_MS / 2) bad(`"t0_ms" and "t1_ms" within ±${MAX_MS / 2} ms`);
  const t0Ms = o.t0_ms as number;
  const t1Ms = o.t1_ms as number;
  if (t1Ms < t0Ms) bad(`"t1_ms" ≥ "t0_ms" = ${t0Ms}, found ${t1Ms}`);
  if (!Array.isArray(o.pages)) bad('"pages" to be an array of page indices');
  const raw = o.pages as unknown[];
  if (o.n !== undefined && o.n !== raw.length) bad(`"n" = ${raw.length} (entries listed in "pages", duplicates included), found ${JSON.stringify(o.n)}`);
  const pages = new Uint32Array(raw.length);
  let sorted = true;
  for (let i = 0; i < raw.length; i++) {
    const p = raw[i];
    if (!Number.isInteger(p) || (p as number) < 0) bad(`"pages"[${i}] to be a non-negative integer, found ${JSON.stringify(p)}`);
    if ((p as number) >= nPages) bad(`"pages"[${i}] < the page count (${nPages}), found ${p}`);
    pages[i] = p as number;
    if (i > 0 && pages[i]! < pages[i - 1]!) sorted = false;
  }
  if (!sorted) pages.sort();
  let w = 0;
  for (let i = 0; i < pages.length; i++) if (i === 0 || pages[i] !== pages[w - 1]) pages[w++] = pages[i]!;
  return { t0Ms, t1Ms, pages: pages.subarray(0, w), sorted, duplicates: raw.length - w };
}

/** Yields checked epochs with their line numbers; checks time order. */
async function* rawEpochs(
  src: AsyncIterable<{ text: string; line: number }>, nPages: number, file: string,
): AsyncGenerator<RawEpoch & { line: number }> {
  let prevT1: number | null = null;
  let first = true;
  for await (const { text, line } of src) {
    if (first) { first = false; continue; } // the header line
    if (text.trim() === '') continue;
    const e = parseEpochLine(text, line, nPages, file);
    if (prevT1 !== null && e.t0Ms < prevT1) {
      throw new TraceError(file, { line }, `"t0_ms" ≥ the previous epoch's t1_ms = ${prevT1} (time going backwards), found ${e.t0Ms}`);
    }
    prevT1 = e.t1Ms;
    yield { ...e, line };
  }
}

/**
 * Open a recorder trace: `lineSource()` must give a fresh line stream (header
 * line included) each call. Returns the complete header and the epochs.
 */
export async function openRecorder(
  headerObj: Record<string, unknown>, lineSource: () => AsyncIterable<{ text: string; line: number }>, file: string,
): Promise<{ header: TraceHeader; epochs: AsyncIterable<Epoch> }> {
  const h = parseRecorderHeader(headerObj, file);
  // Pass 1: check everything, find the cut and count the fixes.
  let count = 0;
  let keep = 0;
  let firstT0: number | null = null;
  let lastT1 = 0;
  let sortedFixes = 0;
  let duplicates = 0;
  for await (const e of rawEpochs(lineSource(), h.nPages, file)) {
    firstT0 ??= e.t0Ms;
    count++;
    if (!e.sorted) sortedFixes++;
    duplicates += e.duplicates;
    const afterStop = h.stopMs !== null && e.t0Ms >= h.stopMs;
    if (!(afterStop && e.pages.length === 0)) { keep = count; lastT1 = e.t1Ms; }
  }
  const base = firstT0 ?? 0;
  const toNs = (ms: number) => Math.round((ms - base) * 1e6);
  const meta: TraceHeader['meta'] = {};
  for (const [k, v] of Object.entries(headerObj)) if (!STRUCTURAL.has(k)) meta[k] = v;
  const z = headerObj.zero_at_start;
  if (z && typeof z === 'object' && !Array.isArray(z)) {
    const { ranges: _ranges, ...rest } = z as Record<string, unknown>;
    meta.zero_at_start_provenance = rest;
  }
  meta.importedFrom = 'recorder-jsonl';
  meta.timeZeroNs = toNs(0);
  meta.importFixes = { epochsSorted: sortedFixes, duplicatePagesRemoved: duplicates };
  meta.epochsCutAfterStop = count - keep;
  const epochLenNs = h.epochMs !== null ? Math.round(h.epochMs * 1e6) : keep > 0 ? Math.round(((lastT1 - base) * 1e6) / keep) : 1;
  const header: TraceHeader = {
    pageSize: h.pageSize,
    nPages: h.nPages,
    timeUnit: 'ns',
    epochLen: Math.max(1, epochLenNs),
    nEpochs: keep,
    hasTimes: true,
    hasCounts: false,
    zeroAtStart: h.zeroAtStart,
    meta,
  };
  async function* epochs(): AsyncGenerator<Epoch> {
    let k = 0;
    for await (const e of rawEpochs(lineSource(), h.nPages, file)) {
      if (k === keep) return;
      yield { t0: toNs(e.t0Ms), t1: toNs(e.t1Ms), pages: e.pages };
      k++;
    }
  }
  return { header, epochs: epochs() };
}
