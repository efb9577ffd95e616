/**
 * double-iteration: the seed paper, Kang, Zhang and Kumar 2024, "A Dirty Page
 * Migration Method in Process of Memory Migration Based on Pre-copy
 * Technology" (IJCIE 18(5), WASET). Only its abstract is public: typical
 * pre-copy sends in round n the pages dirtied in round n−1; the authors
 * create a "double iteration method" to cut downtime. The algorithm is not
 * given, so three readings are implemented and every result names the one
 * that ran (docs/methods.md; all three are OUR interpretations):
 *
 * - `confirm` (A): a page dirtied in round n−1 is sent in round n only if it
 *   is still clean when its turn comes — two dirty-bitmap checks per page,
 *   i.e. Xen's skip at page granularity instead of one peek per batch of
 *   1024 pages to send. Otherwise Xen's legacy loop and stop rule; the pages
 *   sent are still framed in batches of 1024.
 * - `two-round-hot` (B): a page dirty in both rounds n−2 and n−1 is hot and
 *   waits for the stop-and-copy until it misses a round; everything else
 *   pending is sent (no skip). Stop rule: legacy Xen's, counting deferred
 *   pages as skipped.
 * - `double-final` (C): plain pre-copy (no skip) with legacy Xen's stop rule,
 *   but when the rule fires, one more live round first sends the would-be
 *   final set D_n, so the stop copies only what that short round dirtied —
 *   unless the guard predicts it will not shrink: dirty rate of round n ×
 *   time to send D_n ≥ |D_n|.
 *
 * All three run on Xen's frame and so on legacy Xen's stream
 * (xc_domain_save.c): every page, zero or not, is page data (8-byte pfn_type
 * + 4096 B), plus 4 B per batch of up to 1024 pages (precopy.ts).
 */
import type { Bitmap, Kernel } from '../../kernel/index.js';
import type { Engine } from '../engine.js';
import type { MethodSpec, Params, RunEnd } from '../method.js';
import type { StopReason } from '../result.js';
import { MAX_BATCH_SIZE, XEN_PARAMS, xenLegacy, xenLegacyStop, xenRound, xenStream } from './precopy.js';
import { paperFrame, type PaperPolicy } from './paper-frame.js';

/** (B) Pages dirty in the last two rounds wait for the stop-and-copy (the research frame). */
function twoRoundHot(e: Engine, p: Params): RunEnd {
  const end = paperFrame(e, p, new TwoRoundHot(e));
  e.extra.maxDeferredPages = e.extra.maxHeldPages ?? 0;
  return end;
}

/** (B)'s rule as a paper-frame policy (a class: see PaperPolicy). */
class TwoRoundHot implements PaperPolicy {
  private readonly k: Kernel;
  /** D_{n−1} */
  private readonly d1: Bitmap;
  /** D_{n−2} */
  private readonly d2: Bitmap;
  /** Scratch. */
  private readonly tmp: Bitmap;

  constructor(e: Engine) {
    this.k = e.k;
    this.tmp = e.tmp;
    this.d1 = e.k.bitmap(e.nPages);
    this.d2 = e.k.bitmap(e.nPages);
  }

  /** S = pending ∖ (D_{n−1} ∩ D_{n−2}); hot pages stay pending. */
  select(n: number, send: Bitmap): void {
    if (n < 3) return;
    this.k.and(this.tmp, this.d1, this.d2);
    this.k.andNot(send, send, this.tmp);
  }

  afterRound(_n: number, _sent: Bitmap, dn: Bitmap): void {
    this.k.copy(this.d2, this.d1);
    this.k.copy(this.d1, dn);
  }

  /** Free D_{n−1} and D_{n−2}. */
  dispose(): void {
    this.k.dispose(this.d1);
    this.k.dispose(this.d2);
  }
}

/** (C) One more live round before the stop, when it is predicted to shrink the final set. */
function doubleFinal(e: Engine, p: Params): RunEnd {
  const s = xenStream(e, 'legacy');
  e.setup();
  e.markAll();
  e.startRound();
  let n = 0;
  let totalSent = 0;
  let extraDone = false;
  let stop: StopReason | null = null;
  while (true) {
    n++;
    const roundStart = e.now;
    const { sent } = xenRound(e, 'none', s, e.cfg.bandwidth);
    totalSent += sent;
    const abort = e.abortReason;
    if (abort) return { completed: false, converged: false, stopReason: abort };
    if (extraDone) break; // the extra round is done: stop now
    stop = xenLegacyStop(n, sent, 0, totalSent, e, p);
    const dn = e.clean(); // D_n: what the stop would copy
    if (stop) {
      const roundSec = (e.now - roundStart) / 1e9;
      const rate = roundSec > 0 ? dn / roundSec : Infinity; // pages dirtied per second in round n
      const predicted = rate * ((dn * e.pageCost) / e.cfg.bandwidth);
      e.extra.predictedNextDirty = predicted;
      if (p.guard === 'on' && predicted >= dn) break;
      extraDone = true;
      e.extra.extraRound = true;
    }
  }
  e.extra.liveRounds = n;
  e.stopGuest();
  e.sync(); // mig (D_n when the guard kept the plain stop, else empty) ∪ what the guest wrote since
  xenRound(e, 'none', s, e.cfg.linkBandwidth);
  const reason = stop ?? 'converged';
  return { completed: true, converged: reason === 'converged', stopReason: reason };
}

/** The double-iteration method, as the comment at the top of this file describes it. */
export const doubleIteration: MethodSpec = {
  id: 'double-iteration',
  summary: 'The seed paper\'s "double iteration" pre-copy (Kang et al. 2024), in three readings of its abstract: confirm a page is still clean before sending it, hold pages dirty two rounds running until the stop, or run one extra short round before the stop.',
  source: 'Kang, Zhang, Kumar 2024, IJCIE 18(5) (abstract only); interpretations per docs/methods.md',
  variants: ['confirm', 'two-round-hot', 'double-final'],
  params: [
    ...XEN_PARAMS.filter((x) => x.name !== 'batch'),
    { name: 'guard', kind: 'enum', default: 'on', choices: ['on', 'off'], description: 'double-final: skip the extra round when it is predicted not to shrink the final set' },
  ],
  run(e, p) {
    if (p.variant === 'two-round-hot') return twoRoundHot(e, p);
    if (p.variant === 'double-final') return doubleFinal(e, p);
    return xenLegacy(e, { ...p, batch: MAX_BATCH_SIZE }, 'page');
  },
};
