/**
 * The common frame of the research methods (research/algorithms.md §10): Xen-style
 * rounds over the pending set, ascending, no skip; a policy holds pages back;
 * legacy Xen's stop rule (29 rounds, < 50 pages sent + held, 3 × RAM), then
 * stop-and-copy of everything pending. Held pages stay pending, so they are in
 * the final copy and count toward the downtime.
 */
import type { Bitmap } from '../../kernel/index.js';
import type { Engine } from '../engine.js';
import type { Params, RunEnd } from '../method.js';
import { xenLegacyStop } from './precopy.js';

/** What a research method decides. */
export interface PaperPolicy {
  /** Round n: clear from `send` (initially every pending page) the pages to hold back. */
  select(n: number, send: Bitmap): void;
  /** After round n: `sent` were sent in it, `dn` (D_n) are the pages written during it. */
  afterRound?(n: number, sent: Bitmap, dn: Bitmap): void;
}

/** Run the frame with a policy. */
export function paperFrame(e: Engine, p: Params, policy: PaperPolicy): RunEnd {
  const k = e.k;
  const send = k.bitmap(e.nPages);
  const sent = k.bitmap(e.nPages);
  try {
    e.setup();
    e.markAll();
    e.startRound();
    let n = 0;
    let totalSent = 0;
    let heldMax = 0;
    while (true) {
      n++;
      k.copy(send, e.mig);
      policy.select(n, send);
      const held = e.migCount - k.popcount(send);
      heldMax = Math.max(heldMax, held);
      k.andNot(e.mig, e.mig, send);
      e.migCount = held;
      k.copy(sent, send);
      const s = e.send(send, 0, e.nPages, e.cfg.bandwidth).pages;
      totalSent += s;
      const abort = e.abortReason;
      if (abort) return { completed: false, converged: false, stopReason: abort };
      policy.afterRound?.(n, sent, e.log);
      const stop = xenLegacyStop(n, s, held, totalSent, e, p);
      if (stop) {
        e.stopGuest();
        e.sync();
        e.sendAllFromCursor(e.cfg.linkBandwidth);
        e.extra.liveRounds = n;
        e.extra.maxHeldPages = heldMax;
        return { completed: true, converged: stop === 'converged', stopReason: stop };
      }
      e.sync();
    }
  } finally {
    k.dispose(send);
    k.dispose(sent);
  }
}
