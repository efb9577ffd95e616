/**
 * Host constants from real runs: each by a stated rule over the runs' own
 * records, one value per host across all the given runs, never per run.
 *
 * - setupMs: the median of QEMU's setup-time (`final.setup_time_ms`); the
 *   guest's vCPU is held during setup (README caveat 8), so setupStallsGuest.
 * - linkBytesPerSec: the final copy is not rate-limited; its speed is the
 *   pooled Σ downtime_bytes / Σ downtime over completed runs (it includes the
 *   fixed switchover costs, so no separate constant for them). The sender moves
 *   pages at this speed inside a rate-limit slot too.
 * - phantomPages: TCG's page-table walker re-dirties page-table pages at
 *   every sync without a store; the median of the non-zero
 *   `rounds[].sent_without_recorded_write` (pages QEMU sent that the recorder
 *   never saw written).
 * - slotOvershootMs: the rate-limited sender sleeps to the end of its 100 ms
 *   slot and wakes late by this much: the median period of the slots that
 *   used their whole budget (result.json rate_limit_slots), minus 100 ms.
 * - postcopySwitchMs: a post-copy switch costs what the stop-and-start of the
 *   guest costs (discard list, device state, starting the destination): the
 *   median downtime of the completed post-copy runs.
 * - otherBlockPages: QEMU's other RAM blocks (ROM, BIOS), walked once after
 *   guest RAM in the first pass: the non-zero ones from sent.jsonl.gz's header,
 *   the rest of ram.total − guest RAM as zero pages (medians).
 * - zeroPageCpuUs: the first pass is partly CPU-bound while QEMU scans zero
 *   pages (README caveat 9): the CPU time per zero page for which the model's
 *   second sync (the end of the first pass) falls, in the median over the runs,
 *   when the real one did — found by bisection with the other constants fixed.
 *   It is the only constant that needs the model to be read off the records.
 */
import { median } from 'simple-statistics';
import type { Kernel } from '../kernel/index.js';
import { registerCalibration, type Calibration } from '../sim/calibration.js';
import { simulate } from '../sim/simulate.js';
import type { Trace } from '../trace/model.js';
import { fileInput } from '../trace/node.js';
import { readTrace } from '../trace/open.js';
import { recordedProgress, type RunRecord } from './run.js';
import { methodFor } from './validate.js';

/** Closed-form constants (all but the zero-page CPU time). */
export function closedFormConstants(runs: RunRecord[]) {
  const setupMs = median(runs.map((r) => r.measured.setupTimeMs));
  const done = runs.filter((r) => r.measured.completed && r.measured.downtimeMs && r.measured.downtimeBytes > 0);
  const linkBytesPerSec = done.length
    ? (done.reduce((s, r) => s + r.measured.downtimeBytes, 0) / done.reduce((s, r) => s + r.measured.downtimeMs!, 0)) * 1000
    : null;
  const phantom = runs.flatMap((r) => r.syncs.map((s) => s.sentWithoutRecordedWrite ?? 0)).filter((x) => x > 0);
  const phantomPages = phantom.length ? Math.round(median(phantom)) : 0;
  const otherBlockPages = {
    normal: Math.round(median(runs.map((r) => r.otherBlocks.normal))),
    zero: Math.round(median(runs.map((r) => r.otherBlocks.zero))),
  };
  const pc = runs.filter((r) => r.capability === 'postcopy' && r.measured.completed && r.measured.downtimeMs !== null);
  const postcopySwitchMs = pc.length ? median(pc.map((r) => r.measured.downtimeMs!)) : 0;
  const periods = runs.flatMap((r) => r.fullSlotPeriodsMs);
  const slotOvershootMs = periods.length ? Math.max(0, median(periods) - 100) : 0;
  return { setupMs, linkBytesPerSec, phantomPages, otherBlockPages, slotOvershootMs, postcopySwitchMs, postcopyRuns: pc.length, sources: runs.map((r) => r.name) };
}

/** A calibration profile from constants. */
export function profile(name: string, c: ReturnType<typeof closedFormConstants>, zeroPageCpuUs: number): Calibration {
  const from = `runs: ${c.sources.join(', ')}`;
  return {
    name,
    description: 'QEMU 7.2 under TCG, both QEMUs on one 2-core Debian 12 host, migrating over 127.0.0.1 (the team\'s real-run corpus)',
    setupMs: c.setupMs,
    setupStallsGuest: true,
    linkBytesPerSec: c.linkBytesPerSec,
    zeroPageCpuUs,
    phantomPages: c.phantomPages,
    otherBlockPages: c.otherBlockPages,
    slotOvershootMs: c.slotOvershootMs,
    postcopySwitchMs: c.postcopySwitchMs,
    constants: {
      postcopySwitchMs: { value: c.postcopySwitchMs, unit: 'ms', source: `median downtime of the completed post-copy runs (${c.postcopyRuns} of them) (${from})` },
      slotOvershootMs: { value: c.slotOvershootMs, unit: 'ms', source: `median period of the rate-limit slots that used their budget, − 100 ms (${from})` },
      setupMs: { value: c.setupMs, unit: 'ms', source: `median of final.setup_time_ms (${from})` },
      linkBytesPerSec: { value: c.linkBytesPerSec ?? 0, unit: 'bytes/s', source: `Σ downtime_bytes / Σ downtime over completed runs (${from})` },
      phantomPages: { value: c.phantomPages, unit: 'pages per sync', source: `median of non-zero rounds[].sent_without_recorded_write (${from})` },
      otherBlockNormalPages: { value: c.otherBlockPages.normal, unit: 'pages', source: `median of sent.jsonl.gz other_ramblocks_pages_sent (${from})` },
      otherBlockZeroPages: { value: c.otherBlockPages.zero, unit: 'pages', source: `median of (ram_total − guest RAM)/page − the non-zero ones (${from})` },
      zeroPageCpuUs: { value: zeroPageCpuUs, unit: 'µs per zero page', source: `bisection: the model's second sync at the real one, median over runs (${from})` },
    },
  };
}

/** Derive the full profile from runs (the bisection replays each run's first pass). */
export async function deriveCalibration(name: string, runs: RunRecord[], kernel: Kernel): Promise<Calibration> {
  const c = closedFormConstants(runs);
  const usable = runs.filter((r) => methodFor(r) && r.capability !== 'postcopy' && r.syncs.length >= 2);
  const traces = new Map<string, Trace>();
  for (const r of usable) traces.set(r.name, await readTrace(fileInput(r.tracePath)));
  const probe = `${name}#probe`;
  const medianError = async (us: number) => {
    const cal = profile(probe, c, us);
    registerCalibration(cal);
    const errs: number[] = [];
    for (const r of usable) {
      const measured = r.syncs[1]!.tMs;
      const res = await simulate(traces.get(r.name)!, {
        method: methodFor(r)!, params: { rearm: 'sync' }, bandwidth: r.bandwidthBytesPerSec, downtimeLimitMs: r.downtimeLimitMs,
        startTimeMs: 0, maxTimeMs: measured + 3000, calibration: probe, recordedThrottle: recordedProgress(r, true), kernel,
      });
      const predicted = res.rounds[1]?.startMs ?? res.totalTimeMs;
      errs.push(predicted - measured);
    }
    return median(errs);
  };
  let lo = 0;
  let hi = 50;
  if ((await medianError(lo)) >= 0) hi = 0;
  for (let i = 0; i < 14 && hi > 0; i++) {
    const mid = (lo + hi) / 2;
    if ((await medianError(mid)) < 0) lo = mid;
    else hi = mid;
  }
  const us = Math.round(((lo + hi) / 2) * 100) / 100;
  const result = profile(name, c, us);
  registerCalibration(result); // simulate() finds profiles by name
  return result;
}
