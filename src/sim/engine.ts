/**
 * The replay engine (docs/methods.md): clocks, the guest's writes, dirty tracking,
 * the network and the bookkeeping every copy method shares. A method (one file
 * in methods/) only decides which pages to send and when to stop; it drives
 * the engine through the primitives below.
 *
 * Clocks. Wall time `now` (ns since `migrate`) drives the link; guest time
 * `guest` (ns on the trace's axis) drives the writes. dτ/dt = 1 − throttle,
 * times a method's rate factor (dirty-limit), and 0 while the guest is stopped
 * (setup stall, stop-and-copy).
 *
 * Bitmaps (all kernel bitmaps of nPages bits, allocated once per run):
 *   mig      pages the sender still has to send (QEMU's migration bitmap, Xen's to_send)
 *   log      the hypervisor's dirty log: pages written since the last sync
 *   nonZero  pages that may hold data (not zero at start, or written since)
 *   sentEver pages sent at least once (for pagesResent)
 *   tmp      scratch
 *   synced   (rearm=chunk) the log as fetched at the last sync
 *
 * Re-arming (when a written page becomes dirty for migration again):
 *   rearm=sync   the log is cleared at each sync only (TCG; KVM without manual
 *                clearing): a page written after a sync is re-sent next round even
 *                if its send carried the new content.
 *   rearm=chunk  KVM's manual dirty-log clearing (QEMU ≥ 4.2): the pages of a
 *                2^clear-bitmap-shift chunk that the last sync found dirty are
 *                re-armed when the sender first enters the chunk, so their writes
 *                between the sync and that moment are absorbed by the send
 *                (QEMU ram.c migration_clear_memory_region_dirty_bitmap).
 *
 * Streams. A page costs pageCost (pageSize + an 8-byte header: QEMU's be64
 * offset|flags, Xen's 8-byte pfn/type entry). An all-zero page costs
 * zeroPageBytes plus zeroCpuNs of sender CPU on QEMU's stream (ram.c
 * save_zero_page), but pageCost on Xen's, which never looks at a page's
 * content (`zeroPageElision`).
 *
 * Post-copy: the method sets `remote`, its view of the destination's memory.
 * At each guest write the engine asks it whether the page is still missing
 * there; if so the guest halts at that write's instant (a remote fault,
 * counted in remoteFaults) until the method says when the page arrives
 * (unblockGuestAt). The guest also waits, after QEMU's downtime, until the
 * destination starts it (resumeOnDestination). Both waits are guest stall.
 *
 * Cost: writes are applied page by page as guest time passes; sends and syncs
 * are bulk kernel operations over ranges. A run costs O(pages written + pages
 * sent + syncs × nPages/64 words), never epochs × nPages.
 */
import type { Bitmap, Kernel, U32Buffer } from '../kernel/index.js';
import { epochSource, type AnyTrace } from '../trace/source.js';
import type { Calibration } from './calibration.js';
import type { RoundRecord, SimResult, StopReason } from './result.js';
import { RESULT_SCHEMA_VERSION } from './result.js';
import { Timeline, type OnTraceEnd, type WriteTime } from './timeline.js';
import { meanWriteRate } from '../trace/views.js';

/** How dirty tracking re-arms a page after it was found dirty. */
export type Rearm = 'sync' | 'chunk';

/** A downtime-limit change during the run (Nova's steps, KubeVirt's ramp): from `atMs` on, `limitMs`. */
export interface DowntimeStep {
  /** Wall time since `migrate`, ms. */
  atMs: number;
  limitMs: number;
}

/** Observers, for tests (the oracle) and charts. */
export interface EngineHooks {
  /** Pages sent by one bulk send, at the guest and wall time it began; `normal` = those sent as page data, not as zero-page markers (all of them on Xen's stream). */
  onSend?(pages: Uint32Array, guestNs: number, wallNs: number, normal: Uint32Array): void;
  /** The guest stopped for the switchover, at this guest and wall time. */
  onStop?(guestNs: number, wallNs: number): void;
  /** A sync (or Xen clean / round start) happened; n = dirty-sync-count after it. */
  onSync?(n: number): void;
}

/**
 * Post-copy: the destination's view of guest memory, kept by the method. The
 * engine asks it at each guest write whether the page is still missing there
 * (a write to it blocks the guest: a remote fault).
 */
export interface RemoteMemory {
  /** Whether page p is still missing on the destination at wall time `wallNs`. */
  missing(page: number, wallNs: number): boolean;
  /** The guest faulted on `page` at `wallNs`: when the page arrives, if already known (it is on its way), else null. */
  fault(page: number, wallNs: number): number | null;
}

/** Everything the engine needs for one run. */
export interface EngineConfig {
  trace: AnyTrace;
  kernel: Kernel;
  /** Rate cap of the live phase, bytes/s (QEMU max-bandwidth). */
  bandwidth: number;
  /** Link speed, used while the source is stopped, bytes/s. */
  linkBandwidth: number;
  downtimeLimitMs: number;
  writeTime: WriteTime;
  rearm: Rearm;
  /** log2 of the pages per re-arm chunk (QEMU clear-bitmap-shift, default 18). */
  clearBitmapShift: number;
  onTraceEnd: OnTraceEnd;
  /** Guest time (trace axis, ns) at which the migration starts. */
  startNs: number;
  maxTimeMs: number;
  calibration: Calibration;
  /** Bytes of header per page on the wire (QEMU: 8). */
  pageHeaderBytes: number;
  /** Bytes of a zero-page marker (QEMU: 8 + 1), on a stream with zero-page elision. */
  zeroPageBytes: number;
  deviceStateBytes: number;
  switchoverFixedMs: number;
  rttMs: number;
  /** downtime-limit changes, by increasing time (none: downtimeLimitMs throughout). */
  downtimeSteps?: DowntimeStep[];
  hooks?: EngineHooks;
}

/** The outcome of a bulk send. */
export interface Sent {
  pages: number;
  bytes: number;
  /** Pages that were all-zero when sent (zero-page markers only under zeroPageElision). */
  zero: number;
  /** Sender CPU time a pricer charged for these pages (XBZRLE encoding), ns. */
  cpuNs?: number;
}

/**
 * Prices the normal (non-zero) pages of a send when a capability changes what
 * they cost (XBZRLE: a page still in the cache goes as a delta). The engine
 * asks it for every range it sizes (budgetEnd: a dry run) and every range it
 * sends (commit), in ascending page order, so QEMU's rate limit counts the
 * bytes really written.
 */
export interface PagePricer {
  /**
   * Wire bytes of the normal pages among the set pages of src in [from, to)
   * (there are `normal` of them; zero pages are 9-byte markers whatever the
   * pricer does, but it sees them) and the sender CPU time they take, ns.
   * commit: they are sent now (the pricer's state changes); otherwise a dry
   * run that continues from the dry runs since the last reset().
   */
  price(src: Bitmap, from: number, to: number, normal: number, commit: boolean): { bytes: number; cpuNs: number };
  /** Forget the dry runs. */
  reset(): void;
  /** Upper bounds of one normal page's bytes and CPU time, ns (budgetEnd's steps). */
  readonly maxPageBytes: number;
  readonly maxPageCpuNs: number;
}

const NS = 1e9;

/** One run's state and the primitives methods use. */
export class Engine {
  readonly k: Kernel;
  readonly nPages: number;
  readonly pageSize: number;
  /** Wire bytes of a normal page (multifd changes the framing: qemu-precopy sets it). */
  pageCost: number;
  /**
   * How many senders move normal pages at once (multifd channels): normal
   * pages take bytes / (bandwidth × this) of the migration thread's time.
   */
  normalSenders = 1;
  readonly mig: Bitmap;
  readonly log: Bitmap;
  readonly nonZero: Bitmap;
  readonly sentEver: Bitmap;
  readonly tmp: Bitmap;
  private readonly synced: Bitmap | null;
  private readonly chunkCleared: Uint8Array | null;
  private readonly timeline: Timeline;
  private readonly writeBuf: U32Buffer;
  private readonly collectBuf: U32Buffer | null;
  readonly maxTimeNs: number;
  /** Sender CPU per zero page (calibration), ns. */
  readonly zeroCpuNs: number;
  /** Pages TCG re-dirties at every sync without a write (calibration), or null. */
  private readonly phantom: U32Buffer | null;
  private phantomCount = 0;
  /** Other RAM blocks still to send with the first pass (calibration). */
  private otherBlocks: { normal: number; zero: number } | null;

  /** Wall time, ns since the migration started. */
  now = 0;
  /** Guest time, ns on the trace's axis. */
  guest: number;
  paused = false;
  /**
   * A downtime-limit a method set during the run (an orchestrator's
   * migrate-set-parameters); it overrides the schedule from then on (null: none).
   */
  downtimeOverrideMs: number | null = null;
  /** The method cancelled the migration (migrate_cancel: an orchestrator's timeout abort). */
  cancelled = false;
  throttlePct = 0;
  maxThrottlePct = 0;
  /** A method's extra factor on the guest clock rate (dirty-limit), given the current write rate (pages/s). */
  guestRateFactor: ((writeRatePagesPerSec: number) => number) | null = null;
  /** Pages in mig (kept in step with the bitmap). */
  migCount: number;
  /** QEMU's cursor: where the next search for a dirty page starts. */
  cursor = 0;

  transferred = 0;
  downtimeBytes = 0;
  pagesSent = 0;
  pagesResent = 0;
  zeroPagesSent = 0;
  dirtySyncCount = 0;
  /** Page writes applied to the dirty log (the trace's pages, as the guest reached them). */
  pagesWritten = 0;
  /** Post-copy: the destination's memory; a guest write to a page it lacks is a remote fault (null: none). */
  remote: RemoteMemory | null = null;
  /** The guest runs on the destination (after a post-copy switch). */
  postcopy = false;
  postcopyBytes = 0;
  remoteFaults = 0;
  /** Wall time the guest waited for remote faults, ns. */
  faultStallNs = 0;
  /** Wall time the guest waited after QEMU's downtime ended until the destination ran it (post-copy), ns. */
  switchStallNs = 0;
  /** Pages set in the dirty log at the last sync (TCG's sync costs per such page). */
  lastSyncLogPages = 0;
  /**
   * The guest is held: on a remote fault (page ≥ 0) or until the destination
   * starts it (page −1), since `sinceNs`, until `untilNs` (null: until the method says).
   */
  private hold: { page: number; sinceNs: number; untilNs: number | null } | null = null;
  /** Where the guest clock was when the timeline was asked for writes (to turn write instants into wall times). */
  private walk = { now: 0, guest: 0, rate: 1 };
  private resumedAt: number | null = null;
  /** Laps of the cursor completed (QEMU's complete_round). */
  laps = 0;
  /**
   * Whether the stream sends an all-zero page as a zeroPageBytes marker after
   * a zeroCpuNs content check (QEMU ram.c save_zero_page: true, the default),
   * or as a normal page of pageCost with no check (false: Xen's streams send
   * every page of a batch as page data — xg_sr_save.c write_batch, legacy
   * xc_domain_save.c). A method on Xen's stream sets it to false before its
   * first send. Either way zeroPagesSent counts the zero pages sent.
   */
  zeroPageElision = true;
  /** Re-prices the normal pages of sends (XBZRLE; QEMU's stream only); null: pageCost each. */
  pricer: PagePricer | null = null;
  readonly rounds: RoundRecord[] = [];
  private stopAt: number | null = null;
  private guestAtStop: number | null = null;
  setupTimeMs = 0;
  /** Guest time lost to the setup phase (the host profile's, not the method's doing), ns. */
  setupStallNs = 0;
  finalDirtyPages = 0;
  readonly extra: Record<string, number | string | boolean> = {};

  constructor(readonly cfg: EngineConfig) {
    const h = cfg.trace.header;
    this.k = cfg.kernel;
    this.nPages = h.nPages;
    this.pageSize = h.pageSize;
    this.pageCost = h.pageSize + cfg.pageHeaderBytes;
    const k = this.k;
    this.mig = k.bitmap(this.nPages);
    this.log = k.bitmap(this.nPages);
    this.nonZero = k.bitmap(this.nPages);
    this.sentEver = k.bitmap(this.nPages);
    this.tmp = k.bitmap(this.nPages);
    k.fill(this.nonZero);
    if (h.zeroAtStart) {
      const buf = k.buffer(Math.max(1, h.zeroAtStart.length));
      k.writeList(buf, h.zeroAtStart);
      k.clearList(this.nonZero, buf, h.zeroAtStart.length);
      k.dispose(buf);
    }
    if (cfg.rearm === 'chunk') {
      this.synced = k.bitmap(this.nPages);
      this.chunkCleared = new Uint8Array(Math.ceil(this.nPages / 2 ** cfg.clearBitmapShift));
    } else {
      this.synced = null;
      this.chunkCleared = null;
    }
    this.writeBuf = k.buffer(4096);
    this.collectBuf = cfg.hooks?.onSend ? k.buffer(1 << 16) : null;
    this.migCount = 0;
    this.maxTimeNs = cfg.maxTimeMs * 1e6;
    // The sender's CPU per zero page grows with the guest's own CPU demand (its write rate).
    const perK = cfg.calibration.zeroPageCpuUsPerKWrites ?? 0;
    this.zeroCpuNs = ((cfg.calibration.zeroPageCpuUs ?? 0) + (perK > 0 ? (perK * meanWriteRate(cfg.trace)) / 1000 : 0)) * 1e3;
    this.otherBlocks = cfg.calibration.otherBlockPages ?? null;
    this.phantom = this.choosePhantomPages(cfg.calibration.phantomPages ?? 0);
    this.guest = cfg.startNs;
    this.timeline = new Timeline(cfg.trace, { writeTime: cfg.writeTime, onTraceEnd: cfg.onTraceEnd, startNs: cfg.startNs });
  }

  /**
   * TCG's phantom dirty pages are guest page-table pages: they hold data and
   * the guest never stores to them. Without the guest's page tables we take
   * the lowest-numbered pages that are not zero at start and never written in
   * the trace: the count is what costs bytes and time.
   */
  private choosePhantomPages(n: number): U32Buffer | null {
    if (n <= 0) return null;
    const k = this.k;
    const written = this.tmp;
    k.clear(written);
    const src = epochSource(this.cfg.trace);
    for (let e = 0; e < src.length; e++) k.setPages(written, src.pages(e));
    k.andNot(written, this.nonZero, written); // non-zero, never written
    const pages = k.toList(written).subarray(0, n);
    k.clear(written);
    const buf = k.buffer(Math.max(1, pages.length));
    k.writeList(buf, pages);
    this.phantomCount = pages.length;
    return buf;
  }

  /** Free the kernel bitmaps of this run. */
  dispose(): void {
    for (const b of [this.mig, this.log, this.nonZero, this.sentEver, this.tmp, this.synced]) if (b) this.k.dispose(b);
    this.k.dispose(this.writeBuf);
    if (this.collectBuf) this.k.dispose(this.collectBuf);
    if (this.phantom) this.k.dispose(this.phantom);
  }

  // ------------------------------------------------------------ clocks and writes

  /** Writes land in the dirty log and make their pages non-zero. */
  private readonly sink = (pages: Uint32Array, from: number, to: number, writes = to - from): void => {
    const buf = this.writeBuf;
    this.pagesWritten += writes;
    // After a post-copy switch the guest writes on the destination: the source's pages stay as they were.
    if (this.postcopy) return;
    for (let i = from; i < to; i += buf.length) {
      const m = Math.min(buf.length, to - i);
      // A few pages are copied one by one: a subarray for each would be most of this run's garbage.
      if (m <= 64) {
        const u = this.k.u32;
        const at = buf.ptr >>> 2;
        for (let j = 0; j < m; j++) u[at + j] = pages[i + j]!;
      } else this.k.writeList(buf, pages.subarray(i, i + m));
      this.k.raw.setList2(this.log.ptr, this.nonZero.ptr, this.nPages, buf.ptr, m);
    }
  };

  /** The current dτ/dt. */
  private rate(): number {
    if (this.paused || this.hold) return 0;
    let r = 1 - this.throttlePct / 100;
    if (this.guestRateFactor) r *= this.guestRateFactor(this.timeline.currentRate);
    return r;
  }

  /** The guest ran past the end of the trace with --on-trace-end stop. */
  get traceEnded(): boolean {
    return this.cfg.onTraceEnd === 'stop' && this.timeline.ended;
  }

  /** Why the run must end now, if it must: the wall-time cap or the trace's end. */
  get abortReason(): StopReason | null {
    if (this.cancelled) return 'aborted';
    if (this.now >= this.maxTimeNs) return 'max-time';
    if (this.traceEnded) return 'trace-end';
    return null;
  }

  /** Let wall time run to `wallNs`; the guest writes as its clock advances (and may fault, post-copy). */
  advanceTo(wallNs: number): void {
    const needBoundaries = this.guestRateFactor !== null || this.cfg.onTraceEnd === 'stop';
    while (this.now < wallNs) {
      if (this.hold) {
        const until = this.hold.untilNs;
        if (until === null || until > wallNs) { this.now = wallNs; return; }
        this.now = Math.max(this.now, until);
        this.release();
        continue;
      }
      const r = this.rate();
      if (r <= 0) { this.now = wallNs; return; }
      let target = this.guest + (wallNs - this.now) * r;
      let boundary = false;
      if (needBoundaries) {
        let b = this.timeline.epochEnd;
        // write-time=end: an epoch's writes fall exactly on its end and happen just after it,
        // so a boundary we stand on is passed by one ns.
        if (b <= this.guest) b = Math.min(target, this.guest + 1);
        if (b < target) { target = b; boundary = true; }
      }
      const stopped = this.walkGuest(target, r);
      if (stopped !== null) {
        // A remote fault: the guest halts at the write's instant until its page arrives.
        this.now = Math.min(wallNs, this.now + (stopped - this.guest) / r);
        this.guest = stopped;
        continue;
      }
      this.now = boundary ? this.now + (target - this.guest) / r : wallNs;
      this.guest = target;
      if (boundary && this.traceEnded) return;
    }
  }

  /** Hand the guest's writes up to guest time `tau` to the log; with a remote memory, stop at the first fault (its instant). */
  private walkGuest(tau: number, r: number): number | null {
    const remote = this.remote;
    if (!remote) {
      this.timeline.advance(tau, this.sink);
      return null;
    }
    const w = this.walk;
    w.now = this.now;
    w.guest = this.guest;
    w.rate = r;
    let faulted = -1;
    const at = this.timeline.advance(tau, this.sink, (page, instant) => {
      if (!remote.missing(page, w.now + (instant - w.guest) / w.rate)) return false;
      faulted = page;
      return true;
    });
    if (at === null) return null;
    const wall = this.now + (at - this.guest) / r;
    this.remoteFaults++;
    this.hold = { page: faulted, sinceNs: wall, untilNs: null };
    const arrives = remote.fault(faulted, wall);
    if (arrives !== null) this.hold.untilNs = Math.max(wall, arrives);
    return at;
  }

  /** The page the guest waits for on a remote fault, and since when; null when it is not waiting. */
  get faultPending(): { page: number; sinceNs: number; known: boolean } | null {
    const h = this.hold;
    return h && h.page >= 0 ? { page: h.page, sinceNs: h.sinceNs, known: h.untilNs !== null } : null;
  }

  /** The faulted page arrives on the destination at `wallNs`: the guest runs again from then. */
  unblockGuestAt(wallNs: number): void {
    if (this.hold) this.hold.untilNs = Math.max(this.hold.sinceNs, wallNs);
  }

  private release(): void {
    const h = this.hold!;
    const ns = this.now - h.sinceNs;
    if (h.page >= 0) this.faultStallNs += ns;
    else this.switchStallNs += ns;
    this.hold = null;
  }

  /** Let `ns` of wall time pass. */
  wait(ns: number): void {
    this.advanceTo(this.now + ns);
  }

  /** The downtime-limit in force now (the last step at or before now, else the initial one), ms. */
  downtimeLimitMs(): number {
    if (this.downtimeOverrideMs !== null) return this.downtimeOverrideMs;
    let v = this.cfg.downtimeLimitMs;
    for (const st of this.cfg.downtimeSteps ?? []) if (st.atMs * 1e6 <= this.now) v = st.limitMs;
    return v;
  }

  /** The setup phase of the calibration profile (the guest may stall in it). */
  setup(): void {
    const c = this.cfg.calibration;
    this.setupTimeMs = c.setupMs;
    if (c.setupMs > 0) {
      const was = this.paused;
      if (c.setupStallsGuest) this.paused = true;
      if (c.setupStallsGuest && !was) this.setupStallNs = c.setupMs * 1e6;
      this.wait(c.setupMs * 1e6);
      this.paused = was;
    }
  }

  /** Set the CPU throttle (auto-converge), percent of vCPU time taken away. */
  setThrottle(pct: number): void {
    this.throttlePct = pct;
    this.maxThrottlePct = Math.max(this.maxThrottlePct, pct);
    const open = this.rounds[this.rounds.length - 1];
    if (open && !open.final) open.throttlePct = Math.max(open.throttlePct, pct);
  }

  /** Stop the guest: the downtime starts now. */
  stopGuest(): void {
    if (this.stopAt !== null) return;
    this.paused = true;
    this.stopAt = this.now;
    this.guestAtStop = this.guest;
    this.cfg.hooks?.onStop?.(this.guest, this.now);
  }

  /**
   * Post-copy: QEMU's downtime ends now (the source sent the device state);
   * the guest runs on the destination from `runsAtNs` (default now), the gap
   * counted as guest stall. From here its writes are not tracked on the
   * source, and sends count as post-copy bytes.
   */
  resumeOnDestination(runsAtNs = this.now): void {
    this.resumedAt = this.now;
    this.postcopy = true;
    this.paused = false;
    if (runsAtNs > this.now) this.hold = { page: -1, sinceNs: this.now, untilNs: runsAtNs };
  }

  /** Whether page p is still to be sent (reads the mig bit). */
  isPending(p: number): boolean {
    const u = this.k.u32;
    return ((u[(this.mig.ptr >>> 2) + (p >>> 5)]! >>> (p & 31)) & 1) === 1;
  }

  /** Whether the guest has been stopped for the switchover. */
  get stopped(): boolean {
    return this.stopAt !== null;
  }

  // ------------------------------------------------------------ dirty tracking

  private openRound(newDirty: number, info: { bandwidthBytesPerSec?: number | null; expectedDowntimeMs?: number | null }): void {
    this.closeRound();
    this.cfg.hooks?.onSync?.(this.dirtySyncCount);
    this.rounds.push({
      sync: this.dirtySyncCount,
      startMs: this.now / 1e6,
      endMs: this.now / 1e6,
      pagesSent: 0,
      bytes: 0,
      zeroPages: 0,
      dirtyPages: newDirty,
      remainingPages: this.migCount,
      remainingBytes: this.migCount * this.pageSize,
      bandwidthBytesPerSec: info.bandwidthBytesPerSec ?? null,
      expectedDowntimeMs: info.expectedDowntimeMs ?? null,
      throttlePct: this.throttlePct,
      final: this.paused,
    });
  }

  private closeRound(): void {
    const r = this.rounds[this.rounds.length - 1];
    if (r) r.endMs = this.now / 1e6;
  }

  /**
   * QEMU's migration_bitmap_sync: OR the log into mig and clear the log.
   * Returns the pages newly set in mig (QEMU's num_dirty_pages_period increment).
   */
  sync(info: { bandwidthBytesPerSec?: number | null; expectedDowntimeMs?: number | null } = {}): number {
    const k = this.k;
    if (this.phantom && this.dirtySyncCount > 0) k.raw.setList(this.log.ptr, this.nPages, this.phantom.ptr, this.phantomCount);
    this.dirtySyncCount++;
    this.lastSyncLogPages = k.popcount(this.log);
    const fresh = k.popcountAndNot(this.log, this.mig);
    if (this.synced) {
      k.copy(this.synced, this.log);
      this.chunkCleared!.fill(0);
    }
    k.or(this.mig, this.mig, this.log);
    k.clear(this.log);
    this.migCount += fresh;
    this.openRound(fresh, info);
    return fresh;
  }

  /** Xen's CLEAN: mig becomes the log (pages written since the last clean); returns |mig|. */
  clean(): number {
    const k = this.k;
    this.dirtySyncCount++;
    k.copy(this.mig, this.log);
    k.clear(this.log);
    this.migCount = k.popcount(this.mig);
    if (this.synced) {
      k.copy(this.synced, this.mig);
      this.chunkCleared!.fill(0);
    }
    this.openRound(this.migCount, {});
    return this.migCount;
  }

  /** Open a round without a sync (Xen's first pass: everything is to send). */
  startRound(): void {
    this.dirtySyncCount++;
    this.openRound(this.migCount, {});
  }

  /** Mark every page to send (the first full pass). */
  markAll(): void {
    this.k.fill(this.mig);
    this.migCount = this.nPages;
  }

  /** The first set page of bm at or after `from`, or −1. */
  nextSet(bm: Bitmap, from: number): number {
    if (from >= this.nPages) return -1;
    const q = this.k.advance(bm, from, 1, this.nPages);
    if (q < this.nPages) return q - 1;
    return this.k.popcount(bm, this.nPages - 1, this.nPages) === 1 && from <= this.nPages - 1 ? this.nPages - 1 : -1;
  }

  /** Whether page p was written since the last sync/clean (reads the log bit). */
  isLogged(p: number): boolean {
    const u = this.k.u32;
    return ((u[(this.log.ptr >>> 2) + (p >>> 5)]! >>> (p & 31)) & 1) === 1;
  }

  // ------------------------------------------------------------ sending

  /**
   * Wire bytes of the set pages of src in [from, to): (pages, zero pages,
   * bytes, pricer CPU). With a pricer, commit = these pages are being sent
   * (else a dry run).
   */
  cost(src: Bitmap, from: number, to: number, commit = false): Sent {
    const pages = this.k.popcount(src, from, to);
    const zero = pages === 0 ? 0 : this.k.popcountAndNot(src, this.nonZero, from, to);
    if (!this.zeroPageElision) return { pages, zero, bytes: pages * this.pageCost };
    const zeroBytes = zero * this.cfg.zeroPageBytes;
    if (this.pricer && pages > 0) {
      const p = this.pricer.price(src, from, to, pages - zero, commit);
      return { pages, zero, bytes: zeroBytes + p.bytes, cpuNs: p.cpuNs };
    }
    return { pages, zero, bytes: (pages - zero) * this.pageCost + zeroBytes };
  }

  /** cost() written into `out` (send's reused scratch: no object per chunk sent); cpuNs 0 without a pricer. */
  private costInto(out: Sent, src: Bitmap, from: number, to: number, commit: boolean): Sent {
    const pages = this.k.popcount(src, from, to);
    const zero = pages === 0 ? 0 : this.k.popcountAndNot(src, this.nonZero, from, to);
    out.pages = pages;
    out.zero = zero;
    out.cpuNs = 0;
    if (!this.zeroPageElision) {
      out.bytes = pages * this.pageCost;
      return out;
    }
    const zeroBytes = zero * this.cfg.zeroPageBytes;
    if (this.pricer && pages > 0) {
      const p = this.pricer.price(src, from, to, pages - zero, commit);
      out.bytes = zeroBytes + p.bytes;
      out.cpuNs = p.cpuNs;
      return out;
    }
    out.bytes = (pages - zero) * this.pageCost + zeroBytes;
    return out;
  }

  private readonly sendScratch: Sent = { pages: 0, bytes: 0, zero: 0, cpuNs: 0 };

  /**
   * The end of the shortest run of set pages of src from `from` (not past
   * `end`) whose wire bytes exceed `budget` — QEMU sends until the budget is
   * exceeded, so the last page overshoots — or `end` if all of them fit.
   */
  budgetEnd(src: Bitmap, from: number, end: number, budget: number, timeBudgetNs = Infinity, bandwidth = Infinity): number {
    if (budget < 0 || timeBudgetNs < 0) return from;
    if (budget === Infinity && timeBudgetNs === Infinity) return end;
    let to = from;
    let bytes = 0;
    let ns = 0;
    // Every page costs at most maxBytes and maxNs of time, so the first
    // min(floor(left / max)) + 1 pages overshoot by at most the last one: grow in such steps.
    const pr = this.pricer;
    pr?.reset();
    const maxBytes = Math.max(this.pageCost, pr?.maxPageBytes ?? 0);
    const zeroNs = this.zeroPageElision ? (this.cfg.zeroPageBytes / bandwidth) * NS + this.zeroCpuNs : 0;
    const maxNs = Math.max((maxBytes / bandwidth) * NS + (pr?.maxPageCpuNs ?? 0), zeroNs);
    while (to < end && bytes <= budget && ns <= timeBudgetNs) {
      const byBytes = budget === Infinity ? this.nPages : Math.floor((budget - bytes) / maxBytes);
      const byTime = timeBudgetNs === Infinity || maxNs === 0 ? this.nPages : Math.floor((timeBudgetNs - ns) / maxNs);
      const step = Math.min(this.nPages, byBytes, byTime) + 1;
      const next = this.k.advance(src, to, step, end);
      const c = this.cost(src, to, next);
      bytes += c.bytes;
      if (timeBudgetNs !== Infinity) ns += this.sendNs(c, bandwidth);
      to = next;
    }
    pr?.reset();
    return to;
  }

  /**
   * Send every set page of src in [from, to), ascending, at `bandwidth`
   * bytes/s, starting now; src's bits in the range are cleared. Time passes
   * (the guest writes meanwhile); under rearm=chunk each chunk is re-armed when
   * the sender first enters it.
   */
  send(src: Bitmap, from: number, to: number, bandwidth: number): Sent {
    const total: Sent = { pages: 0, bytes: 0, zero: 0 };
    const shift = this.cfg.clearBitmapShift;
    let lo = from;
    while (lo < to) {
      const hi = this.chunkCleared ? Math.min(to, ((lo >>> shift) + 1) * 2 ** shift) : to;
      const s = this.costInto(this.sendScratch, src, lo, hi, true);
      if (s.pages > 0) {
        if (this.chunkCleared) {
          const c = Math.floor(lo / 2 ** shift);
          if (!this.chunkCleared[c]) {
            // QEMU clears the chunk's log for the pages the last sync found dirty.
            this.chunkCleared[c] = 1;
            const clo = c * 2 ** shift;
            const chi = Math.min(this.nPages, clo + 2 ** shift);
            this.k.andNot(this.log, this.log, this.synced!, clo, chi);
          }
        }
        this.account(src, lo, hi, s);
        total.pages += s.pages;
        total.bytes += s.bytes;
        total.zero += s.zero;
        this.advanceTo(this.now + this.sendNs(s, bandwidth));
      }
      lo = hi;
    }
    return total;
  }

  private account(src: Bitmap, from: number, to: number, s: Sent): void {
    const k = this.k;
    const fresh = k.popcountAndNot(src, this.sentEver, from, to);
    if (this.collectBuf && this.cfg.hooks?.onSend) {
      let p = from;
      while (p < to) {
        const n = k.collect(src, this.collectBuf, p, to);
        if (n === 0) break;
        const list = k.entriesOf(this.collectBuf, n).slice();
        const u = k.u32;
        const nz = this.nonZero.ptr >>> 2;
        const normal = this.zeroPageElision ? list.filter((q) => ((u[nz + (q >>> 5)]! >>> (q & 31)) & 1) === 1) : list;
        this.cfg.hooks.onSend(list, this.guest, this.now, normal);
        p = list[n - 1]! + 1;
      }
    }
    k.or(this.sentEver, this.sentEver, src, from, to);
    if (src === this.mig) this.migCount -= s.pages;
    k.clear(src, from, to);
    this.pagesSent += s.pages;
    this.pagesResent += s.pages - fresh;
    this.zeroPagesSent += s.zero;
    this.transferred += s.bytes;
    if (this.postcopy) {
      this.postcopyBytes += s.bytes;
    } else if (this.paused) {
      this.downtimeBytes += s.bytes;
      if (this.stopAt !== null) this.finalDirtyPages += s.pages;
    }
    const r = this.rounds[this.rounds.length - 1];
    if (r) {
      r.pagesSent += s.pages;
      r.bytes += s.bytes;
      r.zeroPages += s.zero;
    }
  }

  /** Wall time to send: the bytes at `bandwidth` plus the sender's CPU time per zero page found (QEMU's check only) and the pricer's CPU time. */
  sendNs(s: Sent, bandwidth: number): number {
    const cpu = (this.zeroPageElision ? s.zero * this.zeroCpuNs : 0) + (s.cpuNs ?? 0);
    if (this.normalSenders === 1 || !this.zeroPageElision) return (s.bytes / bandwidth) * NS + cpu;
    const zeroBytes = s.zero * this.cfg.zeroPageBytes;
    return ((s.bytes - zeroBytes) / (bandwidth * this.normalSenders) + zeroBytes / bandwidth) * NS + cpu;
  }

  /** Count bytes that are not pages (e.g. QEMU's 8-byte end-of-section markers). */
  sendOverhead(bytes: number, bandwidth: number): void {
    this.transferred += bytes;
    if (this.postcopy) this.postcopyBytes += bytes; // ram_transferred_add counts by migration state
    else if (this.paused) this.downtimeBytes += bytes;
    const r = this.rounds[this.rounds.length - 1];
    if (r) r.bytes += bytes;
    this.advanceTo(this.now + (bytes / bandwidth) * NS);
  }

  /**
   * Send pages of mig from the cursor, wrapping at the top, until `budget`
   * bytes are exceeded or mig is empty (QEMU ram_find_and_save_block in a loop).
   */
  sendFromCursor(budget: number, bandwidth: number, timeBudgetNs = Infinity): Sent {
    const total: Sent = { pages: 0, bytes: 0, zero: 0 };
    const t0 = this.now;
    while (this.migCount > 0 && total.bytes <= budget && this.now - t0 <= timeBudgetNs) {
      if (this.cursor >= this.nPages) this.cursor = 0;
      const to = this.budgetEnd(this.mig, this.cursor, this.nPages, budget - total.bytes, timeBudgetNs - (this.now - t0), bandwidth);
      const s = this.send(this.mig, this.cursor, to, bandwidth);
      total.pages += s.pages;
      total.bytes += s.bytes;
      total.zero += s.zero;
      this.cursor = to >= this.nPages ? 0 : to;
      if (to >= this.nPages) {
        this.laps++;
        if (this.otherBlocks) this.sendOtherBlocks(bandwidth);
      }
    }
    return total;
  }

  /** The first pass reached the end of guest RAM: QEMU walks the other RAM blocks (ROMs) once. */
  private sendOtherBlocks(bandwidth: number): void {
    const b = this.otherBlocks!;
    this.otherBlocks = null;
    const s: Sent = { pages: b.normal + b.zero, zero: b.zero, bytes: this.zeroPageElision ? b.normal * this.pageCost + b.zero * this.cfg.zeroPageBytes : (b.normal + b.zero) * this.pageCost };
    this.extra.otherBlockPagesSent = s.pages;
    this.transferred += s.bytes;
    if (this.paused) this.downtimeBytes += s.bytes;
    const r = this.rounds[this.rounds.length - 1];
    if (r) r.bytes += s.bytes;
    this.advanceTo(this.now + this.sendNs(s, bandwidth));
  }

  /** Send all of mig (from the cursor, wrapping) at `bandwidth`. */
  sendAllFromCursor(bandwidth: number): Sent {
    return this.sendFromCursor(Infinity, bandwidth);
  }

  // ------------------------------------------------------------ the end

  /**
   * Complete the switchover after the final pages were sent: device state at
   * link speed, the fixed switchover cost and one round trip. Then build the
   * result.
   */
  finish(method: string, end: { completed: boolean; converged: boolean; stopReason: StopReason }): Omit<SimResult, 'provenance'> {
    if (end.completed && this.resumedAt === null) {
      this.stopGuest();
      this.switchover();
    }
    if (this.hold) {
      this.hold.untilNs = this.now;
      this.release(); // still waiting when the run ended: the wait so far
    }
    this.closeRound();
    const wallLive = (this.stopAt ?? this.now) - 0;
    const guestLive = (this.guestAtStop ?? this.guest) - this.cfg.startNs;
    const downtimeEnd = this.resumedAt ?? this.now;
    return {
      method,
      completed: end.completed,
      converged: end.completed && end.converged,
      stopReason: end.stopReason,
      totalTimeMs: this.now / 1e6,
      downtimeMs: end.completed && this.stopAt !== null ? (downtimeEnd - this.stopAt) / 1e6 : null,
      setupTimeMs: this.setupTimeMs,
      transferredBytes: this.transferred,
      precopyBytes: this.transferred - this.downtimeBytes - this.postcopyBytes,
      downtimeBytes: this.downtimeBytes,
      postcopyBytes: this.postcopyBytes,
      pagesSent: this.pagesSent,
      pagesResent: this.pagesResent,
      zeroPagesSent: this.zeroPagesSent,
      dirtySyncCount: this.dirtySyncCount,
      rounds: this.rounds,
      finalDirtyPages: this.finalDirtyPages,
      remoteFaults: this.remoteFaults,
      // What the method costs the guest (throttle, dirty-limit, remote faults, the wait for the destination to
      // start it after QEMU's downtime): setup's hold is not counted.
      guestStallMs: Math.max(0, (wallLive - guestLive - this.setupStallNs) / 1e6) + (this.faultStallNs + this.switchStallNs) / 1e6,
      maxThrottlePct: this.maxThrottlePct,
      traceLooped: this.timeline.loops > 0,
      traceLoops: this.timeline.loops,
      extra: { ...this.extra, pagesWritten: this.pagesWritten },
    };
  }

  /** The switchover's own cost while stopped: device state at link speed, the fixed cost, one round trip. */
  switchover(): void {
    const c = this.cfg;
    this.advanceTo(this.now + (c.deviceStateBytes / c.linkBandwidth) * NS + (c.switchoverFixedMs + c.rttMs) * 1e6);
  }

  /** Schema version for results built from this engine. */
  static readonly schemaVersion = RESULT_SCHEMA_VERSION;
}
