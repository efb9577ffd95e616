/**
 * qemu-auto-converge: QEMU's pre-copy with the auto-converge capability.
 *
 * migration/ram.c migration_trigger_throttle and mig_throttle_guest_down;
 * softmmu/cpu-throttle.c; defaults from migration/options.c. At a sync that
 * ends a period (more than 1 s after the period began, QEMU's period reset):
 *
 *   bytes_dirty = new dirty pages in the period × P
 *   if bytes_dirty > bytes sent in the period × throttle-trigger-threshold %:
 *     if ++dirty_rate_high_cnt ≥ 2:        (hits need not be consecutive)
 *       dirty_rate_high_cnt = 0
 *       throttle = throttle ? min(throttle + cpu-throttle-increment, max-cpu-throttle)
 *                           : cpu-throttle-initial
 *
 * A throttle of x % gives the guest (1 − x/100) of wall time: its clock, and
 * so its writes, slow down. Spec: docs/methods.md
 */
import { QEMU_PARAMS, qemuLoop, type QemuState } from './qemu-precopy.js';
import type { MethodSpec, Params } from '../method.js';
import type { Engine } from '../engine.js';

/** The qemu-auto-converge method, as the comment at the top of this file describes it. */
export const qemuAutoConverge: MethodSpec = {
  id: 'qemu-auto-converge',
  summary: 'QEMU\'s pre-copy that throttles the guest\'s CPU, 20 % then +10 % steps, whenever it dirties memory faster than half the migration rate twice.',
  source: 'QEMU migration/ram.c migration_trigger_throttle, mig_throttle_guest_down; softmmu/cpu-throttle.c; migration/options.c',
  ships: 'qemu',
  approximation: 'a throttle slows the guest clock by exactly its percentage; the real throttle sleeps the vCPU in slices (validated on 2 real runs: time −4.5 to −9.5 %).',
  params: [
    { name: 'throttle-trigger-threshold', kind: 'percent', default: '50', min: 1, max: 100, description: 'dirtied bytes above this % of sent bytes in a period is a hit' },
    { name: 'cpu-throttle-initial', kind: 'percent', default: '20', min: 1, max: 99, description: 'first throttle, % of vCPU time' },
    { name: 'cpu-throttle-increment', kind: 'percent', default: '10', min: 1, max: 99, description: 'added at each later step' },
    { name: 'max-cpu-throttle', kind: 'percent', default: '99', min: 1, max: 99, description: 'throttle ceiling' },
    ...QEMU_PARAMS,
  ],
  run: (e, p) => qemuLoop(e, p, { periodEnd: autoConvergeHook(p) }),
};

/** QEMU's defaults of the throttle parameters (migration/options.c): what libvirt, Nova and KubeVirt leave in force. */
export const AUTO_CONVERGE_DEFAULTS: Params = { 'throttle-trigger-threshold': 50, 'cpu-throttle-initial': 20, 'cpu-throttle-increment': 10, 'max-cpu-throttle': 99 };

/** migration_trigger_throttle as a periodEnd hook (the rule at the top of this file). */
export function autoConvergeHook(p: Params): (e: Engine, q: QemuState) => void {
  let high = 0;
  return (e, q) => {
    const bytesXfer = e.transferred - q.periodBytes0;
    const bytesDirty = q.periodDirtyPages * e.pageSize;
    const threshold = (bytesXfer * (p['throttle-trigger-threshold'] as number)) / 100;
    if (bytesDirty > threshold && ++high >= 2) {
      high = 0;
      const pct = e.throttlePct === 0
        ? (p['cpu-throttle-initial'] as number)
        : Math.min(e.throttlePct + (p['cpu-throttle-increment'] as number), p['max-cpu-throttle'] as number);
      e.setThrottle(pct);
    }
  };
}
