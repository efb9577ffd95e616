/**
 * nova: OpenStack Nova's libvirt driver driving QEMU pre-copy.
 *
 * nova/virt/libvirt/driver.py LibvirtDriver._live_migration_monitor (0.5 s
 * poll), _live_migration_data_gb, _prepare_migration_flags
 * (_handle_live_migration_post_copy, _handle_live_migration_auto_converge);
 * nova/virt/libvirt/migration.py downtime_steps, update_downtime,
 * should_trigger_timeout_action, run_tasks ('force-complete'); defaults from
 * nova/conf/libvirt.py. Research notes: notes/nova-kubevirt.md §A.
 *
 *   data_gb = max(2, RAM GiB) + Σ max(2, disk file GiB)   (block-migrated disks only)
 *   downtime_steps: delay = trunc(delay_per_GiB × data_gb); base = downtime / steps;
 *     offset = (downtime − base) / steps; step i = (trunc(delay·i) s, trunc(base + offset·i) ms), i = 0..steps
 *   every 0.5 s (t_k = 0.5·k s; Nova's elapsed is never exactly 0, so step 0 applies at the first poll):
 *     a queued force-complete runs: post-copy permitted → migrate-start-postcopy, else pause the guest
 *     if completion_timeout = trunc(completion_per_GiB × data_gb) > 0, not in post-copy and t > it:
 *       abort → migrate_cancel; force_complete → queue force-complete (runs at the next poll)
 *     downtime-limit = the last step whose marker < t (never lowered)
 *   auto-converge only if permitted and post-copy is not (QEMU's 20 % / +10 % defaults).
 */
import type { Engine } from '../engine.js';
import { ParamError, type MethodSpec, type Params } from '../method.js';
import { POSTCOPY_PARAMS } from './postcopy.js';
import { QEMU_PARAMS } from './qemu-precopy.js';
import { AUTO_CONVERGE_DEFAULTS, autoConvergeHook } from './qemu-auto-converge.js';
import { cancel, pauseGuest, runPolicy, setDowntimeLimit } from './policy.js';

const GiB = 2 ** 30;

/** _live_migration_data_gb: RAM + block-migrated disk files, each at least 2 GiB. */
export function novaDataGb(ramBytes: number, diskBytes = 0): number {
  return Math.max(2, ramBytes / GiB) + (diskBytes > 0 ? Math.max(2, diskBytes / GiB) : 0);
}

/** migration.py downtime_steps: [seconds marker, downtime-limit ms] pairs. */
export function novaDowntimeSteps(dataGb: number, downtimeMs = 500, steps = 10, delayPerGiB = 75): [number, number][] {
  const delay = Math.trunc(delayPerGiB * dataGb);
  const base = downtimeMs / steps;
  const offset = (downtimeMs - base) / steps;
  return Array.from({ length: steps + 1 }, (_, i) => [Math.trunc(delay * i), Math.trunc(base + offset * i)] as [number, number]);
}

/** The nova method, as the comment at the top of this file describes it. */
export const nova: MethodSpec = {
  id: 'nova',
  summary: 'OpenStack Nova\'s policy over QEMU pre-copy: downtime-limit stepped from 50 to 500 ms every 75 s per GiB, then at 800 s per GiB abort or force-complete (pause, or post-copy when permitted).',
  source: 'openstack/nova nova/virt/libvirt/driver.py _live_migration_monitor, _live_migration_data_gb, _prepare_migration_flags; nova/virt/libvirt/migration.py downtime_steps, update_downtime, should_trigger_timeout_action, run_tasks; nova/conf/libvirt.py',
  ships: 'qemu',
  approximation: 'the monitor polls at exact 0.5 s steps from migrate; libvirt call latency is not modelled; a force-complete pause continues the copy at max-bandwidth with the guest stopped (its downtime runs from the pause).',
  params: [
    { name: 'live-migration-downtime', kind: 'duration', default: '500ms', min: 100, description: 'live_migration_downtime: the last (largest) downtime-limit step' },
    { name: 'live-migration-downtime-steps', kind: 'int', default: '10', min: 3, description: 'live_migration_downtime_steps' },
    { name: 'live-migration-downtime-delay', kind: 'number', default: '75', min: 3, description: 'live_migration_downtime_delay: seconds per GiB of data between steps' },
    { name: 'live-migration-completion-timeout', kind: 'number', default: '800', min: 0, description: 'live_migration_completion_timeout: seconds per GiB of data (0 = none)' },
    { name: 'live-migration-timeout-action', kind: 'enum', default: 'abort', choices: ['abort', 'force_complete'], description: 'live_migration_timeout_action' },
    { name: 'live-migration-permit-post-copy', kind: 'enum', default: 'false', choices: ['false', 'true'], description: 'live_migration_permit_post_copy (force_complete switches to post-copy)' },
    { name: 'live-migration-permit-auto-converge', kind: 'enum', default: 'false', choices: ['false', 'true'], description: 'live_migration_permit_auto_converge (ignored when post-copy is permitted)' },
    { name: 'ram', kind: 'size', default: '0', description: 'guest RAM for data_gb (0 = the trace\'s)' },
    { name: 'disk', kind: 'size', default: '0', description: 'block-migrated disk files for data_gb (0 = shared storage)' },
    ...POSTCOPY_PARAMS,
    ...QEMU_PARAMS,
  ],
  run(e: Engine, p: Params) {
    const ram = (p.ram as number) || e.nPages * e.pageSize;
    const dataGb = novaDataGb(ram, p.disk as number);
    const steps = novaDowntimeSteps(dataGb, p['live-migration-downtime'] as number, p['live-migration-downtime-steps'] as number, p['live-migration-downtime-delay'] as number);
    const completion = Math.trunc((p['live-migration-completion-timeout'] as number) * dataGb);
    const action = p['live-migration-timeout-action'] as string;
    const postcopy = p['live-migration-permit-post-copy'] === 'true';
    const autoConverge = p['live-migration-permit-auto-converge'] === 'true' && !postcopy;
    if ((p['live-migration-downtime'] as number) > 2_000_000) throw new ParamError('--param live-migration-downtime must be ≤ 2000s');
    e.extra.dataGb = dataGb;
    e.extra.completionTimeoutS = completion;
    let queued = false;
    let status: 'running' | 'postcopy' = 'running';
    let cur: number | null = null;
    return runPolicy(e, p, {
      pollMs: 500,
      periodEnd: autoConverge ? autoConvergeHook(AUTO_CONVERGE_DEFAULTS) : undefined,
      tick(eng, _q, t) {
        if (queued) {
          // run_tasks: 'force-complete'
          queued = false;
          if (status !== 'postcopy') {
            if (postcopy) {
              status = 'postcopy';
              eng.extra.forceCompleteAtMs = eng.now / 1e6;
              return 'postcopy';
            }
            eng.extra.forceCompleteAtMs = eng.now / 1e6;
            pauseGuest(eng);
            return;
          }
        }
        if (completion > 0 && status !== 'postcopy' && t > completion) {
          if (action === 'force_complete') queued = true;
          else { cancel(eng, `live_migration_completion_timeout: ${completion} s`); return; }
        }
        // update_downtime: the last step whose marker < elapsed (step 0 from the first poll).
        let want: number | null = null;
        for (const [at, ms] of steps) if (t > at || at === 0) want = ms;
        if (want !== null && want !== cur) {
          cur = want;
          setDowntimeLimit(eng, want);
        }
      },
    });
  },
};
