// Golden tests of the orchestrator policies (nova, kubevirt): their own logic — schedules, timeouts,
// actions — on tiny hand-made traces. Expectations are computed by hand in the comments.
// Units: bandwidth 4,104,000 B/s = one 4096-byte page (+ 8-byte header) per ms; 100 ms rate-limit slots,
// so a decision the monitor takes at poll time t lands at the loop's next pass, within one slot (< t + 100 ms).
import { beforeAll, describe, expect, it } from 'vitest';
import { Kernel } from '../src/kernel/index.js';
import { simulate, type SimulateOptions } from '../src/sim/simulate.js';
import { novaDataGb, novaDowntimeSteps } from '../src/sim/methods/nova.js';
import { kubevirtDataSize, kubevirtRamp } from '../src/sim/methods/kubevirt.js';
import type { Trace } from '../src/trace/model.js';

const MS = 1e6;
const PAGE_PER_MS = 4104 * 1000;
const MiB = 2 ** 20;
let kernel: Kernel;
beforeAll(async () => { kernel = await Kernel.load(); });

/**
 * 1000 pages, all written every 1 ms (looped): after each sync all 1000 are dirty again, so pending
 * never gets below a threshold of (1 page/ms × limit) pages unless limit ≥ 1000 ms: no convergence.
 */
const busy: Trace = {
  header: { pageSize: 4096, nPages: 1000, timeUnit: 'ns', epochLen: MS, nEpochs: 1, hasTimes: true, hasCounts: false, zeroAtStart: null, meta: {} },
  epochs: [{ t0: 0, t1: MS, pages: Uint32Array.from({ length: 1000 }, (_, i) => i) }],
};

function run(method: string, params: Record<string, string>, o: Partial<SimulateOptions> = {}) {
  return simulate(busy, { bandwidth: PAGE_PER_MS, linkBandwidth: PAGE_PER_MS, downtimeLimitMs: 100, kernel, maxTimeMs: 20_000, ...o, method, params: { rtt: '0', 'write-time': 'start', ...params } });
}
const within = (x: unknown, lo: number, hi: number) => {
  expect(typeof x).toBe('number');
  expect(x as number).toBeGreaterThanOrEqual(lo);
  expect(x as number).toBeLessThan(hi);
};

describe('nova: migration.py downtime_steps, driver.py _live_migration_data_gb', () => {
  it('defaults on a 256 MiB guest: data_gb = max(2, 0.25) = 2, delay = int(75 × 2) = 150 s, 50 → 500 ms in steps of 45', () => {
    expect(novaDataGb(256 * MiB)).toBe(2);
    expect(novaDowntimeSteps(2)).toEqual([[0, 50], [150, 95], [300, 140], [450, 185], [600, 230], [750, 275], [900, 320], [1050, 365], [1200, 410], [1350, 455], [1500, 500]]);
  });
  it('block migration adds each disk file, at least 2 GiB: 0.25 + a 1 GiB file → 2 + 2 = 4; a 20 GiB file → 22', () => {
    expect(novaDataGb(256 * MiB, 2 ** 30)).toBe(4);
    expect(novaDataGb(256 * MiB, 20 * 2 ** 30)).toBe(22);
  });
  it('the docstring example: 400 ms, 10 steps, 30 s/GiB, 3 GiB → base 40, offset 36, every int(90) s', () => {
    expect(novaDowntimeSteps(3, 400, 10, 30).map(([, ms]) => ms)).toEqual([40, 76, 112, 148, 184, 220, 256, 292, 328, 364, 400]);
    expect(novaDowntimeSteps(3, 400, 10, 30).map(([t]) => t)).toEqual([0, 90, 180, 270, 360, 450, 540, 630, 720, 810, 900]);
  });
  it('applies the steps on its 0.5 s polls: 300 ms, 3 steps, 3 s/GiB, data_gb 2 → (0 s, 100), (6, 166), (12, 233), (18, 300)', async () => {
    // base = 100, offset = 66.67; delay = int(3 × 2) = 6 s. The last poll before 7 s is 6.5 s > 6 → 166 ms.
    const p = { 'live-migration-downtime': '300ms', 'live-migration-downtime-steps': '3', 'live-migration-downtime-delay': '3' };
    const a = await run('nova', p, { maxTimeMs: 7000 });
    expect(a).toMatchObject({ completed: false, stopReason: 'max-time' });
    expect(a.extra.downtimeLimitMs).toBe(166);
    const b = await run('nova', p, { maxTimeMs: 12_400 }); // polls to 12.0 s: 12 > 12 is false → still 166
    expect(b.extra.downtimeLimitMs).toBe(166);
    const c = await run('nova', p, { maxTimeMs: 12_600 }); // the 12.5 s poll: 233
    expect(c.extra.downtimeLimitMs).toBe(233);
  });
  it('completion timeout with abort: 1 s/GiB × 2 = 2 s; the first poll with t > 2 is 2.5 s → migrate_cancel', async () => {
    const r = await run('nova', { 'live-migration-completion-timeout': '1' });
    expect(r).toMatchObject({ completed: false, stopReason: 'aborted' });
    expect(r.extra.completionTimeoutS).toBe(2);
    within(r.extra.abortedAtMs, 2500, 2600);
  });
  it('force_complete without post-copy: queued at the 2.5 s poll, run at the 3.0 s poll (run_tasks comes first) → pause; the guest\'s downtime runs from the pause', async () => {
    const r = await run('nova', { 'live-migration-completion-timeout': '1', 'live-migration-timeout-action': 'force_complete' });
    expect(r.completed).toBe(true);
    within(r.extra.pausedAtMs, 3000, 3100);
    // After the pause nothing new is written, but the log still holds all 1000 pages (written since the last sync):
    // QEMU sends what is left of mig (≤ 1000 pages), syncs (mig = the 1000 logged pages), sends them, syncs an empty
    // log and completes: between 1000 and 2000 pages at 1 page/ms, plus slot rounding.
    expect(r.downtimeMs!).toBeCloseTo(r.totalTimeMs - (r.extra.pausedAtMs as number), 6);
    within(r.downtimeMs, 1000, 2100);
  });
  it('force_complete with post-copy permitted: the 3.0 s poll switches to post-copy instead', async () => {
    const r = await run('nova', { 'live-migration-completion-timeout': '1', 'live-migration-timeout-action': 'force_complete', 'live-migration-permit-post-copy': 'true' });
    expect(r.completed).toBe(true);
    within(r.extra.switchedAtMs, 3000, 3100);
    expect(r.extra.pausedAtMs).toBeUndefined();
  });
  it('auto-converge only when post-copy is not permitted', async () => {
    const a = await run('nova', { 'live-migration-permit-auto-converge': 'true' }, { maxTimeMs: 5000 });
    expect(a.maxThrottlePct).toBeGreaterThan(0);
    const b = await run('nova', { 'live-migration-permit-auto-converge': 'true', 'live-migration-permit-post-copy': 'true' }, { maxTimeMs: 5000 });
    expect(b.maxThrottlePct).toBe(0);
  });
});

describe('kubevirt: migration-monitor.go, stall-detector.go', () => {
  it('data size is ceil(bytes / 10^9): 256 MiB → 1, 2 GiB → 3, 16 GiB → 18', () => {
    expect(kubevirtDataSize(256 * MiB)).toBe(1);
    expect(kubevirtDataSize(2 * 2 ** 30)).toBe(3);
    expect(kubevirtDataSize(16 * 2 ** 30)).toBe(18);
  });
  it('tuneDowntime ramp: step = max(trunc((ceiling − 150)/7), 1): 1050 → +128 (8 bumps, the last capped); 900 → +107', () => {
    expect(kubevirtRamp(150, 7, 1050)).toEqual([150, 278, 406, 534, 662, 790, 918, 1046, 1050]);
    expect(kubevirtRamp(150, 7, 900)).toEqual([150, 257, 364, 471, 578, 685, 792, 899, 900]);
  });
  it('legacy completion timeout: 2 s/GB × 1 GB = 2 s; floor(t) > 2 first at the 3.2 s poll (3.0 is not a poll: polls are 0.4 s apart) → abort', async () => {
    // Polls at 0.4·k s: 2.8 (floor 2, no), 3.2 (floor 3 > 2, abort).
    const r = await run('kubevirt', { 'completion-timeout-per-gib': '2', 'progress-timeout': '0' });
    expect(r).toMatchObject({ completed: false, stopReason: 'aborted' });
    expect(r.extra.acceptableCompletionS).toBe(2);
    within(r.extra.abortedAtMs, 3200, 3300);
  });
  it('allowWorkloadDisruption: at the first poll with t > 2 (2.4 s) the guest is suspended, and the copy completes', async () => {
    const r = await run('kubevirt', { 'completion-timeout-per-gib': '2', 'progress-timeout': '0', 'allow-workload-disruption': 'true' });
    expect(r.completed).toBe(true);
    within(r.extra.pausedAtMs, 2400, 2500);
  });
  it('allowPostCopy (disruption defaults to it): post-copy at the 2.4 s poll', async () => {
    const r = await run('kubevirt', { 'completion-timeout-per-gib': '2', 'progress-timeout': '0', 'allow-post-copy': 'true' });
    expect(r.completed).toBe(true);
    within(r.extra.switchedAtMs, 2400, 2500);
  });
  it('downtime tuning: 150 ms at the first poll; the first bump (+107 to 257) at t ≥ 10 s once iteration ≥ 3', async () => {
    const p = { 'downtime-tuning': 'on', 'completion-timeout-per-gib': '0', 'progress-timeout': '0' };
    const a = await run('kubevirt', p, { maxTimeMs: 9900 });
    expect(a.extra.downtimeLimitMs).toBe(150);
    expect(a.dirtySyncCount).toBeGreaterThanOrEqual(3);
    const b = await run('kubevirt', p, { maxTimeMs: 10_300 });
    expect(b.extra.downtimeLimitMs).toBe(257);
  });
  it('stall detection: remaining bytes flat → a stall once a record is ≥ W (1 s) old; est = 1000 pages / EWMA ≈ 1 s ≤ 1.5 × 2 s → soft switch-over at maxDowntime 2000 ms, and it converges', async () => {
    // rem ≈ 1000 × 4096 B at each sync; EWMA ≈ 4104 B/ms → est ≈ 998 ms; first poll sets min(2000, 300) = 300 ms.
    const r = await run('kubevirt', { 'stall-detection': 'on', 'stall-progress-timeout': '1', 'max-downtime': '2000ms', 'completion-timeout-per-gib': '0' });
    expect(r.completed).toBe(true);
    expect(r.extra.stallAtMs as number).toBeGreaterThanOrEqual(1000);
    expect(r.extra.downtimeLimitMs).toBe(2000);
  });
  it('stall detection: est ≈ 1 s > 1.5 × 500 ms → abort at the stall', async () => {
    const r = await run('kubevirt', { 'stall-detection': 'on', 'stall-progress-timeout': '1', 'max-downtime': '500ms', 'completion-timeout-per-gib': '0' });
    expect(r).toMatchObject({ completed: false, stopReason: 'aborted' });
    expect(r.extra.abortReason).toMatch(/estimated downtime/);
  });
});
