/**
 * The result of one simulated migration (docs/outputs.md). Field names are the
 * camelCase twins of QEMU's `query-migrate` where QEMU has the figure:
 *
 * | result field            | query-migrate                         |
 * |-------------------------|---------------------------------------|
 * | totalTimeMs             | total-time                            |
 * | downtimeMs              | downtime                              |
 * | setupTimeMs             | setup-time                            |
 * | transferredBytes        | ram.transferred                       |
 * | pagesSent − zeroPagesSent | ram.normal                          |
 * | zeroPagesSent           | ram.duplicate                         |
 * | dirtySyncCount          | ram.dirty-sync-count                  |
 * | precopyBytes            | ram.precopy-bytes                     |
 * | downtimeBytes           | ram.downtime-bytes                    |
 * | postcopyBytes           | ram.postcopy-bytes                    |
 * | remoteFaults            | ram.postcopy-requests                 |
 * | maxThrottlePct          | max of cpu-throttle-percentage        |
 * | rounds[i].remainingBytes| ram.remaining (right after sync i)    |
 * | rounds[i].dirtyPages    | pages newly set by sync i (QEMU's num_dirty_pages_period increment) |
 * | rounds[i].bandwidthBytesPerSec | ram.mbps / 8 × 10^6 (the slot estimate at sync i) |
 * | rounds[i].expectedDowntimeMs | expected-downtime                |
 * | rounds[i].throttlePct   | cpu-throttle-percentage               |
 *
 * zeroPagesSent counts sends of pages that were all-zero when sent. QEMU's
 * stream sends them as 9-byte markers: that is ram.duplicate, and
 * pagesSent − zeroPagesSent is ram.normal. Xen's streams have no zero-page
 * elision, so the methods on them (precopy, double-iteration,
 * improved-precopy, delayed-copy, prediction) send and price such pages as
 * full pages; zeroPagesSent still counts them (how much a zero-page check
 * would save), and neither identity holds for them.
 *
 * A "round" is the span from one dirty-bitmap sync (QEMU
 * `migration_bitmap_sync`, Xen's CLEAN) to the next; the first is the setup
 * sync (QEMU) or the first full pass (Xen), the last covers the stop-and-copy.
 */

/** The schema version of results (bump on any incompatible change). */
export const RESULT_SCHEMA_VERSION = 1;

/** Why a run ended. */
export type StopReason =
  | 'converged' // the method's normal stop rule fired
  | 'immediate' // stop-and-copy: no live phase
  | 'max-rounds' // a forced stop after the method's round limit (Xen: 29, v2: 5)
  | 'max-bytes' // a forced stop after sending too much (Xen: 3 × RAM)
  | 'max-time' // the wall-time cap (--max-time) hit: not completed
  | 'trace-end' // the trace ended with --on-trace-end stop: not completed
  | 'aborted'; // the method cancelled the migration (an orchestrator's timeout, migrate_cancel): not completed

/** One sync-to-sync span. */
export interface RoundRecord {
  /** 1-based: equals dirtySyncCount right after the sync that opened it. */
  sync: number;
  startMs: number;
  endMs: number;
  /** Pages and bytes sent in the span (zero pages included: 9-byte markers on QEMU's stream, full pages on Xen's). */
  pagesSent: number;
  bytes: number;
  zeroPages: number;
  /** Pages newly marked dirty by the sync that opened the span. */
  dirtyPages: number;
  /** Pages left to send right after that sync. */
  remainingPages: number;
  remainingBytes: number;
  /** The sender's bandwidth estimate at the sync, bytes/s (QEMU: the last 100 ms slot). */
  bandwidthBytesPerSec: number | null;
  /** QEMU's expected-downtime at the sync, ms. */
  expectedDowntimeMs: number | null;
  throttlePct: number;
  /** The guest was stopped during this span (the final copy). */
  final: boolean;
}

/** Provenance of a result. */
export interface Provenance {
  schemaVersion: number;
  packageVersion: string;
  traceSha256: string | null;
  method: string;
  variant: string | null;
  params: Record<string, string | number | boolean>;
  network: {
    bandwidthBytesPerSec: number;
    linkBandwidthBytesPerSec: number;
    downtimeLimitMs: number;
  };
  /** downtime-limit changes during the run ([] = none). */
  downtimeSteps: { atMs: number; limitMs: number }[];
  calibration: string;
  writeTime: string;
  rearm: string;
  startGuestNs: number;
  onTraceEnd: string;
  maxTimeMs: number;
  /** How the recorded trace was mapped back to guest time before the replay. */
  recordedThrottle: { fromMs: number; rate: number }[];
}

/** One simulated migration. */
export interface SimResult {
  /** Method ID as run, variant included (e.g. `double-iteration/confirm`). */
  method: string;
  completed: boolean;
  converged: boolean;
  stopReason: StopReason;
  totalTimeMs: number;
  /** null when the migration did not complete. */
  downtimeMs: number | null;
  setupTimeMs: number;
  transferredBytes: number;
  precopyBytes: number;
  downtimeBytes: number;
  postcopyBytes: number;
  pagesSent: number;
  pagesResent: number;
  /** Sends of all-zero pages: 9-byte markers on QEMU's stream, full pages on Xen's (see above). */
  zeroPagesSent: number;
  dirtySyncCount: number;
  rounds: RoundRecord[];
  /** Pages sent while the guest was stopped. */
  finalDirtyPages: number;
  remoteFaults: number;
  /**
   * Guest time the method cost the guest, ms: throttle and dirty-limit before
   * the switchover; in post-copy, waiting for remote pages and for the
   * destination to start it after QEMU's downtime ended. The host profile's
   * setup hold is not counted.
   */
  guestStallMs: number;
  maxThrottlePct: number;
  traceLooped: boolean;
  /** How many times the guest ran past the trace's end and started it again. */
  traceLoops: number;
  /** Method-specific figures (e.g. skipped pages, deferred pages). */
  extra: Record<string, number | string | boolean>;
  provenance: Provenance;
}
