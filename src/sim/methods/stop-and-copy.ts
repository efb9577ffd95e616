/**
 * stop-and-copy: stop the guest at once and send every page, zero pages as
 * markers, at link speed; then device state. The upper bound on downtime and
 * the lower bound on bytes.
 *
 * Source: Clark et al. 2005, "Live Migration of Virtual Machines" (NSDI), §2
 * ("pure stop-and-copy"); Xen tools/libs/guest/xg_sr_save.c,
 * send_domain_memory_nonlive.
 */
import type { MethodSpec } from '../method.js';

/** The stop-and-copy method, as the comment at the top of this file describes it. */
export const stopAndCopy: MethodSpec = {
  id: 'stop-and-copy',
  summary: 'Stops the guest and copies all of its memory: no page is sent twice, but the whole copy is downtime.',
  source: 'Clark et al. 2005 §2; Xen xg_sr_save.c send_domain_memory_nonlive',
  ships: 'qemu',
  params: [],
  run(e) {
    e.setup();
    e.stopGuest();
    e.markAll();
    e.startRound();
    e.send(e.mig, 0, e.nPages, e.cfg.linkBandwidth);
    return { completed: true, converged: true, stopReason: 'immediate' };
  },
};
