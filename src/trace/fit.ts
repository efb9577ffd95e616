/**
 * "fit" (docs/dpt-format.md): a synthetic trace whose W(t) curve — distinct pages
 * written in a window of length t, averaged over window starts, exactly as
 * src/trace/views.ts computes it — matches a target curve.
 *
 * Construction. With fixed epochs of length E, a window of length t covers
 * m(t) epochs. Page classes i = 1…n each hold n_i pages written periodically
 * with period P_i epochs, page j of the class on the epochs ≡ ⌊j·P_i/n_i⌋
 * (mod P_i); every window of m epochs then holds n_i·min(1, m/P_i) of them.
 * Their sum is piecewise linear and concave in m with breaks at the P_i, so
 * putting one class at each sampled m with rate r_i = σ_i − σ_{i+1} (the drop
 * in the curve's slope there) reproduces the curve exactly at the samples, up
 * to rounding n_i to whole pages. A curve that is not concave is fitted by
 * its least concave majorant (and the reported error shows where). After the
 * last sampled window the synthetic curve is flat. Up to three rounds re-aim
 * the targets by achieved/target to absorb rounding; the worst relative error
 * over the sampled windows is measured on the generated trace with views.ts
 * and stored in meta.fit.
 *
 * Rate-only inputs (calc-dirty-rate, query-migrate) give one or a few (t, W)
 * points; a shape assumption extends them to a curve first (curveFromShape):
 * `uniform` — writes land uniformly on all N pages, W(t) = N(1 − e^(−λt/N));
 * `hot` — writes land uniformly on a hot set of H pages, W(t) = H(1 − e^(−λt/H)).
 */
import type { Kernel } from '../kernel/index.js';
import { TraceError, type Epoch, type TraceHeader } from './model.js';
import { mulberry32 } from './random.js';
import { summarizeTrace } from './views.js';

/** One point of a W(t) curve: distinct pages written in a window of `windowMs`. */
export interface CurvePoint {
  windowMs: number;
  pages: number;
}

/** A curve read from a file, with what the file says about the guest. */
export interface CurveFile {
  points: CurvePoint[];
  pageSize?: number;
  nPages?: number;
  source?: string;
}

/** Options of fitTrace. */
export interface FitOptions {
  /** The target W(t) points (any order). */
  points: CurvePoint[];
  nPages: number;
  pageSize?: number;
  /** Epoch length of the synthetic trace, ms (whole ns). */
  epochMs: number;
  /** Epochs to generate (default: max(100, 4 × the longest sampled window in epochs)). */
  epochs?: number;
  seed?: number;
  /** Pages that hold zeros at the start (kept; written pages are taken from the others first). */
  zeroAtStart?: Uint32Array | null;
  /** Provenance merged into meta (source, from, shape…). */
  meta?: Record<string, unknown>;
}

/** How one sampled window came out. */
export interface FitPoint {
  windowMs: number;
  target: number;
  achieved: number;
  /** (achieved − target) / target; 0 when both are 0. */
  relError: number;
}

/** A fitted synthetic trace with its measured fit. */
export interface FitResult {
  header: TraceHeader;
  epochs: Epoch[];
  points: FitPoint[];
  /** Largest |relError| over the sampled windows. */
  worstRelError: number;
  worstAtMs: number;
}

/** The fit must be this close at every sampled window (the fit's target: within 5 %). */
export const FIT_TOLERANCE = 0.05;

/** Epochs of length epochNs that a W(t) window of windowNs covers (views.ts: epochs whose midpoint lies inside, at least one). */
export function epochsCovered(windowNs: number, epochNs: number): number {
  return Math.max(1, Math.ceil(windowNs / epochNs - 0.5 - 1e-9));
}

/** Least concave majorant through (0, 0) of points (m, W), made non-decreasing first. */
export function concaveMajorant(pts: { m: number; w: number }[]): { m: number; w: number }[] {
  const sorted = [...pts].sort((a, b) => a.m - b.m);
  let run = 0;
  const mono = sorted.map((p) => ({ m: p.m, w: (run = Math.max(run, p.w)) }));
  const hull: { m: number; w: number }[] = [{ m: 0, w: 0 }];
  for (const p of mono) {
    while (hull.length >= 2) {
      const a = hull[hull.length - 2]!;
      const b = hull[hull.length - 1]!;
      // b lies on or below the chord a → p: drop it.
      if ((b.w - a.w) * (p.m - a.m) <= (p.w - a.w) * (b.m - a.m)) hull.pop();
      else break;
    }
    hull.push(p);
  }
  return hull.slice(1);
}

/** Page classes (period in epochs, pages) reproducing a concave curve at its vertices. */
export function pageClasses(hull: { m: number; w: number }[]): { period: number; pages: number }[] {
  const slopes: number[] = [];
  let prev = { m: 0, w: 0 };
  for (const v of hull) {
    slopes.push((v.w - prev.w) / (v.m - prev.m));
    prev = v;
  }
  slopes.push(0);
  return hull.map((v, i) => ({ period: v.m, pages: Math.max(0, Math.round((slopes[i]! - slopes[i + 1]!) * v.m)) })).filter((c) => c.pages > 0);
}

/** A seeded bijection over [0, n) (affine map with a unit multiplier), for scattering pages. */
function bijection(n: number, seed: number): (r: number) => number {
  const rng = mulberry32(seed);
  const gcd = (a: number, b: number): number => (b ? gcd(b, a % b) : a);
  let a = 1 + Math.floor(rng() * Math.max(1, n - 1));
  while (gcd(a, n) !== 1) a = (a % Math.max(1, n - 1)) + 1;
  const b = Math.floor(rng() * n);
  return (r) => Number((BigInt(r) * BigInt(a) + BigInt(b)) % BigInt(n));
}

/** The epochs of periodic page classes (a pure function of its inputs). */
function buildEpochs(classes: { period: number; pages: number }[], nEpochs: number, epochNs: number, pageOf: (rank: number) => number): Epoch[] {
  // Per class: residue → page ids.
  let rank = 0;
  const buckets = classes.map((c) => {
    const b: number[][] = Array.from({ length: c.period }, () => []);
    for (let j = 0; j < c.pages; j++) b[Math.floor((j * c.period) / c.pages)]!.push(pageOf(rank++));
    return b;
  });
  const out: Epoch[] = [];
  for (let e = 0; e < nEpochs; e++) {
    const list: number[] = [];
    classes.forEach((c, i) => { for (const p of buckets[i]![e % c.period]!) list.push(p); });
    out.push({ t0: e * epochNs, t1: (e + 1) * epochNs, pages: Uint32Array.from(list).sort() });
  }
  return out;
}

async function measure(header: TraceHeader, epochs: Epoch[], windowsMs: number[], kernel: Kernel): Promise<(number | null)[]> {
  async function* it() { yield* epochs; }
  const s = await summarizeTrace(header, it(), kernel, { windowsMs });
  return s.wt.map((w) => w.pages);
}

/** Generate a synthetic trace whose W(t) matches `points`, and measure how well it does. */
export async function fitTrace(opts: FitOptions, kernel: Kernel): Promise<FitResult> {
  const epochNs = Math.round(opts.epochMs * 1e6);
  if (!(epochNs >= 1)) throw new RangeError(`--epoch-ms must be > 0, not ${opts.epochMs}`);
  const nPages = opts.nPages;
  if (!Number.isInteger(nPages) || nPages < 1 || nPages >= 2 ** 32) throw new RangeError(`--pages must be an integer from 1 to 2^32 − 1, not ${nPages}`);
  const pts = [...opts.points].sort((a, b) => a.windowMs - b.windowMs);
  if (pts.length === 0) throw new RangeError('a curve needs at least one (window, pages) point');
  const maxW = Math.max(...pts.map((p) => p.pages));
  if (maxW > nPages) throw new RangeError(`the curve reaches ${Math.round(maxW)} distinct pages but the guest has ${nPages} (--pages)`);
  const covered = pts.map((p) => epochsCovered(p.windowMs * 1e6, epochNs));
  const mMax = Math.max(...covered);
  const nEpochs = opts.epochs ?? Math.max(100, 4 * mMax);
  if (nEpochs * epochNs < pts[pts.length - 1]!.windowMs * 1e6) throw new RangeError(`--epochs ${nEpochs} × ${opts.epochMs} ms is shorter than the longest window (${pts[pts.length - 1]!.windowMs} ms)`);
  if (mMax > 65535) throw new RangeError(`the longest window covers ${mMax} epochs (at most 65535); use a longer --epoch-ms`);
  const windowsMs = pts.map((p) => p.windowMs);

  // Pages in ranks order: a seeded scatter over the guest, pages that are non-zero at the start first.
  const seed = opts.seed ?? 1;
  const scatter = bijection(nPages, seed);
  const zero = opts.zeroAtStart ?? null;
  let pageOf: (r: number) => number = scatter;
  if (zero && zero.length > 0 && zero.length < nPages) {
    const isZero = new Uint8Array(Math.ceil(nPages / 8));
    for (const p of zero) isZero[p >> 3]! |= 1 << (p & 7);
    const z = (p: number) => (isZero[p >> 3]! & (1 << (p & 7))) !== 0;
    const firstNonZero = nPages - zero.length;
    const order: number[][] = [[], []]; // non-zero pages, then zero pages, in scatter order
    const cursor = [0, 0];
    pageOf = (r) => {
      const which = r < firstNonZero ? 0 : 1;
      const i = which === 0 ? r : r - firstNonZero;
      const list = order[which]!;
      while (list.length <= i) {
        const p = scatter(cursor[which]!++);
        if (z(p) === (which === 1)) list.push(p);
      }
      return list[i]!;
    };
  }

  const header: TraceHeader = {
    pageSize: opts.pageSize ?? 4096,
    nPages,
    timeUnit: 'ns',
    epochLen: epochNs,
    nEpochs,
    hasTimes: false,
    hasCounts: false,
    zeroAtStart: zero && zero.length > 0 ? zero : null,
    meta: {},
  };
  // Targets per covered-epoch count (windows that cover the same number of epochs share one).
  const byM = new Map<number, number[]>();
  pts.forEach((p, i) => { const m = covered[i]!; byM.set(m, [...(byM.get(m) ?? []), p.pages]); });
  let aim = new Map([...byM].map(([m, ws]) => [m, ws.reduce((s, x) => s + x, 0) / ws.length]));
  let best: { epochs: Epoch[]; classes: { period: number; pages: number }[]; achieved: (number | null)[]; worst: number } | null = null;
  for (let round = 0; round < 4; round++) {
    const hull = concaveMajorant([...aim].map(([m, w]) => ({ m, w })));
    const classes = pageClasses(hull);
    const total = classes.reduce((s, c) => s + c.pages, 0);
    if (total > nPages) throw new RangeError(`the curve needs ${total} distinct pages but the guest has ${nPages}`);
    const epochs = buildEpochs(classes, nEpochs, epochNs, pageOf);
    const achieved = await measure(header, epochs, windowsMs, kernel);
    const errs = pts.map((p, i) => relError(achieved[i] ?? 0, p.pages));
    const worst = Math.max(...errs.map(Math.abs));
    if (!best || worst < best.worst) best = { epochs, classes, achieved, worst };
    if (worst <= 0.005) break;
    // Re-aim each covered-epoch count by target / achieved (rounding and window-start effects).
    const next = new Map<number, number>();
    for (const [m, w] of aim) {
      const idx = pts.map((_, i) => i).filter((i) => covered[i] === m);
      const tgt = idx.reduce((s, i) => s + pts[i]!.pages, 0) / idx.length;
      const got = idx.reduce((s, i) => s + (achieved[i] ?? 0), 0) / idx.length;
      next.set(m, got > 0 ? w * (tgt / got) : w);
    }
    aim = next;
  }
  const points: FitPoint[] = pts.map((p, i) => ({ windowMs: p.windowMs, target: p.pages, achieved: best!.achieved[i] ?? 0, relError: relError(best!.achieved[i] ?? 0, p.pages) }));
  const worstP = points.reduce((a, b) => (Math.abs(b.relError) > Math.abs(a.relError) ? b : a));
  header.meta = {
    source: 'synthetic',
    ...opts.meta,
    generator: {
      kind: 'fit',
      epochMs: opts.epochMs,
      epochs: nEpochs,
      seed,
      construction: 'periodic page classes: class i has n_i pages written with period P_i epochs, evenly phased; W(m epochs) = Σ n_i·min(1, m/P_i) — concave, piecewise linear through the sampled windows, flat after the last',
      classes: best!.classes.map((c) => ({ periodEpochs: c.period, pages: c.pages })),
    },
    fit: {
      tolerance: FIT_TOLERANCE,
      worstRelError: worstP.relError,
      worstAtWindowMs: worstP.windowMs,
      points: points.map((p) => ({ ...p, achieved: round3(p.achieved), relError: round6(p.relError) })),
    },
    timeZeroNs: 0,
    licence: 'CC0-1.0',
  };
  return { header, epochs: best!.epochs, points, worstRelError: Math.abs(worstP.relError), worstAtMs: worstP.windowMs };
}

function relError(got: number, want: number): number {
  if (want === 0) return got === 0 ? 0 : Infinity;
  return (got - want) / want;
}
const round3 = (x: number) => Math.round(x * 1000) / 1000;
const round6 = (x: number) => Math.round(x * 1e6) / 1e6;

/**
 * Windows to sample a trace's W(t) at for `fit --like`: 22 log-spaced from
 * one epoch to half the trace, rounded to whole epochs (a window of m·E
 * covers m epochs in the trace and in the fit alike; one at (m + ½)·E would
 * cover m or m + 1 of the trace's slightly uneven epochs), duplicates dropped.
 */
export function likeWindowsMs(epochMs: number, durationMs: number, count = 22): number[] {
  const hi = Math.floor(durationMs / 2 / epochMs);
  if (hi <= 1) return [epochMs];
  const out = new Set<number>();
  for (let i = 0; i < count; i++) out.add(Math.round(Math.pow(hi, i / (count - 1))));
  return [...out].sort((a, b) => a - b).map((m) => +(m * epochMs).toFixed(6));
}

/** A shape that turns a few measured (window, pages) points into a curve. */
export type Shape = 'hot' | 'uniform';

/** What a shape assumption came to: its formula, parameters and where they came from. */
export interface ShapeFit {
  shape: Shape;
  /** Pages the writes land on (N for uniform, H for hot). */
  setPages: number;
  setPagesFrom: string;
  /** Page writes per second (λ). */
  writesPerSec: number;
  formula: string;
  curve(windowMs: number): number;
}

/** Pages written at least once after `writes` uniform writes over `set` pages. */
const expectedDistinct = (set: number, writes: number) => set * -Math.expm1(-writes / set);

/** λ (writes/s) that best matches the points for a given set size (least squares in log W). */
function fitRate(points: CurvePoint[], set: number): number {
  const usable = points.filter((p) => p.pages > 0 && p.pages < set);
  if (usable.length === 0) return 0;
  // One point: exact; several: geometric mean of per-point rates (the least-squares optimum is close to it).
  const rates = usable.map((p) => (-set * Math.log1p(-p.pages / set)) / (p.windowMs / 1000));
  return Math.exp(rates.reduce((s, r) => s + Math.log(r), 0) / rates.length);
}

/**
 * Extend measured points to a curve with a shape assumption. `hot` without
 * `hotPages`: with one measured window H = min(N, 2 × its pages) (stated as
 * an assumption); with several, H and λ are fitted to them.
 */
export function curveFromShape(points: CurvePoint[], shape: Shape, nPages: number, hotPages?: number): ShapeFit {
  const maxD = Math.max(...points.map((p) => p.pages));
  let set: number;
  let from: string;
  if (shape === 'uniform') { set = nPages; from = 'every page of the guest (uniform shape)'; }
  else if (hotPages !== undefined) {
    if (hotPages < maxD) throw new RangeError(`--hot-pages ${hotPages} is below the ${Math.ceil(maxD)} pages measured in one window`);
    set = Math.min(nPages, hotPages);
    from = '--hot-pages';
  } else if (new Set(points.map((p) => p.windowMs)).size >= 2) {
    // Fit H on a log grid from the largest measured count to N.
    let bestH = nPages;
    let bestErr = Infinity;
    const lo = Math.max(1, maxD * 1.0001);
    for (let i = 0; i <= 200; i++) {
      const h = lo * Math.pow(nPages / lo, i / 200);
      const lam = fitRate(points, h);
      const err = points.reduce((s, p) => s + (p.pages > 0 ? Math.log(expectedDistinct(h, lam * p.windowMs / 1000) / p.pages) ** 2 : 0), 0);
      if (err < bestErr) { bestErr = err; bestH = h; }
    }
    set = Math.round(bestH);
    from = `fitted to the ${points.length} measured windows (least squares in log pages)`;
  } else {
    set = Math.min(nPages, Math.max(1, Math.round(2 * maxD)));
    from = `assumed: twice the ${Math.round(maxD)} pages dirtied in the one measured window (give --hot-pages to change it)`;
  }
  const lam = fitRate(points, set);
  return {
    shape,
    setPages: set,
    setPagesFrom: from,
    writesPerSec: lam,
    formula: shape === 'uniform' ? 'W(t) = N·(1 − exp(−λt/N)): writes land uniformly on all N guest pages' : 'W(t) = H·(1 − exp(−λt/H)): writes land uniformly on a hot set of H pages; the rest is never written',
    curve: (ms) => expectedDistinct(set, (lam * ms) / 1000),
  };
}

/** Parse a curve file: JSON (points, [[ms, pages]…], {points|wt: […]}) or CSV (window_ms,pages). */
export function parseCurveText(text: string, file: string): CurveFile {
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) return parseCurveJson(text, file);
  return parseCurveCsv(text, file);
}

function checkPoint(ms: unknown, pages: unknown, bad: (what: string) => never): CurvePoint {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms <= 0) bad(`a window length in ms > 0, found ${JSON.stringify(ms)}`);
  if (typeof pages !== 'number' || !Number.isFinite(pages) || pages < 0) bad(`a page count ≥ 0, found ${JSON.stringify(pages)}`);
  return { windowMs: ms as number, pages: pages as number };
}

function parseCurveJson(text: string, file: string): CurveFile {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    const pos = /position (\d+)/.exec((e as Error).message);
    throw new TraceError(file, pos ? { byte: Number(pos[1]) } : {}, 'valid JSON (a curve: [{"windowMs":…,"pages":…},…] or {"points":[…]})');
  }
  const out: CurveFile = { points: [] };
  let list: unknown = doc;
  if (doc && typeof doc === 'object' && !Array.isArray(doc)) {
    const o = doc as Record<string, unknown>;
    list = o.points ?? o.wt;
    if (o.pageSize !== undefined) out.pageSize = o.pageSize as number;
    if (o.nPages !== undefined) out.nPages = o.nPages as number;
    if (typeof o.source === 'string') out.source = o.source;
    if (out.nPages !== undefined && !(Number.isInteger(out.nPages) && out.nPages >= 1)) throw new TraceError(file, {}, `"nPages" to be a positive integer, found ${JSON.stringify(o.nPages)}`);
  }
  if (!Array.isArray(list)) throw new TraceError(file, {}, 'a curve: an array of points, or an object with "points" (or inspect --json\'s "wt")');
  list.forEach((p, i) => {
    const bad = (what: string): never => { throw new TraceError(file, {}, `point ${i + 1}: ${what}`); };
    if (Array.isArray(p)) {
      if (p.length !== 2) bad(`[window ms, pages], found ${p.length} values`);
      out.points.push(checkPoint(p[0], p[1], bad));
    } else if (p && typeof p === 'object') {
      const o = p as Record<string, unknown>;
      if (o.pages === null) return; // inspect --json: a window longer than the trace
      out.points.push(checkPoint(o.windowMs ?? o.window_ms, o.pages, bad));
    } else bad(`{"windowMs":…,"pages":…} or [ms, pages], found ${JSON.stringify(p)}`);
  });
  return finishCurve(out, file);
}

function parseCurveCsv(text: string, file: string): CurveFile {
  const out: CurveFile = { points: [] };
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = i + 1;
    const s = raw.trim();
    if (s === '' || s.startsWith('#')) return;
    const cells = s.split(/\s*[,;\t]\s*/);
    if (out.points.length === 0 && cells.some((c) => c !== '' && Number.isNaN(Number(c)))) {
      if (cells.length !== 2) throw new TraceError(file, { line }, `a header "window_ms,pages" or two numbers per line, found ${cells.length} columns`);
      return; // header line
    }
    if (cells.length !== 2) throw new TraceError(file, { line }, `two columns, window ms and distinct pages, found ${cells.length}`);
    const bad = (what: string): never => { throw new TraceError(file, { line }, what); };
    out.points.push(checkPoint(Number(cells[0]), Number(cells[1]), bad));
  });
  return finishCurve(out, file);
}

function finishCurve(c: CurveFile, file: string): CurveFile {
  if (c.points.length === 0) throw new TraceError(file, {}, 'at least one (window ms, distinct pages) point');
  const seen = new Set<number>();
  for (const p of c.points) {
    if (seen.has(p.windowMs)) throw new TraceError(file, {}, `one point per window length, found ${p.windowMs} ms twice`);
    seen.add(p.windowMs);
  }
  return c;
}
