/**
 * An orchestrator's monitor over QEMU's pre-copy loop (Nova, KubeVirt): it
 * polls the job every `pollMs` of wall time (t = 0 when `migrate` is sent) and
 * may change downtime-limit (e.downtimeOverrideMs), pause the guest (the
 * non-live stop-and-copy of Nova's force-complete and KubeVirt's Suspend:
 * QEMU keeps sending at max-bandwidth with the guest stopped, so the guest's
 * downtime runs from the pause), cancel the job (e.cancelled: migrate_cancel)
 * or switch to post-copy (migrate-start-postcopy). It also sees QEMU's
 * iteration boundaries (libvirt's MIGRATION_ITERATION = each dirty-bitmap sync).
 */
import type { Engine } from '../engine.js';
import type { Params, RunEnd } from '../method.js';
import { postcopyPhase } from './postcopy.js';
import { qemuLoop, type QemuHooks, type QemuState } from './qemu-precopy.js';

/** What a monitor tick asks for. */
export type PolicyAction = void | 'postcopy';

/** One orchestrator policy. */
export interface Policy {
  pollMs: number;
  /** A poll at wall time `t` (s since migrate). */
  tick(e: Engine, q: QemuState, t: number): PolicyAction;
  /** A dirty-bitmap sync happened (iteration `iter`); remaining bytes right after it. */
  iteration?(e: Engine, q: QemuState, rec: { tMs: number; rem: number; iter: number }): PolicyAction;
  periodEnd?(e: Engine, q: QemuState): void;
}

/** Pause the guest now (virDomainSuspend / QMP stop): the downtime starts; QEMU finishes the copy with it stopped. */
export function pauseGuest(e: Engine): void {
  if (e.stopped) return;
  e.extra.pausedAtMs = e.now / 1e6;
  e.stopGuest();
}

/** Cancel the migration (migrate_cancel). */
export function cancel(e: Engine, why: string): void {
  e.cancelled = true;
  e.extra.abortedAtMs = e.now / 1e6;
  e.extra.abortReason = why;
}

/** Set downtime-limit now (migrate-set-parameters downtime-limit; QEMU reads it at the next slot end). */
export function setDowntimeLimit(e: Engine, ms: number): void {
  e.downtimeOverrideMs = ms;
  e.extra.downtimeLimitMs = ms;
}

/** Run QEMU's loop under a policy; continue in post-copy if the policy switched. */
export function runPolicy(e: Engine, p: Params, pol: Policy): RunEnd {
  const r = qemuLoop(e, p, new PolicyHooks(pol));
  if (!r.switched) return r;
  e.extra.switchedAtMs = e.now / 1e6;
  return postcopyPhase(e, p, r.state);
}

/**
 * The policy's polls and sync callbacks, as hooks of QEMU's loop (a class,
 * not closures made per run: V8 (Node 20) compiled each run's new closures
 * again; see PaperPolicy).
 */
class PolicyHooks implements QemuHooks {
  readonly periodEnd: QemuHooks['periodEnd'];
  private readonly pollNs: number;
  /** Wall time of the next poll, ns. */
  private next = 0;
  /** dirty-sync-count at the last iteration() call. */
  private lastSync = -1;

  constructor(private readonly pol: Policy) {
    this.pollNs = pol.pollMs * 1e6;
    this.periodEnd = pol.periodEnd;
  }

  startPostcopy(eng: Engine, q: QemuState): boolean {
    const pol = this.pol;
    if (eng.stopped) return false;
    if (eng.dirtySyncCount !== this.lastSync) {
      this.lastSync = eng.dirtySyncCount;
      const last = eng.rounds[eng.rounds.length - 1];
      if (pol.iteration?.(eng, q, { tMs: eng.now / 1e6, rem: last ? last.remainingBytes : eng.migCount * eng.pageSize, iter: eng.dirtySyncCount }) === 'postcopy') return true;
      if (eng.cancelled || eng.stopped) return false;
    }
    while (eng.now >= this.next) {
      const a = pol.tick(eng, q, this.next / 1e9);
      this.next += this.pollNs;
      if (a === 'postcopy') return true;
      if (eng.cancelled || eng.stopped) return false;
    }
    return false;
  }
}
