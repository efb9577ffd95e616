/**
 * kubevirt: KubeVirt's virt-launcher migration monitor driving QEMU pre-copy.
 *
 * kubevirt/kubevirt pkg/virt-launcher/virtwrap/migration-monitor.go
 * startMonitor (400 ms poll), processInflightMigration,
 * handleLegacyConvergence, isMigrationProgressing, shouldTriggerTimeout,
 * tuneDowntime (VEP 291), handleStallDetection, processCompletionTimeouts,
 * triggerConvergenceAction; stall-detector.go updateCandidates,
 * checkStallCondition, relaxBestRemainingBytes, estimateDowntimeMs,
 * decideAction (VEP 248); live-migration-source.go generateMigrationFlags;
 * defaults from pkg/virt-config/virt-config.go and the VEPs' tables.
 * Research notes: notes/nova-kubevirt.md §B.
 *
 *   acceptable = completionTimeoutPerGiB × ceil(RAM bytes / 10^9) s
 *   legacy (stall-detection off), every 400 ms at t = 0.4·k s:
 *     remaining < previous sample → last progress = now
 *     downtime tuning (if on): first poll 150 ms; then, from iteration startAfterIteration,
 *       every ≥ cooldown s: + max(trunc((ceiling − initial)/steps), 1), capped at the ceiling
 *     post-copy running: nothing
 *     allowWorkloadDisruption and t > acceptable, not paused: post-copy if allowed, else
 *       pause the guest and acceptable ×= 2
 *     progressTimeout > 0 and now − last progress > progressTimeout: abort
 *     floor(t) > acceptable: abort
 *   stall detection (on): first poll downtime-limit = min(maxDowntime, 300); each poll
 *     EWMA ← α·bandwidth + (1 − α)·EWMA; at each iteration boundary (rem = remaining bytes):
 *     a stall when rem ≥ (min rem of the records ≥ W old)·(1 − margin); then switch at a
 *     local minimum (rem ≤ best·(1 + margin)) when est = rem / EWMA fits the budget
 *     (factor × acceptable − t): post-copy (post-copy and disruption allowed), hard
 *     stop-and-copy (downtime-limit 2,000,000 ms, disruption), soft (maxDowntime, if
 *     est ≤ 1.5 × maxDowntime), else abort; a switch-over not done in switchoverTimeout aborts;
 *     past the completion deadline: post-copy, hard stop-and-copy, or abort.
 */
import type { Engine } from '../engine.js';
import type { MethodSpec, Params } from '../method.js';
import { POSTCOPY_PARAMS } from './postcopy.js';
import { QEMU_PARAMS } from './qemu-precopy.js';
import { AUTO_CONVERGE_DEFAULTS, autoConvergeHook } from './qemu-auto-converge.js';
import { cancel, pauseGuest, runPolicy, setDowntimeLimit, type Policy } from './policy.js';

/** QEMU's largest downtime-limit (pkg/util/migrations QEMUMaxMigrationDowntimeMS), ms. */
export const QEMU_MAX_DOWNTIME_MS = 2_000_000;

/** getVMIMigrationDataSize: ScaledValue(Giga), i.e. ceil(bytes / 10^9). */
export function kubevirtDataSize(bytes: number): number {
  return Math.ceil(bytes / 1e9);
}

/** tuneDowntime's ramp: the limits from the first poll on (initial, then each bump). */
export function kubevirtRamp(initialMs = 150, steps = 7, ceilingMs = 900): number[] {
  const step = Math.max(Math.trunc((ceilingMs - initialMs) / steps), 1);
  const out = [initialMs];
  for (let cur = initialMs; cur < ceilingMs;) out.push((cur = Math.min(cur + step, ceilingMs)));
  return out;
}

const bool = (v: number | string | undefined) => v === 'true';

/** The kubevirt method, as the comment at the top of this file describes it. */
export const kubevirt: MethodSpec = {
  id: 'kubevirt',
  summary: 'KubeVirt\'s policy over QEMU pre-copy: abort after 150 s per GB or 150 s without progress; optional auto-converge, post-copy, workload disruption, the downtime ramp (VEP 291) and stall detection (VEP 248).',
  source: 'kubevirt/kubevirt pkg/virt-launcher/virtwrap/migration-monitor.go handleLegacyConvergence, tuneDowntime, handleStallDetection, processCompletionTimeouts; stall-detector.go checkStallCondition, estimateDowntimeMs, decideAction; live-migration-source.go generateMigrationFlags; pkg/virt-config/virt-config.go',
  ships: 'qemu',
  approximation: 'polls at exact 400 ms steps from migrate; libvirt\'s job time and wall time are one clock; the bandwidth sample is QEMU\'s last slot estimate; a pause continues the copy at max-bandwidth with the guest stopped.',
  params: [
    { name: 'completion-timeout-per-gib', kind: 'number', default: '150', min: 0, description: 'completionTimeoutPerGiB: s per (decimal, rounded-up) GB of RAM (0 = none)' },
    { name: 'progress-timeout', kind: 'number', default: '150', min: 0, description: 'progressTimeout: s without a drop in remaining bytes before abort (legacy path; 0 = none)' },
    { name: 'allow-auto-converge', kind: 'enum', default: 'false', choices: ['false', 'true'], description: 'allowAutoConverge (QEMU\'s 20 % / +10 % defaults)' },
    { name: 'allow-post-copy', kind: 'enum', default: 'false', choices: ['false', 'true'], description: 'allowPostCopy' },
    { name: 'allow-workload-disruption', kind: 'enum', default: 'same', choices: ['same', 'false', 'true'], description: 'allowWorkloadDisruption (same = as allowPostCopy, KubeVirt\'s default)' },
    { name: 'max-downtime', kind: 'duration', default: '900ms', min: 1, max: QEMU_MAX_DOWNTIME_MS, description: 'maxDowntimeMs: the ramp\'s ceiling and stall detection\'s soft switch-over limit' },
    { name: 'downtime-tuning', kind: 'enum', default: 'off', choices: ['off', 'on'], description: 'VEP 291 dynamic downtime ramp (legacy path only)' },
    { name: 'tuning-initial', kind: 'duration', default: '150ms', min: 1, description: 'downtimeTuning.initialMs' },
    { name: 'tuning-steps', kind: 'int', default: '7', min: 1, description: 'downtimeTuning.steps' },
    { name: 'tuning-start-after-iteration', kind: 'int', default: '3', min: 0, description: 'downtimeTuning.startAfterIteration' },
    { name: 'tuning-cooldown', kind: 'number', default: '10', min: 1, description: 'downtimeTuning.cooldownSeconds' },
    { name: 'stall-detection', kind: 'enum', default: 'off', choices: ['off', 'on'], description: 'VEP 248 stall detection (feature gate MigrationStallDetection)' },
    { name: 'stall-progress-timeout', kind: 'number', default: '40', min: 1, description: 'stallDetector.stallProgressTimeout: window W, s' },
    { name: 'stall-margin', kind: 'percent', default: '4', min: 0, max: 100, description: 'stallDetector.stallMargin' },
    { name: 'switchover-timeout', kind: 'number', default: '60', min: 1, description: 'stallDetector.switchoverTimeout, s' },
    { name: 'ewma-alpha', kind: 'number', default: '0.4', min: 0, max: 1, description: 'stallDetector.ewmaAlpha' },
    { name: 'precopy-possible-factor', kind: 'number', default: '1.5', min: 0, description: 'stallDetector.precopyPossibleFactor' },
    { name: 'patience-window-decay-factor', kind: 'number', default: '0.5', min: 0, max: 1, description: 'stallDetector.patienceWindowDecayFactor' },
    { name: 'search-local-minima', kind: 'enum', default: 'true', choices: ['true', 'false'], description: 'stallDetector.searchLocalMinima' },
    { name: 'completion-timeout-factor', kind: 'number', default: '2', min: 0, description: 'stallDetector.completionTimeoutFactor' },
    { name: 'ram', kind: 'size', default: '0', description: 'guest RAM for the data size (0 = the trace\'s)' },
    ...POSTCOPY_PARAMS,
    ...QEMU_PARAMS,
  ],
  run(e: Engine, p: Params) {
    const ram = (p.ram as number) || e.nPages * e.pageSize;
    const postcopy = bool(p['allow-post-copy']);
    const disruption = p['allow-workload-disruption'] === 'same' ? postcopy : bool(p['allow-workload-disruption']);
    let acceptable = (p['completion-timeout-per-gib'] as number) * kubevirtDataSize(ram);
    const progressTimeout = p['progress-timeout'] as number;
    const maxDowntime = p['max-downtime'] as number;
    e.extra.acceptableCompletionS = acceptable;
    const periodEnd = bool(p['allow-auto-converge']) ? autoConvergeHook(AUTO_CONVERGE_DEFAULTS) : undefined;
    let mode: 'running' | 'paused' | 'postcopy' = 'running';
    const pol: Policy = p['stall-detection'] === 'on' ? stallPolicy(p, () => acceptable, (a) => { acceptable = a; }, postcopy, disruption, maxDowntime) : {
      pollMs: 400,
      periodEnd,
      tick: (() => {
        let watermark = 0;
        let lastProgress = 0;
        let cur = 0;
        let lastTuned = 0;
        const tuning = p['downtime-tuning'] === 'on';
        const ramp = kubevirtRamp(p['tuning-initial'] as number, p['tuning-steps'] as number, maxDowntime);
        return (eng: Engine, _q: unknown, t: number) => {
          const rem = eng.migCount * eng.pageSize;
          if (watermark === 0 || rem < watermark) lastProgress = t;
          watermark = rem;
          if (tuning) {
            if (cur === 0) { cur = ramp[0]!; setDowntimeLimit(eng, cur); lastTuned = t; }
            else if (eng.dirtySyncCount >= (p['tuning-start-after-iteration'] as number) && t - lastTuned >= (p['tuning-cooldown'] as number)) {
              const next = ramp.find((x) => x > cur);
              if (next !== undefined) { cur = next; setDowntimeLimit(eng, cur); lastTuned = t; }
            }
          }
          if (mode === 'postcopy') return;
          if (disruption && t > acceptable && mode !== 'paused') {
            if (postcopy) { mode = 'postcopy'; return 'postcopy'; }
            pauseGuest(eng);
            acceptable *= 2;
            mode = 'paused';
            return;
          }
          if (progressTimeout > 0 && t - lastProgress > progressTimeout) { cancel(eng, `no progress for ${progressTimeout} s`); return; }
          if (acceptable > 0 && Math.floor(t) > acceptable) cancel(eng, `not completed after ${acceptable} s`);
        };
      })(),
    };
    if (!pol.periodEnd) pol.periodEnd = periodEnd;
    return runPolicy(e, p, pol);
  },
};

/** VEP 248's stall detector and completion timeouts (the comment at the top). */
function stallPolicy(p: Params, getAcceptable: () => number, setAcceptable: (a: number) => void, postcopy: boolean, disruption: boolean, maxDowntime: number): Policy {
  const W = (p['stall-progress-timeout'] as number) * 1000;
  const margin = (p['stall-margin'] as number) / 100;
  const alpha = p['ewma-alpha'] as number;
  const factor = p['completion-timeout-factor'] as number;
  const switchoverTimeout = p['switchover-timeout'] as number;
  const searchMin = p['search-local-minima'] === 'true';
  const records: { tMs: number; rem: number }[] = [];
  let ewma = 0; // bytes/ms
  let first = true;
  let stall = false;
  let best = Infinity;
  let patience = W;
  let relaxAt = 0;
  let history: number[] = [];
  let initiated = false;
  let deadline = getAcceptable();
  let estLast = Infinity;
  let tNow = 0;
  const hardStop = (e: Engine) => { setDowntimeLimit(e, QEMU_MAX_DOWNTIME_MS); initiated = true; deadline = tNow + switchoverTimeout; e.extra.switchoverAtMs = e.now / 1e6; };
  return {
    pollMs: 400,
    tick(e, q, t) {
      tNow = t;
      if (first) { first = false; setDowntimeLimit(e, Math.min(maxDowntime, 300)); deadline = getAcceptable(); }
      if (!initiated && q.bandwidth !== null && q.bandwidth > 0) ewma = ewma === 0 ? q.bandwidth : alpha * q.bandwidth + (1 - alpha) * ewma;
      // processCompletionTimeouts
      if (getAcceptable() > 0 && t > deadline) {
        if (!initiated && estLast <= (getAcceptable() * factor - t) * 1000) {
          if (postcopy) return 'postcopy';
          if (disruption) { hardStop(e); setAcceptable(getAcceptable() * 2); return; }
        }
        cancel(e, initiated ? `switch-over not done in ${switchoverTimeout} s` : `not completed after ${deadline} s`);
      }
    },
    iteration(e, _q, rec) {
      records.push(rec);
      if (ewma === 0 || initiated) return;
      const old = records.filter((r) => rec.tMs - r.tMs >= W);
      const outsideMin = old.length ? Math.min(...old.map((r) => r.rem)) : undefined;
      if (stall) {
        history.push(rec.rem);
        if (rec.tMs >= relaxAt && history.length) {
          const i = history.indexOf(Math.min(...history));
          best = history[i]!;
          history.splice(i, 1);
          patience *= p['patience-window-decay-factor'] as number;
          relaxAt = rec.tMs + patience;
        }
      } else if (outsideMin !== undefined && rec.rem >= outsideMin * (1 - margin)) {
        stall = true;
        e.extra.stallAtMs = rec.tMs;
        const inWindow = records.filter((r) => rec.tMs - r.tMs < W).map((r) => r.rem);
        best = Math.min(outsideMin, ...inWindow);
        patience = W;
        relaxAt = rec.tMs + patience;
        history = [];
      } else return;
      const est = rec.rem / ewma;
      estLast = est;
      if (searchMin && rec.rem > best * (1 + margin)) return;
      if (getAcceptable() > 0 && est > (getAcceptable() * factor - tNow) * 1000) return;
      if (disruption && postcopy) return 'postcopy';
      if (disruption) { hardStop(e); return; }
      if (est <= maxDowntime * (p['precopy-possible-factor'] as number)) {
        setDowntimeLimit(e, maxDowntime); initiated = true; deadline = tNow + switchoverTimeout; e.extra.switchoverAtMs = e.now / 1e6;
        return;
      }
      cancel(e, `stall: estimated downtime ${Math.round(est)} ms > ${p['precopy-possible-factor']} × ${maxDowntime} ms`);
    },
  };
}
