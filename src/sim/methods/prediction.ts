/**
 * prediction: send only the pages predicted to stay clean. "Wu et al. 2017"
 * was NOT found in the sources we read; this follows the Markov-model
 * pre-copy found as an abstract ("estimate from each page's dirty history the
 * probability that it is modified in the next round; send only low-probability
 * pages", docs/methods.md):
 *
 *   per page a first-order Markov chain over rounds (clean/dirty), Laplace prior:
 *   P(dirty next) = (c[s][dirty] + 1) / (c[s][·] + 2), s = its state last round
 *   round 1 sends everything; round n holds p iff P ≥ threshold (0.5), unless
 *   it was held max-defer (3) rounds in a row
 *
 * Prediction quality is reported per run: precision = held pages that were
 * indeed written in the round / held pages; recall = written pending pages
 * that were held / written pending pages.
 */
import type { Bitmap, Kernel } from '../../kernel/index.js';
import type { Engine } from '../engine.js';
import type { MethodSpec } from '../method.js';
import { XEN_PARAMS } from './precopy.js';
import { HoldingPolicy, paperFrame } from './paper-frame.js';


/** The prediction method, as the comment at the top of this file describes it. */
export const prediction: MethodSpec = {
  id: 'prediction',
  summary: 'Pre-copy that learns each page\'s dirty/clean history as a Markov chain and holds back pages it predicts will be written again before the round ends.',
  source: 'Markov-model pre-copy (abstract; docs/methods.md); Wu et al. 2017 not found',
  approximation: 'our reading of per-page prediction (Wu 2017 not found): a Markov chain per page; not validated on real runs.',
  params: [
    { name: 'threshold', kind: 'number', default: '0.5', min: 0, max: 1, unit: 'probability, 0–1', description: 'hold a page when its predicted probability of being dirtied next round is at least this' },
    { name: 'max-defer', kind: 'int', default: '3', min: 0, unit: 'rounds', description: 'a page is held at most this many rounds in a row' },
    ...XEN_PARAMS.filter((x) => x.name !== 'batch'),
  ],
  run(e, p) {
    return paperFrame(e, p, new Prediction(e.k, e.extra, e.nPages, p.threshold as number, p['max-defer'] as number));
  },
};

/** The Markov rule of the comment at the top of this file, as a paper-frame policy (a class: see PaperPolicy). */
class Prediction extends HoldingPolicy {
  /**
   * The chains of every page dirtied so far, ascending by page, as parallel arrays (no per-page
   * objects): merged with D_n each round, walked beside the sorted send list in select().
   */
  private chains = new Chains(0);
  /** The table being built this round (swapped with `chains`). */
  private grown = new Chains(0);
  /** Held pages written during the round (right), held but not written (wrong), sent and written (missed). */
  private tp = 0;
  private fp = 0;
  private fn = 0;

  constructor(
    kernel: Kernel,
    extra: Engine['extra'],
    nPages: number,
    /** θ: threshold */
    private readonly theta: number,
    private readonly maxDefer: number,
  ) {
    super(kernel, extra, nPages);
  }

  /** Hold the pages predicted to be dirtied again this round (`held`: this round's). */
  override select(n: number, send: Bitmap): void {
    const { kernel, chains, theta, maxDefer } = this;
    kernel.clear(this.held);
    if (n === 1) return;
    const list = kernel.toList(send); // ascending
    let h = 0;
    let i = 0;
    for (let j = 0; j < list.length; j++) {
      const q = list[j]!;
      while (i < chains.n && chains.page[i]! < q) i++;
      if (i === chains.n || chains.page[i] !== q) continue; // never dirty: P = 1/(n+1) < 0.5 for n ≥ 2
      const c = 4 * i + 2 * chains.s[i]!;
      const dirtyNext = chains.c[c + 1]! + 1;
      const all = chains.c[c]! + chains.c[c + 1]! + 2;
      if (dirtyNext / all >= theta && chains.held[i]! < maxDefer) { list[h++] = q; chains.held[i]!++; } else chains.held[i] = 0;
    }
    if (h) {
      kernel.setPages(this.held, list.subarray(0, h));
      kernel.andNot(send, send, this.held);
    }
  }

  afterRound(n: number, sent: Bitmap, dn: Bitmap): void {
    const kernel = this.kernel;
    const held = this.held;
    // Quality: held ∩ D_n are right; held ∖ D_n wrong; sent ∩ D_n missed.
    const h = kernel.popcount(held);
    const hRight = h - kernel.popcountAndNot(held, dn);
    this.tp += hRight;
    this.fp += h - hRight;
    this.fn += kernel.popcount(sent) - kernel.popcountAndNot(sent, dn);
    // Each tracked page moves from its state last round to its state now; new pages were clean until now.
    const chains = this.chains;
    let grown = this.grown;
    const dirty = kernel.toList(dn); // ascending
    if (grown.page.length < chains.n + dirty.length) grown = new Chains(2 * (chains.n + dirty.length));
    let i = 0;
    let j = 0;
    let m = 0;
    while (i < chains.n || j < dirty.length) {
      const q = i < chains.n && (j >= dirty.length || chains.page[i]! <= dirty[j]!) ? chains.page[i]! : dirty[j]!;
      grown.page[m] = q;
      if (i < chains.n && chains.page[i] === q) {
        grown.s[m] = chains.s[i]!;
        grown.held[m] = chains.held[i]!;
        for (let x = 0; x < 4; x++) grown.c[4 * m + x] = chains.c[4 * i + x]!;
        i++;
      } else {
        grown.s[m] = 0;
        grown.held[m] = 0;
        grown.c[4 * m] = Math.max(0, n - 1);
        grown.c[4 * m + 1] = grown.c[4 * m + 2] = grown.c[4 * m + 3] = 0;
      }
      const next = j < dirty.length && dirty[j] === q ? 1 : 0;
      j += next;
      grown.c[4 * m + 2 * grown.s[m]! + next]!++;
      grown.s[m++] = next;
    }
    grown.n = m;
    this.grown = chains; // reused next round
    this.chains = grown;
    const { tp, fp, fn } = this;
    this.extra.predictionPrecision = tp + fp > 0 ? tp / (tp + fp) : 0;
    this.extra.predictionRecall = tp + fn > 0 ? tp / (tp + fn) : 0;
  }
}

/**
 * Per tracked page (the first `n` entries, ascending by page): its state last
 * round s (0 clean, 1 dirty), its transition counts c[4·i + 2·s + next], and
 * how many rounds in a row it has been held.
 */
class Chains {
  readonly page: Uint32Array;
  readonly s: Uint8Array;
  readonly c: Int32Array;
  readonly held: Int32Array;
  n = 0;
  constructor(capacity: number) {
    this.page = new Uint32Array(capacity);
    this.s = new Uint8Array(capacity);
    this.c = new Int32Array(4 * capacity);
    this.held = new Int32Array(capacity);
  }
}
