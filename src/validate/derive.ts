/**
 * Host constants from real runs. Each constant is first read off each run by
 * a stated rule over that run's own records (runConstants, fitZeroPageCpu);
 * a profile is then the median over the runs (a line over the guest's write
 * rate for the sender's zero-page CPU time), taken over the quiet runs only:
 * a run recorded while other processes used more than 20 % of the host stays
 * out (BUSY_HOST_FRAC). Because every per-run value depends on its own run
 * only (all but the post-copy drain ratio, below), leaving runs out
 * (validate --leave-out) needs no new fitting.
 *
 * Per run:
 * - setupMs: QEMU's setup-time (`final.setup_time_ms`); the guest's vCPU is
 *   held during setup (README caveat 8), so setupStallsGuest.
 * - downtime = switchoverFixedMs + (deviceStateBytes + final bytes) /
 *   linkBytesPerSec, each read off QEMU's own records of the final copy:
 *   - linkBytesPerSec (the final-copy speed; QEMU lifts max-bandwidth there):
 *     the final round's RAM bytes (`downtime_bytes`) over the span from its
 *     first to its last normal page (sent.jsonl.gz first_t_ms, last_t_ms);
 *     only rounds spanning ≥ 2 ms (shorter spans are clock noise), not XBZRLE
 *     runs (their final copy sends deltas). The sender
 *     moves pages at this speed inside a rate-limit slot too.
 *   - deviceStateBytes: the whole stream (QEMU's final mbps × (total − setup)
 *     time) minus the RAM bytes (`transferred`): device state and stream
 *     framing, about 114 KB on every run here.
 *   - switchoverFixedMs: vm stop → first page of the final copy (the final
 *     bitmap sync) plus last page → "completed" (device state, completion),
 *     less the device state's own transfer time.
 * - phantomPages: TCG's page-table walker re-dirties page-table pages at every
 *   sync without a store: the median of the non-zero
 *   `rounds[].sent_without_recorded_write`.
 * - slotOvershootMs: the median period of the rate-limit slots that used
 *   their whole budget (result.json rate_limit_slots), minus 100 ms.
 * - otherBlockPages: QEMU's other RAM blocks (ROM, BIOS), walked once after
 *   guest RAM in the first pass: the non-zero ones from sent.jsonl.gz's header,
 *   the rest of ram.total − guest RAM as zero pages.
 * - zeroPageCpuUs: the first pass is partly CPU-bound while QEMU scans zero
 *   pages (README caveat 9): the CPU time per zero page for which the model's
 *   second sync (the end of the first pass) falls when the real one did, with
 *   the run's own other constants — found by bisection. Across runs it grows
 *   with the guest's own CPU demand (vCPU and migration thread share 2 cores),
 *   so the profile holds a line: µs = a + b × the trace's write rate in
 *   thousands of distinct pages per second (least squares over the runs; b ≥ 0).
 * - xbzrleEncodedBytes: XBZRLE runs: QEMU's xbzrle-cache bytes (wire bytes − 8
 *   per encoded page, + 4096 per overflow) over its hits (`pages`), overflows
 *   taken out, + the 8-byte page header: the mean wire bytes of a cache hit.
 *   The counters are the final query-migrate's, or for a cancelled run the
 *   last qmp.jsonl.gz reply's (run.ts). An unchanged page (QEMU sends nothing)
 *   is a hit the counters cannot tell apart: it is in the mean with 0 bytes,
 *   plus the 8-byte header it does not send (≤ 8 B per hit too high).
 * - xbzrleOverflowShare: XBZRLE runs: QEMU's overflow / pages.
 * - xbzrleCpuUs (not from the runs; the same in every profile): QEMU's
 *   documented encoder speed, "a sustained bandwidth of 2-2.5 GB/s"
 *   (qemu/qemu docs/xbzrle.txt @06b1c6f8): one 4 KiB page at 2.25 GB/s per
 *   cache hit. The runs cannot separate it: while live, the encoding of a
 *   slot's hits (hundreds × µs) hides in the slot's sleep; in the final copy
 *   (the only place it could show) the two completed XBZRLE runs took 13.1
 *   and 6.4 µs per page, inside the 5.3–14.6 µs per page that the final
 *   copies of the quiet runs without XBZRLE take.
 * - the post-copy switch, in parts (post-copy runs; QEMU's downtime is the
 *   first three, from postcopy_start to the package sent):
 *   - postcopyStopMs: postcopy_start → savevm_state_complete_precopy (vCPU
 *     stopped, block devices inactivated);
 *   - postcopySyncUsPerPage: the last bitmap sync (savevm_state_complete_precopy
 *     → the last round's sync end) over the pages the recorder saw written
 *     since the previous sync (trace_union_overlap): TCG's sync walks the
 *     dirty log page by page;
 *   - postcopyPackageMs: the sync's end → postcopy_start + QEMU's downtime
 *     (the discard list and the device-state package; QEMU rounds its
 *     downtime to the ms);
 *   - postcopyDstStartMs: the package sent → the destination runs the guest
 *     (dst loadvm_postcopy_handle_run): guest stall outside QEMU's downtime.
 * - the post-copy socket (postcopy.ts: a FIFO the destination reads):
 *   - postcopySocketBytes: the post-copy bytes the source had written by the
 *     last query-migrate poll between the package and the destination's
 *     LISTEN — the destination reads none of them before LISTEN, so the
 *     socket held them all (a lower bound; runs without such a poll give none);
 *   - postcopyDrainRatio: the destination's read speed over
 *     max-postcopy-bandwidth, found by bisection over 1–4 (every post-copy
 *     slot of every run carried its whole budget: the destination kept up, so
 *     ≥ 1) so that the model's page requests equal QEMU's, with the run's own
 *     socket bytes and switch parts and the profile of all runs' other
 *     constants (the one constant that leans on other runs); runs with no
 *     socket bytes give none.
 */
import { linearRegression, median } from 'simple-statistics';
import type { Kernel } from '../kernel/index.js';
import { registerCalibration, type Calibration } from '../sim/calibration.js';
import { simulate } from '../sim/simulate.js';
import type { Trace } from '../trace/model.js';
import { fileInput } from '../trace/node.js';
import { readTrace } from '../trace/open.js';
import { meanWriteRate } from '../trace/views.js';
import { warpTrace } from '../trace/warp.js';
import { recordedProgress, type RunRecord } from './run.js';
import { methodFor, simulateOptionsFor } from './validate.js';

/** The constants one run's records give, each by the rule in this file's comment (null: the run does not show it). */
export interface RunConstants {
  name: string;
  family: string;
  busy: boolean;
  setupMs: number;
  linkBytesPerSec: number | null;
  deviceStateBytes: number | null;
  switchoverFixedMs: number | null;
  phantomPages: number | null;
  slotOvershootMs: number | null;
  otherBlockPages: { normal: number; zero: number };
  /** The trace's write rate, thousands of distinct pages per second. */
  writeRateK: number;
  /** By bisection (null: not fitted, or the run has no first-pass sync to fit on). */
  zeroPageCpuUs: number | null;
  xbzrleEncodedBytes: number | null;
  /** XBZRLE runs: QEMU's overflow / pages (null: no hits). */
  xbzrleOverflowShare: number | null;
  /** Post-copy runs: the switch in parts (ms; µs per page for the sync) and the socket; null elsewhere. */
  postcopyStopMs: number | null;
  postcopySyncUsPerPage: number | null;
  postcopyPackageMs: number | null;
  postcopyDstStartMs: number | null;
  postcopySocketBytes: number | null;
  /** By bisection (null: not fitted). */
  postcopyDrainRatio: number | null;
}

/** QEMU's documented XBZRLE encoder speed, bytes/s: the middle of "2-2.5 GB/s" (docs/xbzrle.txt). */
export const XBZRLE_ENCODE_BYTES_PER_SEC = 2.25e9;

/** Spans of the final copy shorter than this are clock noise: no speed from them. */
const MIN_FINAL_SPAN_MS = 2;

/** The closed-form constants of one run (all but the zero-page CPU time). */
export function runConstants(r: RunRecord, trace: Trace): RunConstants {
  const fc = r.finalCopy;
  const span = fc ? fc.lastMs - fc.firstMs : 0;
  // XBZRLE's final copy sends deltas (bytes ≠ pages × 4104, time spent encoding): no speed from it.
  const link = fc && span >= MIN_FINAL_SPAN_MS && r.measured.downtimeBytes > 0 && !r.xbzrle ? (r.measured.downtimeBytes / span) * 1000 : null;
  const dev = r.deviceStateBytes !== null && r.deviceStateBytes > 0 ? r.deviceStateBytes : null;
  const fixed = fc && link !== null ? fc.firstMs - fc.stopMs + (fc.completedMs - fc.lastMs) - ((dev ?? 0) / link) * 1000 : null;
  const phantom = r.syncs.map((s) => s.sentWithoutRecordedWrite ?? 0).filter((x) => x > 0);
  const x = r.xbzrle?.counters ?? null;
  const hits = x ? x.pages - x.overflow : 0;
  const pc = r.capability === 'postcopy' && r.measured.completed ? r.postcopy : null;
  const pkgEnd = pc && r.measured.downtimeMs !== null ? pc.startMs + r.measured.downtimeMs : null;
  const diff = (a: number | null | undefined, b: number | null | undefined) => (a != null && b != null ? a - b : null);
  const syncMs = diff(pc?.syncEndMs, pc?.stopDoneMs);
  return {
    name: r.name,
    family: r.family,
    busy: r.busy,
    setupMs: r.measured.setupTimeMs,
    linkBytesPerSec: link,
    deviceStateBytes: dev,
    switchoverFixedMs: fixed !== null ? Math.max(0, fixed) : null,
    phantomPages: phantom.length ? Math.round(median(phantom)) : null,
    slotOvershootMs: r.fullSlotPeriodsMs.length ? Math.max(0, median(r.fullSlotPeriodsMs) - 100) : null,
    otherBlockPages: r.otherBlocks,
    writeRateK: meanWriteRate(trace) / 1000,
    zeroPageCpuUs: null,
    xbzrleEncodedBytes: x && hits > 0 ? (x.bytes - 4096 * x.overflow) / hits + 8 : null,
    xbzrleOverflowShare: x && x.pages > 0 ? x.overflow / x.pages : null,
    postcopyStopMs: diff(pc?.stopDoneMs, pc?.startMs),
    postcopySyncUsPerPage: syncMs !== null && pc?.logPages ? (syncMs * 1000) / pc.logPages : null,
    postcopyPackageMs: diff(pkgEnd, pc?.syncEndMs),
    postcopyDstStartMs: diff(pc?.dstRunMs, pkgEnd),
    postcopySocketBytes: pc?.bytesBeforeListen || null,
    postcopyDrainRatio: null,
  };
}

const med = (xs: (number | null)[]): number | null => {
  const v = xs.filter((x): x is number => x !== null && Number.isFinite(x));
  return v.length ? median(v) : null;
};

/** A line y = a + b·x over the points (least squares, b ≥ 0; one distinct x: b = 0, a = median). */
export function fitLine(points: [number, number][]): { a: number; b: number } {
  const xs = new Set(points.map((p) => p[0]));
  if (points.length === 0) return { a: 0, b: 0 };
  if (xs.size < 2) return { a: median(points.map((p) => p[1])), b: 0 };
  const { m, b } = linearRegression(points);
  if (m >= 0) return { a: b, b: m };
  return { a: median(points.map((p) => p[1])), b: 0 };
}

/** A profile from per-run constants: medians over the quiet runs, the zero-page CPU line over them. */
export function profileFrom(name: string, per: RunConstants[], description?: string): Calibration {
  const quiet = per.filter((c) => !c.busy);
  const use = quiet.length ? quiet : per;
  const from = `${use.length} quiet run${use.length === 1 ? '' : 's'}: ${use.map((c) => c.name).join(', ')}`;
  const setupMs = med(use.map((c) => c.setupMs)) ?? 0;
  const link = med(use.map((c) => c.linkBytesPerSec));
  const dev = med(use.map((c) => c.deviceStateBytes)) ?? 0;
  const fixed = med(use.map((c) => c.switchoverFixedMs)) ?? 0;
  const phantom = Math.round(med(use.map((c) => c.phantomPages)) ?? 0);
  const overshoot = med(use.map((c) => c.slotOvershootMs)) ?? 0;
  const other = { normal: Math.round(median(use.map((c) => c.otherBlockPages.normal))), zero: Math.round(median(use.map((c) => c.otherBlockPages.zero))) };
  const pts = use.filter((c) => c.zeroPageCpuUs !== null).map((c) => [c.writeRateK, c.zeroPageCpuUs!] as [number, number]);
  const line = fitLine(pts);
  const r2 = (x: number) => Math.round(x * 100) / 100;
  const xb = med(use.map((c) => c.xbzrleEncodedBytes));
  const xbo = med(use.map((c) => c.xbzrleOverflowShare));
  const xbCpu = Math.round((4096 / XBZRLE_ENCODE_BYTES_PER_SEC) * 1e6 * 1000) / 1000;
  const pc = {
    postcopyStopMs: med(use.map((c) => c.postcopyStopMs)),
    postcopySyncUsPerPage: med(use.map((c) => c.postcopySyncUsPerPage)),
    postcopyPackageMs: med(use.map((c) => c.postcopyPackageMs)),
    postcopyDstStartMs: med(use.map((c) => c.postcopyDstStartMs)),
    postcopySocketBytes: med(use.map((c) => c.postcopySocketBytes)),
    postcopyDrainRatio: med(use.map((c) => c.postcopyDrainRatio)),
  };
  const pcSource: Record<keyof typeof pc, [string, string]> = {
    postcopyStopMs: ['ms', 'median of postcopy_start → savevm_state_complete_precopy over the post-copy runs'],
    postcopySyncUsPerPage: ['µs per page in the dirty log', 'median of (the last sync\'s end − savevm_state_complete_precopy) / the pages the recorder saw written since the previous sync (trace_union_overlap), over the post-copy runs'],
    postcopyPackageMs: ['ms', 'median of postcopy_start + QEMU\'s downtime − the last sync\'s end, over the post-copy runs'],
    postcopyDstStartMs: ['ms', 'median of the destination\'s loadvm_postcopy_handle_run − (postcopy_start + QEMU\'s downtime), over the post-copy runs'],
    postcopySocketBytes: ['bytes', 'median of the post-copy bytes written by the last query-migrate poll between the package and the destination\'s LISTEN, over the post-copy runs with such a poll'],
    postcopyDrainRatio: ['× max-postcopy-bandwidth', 'median of the per-run bisections (1–4) that make the model\'s page requests equal QEMU\'s, over the post-copy runs with socket bytes'],
  };
  const pcSet = Object.fromEntries(Object.entries(pc).filter(([, v]) => v !== null)) as Partial<Record<keyof typeof pc, number>>;
  const cal: Calibration = {
    name,
    description: description ?? 'QEMU 7.2 under TCG, both QEMUs on one 2-core Debian 12 host, migrating over 127.0.0.1 (the team\'s real-run corpus)',
    setupMs,
    setupStallsGuest: true,
    linkBytesPerSec: link,
    switchoverFixedMs: fixed,
    deviceStateBytes: dev,
    rttMs: 0,
    zeroPageCpuUs: r2(line.a),
    zeroPageCpuUsPerKWrites: r2(line.b),
    phantomPages: phantom,
    otherBlockPages: other,
    slotOvershootMs: overshoot,
    ...(xb !== null ? { xbzrleEncodedBytes: xb } : {}),
    ...(xbo !== null ? { xbzrleOverflowShare: xbo } : {}),
    xbzrleCpuUs: xbCpu,
    ...pcSet,
    constants: {
      setupMs: { value: setupMs, unit: 'ms', source: `median of final.setup_time_ms (${from})` },
      linkBytesPerSec: { value: link ?? 0, unit: 'bytes/s', source: `median final-copy speed: downtime_bytes / (last − first normal page of the final round in sent.jsonl.gz), rounds ≥ ${MIN_FINAL_SPAN_MS} ms (${from})` },
      switchoverFixedMs: { value: fixed, unit: 'ms', source: `median of (stop → first page of the final copy) + (last page → completed) − device state time (${from})` },
      deviceStateBytes: { value: dev, unit: 'bytes', source: `median of final mbps × (total − setup) − transferred: device state and stream framing (${from})` },
      rttMs: { value: 0, unit: 'ms', source: 'in switchoverFixedMs (measured on the host)' },
      phantomPages: { value: phantom, unit: 'pages per sync', source: `median of the runs' medians of non-zero rounds[].sent_without_recorded_write (${from})` },
      slotOvershootMs: { value: overshoot, unit: 'ms', source: `median of the runs' median period of the rate-limit slots that used their budget, − 100 ms (${from})` },
      otherBlockNormalPages: { value: other.normal, unit: 'pages', source: `median of sent.jsonl.gz other_ramblocks_pages_sent (${from})` },
      otherBlockZeroPages: { value: other.zero, unit: 'pages', source: `median of (ram_total − guest RAM)/page − the non-zero ones (${from})` },
      zeroPageCpuUs: { value: r2(line.a), unit: 'µs per zero page at no guest writes', source: `least-squares line over the runs' bisected values (model's second sync at the real one) vs the trace's write rate (${pts.length} runs of ${from})` },
      zeroPageCpuUsPerKWrites: { value: r2(line.b), unit: 'µs per zero page per 1000 pages/s written', source: 'slope of the same line (the guest competes with the sender for the host\'s cores)' },
      ...Object.fromEntries(Object.entries(pcSet).map(([k, v]) => {
        const key = k as keyof typeof pc;
        const by = use.filter((c) => c[key] !== null).map((c) => c.name);
        return [k, { value: v, unit: pcSource[key][0], source: `${pcSource[key][1]} (${by.length} run${by.length === 1 ? '' : 's'}: ${by.join(', ')})` }];
      })),
      ...(xb !== null ? { xbzrleEncodedBytes: { value: xb, unit: 'bytes per cache hit', source: `median over XBZRLE runs of (xbzrle-cache bytes − 4096 × overflow) / (pages − overflow) + 8 (a cancelled run: its last qmp.jsonl.gz counters) (${from})` } } : {}),
      ...(xbo !== null ? { xbzrleOverflowShare: { value: xbo, unit: 'overflows per cache hit', source: `median over XBZRLE runs of xbzrle-cache overflow / pages (${from})` } } : {}),
      xbzrleCpuUs: { value: xbCpu, unit: 'µs per cache hit', source: 'QEMU docs/xbzrle.txt: "a sustained bandwidth of 2-2.5 GB/s": 4096 B at 2.25 GB/s (the runs cannot separate it: live, it hides in the rate-limit sleep; their final copies vary more per page than it)' },
    },
  };
  return cal;
}

/** A profile from one run's own constants (the base of its bisection). */
function ownProfile(c: RunConstants, fallback: Calibration | null, us: number): Calibration {
  const p = profileFrom(`${c.name}#own`, [{ ...c, busy: false, zeroPageCpuUs: us }]);
  p.zeroPageCpuUs = us;
  p.zeroPageCpuUsPerKWrites = 0;
  if (p.linkBytesPerSec === null) p.linkBytesPerSec = fallback?.linkBytesPerSec ?? null;
  return p;
}

/**
 * The zero-page CPU time (µs) for which the model's second sync falls on the
 * run's real one, with the run's own other constants (bisection over 0–60 µs,
 * 14 steps); null for runs without a first-pass sync to fit on.
 */
export async function fitZeroPageCpu(r: RunRecord, c: RunConstants, trace: Trace, kernel: Kernel, fallback: Calibration | null = null): Promise<number | null> {
  const method = methodFor(r);
  if (!method || method === 'hybrid' || r.syncs.length < 2 || r.multifdChannels > 0) return null;
  const measured = r.syncs[1]!.tMs;
  const err = async (us: number) => {
    const cal = ownProfile(c, fallback, us);
    registerCalibration(cal);
    const res = await simulate(trace, {
      method: method === 'xbzrle' ? 'qemu-precopy' : method, params: { rearm: 'sync' }, bandwidth: r.bandwidthBytesPerSec, downtimeLimitMs: r.downtimeLimitMs,
      startTimeMs: 0, maxTimeMs: measured + 3000, calibration: cal.name, recordedThrottle: recordedProgress(r, true), kernel,
    });
    return (res.rounds[1]?.startMs ?? res.totalTimeMs) - measured;
  };
  let lo = 0;
  let hi = 60;
  if ((await err(lo)) >= 0) return 0;
  for (let i = 0; i < 14; i++) {
    const mid = (lo + hi) / 2;
    if ((await err(mid)) < 0) lo = mid;
    else hi = mid;
  }
  return Math.round(((lo + hi) / 2) * 100) / 100;
}

/** Bisection range of the post-copy drain ratio (× max-postcopy-bandwidth), and its steps. */
const DRAIN_RATIO_RANGE: [number, number] = [1, 4];
const DRAIN_RATIO_STEPS = 10;

/**
 * The destination's read speed (× max-postcopy-bandwidth) for which the
 * model's page requests equal QEMU's: bisection over DRAIN_RATIO_RANGE with
 * the run's own switch parts and socket bytes and `others` for the rest; null
 * for runs without socket bytes.
 */
export async function fitDrainRatio(r: RunRecord, c: RunConstants, trace: Trace, kernel: Kernel, others: Calibration): Promise<number | null> {
  if (methodFor(r) !== 'hybrid' || c.postcopySocketBytes === null || c.postcopyPackageMs === null) return null;
  const own = {
    postcopyStopMs: c.postcopyStopMs ?? others.postcopyStopMs,
    postcopySyncUsPerPage: c.postcopySyncUsPerPage ?? others.postcopySyncUsPerPage,
    postcopyPackageMs: c.postcopyPackageMs,
    postcopyDstStartMs: c.postcopyDstStartMs ?? others.postcopyDstStartMs,
    postcopySocketBytes: c.postcopySocketBytes,
  };
  const err = async (ratio: number) => {
    const cal: Calibration = { ...others, ...own, postcopyDrainRatio: ratio, name: `${r.name}#drain` };
    registerCalibration(cal);
    const res = await simulate(trace, { ...simulateOptionsFor(r, cal), kernel });
    return res.remoteFaults - r.measured.postcopyRequests;
  };
  let [lo, hi] = DRAIN_RATIO_RANGE;
  if ((await err(lo)) >= 0) return lo;
  if ((await err(hi)) < 0) return hi;
  for (let i = 0; i < DRAIN_RATIO_STEPS; i++) {
    const mid = (lo + hi) / 2;
    if ((await err(mid)) < 0) lo = mid;
    else hi = mid;
  }
  return Math.round(((lo + hi) / 2) * 1000) / 1000;
}

/** Per-run constants of every run: the zero-page CPU time fitted on each, then the post-copy drain ratio. */
export async function allRunConstants(runs: RunRecord[], kernel: Kernel, traces?: Map<string, Trace>): Promise<RunConstants[]> {
  const out: RunConstants[] = [];
  const tr = async (r: RunRecord) => traces?.get(r.name) ?? (await readTrace(fileInput(r.tracePath)));
  const base: RunConstants[] = [];
  // The write rate as the engine sees it: on the trace mapped back to guest time.
  for (const r of runs) base.push(runConstants(r, warpTrace(await tr(r), recordedProgress(r, true))));
  const fallback = profileFrom('fallback', base);
  for (let i = 0; i < runs.length; i++) {
    const c = base[i]!;
    out.push({ ...c, zeroPageCpuUs: await fitZeroPageCpu(runs[i]!, c, await tr(runs[i]!), kernel, fallback) });
  }
  const others = profileFrom('drain-fit', out);
  for (let i = 0; i < runs.length; i++) out[i]!.postcopyDrainRatio = await fitDrainRatio(runs[i]!, out[i]!, await tr(runs[i]!), kernel, others);
  return out;
}

/** Derive a profile from runs (per-run constants, then medians and the line over the quiet ones), and register it. */
export async function deriveCalibration(name: string, runs: RunRecord[], kernel: Kernel): Promise<Calibration> {
  const result = profileFrom(name, await allRunConstants(runs, kernel));
  registerCalibration(result); // simulate() finds profiles by name
  return result;
}
