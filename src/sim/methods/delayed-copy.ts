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
import { quickselect } from 'simple-statistics';
import type { Bitmap, Kernel } from '../../kernel/index.js';
import type { Engine } from '../engine.js';
import type { MethodSpec } from '../method.js';
import { XEN_PARAMS } from './precopy.js';
import { HoldingPolicy, paperFrame } from './paper-frame.js';

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
    const cap = p.cap === 'off' ? Infinity : Math.floor((e.cfg.bandwidth * e.cfg.downtimeLimitMs) / 1000 / e.pageSize);
    return paperFrame(e, p, new DelayedCopy(e.k, e.extra, e.nPages, p['heat-decay'] as number, p['heat-threshold'] as number, cap));
  },
};

/** The heat rule of the comment at the top of this file, as a paper-frame policy (a class: see PaperPolicy). */
class DelayedCopy extends HoldingPolicy {
  /** The pages with heat ≥ 1e-4, ascending, and their heat (no per-page objects, so long runs make no garbage). */
  private heat = new HeatTable(0);
  /** The table being built this round (swapped with `heat`). */
  private next = new HeatTable(0);
  /** The pages of the hot set. */
  private hotBuf = new Uint32Array(0);
  /** Heat of the pages at ≥ θ (scratch). */
  private hotHeat = new Float64Array(0);

  constructor(
    kernel: Kernel,
    extra: Engine['extra'],
    nPages: number,
    /** α */
    private readonly alpha: number,
    /** θ */
    private readonly theta: number,
    private readonly cap: number,
  ) {
    super(kernel, extra, nPages);
  }

  afterRound(_n: number, _sent: Bitmap, dn: Bitmap): void {
    const { kernel, alpha, theta, cap } = this;
    // heat ← α·heat (dropped below 1e-4), then + (1 − α) for every page of D_n.
    const d = kernel.toList(dn); // ascending
    let heat = this.heat;
    let next = this.next;
    if (next.pages.length < heat.n + d.length) next = new HeatTable(2 * (heat.n + d.length));
    let i = 0;
    let j = 0;
    let m = 0;
    while (i < heat.n || j < d.length) {
      const q = i < heat.n && (j >= d.length || heat.pages[i]! <= d[j]!) ? heat.pages[i]! : d[j]!;
      let v = 0;
      if (i < heat.n && heat.pages[i] === q) {
        v = alpha * heat.heat[i++]!;
        if (v < 1e-4) v = 0;
      }
      if (j < d.length && d[j] === q) { v += 1 - alpha; j++; }
      if (v === 0) continue;
      next.pages[m] = q;
      next.heat[m++] = v;
    }
    next.n = m;
    this.next = heat; // reused next round
    this.heat = heat = next;
    // hot = { p : heat ≥ θ }, at most `cap` of them: the hottest, ties to the lower address.
    if (this.hotBuf.length < m) {
      this.hotBuf = new Uint32Array(heat.pages.length);
      this.hotHeat = new Float64Array(heat.pages.length);
    }
    const hotBuf = this.hotBuf;
    const hotHeat = this.hotHeat;
    let h = 0;
    for (let k = 0; k < m; k++) if (heat.heat[k]! >= theta) hotHeat[h++] = heat.heat[k]!;
    // Over the cap: `cut` is the cap-th highest heat; every page hotter than it is held, and
    // pages at it in address order until the cap is reached. (Selection in O(h): sorting the
    // pages with a comparator copied them into a temporary array every round — a large
    // object, mmap and munmap — and even an in-place sort of the heats took ~4 % of a comparison.)
    let cut = theta;
    let atCut = Infinity;
    if (h > cap) {
      atCut = 0;
      cut = Infinity;
      if (cap > 0) {
        const heats = hotHeat.subarray(0, h);
        quickselect(heats as unknown as number[], h - cap); // [0, h − cap) ≤ heats[h − cap] ≤ the rest
        cut = heats[h - cap]!;
        let above = 0;
        for (let k = h - cap + 1; k < h; k++) if (heats[k]! > cut) above++;
        atCut = cap - above;
      }
    }
    let held = 0;
    for (let k = 0; k < m; k++) {
      const v = heat.heat[k]!;
      if (v > cut || (v === cut && atCut-- > 0)) hotBuf[held++] = heat.pages[k]!;
    }
    const hotList = hotBuf.subarray(0, held);
    kernel.clear(this.held);
    if (hotList.length) kernel.setPages(this.held, hotList);
    this.extra.hotPages = hotList.length;
  }
}

/** Pages (ascending) and their heat, the first `n` entries in use. */
class HeatTable {
  readonly pages: Uint32Array;
  readonly heat: Float64Array;
  n = 0;
  constructor(capacity: number) {
    this.pages = new Uint32Array(capacity);
    this.heat = new Float64Array(capacity);
  }
}
