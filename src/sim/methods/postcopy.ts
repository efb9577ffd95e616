/**
 * postcopy: QEMU's post-copy (Hines & Gopalan 2009, "Post-copy based live VM
 * migration using adaptive pre-paging and dynamic self-ballooning", VEE '09:
 * the "active push" design; QEMU migration/migration.c postcopy_start,
 * migration/ram.c postcopy page requests, docs/devel/migration/postcopy.rst).
 *
 *   setup; stop the guest; sync (the discard list); device state; resume the
 *   guest on the destination                          ← the downtime ends here
 *   while pages remain: serve the guest's faults first, else push the next
 *     page from the cursor; everything sent after the switch — requested
 *     pages included — counts against max-postcopy-bandwidth (0 = link
 *     speed), as QEMU rate-limits the stream it sets at postcopy_start
 *   fault: the guest touches a page not yet received and waits rtt + one
 *     page time on the link (its clock stops meanwhile)
 *
 * A trace records writes only, so a page is first needed when it is first
 * written: reads that would fault are not seen, and remoteFaults is a lower
 * bound (the result says so in extra.faultModel). Faults are found at the
 * granularity of one push step (1 ms of sending): a guest may run up to that
 * long past its first touch of a missing page before it stalls.
 */
import type { Engine } from '../engine.js';
import type { MethodSpec, ParamSpec, Params, RunEnd } from '../method.js';

/** The push step: faults are checked between pushes of this much link time. */
const PUSH_STEP_S = 0.001;

/** Parameters of the post-copy phase. */
export const POSTCOPY_PARAMS: readonly ParamSpec[] = [
  { name: 'max-postcopy-bandwidth', kind: 'bandwidth', default: '0', description: 'background push rate after the switch (QEMU max-postcopy-bandwidth; 0 = link speed)' },
];

/**
 * After postcopy_start (guest stopped, final sync done): device state, resume
 * on the destination, then push and serve faults until every page arrived.
 */
export function postcopyPhase(e: Engine, p: Params): RunEnd {
  e.switchover();
  const extra = e.cfg.calibration.postcopySwitchMs ?? 0; // the host's measured switch cost, if profiled
  if (extra > 0) e.wait(extra * 1e6);
  e.resumeOnDestination();
  e.extra.faultModel = 'first write (the trace has no reads): remoteFaults is a lower bound';
  const link = e.cfg.linkBandwidth;
  const push = (p['max-postcopy-bandwidth'] as number) || link;
  const faults: number[] = [];
  e.writeObserver = (pages, n) => {
    for (let i = 0; i < n; i++) if (e.isPending(pages[i]!)) faults.push(pages[i]!);
  };
  const pageNs = (e.pageCost / link) * 1e9;
  const t0 = e.now;
  const bytes0 = e.transferred;
  while (e.migCount > 0) {
    const abort = e.abortReason;
    if (abort) return { completed: false, converged: false, stopReason: abort };
    while (faults.length > 0) {
      const q = faults.shift()!;
      if (!e.isPending(q)) continue; // already arrived (pushed, or faulted twice)
      e.remoteFaults++;
      e.stallGuest(e.cfg.rttMs * 1e6); // the request goes out, the page comes back
      const paused = e.paused;
      e.paused = true; // the guest still waits while the page is on the wire
      e.send(e.mig, q, q + 1, link);
      e.paused = paused;
      e.faultStallNs += pageNs;
    }
    if (e.migCount === 0) break;
    // The rate limit covers the whole post-copy stream: push only when under budget.
    const aheadNs = ((e.transferred - bytes0) / push) * 1e9 - (e.now - t0);
    if (aheadNs >= 1) { e.wait(Math.min(aheadNs, PUSH_STEP_S * 1e9)); continue; } // (under 1 ns is float noise)
    e.sendFromCursor(Math.max(e.pageCost, push * PUSH_STEP_S), link === push ? link : Math.max(push, link));
  }
  e.writeObserver = null;
  return { completed: true, converged: true, stopReason: 'converged' };
}

/** The postcopy method, as the comment at the top of this file describes it. */
export const postcopy: MethodSpec = {
  id: 'postcopy',
  summary: 'Switches to the destination at once and pulls the memory after it: the shortest downtime, paid for by the guest waiting on pages it touches before they arrive.',
  source: 'Hines & Gopalan 2009 (VEE) §3 active push; QEMU migration/migration.c postcopy_start, migration/ram.c postcopy requests',
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
