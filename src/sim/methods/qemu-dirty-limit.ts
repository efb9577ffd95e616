/**
 * qemu-dirty-limit: QEMU's pre-copy with the dirty-limit capability (QEMU 8.1+,
 * KVM dirty ring). Same trigger as auto-converge (two over-threshold periods,
 * migration/ram.c migration_trigger_throttle → migration_dirty_limit_guest);
 * the first time it fires, every vCPU's dirty rate is capped at
 * vcpu-dirty-limit MB/s (system/dirtylimit.c). The controller stops adjusting
 * within DIRTYLIMIT_TOLERANCE_RANGE (25 MB/s) of the quota and never sleeps a
 * vCPU more than 99 % (DIRTYLIMIT_THROTTLE_PCT_MAX).
 *
 * Model (a trace has no per-vCPU split, docs/methods.md): once
 * armed, the guest clock runs at min(1, (quota + tolerance) / R) with a floor
 * of 0.01, where R is the trace's write rate in the current epoch and quota =
 * vcpu-dirty-limit × vcpus. This approximates dirty-ring counting (every
 * write) by distinct pages per epoch.
 */
import { QEMU_PARAMS, qemuLoop } from './qemu-precopy.js';
import type { MethodSpec } from '../method.js';

/** DIRTYLIMIT_TOLERANCE_RANGE, MB/s. */
const TOLERANCE_MB_S = 25;

/** The qemu-dirty-limit method, as the comment at the top of this file describes it. */
export const qemuDirtyLimit: MethodSpec = {
  id: 'qemu-dirty-limit',
  summary: 'QEMU\'s pre-copy that, once the guest dirties memory too fast twice, caps each vCPU\'s dirty rate instead of throttling all of its CPU time.',
  source: 'QEMU migration/ram.c migration_trigger_throttle, migration_dirty_limit_guest; system/dirtylimit.c; migration/options.c',
  ships: 'qemu',
  approximation: 'the guest clock slows so the trace\'s distinct-page rate stays under the quota; the real dirty ring counts every write per vCPU (not validated on real runs).',
  params: [
    { name: 'throttle-trigger-threshold', kind: 'percent', default: '50', min: 1, max: 100, description: 'dirtied bytes above this % of sent bytes in a period is a hit' },
    { name: 'vcpu-dirty-limit', kind: 'number', default: '1', min: 1, unit: 'MB/s', description: 'dirty-rate quota per vCPU, MB/s' },
    { name: 'vcpus', kind: 'int', default: '1', min: 1, unit: 'vCPUs', description: 'vCPUs of the guest (the quota is per vCPU)' },
    ...QEMU_PARAMS,
  ],
  run(e, p) {
    let high = 0;
    const quotaPagesPerSec = (((p['vcpu-dirty-limit'] as number) * (p.vcpus as number) + TOLERANCE_MB_S) * 1e6) / e.pageSize;
    return qemuLoop(e, p, {
      periodEnd(e, q) {
        const threshold = ((e.transferred - q.periodBytes0) * (p['throttle-trigger-threshold'] as number)) / 100;
        if (q.periodDirtyPages * e.pageSize > threshold && ++high >= 2) {
          high = 0;
          if (e.guestRateFactor === null) {
            e.guestRateFactor = (rate) => (rate > quotaPagesPerSec ? Math.max(0.01, quotaPagesPerSec / rate) : 1);
            e.extra.dirtyLimitArmedAtMs = e.now / 1e6;
          }
        }
      },
    });
  },
};
