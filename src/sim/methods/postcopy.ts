/**
 * postcopy: QEMU 7.2's post-copy, with its page requests served as QEMU
 * serves them (Hines & Gopalan 2009, VEE '09: demand paging plus "active
 * push"; QEMU migration/migration.c postcopy_start, migration_iteration_run,
 * migration_rate_limit; migration/ram.c ram_postcopy_send_discard_bitmap,
 * ram_save_iterate, get_queued_page, ram_save_complete; migration/savevm.c
 * qemu_savevm_state_iterate; migration/postcopy-ram.c
 * postcopy_ram_fault_thread. The request path, traced step by step with a
 * real run's timings: the team's notes/postcopy.md).
 *
 *   postcopy_start                                 ← QEMU's downtime starts
 *     stop the vCPU                                            postcopyStopMs
 *     ram_postcopy_send_discard_bitmap: the last bitmap sync   postcopySyncUsPerPage
 *       (under TCG a cost per page set in the dirty log:          × dirty-log pages
 *       exec/ram_addr.h cpu_physical_memory_sync_dirty_bitmap
 *       takes the per-page path for a RAM block that is not a
 *       multiple of 64 pages, and each dirty page resets the
 *       TLBs); the cursor restarts at page 0 (rs->last_page = 0)
 *     discard list, device state, LISTEN and RUN in a package  postcopyPackageMs
 *                                                  ← QEMU's downtime ends (ms->downtime)
 *   the destination reads up to the package, starts the guest  postcopyDstStartMs
 *     (guest stall, not part of QEMU's downtime)
 *   the migration thread, one pass per migration_iteration_run:
 *     pending (pages left × page size) < threshold → migration_completion:
 *       ram_save_complete sends the rest, not rate-limited (requests first)
 *     the slot's budget (max-postcopy-bandwidth × 100 ms) not spent →
 *       ram_save_iterate, while the budget lasts or a request is queued:
 *       a queued request first (get_queued_page; the page becomes the
 *       cursor), else the next dirty pages from the cursor, one QEMUFile
 *       flush (32 pages) at a time
 *     budget spent → wait for the slot's end (migration_rate_limit); a
 *       request arriving meanwhile waits too (qemu_savevm_state_iterate
 *       returns at qemu_file_rate_limit before ram_save_iterate runs)
 *   the socket: one FIFO of postcopySocketBytes, read by the destination at
 *     postcopyDrainRatio × max-postcopy-bandwidth once it runs the guest; the
 *     sender blocks while it is full; a requested page waits behind what is
 *     in it — unless postcopy-preempt=on: then it goes on its own channel
 *     (ram.c postcopy_preempt_choose_channel), still sent by the migration
 *     thread, so still behind the slot gate, and not counted in the main
 *     channel's budget (rate limits are per QEMUFile)
 *   the guest (one vCPU) runs the trace; its first write to a page the
 *     destination lacks (not sent yet, or still in the socket) blocks it
 *     (userfaultfd) and sends a request (postcopy-ram.c postcopy_request_page)
 *     that reaches the source rtt/2 later; it runs again when the page is there
 *   the end: the source completes once the destination has read everything
 *     (await_return_path_close_on_source)
 *
 * Assumptions. A trace records writes only, so a page is first needed when it
 * is first written (reads that would fault are not seen: extra.faultModel).
 * After the switch the guest keeps writing as the recording did, looped from
 * its start (the recording ends at the switch; the destination's writes were
 * not recorded). The downtime is QEMU's (source side); the wait until the
 * destination runs the guest is guest stall. The profile's constants and
 * their rules: src/validate/derive.ts. Without them the switch is the
 * generic switchover and the socket holds nothing: a request waits only for
 * the slot gate and its own page.
 */
import type { Engine } from '../engine.js';
import type { MethodSpec, ParamSpec, Params, RunEnd } from '../method.js';
import { BUFFER_DELAY_MS, EOS_BYTES, MAX_WAIT_MS, SLOT_NS } from './qemu-precopy.js';
import { Destination, SocketFifo } from './postcopy-socket.js';

/** Pages per QEMUFile flush: MAX_IOV_SIZE (64) iovecs, a header and a page each (migration/qemu-file.c). */
export const FLUSH_PAGES = 32;

/** Parameters of the post-copy phase. */
export const POSTCOPY_PARAMS: readonly ParamSpec[] = [
  { name: 'max-postcopy-bandwidth', kind: 'bandwidth', default: '0', description: 'rate limit after the switch, requested pages included (QEMU max-postcopy-bandwidth; 0 = none, the link speed)' },
  { name: 'postcopy-preempt', kind: 'enum', default: 'off', choices: ['off', 'on'], description: 'QEMU 7.2\'s postcopy-preempt capability: requested pages on their own channel (no wait behind the stream; still behind the rate-limit slot)' },
];

/** Where the rate-limit slot stands at the switch (from QEMU's pre-copy loop; a fresh slot otherwise). */
export interface SlotState {
  slotStart: number;
  slotBytes0: number;
  /** threshold_size, bytes. */
  threshold: number;
}

/** Post-copy after postcopy_start's stop and last sync (the caller did both): the rest of the switch, then the pages. */
export function postcopyPhase(e: Engine, p: Params, slot?: SlotState): RunEnd {
  const cal = e.cfg.calibration;
  const link = e.cfg.linkBandwidth;
  const oneWayNs = (e.cfg.rttMs / 2) * 1e6;

  // postcopy_start, after vm_stop: the last sync, the discard list and the package.
  if (cal.postcopyPackageMs !== undefined) {
    e.wait(((cal.postcopyStopMs ?? 0) + ((cal.postcopySyncUsPerPage ?? 0) * e.lastSyncLogPages) / 1000 + cal.postcopyPackageMs) * 1e6);
  } else {
    e.switchover(); // no measured parts: device state at link speed, the fixed cost, one rtt
  }
  e.cursor = 0; // ram_postcopy_send_discard_bitmap: rs->last_page = 0
  const runsAt = e.now + (cal.postcopyDstStartMs ?? 0) * 1e6;
  e.resumeOnDestination(runsAt);
  e.extra.faultModel = 'first write (the trace has no reads): remoteFaults is a lower bound';
  e.extra.postcopyGuestStartsMs = runsAt / 1e6;

  const rate = p['max-postcopy-bandwidth'] as number;
  const drain = (cal.postcopyDrainRatio ?? Infinity) * (rate > 0 ? rate : link);
  const socket = new SocketFifo(cal.postcopySocketBytes ?? Infinity, drain, runsAt);
  const dst = new Destination(e, oneWayNs);
  e.remote = dst;
  const sender = new PostcopySender(e, socket, dst, link, oneWayNs, p['postcopy-preempt'] === 'on', rate, slot);

  let end: RunEnd = { completed: true, converged: true, stopReason: 'converged' };
  while (e.migCount > 0) {
    const abort = e.abortReason;
    if (abort) { end = { completed: false, converged: false, stopReason: abort }; break; }
    sender.slotEnd();
    dst.prune(e.now);
    if (e.migCount * e.pageSize < sender.threshold) break; // migration_completion
    if (sender.used > sender.budget) {
      e.advanceTo(sender.slotStart + SLOT_NS); // migration_rate_limit: requests wait for the new slot
      continue;
    }
    // ram_save_iterate
    const t0 = e.now;
    while (e.migCount > 0 && (sender.used <= sender.budget || dst.hasRequest(e.now)) && e.now - t0 < MAX_WAIT_MS * 1e6) {
      if (!sender.serveRequest()) {
        if (sender.used > sender.budget) break;
        sender.push(sender.budget - sender.used);
      }
      dst.prune(e.now);
    }
    e.sendOverhead(EOS_BYTES, link);
    sender.used += EOS_BYTES;
  }
  if (end.completed) {
    // ram_save_complete: the rest regardless of the rate limit, requests still first.
    e.extra.postcopyCompletionAtMs = e.now / 1e6;
    e.extra.postcopyCompletionPages = e.migCount;
    while (e.migCount > 0) if (!sender.serveRequest()) sender.push(Infinity);
    e.sendOverhead(EOS_BYTES, link);
    e.advanceTo(socket.emptyAt); // await_return_path_close_on_source: the destination has read it all
  }
  e.remote = null;
  dst.dispose();
  return end;
}

/**
 * The source's side of post-copy: the main channel's writes, the page
 * requests and the background push, and the rate-limit slot. A class, not
 * closures made per run: V8 (Node 20) compiled each run's new closures again
 * (see PaperPolicy).
 */
class PostcopySender {
  /** Bytes a slot may carry: qemu_file_set_rate_limit(max-postcopy-bandwidth / XFER_LIMIT_RATIO). */
  readonly budget: number;
  slotStart: number;
  /** Bytes charged to this slot. */
  used: number;
  /** bandwidth × downtime-limit, from the last slot. */
  threshold: number;

  /** `rate`: max-postcopy-bandwidth (0: none); `slot`: the rate-limit slot pre-copy was in, if any. */
  constructor(
    private readonly e: Engine,
    private readonly socket: SocketFifo,
    private readonly dst: Destination,
    private readonly link: number,
    private readonly oneWayNs: number,
    private readonly preempt: boolean,
    rate: number,
    slot?: SlotState,
  ) {
    this.budget = rate > 0 ? (rate * BUFFER_DELAY_MS) / 1000 : Infinity;
    this.slotStart = slot?.slotStart ?? e.now;
    this.used = slot ? e.transferred - slot.slotBytes0 : 0;
    this.threshold = slot?.threshold ?? 0;
  }

  /** Write pages [from, to) of mig into the socket (the sender blocks while it is full). */
  write(from: number, to: number): void {
    const { e, link } = this;
    const c = e.cost(e.mig, from, to);
    if (c.pages === 0) return;
    const { end, readNs } = this.socket.put(e.now, c.bytes, e.sendNs(c, link));
    this.dst.sent(from, to, readNs); // in flight from now: a write to them faults
    e.send(e.mig, from, to, link);
    this.dst.arrived(from, to); // the guest may be waiting for one of them
    e.advanceTo(end);
    this.used += c.bytes;
  }

  /** get_queued_page: serve the oldest request that has reached the source; false if none. */
  serveRequest(): boolean {
    const { e, link } = this;
    const r = this.dst.takeRequest(e.now);
    if (!r) return false;
    if (!e.isPending(r.page)) return true; // sent already: unqueue_page drops it
    e.cursor = r.page + 1; // the background push goes on after it (rs->last_page)
    if (this.preempt) {
      // Its own channel: the page's own wire time, not charged to the main channel's budget.
      const c = e.cost(e.mig, r.page, r.page + 1);
      const t = e.now + e.sendNs(c, link);
      e.send(e.mig, r.page, r.page + 1, link);
      if (e.faultPending?.page === r.page) e.unblockGuestAt(t + this.oneWayNs);
      return true;
    }
    this.write(r.page, r.page + 1);
    return true;
  }

  /** ram_find_and_save_block until `bytes` are exceeded: one flush from the cursor (wrapping). */
  push(bytes: number): void {
    const e = this.e;
    if (e.cursor >= e.nPages) e.cursor = 0;
    let from = e.nextSet(e.mig, e.cursor);
    if (from < 0) from = e.nextSet(e.mig, 0);
    const to = e.budgetEnd(e.mig, from, e.nPages, Math.min(bytes, FLUSH_PAGES * e.pageCost));
    this.write(from, to);
    e.cursor = to;
  }

  /** migration_update_counters at the slot's end: a new slot; threshold = bandwidth × downtime-limit. */
  slotEnd(): void {
    const e = this.e;
    if (e.now < this.slotStart + SLOT_NS) return;
    this.threshold = (this.used / ((e.now - this.slotStart) / 1e6)) * e.downtimeLimitMs();
    this.slotStart = e.now;
    this.used = 0;
  }
}

/** The postcopy method, as the comment at the top of this file describes it. */
export const postcopy: MethodSpec = {
  id: 'postcopy',
  summary: 'Switches to the destination at once and pulls the memory after it: the shortest downtime, paid for by the guest waiting on pages it touches before they arrive.',
  source: 'Hines & Gopalan 2009 (VEE) §3 active push; QEMU migration/migration.c postcopy_start, migration_iteration_run; migration/ram.c ram_save_iterate, get_queued_page, ram_save_complete',
  ships: 'qemu',
  params: POSTCOPY_PARAMS,
  run(e, p) {
    e.setup();
    e.markAll();
    e.stopGuest();
    e.sync(); // dirty-sync-count 1: the setup sync, here also the discard list
    return postcopyPhase(e, p);
  },
};
