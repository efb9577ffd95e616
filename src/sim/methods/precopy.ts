/**
 * precopy: Xen's iterative pre-copy (Clark et al. 2005).
 *
 * Legacy Xen save code (tools/libxc/xc_domain_save.c:xc_domain_save, as in
 * Xen ≈ 4.0): round 1 sends every page; round n sends the pages dirtied
 * during round n−1. Pages go in batches of up to 1024 pages *to send*. Before
 * each batch the dirty log is peeked (read, not cleared), and a page of
 * to_send that is already in it is skipped for this round (counted in
 * skip_this_iter; it stays in the log, so the next CLEAN puts it in the next
 * round). A batch ends after its 1024th selected page however many pfns that
 * spans, so in a sparse round one peek covers a long stretch of memory and a
 * page dirtied after it is sent, not skipped. Stop when the round just
 * finished sent and skipped fewer than 50 pages (converged), after 29 rounds,
 * or once 3 × RAM has been sent (forced); then pause the guest and send
 * to_send without peeking. The page loop after `copypages:`:
 *
 *   iter = 0; last = false; to_send = ALL                   (memset 0xff)
 *   for (;;):
 *     iter++; sent = skipped = 0; N = 0
 *     while N < p2m_size:
 *       if !last: to_skip = PEEK(log)                       (whole bitmap, log kept)
 *       batch = []
 *       for (; |batch| < 1024 and N < p2m_size; N++):        (batch grows only by taken pages)
 *         if !last and to_send[N] and to_skip[N]: skipped++
 *         if to_send[N] and (last or !to_skip[N]): batch += N
 *       if batch = []: break
 *       write int32 |batch|, |batch| × 8-byte pfn_type, |batch| × 4096 B
 *       sent += |batch|
 *     total_sent += sent
 *     if last: break
 *     if iter ≥ 29 or sent + skipped < 50 or total_sent > 3 · p2m_size:
 *       last = true; suspend the guest
 *     to_send = CLEAN(log)                                  (fetch and reset)
 *
 * Here one batch is one bulk kernel step (xenRound): tmp = to_send ∖ log from
 * the batch's first pfn, `advance` by 1024 set bits to its end; to_send ∧ log
 * in between is skipped. Bytes: the loop checks page types, never contents,
 * so every page, zero or not, costs its 8-byte pfn_type entry + 4096 B (the
 * engine's pageCost; no zero-page elision), plus 4 B per batch.
 *
 * Not modelled: the Xen 4.5 file (xc_domain_save.c @9f378f48) treats HVM
 * iteration 1 differently (`superpages`): it does not skip there but sends
 * the pages dirty at the peek as 8-byte XALLOC entries without data (counted
 * as sent; the data follows in iteration 2), and breaks batches at 512-aligned
 * pfns; here iteration 1 peeks and skips like the others, as in Xen ≈ 4.0.
 * Holes (XTAB pfns: 8 B each, counted as sent and in p2m_size) are not in a
 * trace; PV-only to_fix/is_mapped handling is left out.
 *
 * `--param xen=v2` is today's Xen (tools/libs/guest/xg_sr_save.c,
 * send_memory_live with simple_precopy_policy): no peek and no skip, at most
 * 5 live rounds, stop when fewer than 50 pages are dirty, then
 * suspend_and_send_dirty. send_dirty_pages → add_to_batch flushes every 1024
 * pages (write_batch: one PAGE_DATA record, 16 B of headers + 8 B pfn and
 * 4096 B per page).
 * Spec: docs/methods.md Sources read (xen-project/xen):
 * tools/libxc/xc_domain_save.c @9f378f48 (4.5) and @00a4b65f (≈ 4.0);
 * tools/libs/guest/xg_sr_save.c @03851197, xg_sr_stream_format.h @ce17dc67.
 */
import type { Bitmap } from '../../kernel/index.js';
import type { Engine } from '../engine.js';
import type { MethodSpec, Params, RunEnd } from '../method.js';
import type { StopReason } from '../result.js';

/** Pages per batch in both Xen streams (MAX_BATCH_SIZE, xg_save_restore.h). */
export const MAX_BATCH_SIZE = 1024;
/** Legacy stream: the `int batch` count before each batch's pfn_type array (xc_domain_save.c). */
export const LEGACY_BATCH_HEADER_BYTES = 4;
/** v2 stream: xc_sr_rhdr (type, length) + xc_sr_rec_page_data_header (count, _res1) per PAGE_DATA record (xg_sr_stream_format.h). */
export const V2_BATCH_HEADER_BYTES = 16;

/**
 * A Xen save stream's framing. Each page costs the engine's pageCost
 * (its 8-byte pfn entry + the page); each batch of up to `batch` pages
 * adds `headerBytes` before them.
 */
export interface XenStream {
  batch: number;
  headerBytes: number;
}

/**
 * Put the run on a Xen stream: no zero-page elision (write_batch and the
 * legacy loop send every page of a batch as page data, zero or not). Call
 * before the first send.
 */
export function xenStream(e: Engine, version: 'legacy' | 'v2', batch = MAX_BATCH_SIZE): XenStream {
  e.zeroPageElision = false;
  return { batch, headerBytes: version === 'v2' ? V2_BATCH_HEADER_BYTES : LEGACY_BATCH_HEADER_BYTES };
}

/**
 * Send every set page of src, ascending, at `bw`, in batches of up to
 * s.batch pages, each after its header (the legacy loop with last = 1; v2
 * send_dirty_pages). Returns the pages sent; src ends empty.
 */
export function sendBatches(e: Engine, src: Bitmap, s: XenStream, bw: number): number {
  let sent = 0;
  for (let lo = e.nextSet(src, 0); lo >= 0; ) {
    const hi = e.k.advance(src, lo, s.batch, e.nPages);
    e.sendOverhead(s.headerBytes, bw);
    sent += e.send(src, lo, hi, bw).pages;
    lo = e.nextSet(src, hi);
  }
  return sent;
}

/**
 * The peek before a batch starting at `from`: tmp = mig ∖ log from `from` on,
 * over a window that grows until it holds `batch` pages (or reaches the
 * end). Returns the batch's end: just past its `batch`-th page, or nPages.
 * tmp beyond the returned end is garbage for the next peek to overwrite.
 */
function peekBatch(e: Engine, from: number, batch: number): number {
  const n = e.nPages;
  let hi = from;
  for (let width = 2 * batch; ; width *= 2) {
    const lo = hi;
    hi = Math.min(n, lo + width);
    e.k.andNot(e.tmp, e.mig, e.log, lo, hi);
    const end = e.k.advance(e.tmp, from, batch, hi);
    if (end < hi || hi >= n) return end;
  }
}

/** How a Xen-style round checks the log before sending. */
export type Peek = 'batch' | 'page' | 'none';

/**
 * One round over mig (to_send) at `bw` on stream s. 'batch': legacy Xen's
 * peek before each batch of s.batch pages to send (see the top of this
 * file); 'page': a peek before each page (double-iteration/confirm), the
 * pages sent still framed in batches of s.batch; 'none': no peek (v2, and
 * every final round). Returns pages sent and skipped; mig ends empty.
 */
export function xenRound(e: Engine, peek: Peek, s: XenStream, bw: number): { sent: number; skipped: number } {
  const k = e.k;
  let sent = 0;
  let skipped = 0;
  if (peek === 'none') {
    sent = sendBatches(e, e.mig, s, bw);
  } else if (peek === 'page') {
    // Two checks per page: in to_send, and not re-dirtied when its turn comes.
    for (let q = e.nextSet(e.mig, 0); q >= 0; q = e.nextSet(e.mig, q + 1)) {
      if (e.isLogged(q)) {
        skipped++;
        k.clear(e.mig, q, q + 1);
      } else {
        if (sent % s.batch === 0) e.sendOverhead(s.headerBytes, bw);
        sent += e.send(e.mig, q, q + 1, bw).pages;
      }
    }
  } else {
    for (let from = e.nextSet(e.mig, 0); from >= 0; from = e.nextSet(e.mig, from)) {
      // PEEK now; the batch: the next s.batch pages of to_send ∖ to_skip (in tmp).
      const end = peekBatch(e, from, s.batch);
      const taken = k.popcount(e.tmp, from, end);
      skipped += k.popcount(e.mig, from, end) - taken; // to_send ∧ to_skip: next round's
      if (taken > 0) {
        e.sendOverhead(s.headerBytes, bw);
        sent += e.send(e.tmp, from, end, bw).pages;
      }
      k.clear(e.mig, from, end);
      from = end;
    }
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

/** Legacy Xen pre-copy with a skip check per `peek`, on the legacy stream in batches of p.batch. */
export function xenLegacy(e: Engine, p: Params, peek: Peek): RunEnd {
  const s = xenStream(e, 'legacy', p.batch as number);
  e.setup();
  e.markAll();
  e.startRound();
  let iter = 0;
  let totalSent = 0;
  let skippedTotal = 0;
  while (true) {
    iter++;
    const { sent, skipped } = xenRound(e, peek, s, e.cfg.bandwidth);
    totalSent += sent;
    skippedTotal += skipped;
    e.extra.skippedPages = skippedTotal;
    const abort = e.abortReason;
    if (abort) return { completed: false, converged: false, stopReason: abort };
    const stop = xenLegacyStop(iter, sent, skipped, totalSent, e, p);
    if (stop) {
      e.stopGuest();
      e.clean();
      xenRound(e, 'none', s, e.cfg.linkBandwidth);
      e.extra.liveRounds = iter;
      return { completed: true, converged: stop === 'converged', stopReason: stop };
    }
    e.clean();
  }
}

/** Today's Xen (migration v2): no skip, ≤ 5 live rounds, stop under 50 dirty pages. */
export function xenV2(e: Engine, p: Params): RunEnd {
  const maxIters = p['max-iters'] === 29 ? 5 : (p['max-iters'] as number);
  const s = xenStream(e, 'v2', p.batch as number);
  e.setup();
  e.markAll();
  e.startRound();
  let iter = 0;
  let dirty = e.nPages;
  let reason: StopReason = 'max-rounds';
  while (true) {
    const stopNow = dirty < (p['min-pages'] as number) || iter >= maxIters;
    xenRound(e, 'none', s, e.cfg.bandwidth);
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
  xenRound(e, 'none', s, e.cfg.linkBandwidth);
  return { completed: true, converged: reason === 'converged', stopReason: reason };
}

/** The parameters of Xen's loop (shared with double-iteration). */
export const XEN_PARAMS = [
  { name: 'max-iters', kind: 'int', default: '29', min: 1, unit: 'rounds', description: 'live rounds before a forced stop (legacy Xen DEF_MAX_ITERS; v2 uses 5 unless set)' },
  { name: 'max-factor', kind: 'number', default: '3', min: 0, unit: '× guest RAM', description: 'forced stop once this many × RAM pages were sent (legacy Xen DEF_MAX_FACTOR)' },
  { name: 'min-pages', kind: 'int', default: '50', min: 0, unit: 'pages', description: 'converged when a round had fewer pages to send than this' },
  { name: 'batch', kind: 'int', default: '1024', min: 1, unit: 'pages', description: 'pages to send per batch (Xen MAX_BATCH_SIZE); legacy Xen peeks the dirty log once per batch' },
] as const;

/** The precopy method, as the comment at the top of this file describes it. */
export const precopy: MethodSpec = {
  id: 'precopy',
  summary: 'Xen\'s iterative pre-copy: send everything, then each round what the last one dirtied, skipping pages already dirtied again, until little is left.',
  source: 'Clark et al. 2005 §3–5; Xen tools/libxc/xc_domain_save.c (legacy), tools/libs/guest/xg_sr_save.c send_memory_live (v2)',
  ships: 'xen',
  approximation: 'Xen\'s stream as in xc_domain_save/xg_sr_save; address-space holes (8-byte XTAB entries) and Xen 4.5\'s XALLOC first round are not modelled; not validated on real Xen runs.',
  params: [
    { name: 'xen', kind: 'enum', default: 'legacy', choices: ['legacy', 'v2'], description: 'legacy save code (skip per batch of 1024 pages to send, 29 rounds, 3 × RAM) or migration v2 (no skip, 5 rounds)' },
    ...XEN_PARAMS,
  ],
  run(e, p) {
    return p.xen === 'v2' ? xenV2(e, p) : xenLegacy(e, p, 'batch');
  },
};
