/**
 * Calibration profiles: host-specific physical constants (docs/methods.md). The
 * default, `ideal`, models an ideal host: no setup time, no per-page CPU cost,
 * the final copy at --link-bandwidth (10 Gbit/s unless given). Profiles fitted
 * to real hosts are added by name and chosen with `--calibration NAME`, or by
 * the trace itself when its header names the host it was recorded on
 * (`meta.hostProfile`); they never become everyone's defaults.
 *
 * Downtime, in every profile: switchoverFixedMs (stop → final sync, and the
 * last page → "completed") + deviceStateBytes / final-copy speed + final
 * bytes / final-copy speed. QEMU lifts max-bandwidth for the final copy
 * (migration_completion), so the final copy never runs at --bandwidth.
 * Post-copy's downtime is QEMU's own figure, stop → package sent, in parts
 * (postcopyStopMs + postcopySyncUsPerPage × dirty-log pages +
 * postcopyPackageMs) when the profile has them, else the switchover above.
 */

/** One constant of a profile, with where its value comes from. */
export interface CalibrationConstant {
  value: number;
  unit: string;
  source: string;
}

/** A named set of host constants the engine applies. */
export interface Calibration {
  name: string;
  description: string;
  /** Time from `migrate` to the first page sent, ms. */
  setupMs: number;
  /** The guest's vCPUs make no progress during setup. */
  setupStallsGuest: boolean;
  /** Sender speed when not rate-limited (within a slot, and the final copy), bytes/s; null = --link-bandwidth. */
  linkBytesPerSec?: number | null;
  /** Fixed part of the downtime: stop → first page of the final copy, and last page → completed, ms. */
  switchoverFixedMs?: number;
  /** Device state sent during the downtime (non-iterable devices, after RAM), bytes. */
  deviceStateBytes?: number;
  /** Switchover round trip, ms (a profile whose fixed cost was measured includes it: 0). */
  rttMs?: number;
  /**
   * The sender's CPU per zero page grows with the guest's own CPU demand (both
   * compete for the host's cores): µs = zeroPageCpuUs + zeroPageCpuUsPerKWrites
   * × (the guest's distinct-page write rate at the start, thousands of pages/s).
   */
  zeroPageCpuUsPerKWrites?: number;
  /**
   * XBZRLE: mean wire bytes of a cache hit that does not overflow (header,
   * encoding flag, length and delta; unchanged pages included) — a trace has
   * no contents.
   */
  xbzrleEncodedBytes?: number;
  /** XBZRLE: share of cache hits whose delta overflows the page (sent whole). */
  xbzrleOverflowShare?: number;
  /** XBZRLE: sender CPU per cache hit (snapshot copy, encoding, cache update), µs. */
  xbzrleCpuUs?: number;
  /** Sender CPU time per zero page found (QEMU: buffer_is_zero on 4 KiB), µs. */
  zeroPageCpuUs?: number;
  /** Pages marked dirty at every sync without a guest write (TCG's page-table walker). */
  phantomPages?: number;
  /**
   * The post-copy switch in parts (QEMU postcopy_start; src/sim/methods/postcopy.ts):
   * stop → the last bitmap sync begins (vm_stop, block devices), ms.
   */
  postcopyStopMs?: number;
  /** The last bitmap sync (the discard list) per page set in the dirty log since the previous sync (TCG), µs. */
  postcopySyncUsPerPage?: number;
  /** The last sync's end → the package sent (discard list, device state, LISTEN, RUN): QEMU's downtime ends there, ms. */
  postcopyPackageMs?: number;
  /** The package sent → the destination runs the guest (guest stall beyond QEMU's downtime), ms. */
  postcopyDstStartMs?: number;
  /** The migration socket in post-copy: bytes it holds before the sender blocks (a requested page waits behind them). */
  postcopySocketBytes?: number;
  /**
   * How fast the destination reads the socket in post-copy, as a multiple of
   * max-postcopy-bandwidth (of the link speed when that is unlimited).
   */
  postcopyDrainRatio?: number;
  /** How much later than the 100 ms slot end the rate-limited sender wakes up, ms. */
  slotOvershootMs?: number;
  /** Pages of other RAM blocks (ROMs, BIOS) sent once in the first pass: non-zero and zero. */
  otherBlockPages?: { normal: number; zero: number };
  /** All constants, for reports. */
  constants: Record<string, CalibrationConstant>;
}

/** The ideal host: what the models say, with no host effects. */
export const IDEAL: Calibration = {
  name: 'ideal',
  description: 'an ideal host: zero setup time, no CPU cost per page, final copy at link speed',
  setupMs: 0,
  setupStallsGuest: false,
  constants: {
    setupMs: { value: 0, unit: 'ms', source: 'ideal host' },
  },
};

const PROFILES = new Map<string, Calibration>([[IDEAL.name, IDEAL]]);

/** Register a profile (by its name). */
export function registerCalibration(c: Calibration): void {
  PROFILES.set(c.name, c);
}

/** The profile of that name, or undefined. */
export function getCalibration(name: string): Calibration | undefined {
  return PROFILES.get(name);
}

/** Names of all registered profiles. */
export function calibrationNames(): string[] {
  return [...PROFILES.keys()];
}
