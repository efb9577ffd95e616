/**
 * A real-run directory (docs/methods.md, test/fixtures/qemu-runs/README.md):
 * `trace.jsonl.gz` (the source guest's writes, recorded page-exactly),
 * `result.json` (parameters and QEMU's final figures), `sent.jsonl.gz` (the
 * pages QEMU really sent, per round) and `qmp.jsonl.gz` (query-migrate every
 * 50 ms). This module reads what validation needs and checks it; a malformed
 * directory is a TraceError (exit 2).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { MAX_JSON_DEPTH, TraceError, jsonDepth, jsonObjectLine } from '../trace/model.js';
import { fileInput } from '../trace/node.js';
import { lines, ByteReader, LineTooLong, gunzip, isGzip } from '../trace/bytes.js';
import type { RateSegment } from '../trace/warp.js';

/** QEMU's measured figures of one run (a cancelled run: its counters at the cancel). */
export interface Measured {
  completed: boolean;
  status: string;
  totalTimeMs: number;
  downtimeMs: number | null;
  setupTimeMs: number;
  transferredBytes: number;
  dirtySyncCount: number;
  downtimeBytes: number;
  /** Post-copy page requests from the destination (QEMU postcopy-requests). */
  postcopyRequests: number;
}

/** QEMU's query-migrate xbzrle-cache counters (7.2 migration.c populate_ram_info). */
export interface XbzrleCounters {
  /** Wire bytes of the encoded pages less their 8-byte headers, + 4096 per overflow. */
  bytes: number;
  /** Cache hits (encoded, unchanged or overflowed pages). */
  pages: number;
  cacheMiss: number;
  overflow: number;
  /** When they were read, ms since `migrate` (null: result.json's final reply). */
  atMs: number | null;
}

/** One real run, as validation uses it. */
export interface RunRecord {
  name: string;
  dir: string;
  tracePath: string;
  sentPath: string | null;
  capability: 'precopy' | 'auto-converge' | 'postcopy' | string;
  bandwidthBytesPerSec: number;
  downtimeLimitMs: number;
  cancelAfterMs: number | null;
  postcopyAfterMs: number | null;
  /** QEMU max-postcopy-bandwidth, bytes/s (null: not set). */
  maxPostcopyBandwidth: number | null;
  qemu: string;
  accel: string;
  measured: Measured;
  /** Per sync: host ms since t = 0, and pages newly set by it (QEMU's new_dirty_pages). */
  syncs: { sync: number; tMs: number; newDirtyPages: number | null; sentWithoutRecordedWrite: number | null }[];
  /** When the setup phase ended (the vCPU was held until then), ms. */
  setupCompleteMs: number;
  /** cpu-throttle-percentage changes: [ms, percent]. */
  throttleChanges: [number, number][];
  /** Pages of other RAM blocks (ROM, BIOS): non-zero ones sent, and the rest. */
  otherBlocks: { normal: number; zero: number };
  /** Periods of the rate-limit slots that used their whole budget, ms (from rate_limit_slots). */
  fullSlotPeriodsMs: number[];
  pageSize: number;
  /** The workload family: the workload spec (result.json workload.wl), whatever the settings. */
  family: string;
  /** Share of the host's CPU that other processes used during the run (null: not recorded). */
  otherCpuFrac: number | null;
  /** Recorded while other processes used more than 20 % of the host: kept out of calibrations. */
  busy: boolean;
  /** downtime-limit changes sent during the run (result.json commands.downtime_limit_steps). */
  downtimeSteps: { atMs: number; limitMs: number }[];
  /** multifd-channels when the multifd capability was on, else 0. */
  multifdChannels: number;
  /**
   * XBZRLE (null: capability off): the cache size (qemu_parameters
   * xbzrle-cache-size) and QEMU's xbzrle-cache counters at the end: from the
   * final query-migrate in result.json, or, when it has none (a cancelled run
   * reports none), from the last qmp.jsonl.gz reply that has them (null then:
   * no reply had them).
   */
  xbzrle: { cacheSize: number; counters: XbzrleCounters | null } | null;
  /**
   * The final copy as QEMU's records show it (completed pre-copy runs with
   * sent.jsonl.gz pages): vm stop, first and last normal page of the final
   * round, "completed"; null when not known.
   */
  finalCopy: { stopMs: number; firstMs: number; lastMs: number; completedMs: number } | null;
  /** Bytes of the whole stream (final mbps × transfer time) minus RAM bytes: device state and stream headers. */
  deviceStateBytes: number | null;
  /** Post-copy runs that switched: QEMU's records of the switch (null otherwise). */
  postcopy: PostcopyRecord | null;
}

/** QEMU's records of a post-copy switch, host ms since `migrate` (null: not recorded). */
export interface PostcopyRecord {
  /** migrate-start-postcopy sent (result.json commands). */
  commandMs: number | null;
  /** postcopy_start: the source stops (QEMU's downtime starts there). */
  startMs: number;
  /** savevm_state_complete_precopy: the vCPU is stopped; the last bitmap sync follows. */
  stopDoneMs: number | null;
  /** The last bitmap sync's end (rounds[].t_ms of the last round). */
  syncEndMs: number | null;
  /** Pages the recorder saw written since the previous sync (the last round's trace_union_overlap): the dirty log the last sync walks. */
  logPages: number | null;
  /** The destination: LISTEN processed (its state postcopy-active), and the guest running (loadvm_postcopy_handle_run). */
  dstListenMs: number | null;
  dstRunMs: number | null;
  /**
   * Post-copy bytes the source had written by the last query-migrate poll
   * after the package and before the destination's LISTEN (qmp.jsonl.gz
   * postcopy-bytes): the destination reads none of them before LISTEN, so
   * the socket held them all. Null: no poll in that window.
   */
  bytesBeforeListen: number | null;
}

/** Runs recorded while other processes used more than this share of the host stay out of calibrations. */
export const BUSY_HOST_FRAC = 0.2;

/** Largest time a run's figures may hold, ms (about 11.6 days). */
const MAX_RUN_MS = 1e9;

function num(v: unknown, file: string, what: string, min = -Infinity, max = Infinity): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new TraceError(file, {}, `${what} as a number, found ${JSON.stringify(v) ?? 'nothing'}`);
  if (v < min || v > max) throw new TraceError(file, {}, `${what} from ${min} to ${max}, found ${v}`);
  return v;
}

/** The parts of result.json validation reads that the code below indexes into: checked here, naming the field. */
function checkResultShape(r: Record<string, any>, file: string): void {
  const bad = (what: string): never => { throw new TraceError(file, {}, what); };
  if (r.rounds !== undefined && r.rounds !== null) {
    if (!Array.isArray(r.rounds)) bad(`"rounds" as an array, found ${typeof r.rounds}`);
    r.rounds.forEach((x: any, i: number) => {
      if (!x || typeof x !== 'object' || Array.isArray(x)) bad(`rounds[${i}] as an object, found ${JSON.stringify(x)}`);
      num(x.sync, file, `rounds[${i}].sync`, 0);
      num(x.t_ms, file, `rounds[${i}].t_ms`, -MAX_RUN_MS, MAX_RUN_MS);
    });
  }
  if (r.cpu_throttle_changes !== undefined && r.cpu_throttle_changes !== null) {
    if (!Array.isArray(r.cpu_throttle_changes)) bad('"cpu_throttle_changes" as an array of [ms, percent]');
    r.cpu_throttle_changes.forEach((x: unknown, i: number) => {
      if (!Array.isArray(x) || x.length < 2) bad(`cpu_throttle_changes[${i}] as [ms, percent], found ${JSON.stringify(x)}`);
      num((x as unknown[])[0], file, `cpu_throttle_changes[${i}][0] (ms)`, -MAX_RUN_MS, MAX_RUN_MS);
      num((x as unknown[])[1], file, `cpu_throttle_changes[${i}][1] (percent)`, 0, 100);
    });
  }
  for (const k of ['src_marks', 'commands', 'qemu_parameters', 'workload', 'dst', 'host_cpu_during_migration']) {
    const v = r[k];
    if (v !== undefined && v !== null && (typeof v !== 'object' || Array.isArray(v))) bad(`"${k}" as an object, found ${JSON.stringify(v).slice(0, 40)}`);
  }
}

/**
 * JSON.parse's complaint without the excerpt of the input V8 quotes in it
 * (which can hold newlines and control bytes): an error message stays one
 * printable line.
 */
export function jsonParseProblem(message: string): string {
  return message.replace(/,\s*(?:\.\.\.)?"[\s\S]*"(?:\.\.\.)? is not valid JSON$/, ': not valid JSON').replace(/[\x00-\x1f\x7f]/g, '?').slice(0, 120);
}

/** The first line of a gzipped file, or a TraceError saying it is not valid gzip. */
function gunzipChecked(path: string): Buffer {
  try {
    return gunzipSync(readFileSync(path));
  } catch (e) {
    throw new TraceError(path, {}, `a complete gzip file (${(e as Error).message}; a truncated or corrupt file?)`);
  }
}

/** Read and check a run directory. */
export function readRun(dir: string): RunRecord {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new TraceError(dir, {}, 'a run directory (no such directory)');
  const resultPath = join(dir, 'result.json');
  const tracePath = join(dir, 'trace.jsonl.gz');
  if (!existsSync(resultPath)) throw new TraceError(resultPath, {}, 'an existing file: a run directory holds result.json');
  if (!existsSync(tracePath)) throw new TraceError(tracePath, {}, 'an existing file: a run directory holds trace.jsonl.gz');
  let r: Record<string, any>;
  const text = readFileSync(resultPath, 'utf8');
  if (jsonDepth(text) > MAX_JSON_DEPTH) throw new TraceError(resultPath, {}, `JSON nested at most ${MAX_JSON_DEPTH} levels deep`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new TraceError(resultPath, {}, `a JSON object (${jsonParseProblem((e as Error).message)})`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new TraceError(resultPath, {}, `a JSON object, found ${JSON.stringify(parsed)?.slice(0, 40)}`);
  r = parsed as Record<string, any>;
  checkResultShape(r, resultPath);
  const p = r.params;
  const f = r.final;
  if (!p || typeof p !== 'object') throw new TraceError(resultPath, {}, 'a "params" object');
  if (!f || typeof f !== 'object') throw new TraceError(resultPath, {}, 'a "final" object');
  const completed = f.status === 'completed';
  const guestRam = num(p.guest_ram_bytes, resultPath, 'params.guest_ram_bytes');
  const pageSize = num(p.page_size ?? 4096, resultPath, 'params.page_size', 512, 2 ** 30);
  num(p.max_bandwidth_bytes_s, resultPath, 'params.max_bandwidth_bytes_s', 1);
  num(f.setup_time_ms, resultPath, 'final.setup_time_ms', 0, MAX_RUN_MS);
  num(f.total_time_ms, resultPath, 'final.total_time_ms', 0, MAX_RUN_MS);
  const ramTotal = typeof f.ram_total_bytes === 'number' ? f.ram_total_bytes : guestRam;
  const otherTotal = Math.max(0, Math.round((ramTotal - guestRam) / pageSize));
  const sentPath = existsSync(join(dir, 'sent.jsonl.gz')) ? join(dir, 'sent.jsonl.gz') : null;
  let otherNormal = 0;
  if (sentPath) {
    const first = gunzipFirstLine(sentPath);
    try {
      const head = JSON.parse(first);
      const o = head.other_ramblocks_pages_sent ?? {};
      otherNormal = Object.values(o).reduce((s: number, v) => s + (typeof v === 'number' ? v : 0), 0);
    } catch {
      throw new TraceError(sentPath, { line: 1 }, 'a JSON header line');
    }
  }
  const rounds = Array.isArray(r.rounds) ? r.rounds : [];
  const otherCpuFrac = typeof r.host_cpu_during_migration?.other_processes_cpu_frac_of_host === 'number' ? r.host_cpu_during_migration.other_processes_cpu_frac_of_host : null;
  const steps = Array.isArray(r.commands?.downtime_limit_steps) ? r.commands.downtime_limit_steps : [];
  const caps: string[] = Array.isArray(p.capabilities_enabled) ? p.capabilities_enabled : [];
  const qp = r.qemu_parameters ?? {};
  const xbzrleOn = caps.includes('xbzrle');
  const xq = r.qemu_final_query_migrate?.['xbzrle-cache'] ?? f.qemu_final_query_migrate?.['xbzrle-cache'];
  const xbCounters = !xbzrleOn ? null : xq && typeof xq === 'object' ? xbzrleCounters(xq, null) : lastQmpXbzrle(join(dir, 'qmp.jsonl.gz'));
  const xbCache = Number(qp['xbzrle-cache-size'] ?? (xq && typeof xq === 'object' ? xq['cache-size'] : NaN));
  const lastRound = sentPath && completed ? lastSentRound(sentPath) : null;
  const stopMs = r.src_marks?.migration_completion_vm_stop_t_ms;
  const completedAt = Array.isArray(r.src_states) ? r.src_states.find((x: unknown) => Array.isArray(x) && x[1] === 'completed')?.[0] : undefined;
  const finalCopy = lastRound && typeof stopMs === 'number' && typeof completedAt === 'number' && lastRound.first !== null && lastRound.last !== null
    ? { stopMs, firstMs: lastRound.first, lastMs: lastRound.last, completedMs: completedAt }
    : null;
  const mbps = typeof f.mbps_final === 'number' ? f.mbps_final : null;
  const deviceStateBytes = completed && mbps !== null && typeof f.total_time_ms === 'number' && typeof f.setup_time_ms === 'number'
    ? (mbps * (f.total_time_ms - f.setup_time_ms) * 1000) / 8 - f.transferred_bytes
    : null;
  return {
    name: basename(dir.replace(/\/+$/, '')),
    dir,
    tracePath,
    sentPath,
    capability: String(p.capability ?? 'precopy'),
    bandwidthBytesPerSec: num(p.max_bandwidth_bytes_s, resultPath, 'params.max_bandwidth_bytes_s'),
    downtimeLimitMs: num(p.downtime_limit_ms, resultPath, 'params.downtime_limit_ms'),
    cancelAfterMs: typeof p.cancel_after_s === 'number' ? p.cancel_after_s * 1000 : null,
    postcopyAfterMs: typeof p.postcopy_after_s === 'number' ? p.postcopy_after_s * 1000 : null,
    maxPostcopyBandwidth: typeof p.max_postcopy_bandwidth_bytes_s === 'number' ? p.max_postcopy_bandwidth_bytes_s : null,
    qemu: String(p.qemu ?? ''),
    accel: String(p.accel ?? ''),
    measured: {
      completed,
      status: String(f.status),
      totalTimeMs: num(f.total_time_ms, resultPath, 'final.total_time_ms'),
      downtimeMs: typeof f.downtime_ms === 'number' ? f.downtime_ms : null,
      setupTimeMs: num(f.setup_time_ms, resultPath, 'final.setup_time_ms'),
      transferredBytes: num(f.transferred_bytes, resultPath, 'final.transferred_bytes'),
      dirtySyncCount: num(f.dirty_sync_count, resultPath, 'final.dirty_sync_count'),
      downtimeBytes: typeof f.downtime_bytes === 'number' ? f.downtime_bytes : 0,
      postcopyRequests: typeof f.postcopy_requests === 'number' ? f.postcopy_requests : 0,
    },
    syncs: rounds.map((x: any) => ({
      sync: x.sync, tMs: x.t_ms,
      newDirtyPages: typeof x.new_dirty_pages === 'number' ? x.new_dirty_pages : null,
      sentWithoutRecordedWrite: typeof x.sent_without_recorded_write === 'number' ? x.sent_without_recorded_write : null,
    })),
    setupCompleteMs: typeof r.src_marks?.migration_thread_setup_complete_t_ms === 'number' ? r.src_marks.migration_thread_setup_complete_t_ms : f.setup_time_ms,
    throttleChanges: Array.isArray(r.cpu_throttle_changes) ? r.cpu_throttle_changes : [],
    otherBlocks: { normal: otherNormal, zero: Math.max(0, otherTotal - otherNormal) },
    fullSlotPeriodsMs: fullSlotPeriods(r.rate_limit_slots, num(p.max_bandwidth_bytes_s, resultPath, 'params.max_bandwidth_bytes_s') / 10),
    pageSize,
    family: String(r.workload?.wl ?? basename(dir)),
    otherCpuFrac,
    busy: otherCpuFrac !== null && otherCpuFrac > BUSY_HOST_FRAC,
    downtimeSteps: steps
      .filter((x: any) => typeof x?.sent_t_ms === 'number' && typeof x?.downtime_limit_ms === 'number')
      .map((x: any) => ({ atMs: x.sent_t_ms, limitMs: x.downtime_limit_ms })),
    multifdChannels: caps.includes('multifd') ? Number(qp['multifd-channels'] ?? 2) : 0,
    xbzrle: xbzrleOn && Number.isFinite(xbCache) && xbCache > 0 ? { cacheSize: xbCache, counters: xbCounters } : null,
    finalCopy,
    deviceStateBytes,
    postcopy: postcopyRecord(r, dir, rounds),
  };
}

const numOrNull = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** The post-copy switch as QEMU's records show it (null: the run did not switch). */
function postcopyRecord(r: Record<string, any>, dir: string, rounds: any[]): PostcopyRecord | null {
  const startMs = numOrNull(r.src_marks?.postcopy_start_t_ms);
  if (startMs === null) return null;
  const last = rounds[rounds.length - 1];
  const dstStates: unknown[] = Array.isArray(r.dst?.states) ? r.dst.states : [];
  const listen = dstStates.find((x): x is [number, string] => Array.isArray(x) && x[1] === 'postcopy-active');
  const dstListenMs = listen ? numOrNull(listen[0]) : null;
  const downtime = numOrNull(r.final?.downtime_ms);
  let bytesBeforeListen: number | null = null;
  const qmpPath = join(dir, 'qmp.jsonl.gz');
  if (downtime !== null && dstListenMs !== null && existsSync(qmpPath)) {
    const text = gunzipChecked(qmpPath).toString('utf8');
    let line = 0;
    for (const l of text.split('\n')) {
      line++;
      if (l.trim() === '') continue;
      const o = jsonObjectLine(l, qmpPath, line);
      const t = numOrNull(o.t_ms);
      const bytes = numOrNull((o.ram as Record<string, unknown> | undefined)?.['postcopy-bytes']);
      if (t !== null && bytes !== null && t >= startMs + downtime && t < dstListenMs) bytesBeforeListen = bytes;
    }
  }
  return {
    commandMs: numOrNull(r.commands?.postcopy_start_sent_t_ms),
    startMs,
    stopDoneMs: numOrNull(r.src_marks?.savevm_state_complete_precopy_t_ms),
    syncEndMs: numOrNull(last?.t_ms),
    logPages: numOrNull(last?.trace_union_overlap),
    dstListenMs,
    dstRunMs: numOrNull(r.dst?.loadvm_postcopy_handle_run_t_ms),
    bytesBeforeListen,
  };
}

function xbzrleCounters(x: Record<string, unknown>, atMs: number | null): XbzrleCounters {
  return { bytes: Number(x.bytes), pages: Number(x.pages), cacheMiss: Number(x['cache-miss']), overflow: Number(x.overflow), atMs };
}

/** The xbzrle-cache counters of the last qmp.jsonl.gz reply that has them (null: none does, or no file). */
function lastQmpXbzrle(path: string): XbzrleCounters | null {
  if (!existsSync(path)) return null;
  const z = gunzipChecked(path).toString('utf8').split('\n');
  for (let i = z.length - 1; i >= 0; i--) {
    const text = z[i]!.trim();
    if (!text.includes('"xbzrle-cache"')) continue;
    const o = jsonObjectLine(text, path, i + 1);
    const x = o['xbzrle-cache'];
    if (x && typeof x === 'object') return xbzrleCounters(x as Record<string, unknown>, typeof o.t_ms === 'number' ? o.t_ms : null);
  }
  return null;
}

/** The last round of sent.jsonl.gz: when its first and last normal page went out. */
function lastSentRound(path: string): { first: number | null; last: number | null } | null {
  const z = gunzipChecked(path).toString('utf8').trimEnd().split('\n');
  if (z.length < 2) return null;
  try {
    const o = JSON.parse(z[z.length - 1]!);
    return { first: typeof o.first_t_ms === 'number' ? o.first_t_ms : null, last: typeof o.last_t_ms === 'number' ? o.last_t_ms : null };
  } catch {
    throw new TraceError(path, { line: z.length }, 'a JSON object per round');
  }
}

function fullSlotPeriods(slots: any, budget: number): number[] {
  const rows: unknown[] = Array.isArray(slots?.rows) ? slots.rows : [];
  const out: number[] = [];
  for (let i = 1; i < rows.length; i++) {
    const a = rows[i - 1] as number[];
    const b = rows[i] as number[];
    if (Array.isArray(a) && Array.isArray(b) && typeof b[1] === 'number' && b[1] >= budget) out.push(b[0]! - a[0]!);
  }
  return out;
}

function gunzipFirstLine(path: string): string {
  const z = gunzipChecked(path);
  const s = z.toString('utf8', 0, Math.min(z.length, 1 << 20));
  const nl = s.indexOf('\n');
  return nl >= 0 ? s.slice(0, nl) : s;
}

/**
 * How the recorded guest progressed: held during setup (rate 0 from t = 0 to
 * the end of setup), then throttled as QEMU reported it.
 */
export function recordedProgress(run: RunRecord, setupStallsGuest: boolean): RateSegment[] {
  const segs: RateSegment[] = [];
  if (setupStallsGuest) segs.push({ fromMs: 0, rate: 0 }, { fromMs: run.setupCompleteMs, rate: 1 });
  for (const [t, pct] of run.throttleChanges) segs.push({ fromMs: t, rate: 1 - pct / 100 });
  return segs;
}

/** The pages QEMU sent per round (sync k → its page set), from sent.jsonl.gz. */
export async function readSentRounds(path: string): Promise<Map<number, Uint32Array>> {
  const out = new Map<number, Uint32Array>();
  const raw = new ByteReader(fileInput(path).open()[Symbol.asyncIterator]());
  await raw.fill(2);
  const plain = isGzip(raw.peek(2)) ? gunzip(raw.rest()) : raw.rest();
  async function* src(): AsyncGenerator<Uint8Array> {
    try {
      yield* plain;
    } catch (e) {
      if (e instanceof TraceError) throw e;
      throw new TraceError(path, {}, `a complete gzip file (${(e as Error).message}; a truncated or corrupt file?)`);
    }
  }
  let first = true;
  const limited = async function* () {
    try {
      yield* lines(src());
    } catch (e) {
      if (e instanceof LineTooLong) throw new TraceError(path, { line: e.line }, `lines of at most ${e.maxChars} characters`);
      throw e;
    }
  };
  for await (const { text, line } of limited()) {
    if (first) { first = false; continue; }
    if (text.trim() === '') continue;
    const o = jsonObjectLine(text, path, line);
    if (typeof o.round !== 'number' || !Array.isArray(o.pages)) throw new TraceError(path, { line }, '"round" and "pages"');
    const pages = o.pages as unknown[];
    const list = new Uint32Array(pages.length);
    for (let i = 0; i < pages.length; i++) {
      const v = pages[i];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= 2 ** 32) throw new TraceError(path, { line }, `"pages"[${i}] to be a page index from 0 to 2^32 − 1, found ${JSON.stringify(v)?.slice(0, 40)}`);
      list[i] = v;
    }
    out.set(o.round as number, list);
  }
  return out;
}
