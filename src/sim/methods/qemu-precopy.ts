/**
 * qemu-precopy: QEMU's pre-copy loop, single channel, no capabilities.
 *
 * migration/migration.c migration_thread → migration_iteration_run,
 * migration_rate_limit, migration_update_counters; migration/ram.c
 * ram_save_pending (7.2) / ram_state_pending_estimate+exact (8.x),
 * migration_bitmap_sync, ram_save_iterate, ram_find_and_save_block,
 * ram_save_complete; defaults from migration/options.c. Spec:
 * docs/methods.md
 *
 *   setup: mig = ALL; sync()                         (dirty-sync-count = 1)
 *   loop (one pass per rate-limit check):
 *     if bytes this slot ≤ max-bandwidth/10:          (100 ms slots)
 *       pending = |mig|·P
 *       if pending < threshold: sync(); pending = |mig|·P
 *       if pending = 0 or pending < threshold: break → completion
 *       send from the cursor (wrapping, kept across syncs) until the slot
 *       budget is exceeded or 50 ms pass; an 8-byte EOS marker
 *     every ≥ 100 ms: bandwidth = bytes / time in the slot (sleep included);
 *       threshold = bandwidth × downtime-limit; expected-downtime =
 *       dirty bytes at the last sync / bandwidth; new slot
 *     if over budget: sleep to the slot's end
 *   completion: stop; sync(); send all of mig at link speed (not rate-limited)
 *
 * downtime-limit may change during the run (--downtime-steps: Nova's steps,
 * KubeVirt's ramp; QMP migrate-set-parameters): QEMU reads it at each slot
 * end (migration_update_counters → migrate_downtime_limit()), so a new limit
 * takes effect at the next slot end.
 *
 *   sync(): mig |= log; log = ∅; count new bits; if > 1 s since the period
 *     began: (auto-converge check), dirty-pages-rate, new period.
 */
import type { Engine } from '../engine.js';
import { REARM_PARAMS, type MethodSpec, type ParamSpec, type Params, type RunEnd } from '../method.js';

/** QEMU's BUFFER_DELAY: the rate-limit slot, ms. */
export const BUFFER_DELAY_MS = 100;
/** The same slot in ns. */
export const SLOT_NS = BUFFER_DELAY_MS * 1e6;
/** ram_save_iterate's MAX_WAIT, ms. */
export const MAX_WAIT_MS = 50;
/** Bytes of the RAM_SAVE_FLAG_EOS marker after each ram_save_iterate. */
export const EOS_BYTES = 8;

/** The state QEMU keeps across the loop (names from migration.c / ram.c). */
export interface QemuState {
  /** threshold_size, bytes. */
  threshold: number;
  /** The last slot's bandwidth estimate, bytes/ms (null before the first slot ends). */
  bandwidth: number | null;
  expectedDowntimeMs: number;
  slotStart: number;
  slotBytes0: number;
  /** time_last_bitmap_sync, num_dirty_pages_period, bytes_xfer_prev. */
  periodStart: number;
  periodDirtyPages: number;
  periodBytes0: number;
  dirtyPagesRate: number;
  dirtyBytesLastSync: number;
}

/** Hooks for the capabilities built on this loop. */
export interface QemuHooks {
  /** At a sync that ends a period (> 1 s old), before the period resets (migration_trigger_throttle). */
  periodEnd?(e: Engine, q: QemuState): void;
  /** Checked before each iteration: switch to post-copy now (migrate-start-postcopy was given). */
  startPostcopy?(e: Engine, q: QemuState): boolean;
}

/** How QEMU's loop ended: completed, aborted, or switched to post-copy (the caller continues). */
export type QemuEnd = RunEnd & { switched?: boolean; state: QemuState };

/** multifd packet framing (migration/multifd.c): MULTIFD_PACKET_SIZE / 4 KiB pages per packet, and its header. */
export const MULTIFD_PAGES_PER_PACKET = 128;
/** sizeof(MultiFDPacket_t) + 8 bytes of offset per page: 320 + 1024. */
export const MULTIFD_PACKET_HEADER_BYTES = 1344;

/** Parameters of QEMU's loop (migration/options.c names and defaults). */
export const QEMU_PARAMS: readonly ParamSpec[] = [
  { name: 'avail-switchover-bandwidth', kind: 'bandwidth', default: '0', description: 'bandwidth assumed for the switchover test instead of the estimate (0 = use the estimate)' },
  { name: 'multifd-channels', kind: 'int', default: '0', min: 0, max: 255, unit: 'channels', description: 'multifd with this many channels (0 = capability off; QEMU\'s default when on is 2). Approximation: channels send in parallel at the link speed each' },
  ...REARM_PARAMS,
];

/** Run QEMU's pre-copy loop; capabilities hook into period ends. */
export function qemuLoop(e: Engine, p: Params, hooks: QemuHooks = {}): QemuEnd {
  let budget = (e.cfg.bandwidth * BUFFER_DELAY_MS) / 1000; // max-bandwidth / XFER_LIMIT_RATIO
  const link = e.cfg.linkBandwidth;
  const availBw = (p['avail-switchover-bandwidth'] as number) / 1000; // bytes/ms
  const P = e.pageSize;

  // multifd (QEMU 7.2 migration/multifd.c, ram.c ram_save_target_page): zero pages are still found and
  // sent (9 B) by the migration thread; normal pages go in 128-page packets (1344 B header each) to N
  // channel threads that write in parallel; every ram_save_iterate ends with multifd_send_sync_main: the
  // partial packet is flushed and each channel sends an empty SYNC packet (all counted in the rate limit).
  const channels = (p['multifd-channels'] as number | undefined) ?? 0;
  if (channels > 0) {
    e.pageCost = P + MULTIFD_PACKET_HEADER_BYTES / MULTIFD_PAGES_PER_PACKET;
    e.normalSenders = channels;
    // multifd_send_pages charges the rate limit a whole packet at a time, when it is handed over, so a
    // slot ends at the first packet boundary past the budget (7 packets = 3.68 MB of a 3.36 MB budget at
    // 32 MiB/s, as the real runs' rate_limit_slots show).
    const packet = MULTIFD_PAGES_PER_PACKET * e.pageCost;
    budget = Math.ceil(budget / packet) * packet;
  }
  const eos = EOS_BYTES + (channels > 0 ? (channels + 1) * MULTIFD_PACKET_HEADER_BYTES : 0); // each ram_save_iterate's end
  e.setup();
  e.markAll();
  const q: QemuState = {
    threshold: 0, bandwidth: null, expectedDowntimeMs: e.cfg.downtimeLimitMs,
    slotStart: e.now, slotBytes0: e.transferred,
    periodStart: e.now, periodDirtyPages: 0, periodBytes0: e.transferred,
    dirtyPagesRate: 0, dirtyBytesLastSync: 0,
  };
  // qemuSync() and updateCounters() are functions of this module, not closures made per run: V8
  // (Node 20) compiled each run's new closures again (see PaperPolicy).
  qemuSync(e, q, hooks); // ram_init_bitmaps: dirty-sync-count = 1
  while (true) {
    const abort = e.abortReason;
    if (abort) return { completed: false, converged: false, stopReason: abort, state: q };
    if (hooks.startPostcopy?.(e, q)) {
      // postcopy_start: stop, final sync (the discard list), device state; the caller resumes the guest.
      e.stopGuest();
      qemuSync(e, q, hooks);
      return { completed: false, converged: false, stopReason: 'converged', switched: true, state: q };
    }
    if (e.transferred - q.slotBytes0 <= budget) {
      let pending = e.migCount * P;
      if (pending < q.threshold) {
        qemuSync(e, q, hooks);
        pending = e.migCount * P;
      }
      if (pending === 0 || pending < q.threshold) break;
      // ram_save_iterate: until the slot budget is exceeded or MAX_WAIT has passed.
      e.sendFromCursor(budget - (e.transferred - q.slotBytes0), link, MAX_WAIT_MS * 1e6);
      e.sendOverhead(eos, link);
    }
    updateCounters(e, q, availBw);
    if (e.transferred - q.slotBytes0 > budget) {
      // Sleep to the slot's end (the host may wake the thread a little late).
      e.advanceTo(q.slotStart + SLOT_NS + (e.cfg.calibration.slotOvershootMs ?? 0) * 1e6);
      updateCounters(e, q, availBw);
    }
  }
  // migration_completion: stop the guest, final sync, flush regardless of the rate limit.
  e.stopGuest();
  qemuSync(e, q, hooks);
  e.sendAllFromCursor(link);
  e.sendOverhead(eos, link);
  e.extra.thresholdBytes = q.threshold;
  return { completed: true, converged: true, stopReason: 'converged', state: q };
}

/** migration_bitmap_sync in QEMU's loop: the log into mig; a period over 1 s old ends (migration_trigger_throttle, dirty-pages-rate). */
function qemuSync(e: Engine, q: QemuState, hooks: QemuHooks): void {
  q.periodDirtyPages += e.sync({
    bandwidthBytesPerSec: q.bandwidth === null ? null : q.bandwidth * 1000,
    expectedDowntimeMs: q.expectedDowntimeMs,
  });
  q.dirtyBytesLastSync = e.migCount * e.pageSize;
  if (e.now > q.periodStart + 1000e6) {
    hooks.periodEnd?.(e, q);
    q.dirtyPagesRate = (q.periodDirtyPages * 1e9) / (e.now - q.periodStart);
    q.periodStart = e.now;
    q.periodDirtyPages = 0;
    q.periodBytes0 = e.transferred;
  }
}

/** migration_update_counters at a slot's end: bandwidth, threshold = bandwidth × downtime-limit, expected downtime; a new slot. */
function updateCounters(e: Engine, q: QemuState, availBw: number): void {
  if (e.now < q.slotStart + SLOT_NS) return;
  const bytes = e.transferred - q.slotBytes0;
  const bw = bytes / ((e.now - q.slotStart) / 1e6); // bytes per ms
  q.bandwidth = bw;
  const expBw = availBw > 0 ? availBw : bw;
  q.threshold = expBw * e.downtimeLimitMs(); // migrate_downtime_limit(): steps take effect here
  if (q.dirtyPagesRate > 0 && bytes > 10000 && expBw > 0) q.expectedDowntimeMs = q.dirtyBytesLastSync / expBw;
  q.slotStart = e.now;
  q.slotBytes0 = e.transferred;
}

/** The qemu-precopy method, as the comment at the top of this file describes it. */
export const qemuPrecopy: MethodSpec = {
  id: 'qemu-precopy',
  summary: 'QEMU\'s pre-copy: a cursor sends dirty pages in 100 ms rate-limited slots and re-syncs the bitmap only when what is left fits the downtime limit at the measured bandwidth.',
  source: 'QEMU migration/migration.c migration_iteration_run, migration_update_counters; migration/ram.c migration_bitmap_sync, ram_save_iterate, ram_save_complete; migration/options.c',
  ships: 'qemu',
  approximation: 'multifd-channels: channels send in parallel at the link speed each and charge the rate limit per 128-page packet (validated on 2 real runs: time −1 to −2 %, bytes +2 %).',
  params: QEMU_PARAMS,
  run: (e, p) => qemuLoop(e, p),
};
