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
import type { MethodSpec } from '../method.js';
import { XEN_PARAMS } from './precopy.js';
import { paperFrame } from './paper-frame.js';

interface Chain { s: 0 | 1; c: Int32Array; held: number }

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
    const theta = p.threshold as number;
    const maxDefer = p['max-defer'] as number;
    const chains = new Map<number, Chain>();
    const held = e.k.bitmap(e.nPages);
    let tp = 0;
    let fp = 0;
    let fn = 0;
    try {
      return paperFrame(e, p, {
        select: (n, send) => {
          e.k.clear(held);
          if (n === 1) return;
          const hold: number[] = [];
          for (const q of e.k.toList(send)) {
            const ch = chains.get(q);
            if (!ch) continue; // never dirty: P = 1/(n+1) < 0.5 for n ≥ 2
            const dirtyNext = ch.c[ch.s * 2 + 1]! + 1;
            const all = ch.c[ch.s * 2]! + ch.c[ch.s * 2 + 1]! + 2;
            if (dirtyNext / all >= theta && ch.held < maxDefer) { hold.push(q); ch.held++; } else ch.held = 0;
          }
          if (hold.length) {
            e.k.setPages(held, hold);
            e.k.andNot(send, send, held);
          }
        },
        afterRound: (n, sent, dn) => {
          // Quality: held ∩ D_n are right; held ∖ D_n wrong; sent ∩ D_n missed.
          const h = e.k.popcount(held);
          const hRight = h - e.k.popcountAndNot(held, dn);
          tp += hRight;
          fp += h - hRight;
          fn += e.k.popcount(sent) - e.k.popcountAndNot(sent, dn);
          // Each tracked page moves from its state last round to its state now; new pages were clean until now.
          const dirty = new Set(e.k.toList(dn));
          for (const q of dirty) if (!chains.has(q)) chains.set(q, { s: 0, c: Int32Array.from([Math.max(0, n - 1), 0, 0, 0]), held: 0 });
          for (const [q, ch] of chains) {
            const next = dirty.has(q) ? 1 : 0;
            ch.c[ch.s * 2 + next]!++;
            ch.s = next;
          }
          e.extra.predictionPrecision = tp + fp > 0 ? tp / (tp + fp) : 0;
          e.extra.predictionRecall = tp + fn > 0 ? tp / (tp + fn) : 0;
        },
      });
    } finally {
      e.k.dispose(held);
    }
  },
};
