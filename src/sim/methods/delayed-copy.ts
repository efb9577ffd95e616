/**
 * delayed-copy: hot pages wait until their heat drops or the final copy.
 * Zhang et al. 2013 ("delayed copy of dirty pages") was NOT found in the
 * sources we read; this is the generic hot-page deferral of docs/methods.md,
 * the idea of that title as it also appears in Ma 2010 and in TPO (Sharma &
 * Chawla 2016): per page an exponentially weighted heat,
 *
 *   heat[p] ← α·heat[p] + (1 − α)·[p ∈ D_n]        α = heat-decay (0.5)
 *   hot = { p : heat[p] ≥ θ }                       θ = heat-threshold (0.5)
 *   if |hot| > cap: keep only the cap hottest (ties: lower address first),
 *      cap = bandwidth × downtime-limit / page size (so held pages alone fit the limit)
 *   round n sends pending ∖ hot
 *
 * Without the cap the held set could make the downtime larger than plain
 * pre-copy; `--param cap=off` shows that.
 */
import type { MethodSpec } from '../method.js';
import { XEN_PARAMS } from './precopy.js';
import { paperFrame } from './paper-frame.js';

/** The delayed-copy method, as the comment at the top of this file describes it. */
export const delayedCopy: MethodSpec = {
  id: 'delayed-copy',
  summary: 'Pre-copy that holds back pages whose recent dirtying rate is high until they cool down or the final copy, capped so the held pages fit the downtime limit.',
  source: 'idea of Zhang et al. 2013 (not found; generic rule of docs/methods.md, cf. Ma 2010, TPO 2016)',
  approximation: 'our reading of a generic hot-page deferral (Zhang 2013 not found): EWMA heat, a hold cap; not validated on real runs.',
  params: [
    { name: 'heat-decay', kind: 'number', default: '0.5', min: 0, max: 0.999, unit: 'fraction, 0–1', description: 'α: weight of a page\'s past heat each round' },
    { name: 'heat-threshold', kind: 'number', default: '0.5', min: 0.001, max: 1, unit: 'heat, 0–1', description: 'θ: a page is hot at heat ≥ θ' },
    { name: 'cap', kind: 'enum', default: 'auto', choices: ['auto', 'off'], description: 'auto: hold at most bandwidth × downtime-limit worth of pages; off: no cap' },
    ...XEN_PARAMS.filter((x) => x.name !== 'batch'),
  ],
  run(e, p) {
    const alpha = p['heat-decay'] as number;
    const theta = p['heat-threshold'] as number;
    const cap = p.cap === 'off' ? Infinity : Math.floor((e.cfg.bandwidth * e.cfg.downtimeLimitMs) / 1000 / e.pageSize);
    const heat = new Map<number, number>();
    const hot = e.k.bitmap(e.nPages);
    try {
      return paperFrame(e, p, {
        select: (_n, send) => e.k.andNot(send, send, hot),
        afterRound: (_n, _sent, dn) => {
          for (const [q, h] of heat) {
            const v = alpha * h;
            if (v < 1e-4) heat.delete(q);
            else heat.set(q, v);
          }
          for (const q of e.k.toList(dn)) heat.set(q, (heat.get(q) ?? 0) + (1 - alpha));
          let list = [...heat].filter(([, h]) => h >= theta);
          if (list.length > cap) list = list.sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, cap);
          e.k.clear(hot);
          if (list.length) e.k.setPages(hot, list.map(([q]) => q));
          e.extra.hotPages = list.length;
        },
      });
    } finally {
      e.k.dispose(hot);
    }
  },
};
