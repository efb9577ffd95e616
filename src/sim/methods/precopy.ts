/**
 * precopy: Xen's iterative pre-copy (Clark et al. 2005).
 *
 * Legacy Xen save code (tools/libxc/xc_domain_save.c, 2007–2016): round 1
 * sends every page; round n sends the pages dirtied during round n−1. Before
 * each batch of 1024 pages the dirty log is peeked, and a page already
 * re-dirtied in this round is skipped (it is in the log, so it goes next
 * round). Stop when the round just finished sent and skipped fewer than 50
 * pages (converged), after 29 rounds, or once 3 × RAM has been sent (forced);
 * then stop the guest and copy the rest.
 *
 *   to_send = ALL
 *   loop:
 *     for each batch of 1024 pages, ascending:
 *       to_skip = peek(log)
 *       send to_send ∖ to_skip in the batch
 *     if last: break
 *     if iter ≥ 29 or sent + skipped < 50 or total_sent > 3·N: last = true; pause
 *     to_send = log; log = ∅            (CLEAN)
 *
 * `--param xen=v2` is today's Xen (tools/libs/guest/xg_sr_save.c,
 * send_memory_live with simple_precopy_policy): no skip, at most 5 live
 * rounds, stop when fewer than 50 pages are dirty.
 * Spec: research/algorithms.md §3.
 */
import type { Engine } from '../engine.js';
import type { MethodSpec, Params, RunEnd } from '../method.js';
import type { StopReason } from '../result.js';

/** How a Xen-style round checks the log before sending. */
export type Peek = 'batch' | 'page' | 'none';

/**
 * Send mig ascending at `bw`, skipping pages found in the log by a peek
 * before each batch of `batch` pages ('batch'), before each page ('page'), or
 * never ('none'). Returns pages sent and skipped; mig ends empty.
 */
export function xenRound(e: Engine, peek: Peek, batch: number, bw: number): { sent: number; skipped: number } {
  const k = e.k;
  const n = e.nPages;
  let sent = 0;
  let skipped = 0;
  if (peek === 'none') {
    sent = e.send(e.mig, 0, n, bw).pages;
    e.migCount = 0;
    return { sent, skipped };
  }
  if (peek === 'page') {
    // Two checks per page: in to_send, and not re-dirtied when its turn comes.
    for (let q = e.nextSet(e.mig, 0); q >= 0; q = e.nextSet(e.mig, q + 1)) {
      if (e.isLogged(q)) {
        skipped++;
        k.clear(e.mig, q, q + 1);
      } else {
        sent += e.send(e.mig, q, q + 1, bw).pages;
      }
    }
    e.migCount = 0;
    return { sent, skipped };
  }
  for (let first = e.nextSet(e.mig, 0); first >= 0; first = e.nextSet(e.mig, first)) {
    // The batch holding the next page to send; the log is peeked now.
    const b = Math.floor(first / batch) * batch;
    const end = Math.min(n, b + batch);
    const inBatch = k.popcount(e.mig, b, end);
    k.andNot(e.tmp, e.mig, e.log, b, end);
    const s = e.send(e.tmp, b, end, bw).pages;
    sent += s;
    skipped += inBatch - s;
    k.clear(e.mig, b, end);
    first = end;
    if (first >= n) break;
  }
  e.migCount = 0;
  return { sent, skipped };
}

/** The legacy Xen stop rule: the reason to stop after a round, or null. */
export function xenLegacyStop(iter: number, sent: number, skipped: number, totalSent: number, e: Engine, p: Params): StopReason | null {
  if (sent + skipped < (p['min-pages'] as number)) return 'converged';
  if (iter >= (p['max-iters'] as number)) return 'max-rounds';
  if (totalSent > e.nPages * (p['max-factor'] as number)) return 'max-bytes';
  return null;
}

/** Legacy Xen pre-copy with a skip check per `peek`. */
export function xenLegacy(e: Engine, p: Params, peek: Peek): RunEnd {
  e.setup();
  e.markAll();
  e.startRound();
  let iter = 0;
  let totalSent = 0;
  let skippedTotal = 0;
  while (true) {
    iter++;
    const { sent, skipped } = xenRound(e, peek, p.batch as number, e.cfg.bandwidth);
    totalSent += sent;
    skippedTotal += skipped;
    e.extra.skippedPages = skippedTotal;
    const abort = e.abortReason;
    if (abort) return { completed: false, converged: false, stopReason: abort };
    const stop = xenLegacyStop(iter, sent, skipped, totalSent, e, p);
    if (stop) {
      e.stopGuest();
      e.clean();
      xenRound(e, 'none', 0, e.cfg.linkBandwidth);
      e.extra.liveRounds = iter;
      return { completed: true, converged: stop === 'converged', stopReason: stop };
    }
    e.clean();
  }
}

/** Today's Xen (migration v2): no skip, ≤ 5 live rounds, stop under 50 dirty pages. */
export function xenV2(e: Engine, p: Params): RunEnd {
  const maxIters = p['max-iters'] === 29 ? 5 : (p['max-iters'] as number);
  e.setup();
  e.markAll();
  e.startRound();
  let iter = 0;
  let dirty = e.nPages;
  let reason: StopReason = 'max-rounds';
  while (true) {
    const stopNow = dirty < (p['min-pages'] as number) || iter >= maxIters;
    xenRound(e, 'none', 0, e.cfg.bandwidth);
    const abort = e.abortReason;
    if (abort) return { completed: false, converged: false, stopReason: abort };
    if (stopNow) { reason = dirty < (p['min-pages'] as number) ? 'converged' : 'max-rounds'; break; }
    iter++;
    if (iter >= maxIters) break;
    dirty = e.clean();
  }
  e.extra.liveRounds = iter;
  e.stopGuest();
  e.clean();
  xenRound(e, 'none', 0, e.cfg.linkBandwidth);
  return { completed: true, converged: reason === 'converged', stopReason: reason };
}

/** The parameters of Xen's loop (shared with double-iteration). */
export const XEN_PARAMS = [
  { name: 'max-iters', kind: 'int', default: '29', min: 1, description: 'live rounds before a forced stop (legacy Xen DEF_MAX_ITERS; v2 uses 5 unless set)' },
  { name: 'max-factor', kind: 'number', default: '3', min: 0, description: 'forced stop once this many × RAM pages were sent (legacy Xen DEF_MAX_FACTOR)' },
  { name: 'min-pages', kind: 'int', default: '50', min: 0, description: 'converged when a round had fewer pages to send than this' },
  { name: 'batch', kind: 'int', default: '1024', min: 1, description: 'pages per dirty-log peek (legacy Xen MAX_BATCH_SIZE)' },
] as const;

/** The precopy method, as the comment at the top of this file describes it. */
export const precopy: MethodSpec = {
  id: 'precopy',
  summary: 'Xen\'s iterative pre-copy: send everything, then each round what the last one dirtied, skipping pages already dirtied again, until little is left.',
  source: 'Clark et al. 2005 §3–5; Xen tools/libxc/xc_domain_save.c (legacy), tools/libs/guest/xg_sr_save.c send_memory_live (v2)',
  params: [
    { name: 'xen', kind: 'enum', default: 'legacy', choices: ['legacy', 'v2'], description: 'legacy save code (skip per 1024-page batch, 29 rounds, 3 × RAM) or migration v2 (no skip, 5 rounds)' },
    ...XEN_PARAMS,
  ],
  run(e, p) {
    return p.xen === 'v2' ? xenV2(e, p) : xenLegacy(e, p, 'batch');
  },
};
