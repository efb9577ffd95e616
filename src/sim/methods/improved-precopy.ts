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
import type { Bitmap, Kernel } from '../../kernel/index.js';
import type { Engine } from '../engine.js';
import type { MethodSpec } from '../method.js';
import { XEN_PARAMS } from './precopy.js';
import { HoldingPolicy, paperFrame } from './paper-frame.js';

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
    return paperFrame(e, p, new ImprovedPrecopy(e.k, e.extra, e.nPages, p['hot-rounds'] as number));
  },
};

/** The marking rule of the comment at the top of this file, as a paper-frame policy (a class: see PaperPolicy). */
class ImprovedPrecopy extends HoldingPolicy {
  /**
   * count[p] for every page dirtied so far, ascending by page, as parallel arrays merged with D_n
   * each round (a Map of pages grew its table over and over: a fifth of a comparison's page faults).
   * Counts stop at K: a page is marked when its count reaches K, and the mark is sticky.
   */
  private counts = new CountTable(0);
  /** The table being built this round (swapped with `counts`). */
  private next = new CountTable(0);
  /** Pages marked this round (scratch); `held` are the marked pages, kept for the final copy. */
  private hot = new Uint32Array(0);

  constructor(
    kernel: Kernel,
    extra: Engine['extra'],
    nPages: number,
    /** K: hot-rounds */
    private readonly K: number,
  ) {
    super(kernel, extra, nPages);
  }

  afterRound(_n: number, _sent: Bitmap, dn: Bitmap): void {
    const { kernel, K } = this;
    const counts = this.counts;
    let next = this.next;
    const d = kernel.toList(dn); // ascending
    if (next.pages.length < counts.n + d.length) next = new CountTable(2 * (counts.n + d.length));
    if (this.hot.length < d.length) this.hot = new Uint32Array(2 * d.length);
    const hot = this.hot;
    let i = 0;
    let j = 0;
    let m = 0;
    let h = 0;
    while (i < counts.n || j < d.length) {
      const q = i < counts.n && (j >= d.length || counts.pages[i]! <= d[j]!) ? counts.pages[i]! : d[j]!;
      let c = i < counts.n && counts.pages[i] === q ? counts.count[i++]! : 0;
      if (j < d.length && d[j] === q) {
        j++;
        if (c < K && ++c === K) hot[h++] = q;
      }
      next.pages[m] = q;
      next.count[m++] = c;
    }
    next.n = m;
    this.next = counts; // reused next round
    this.counts = next;
    if (h) kernel.setPages(this.held, hot.subarray(0, h));
    this.extra.markedPages = kernel.popcount(this.held);
  }
}

/** Pages (ascending) and how many rounds each was dirty in (at most hot-rounds), the first `n` entries in use. */
class CountTable {
  readonly pages: Uint32Array;
  readonly count: Uint8Array;
  n = 0;
  constructor(capacity: number) {
    this.pages = new Uint32Array(capacity);
    this.count = new Uint8Array(capacity);
  }
}
