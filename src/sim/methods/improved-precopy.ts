/**
 * improved-precopy: Ma, Liu and Liu 2010, "Live virtual machine migration
 * based on improved pre-copy approach" (IEEE ICSESS 2010; abstract): a bitmap
 * marks frequently updated pages, and marked pages are sent only in the last
 * round, so each is sent once. The marking rule is not in the abstract; here
 * (docs/methods.md): a page dirty in `hot-rounds` rounds (default
 * 2, the common reading "dirty in to_send and to_skip") is marked, and the
 * mark is sticky. Frame: docs/methods.md (no per-page skip).
 *
 *   round n: send pending ∖ marked; after it: count[p]++ for p ∈ D_n;
 *            count[p] ≥ hot-rounds ⇒ mark p
 *   stop (legacy Xen rule): stop-and-copy of pending (marked pages included)
 */
import type { MethodSpec } from '../method.js';
import { XEN_PARAMS } from './precopy.js';
import { paperFrame } from './paper-frame.js';

/** The improved-precopy method, as the comment at the top of this file describes it. */
export const improvedPrecopy: MethodSpec = {
  id: 'improved-precopy',
  summary: 'Pre-copy that marks a page once it has been dirty in two rounds and keeps marked pages for the final copy, so hot pages cross the network once.',
  source: 'Ma, Liu, Liu 2010 (ICSESS, abstract); marking rule per docs/methods.md',
  params: [
    { name: 'hot-rounds', kind: 'int', default: '2', min: 1, max: 255, unit: 'rounds', description: 'rounds a page must be dirty in before it is held for the final copy (sticky)' },
    ...XEN_PARAMS.filter((x) => x.name !== 'batch'),
  ],
  run(e, p) {
    const K = p['hot-rounds'] as number;
    const count = new Map<number, number>();
    const marked = e.k.bitmap(e.nPages);
    // The closures below reach the kernel and extra through locals, not `e` (see PaperPolicy).
    const kernel = e.k;
    const extra = e.extra;
    try {
      return paperFrame(e, p, {
        select: (_n, send) => kernel.andNot(send, send, marked),
        afterRound: (_n, _sent, dn) => {
          const pages = kernel.toList(dn);
          const hot: number[] = [];
          for (const q of pages) {
            const c = (count.get(q) ?? 0) + 1;
            count.set(q, c);
            if (c === K) hot.push(q);
          }
          if (hot.length) kernel.setPages(marked, hot);
          extra.markedPages = kernel.popcount(marked);
        },
      });
    } finally {
      e.k.dispose(marked);
    }
  },
};
