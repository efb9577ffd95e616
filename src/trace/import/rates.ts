/**
 * Rate-only inputs (calc-dirty-rate, query-migrate) carry how fast a guest
 * dirties memory, not which pages. They become a dirty-rate curve — points
 * (window, distinct pages dirtied in it) — which a shape assumption extends
 * to every window (src/trace/fit.ts curveFromShape), and `generate fit` turns
 * into a synthetic trace. The header says it is synthetic, from what, and
 * which shape was assumed; `inspect` repeats it.
 */
import { TraceError } from '../model.js';
import { curveFromShape, fitTrace, FIT_TOLERANCE, type CurvePoint, type Shape } from '../fit.js';
import type { ImportContext, ImportOption, ImportResult } from './common.js';

/** Default epoch length of a synthetic trace made from rates, ms. */
export const RATES_DEFAULT_EPOCH_MS = 100;

/** The options every rate importer takes. */
export const RATE_OPTIONS: ImportOption[] = [
  { flag: 'shape', kind: ['hot', 'uniform'], description: 'how the measured rates extend to other windows: hot = writes land uniformly on a hot set of H pages (default), uniform = on every guest page' },
  { flag: 'hot-pages', kind: 'int', description: 'hot set size H for --shape hot (default: fitted when windows of several lengths were measured, else 2 × the pages of the one measured window — the header states which)' },
  { flag: 'epoch-ms', kind: 'duration', description: `epoch length of the synthetic trace (default ${RATES_DEFAULT_EPOCH_MS}ms)` },
  { flag: 'seed', kind: 'int', description: 'seed of the page placement (default 1)' },
  { flag: 'curve-out', kind: 'path', description: 'also write the dirty-rate curve that was fitted (JSON, the --curve format of generate fit)' },
];

/** Median of numbers (mean of the middle two for an even count). */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
}

/** One rate measurement: distinct pages dirtied over a window. */
export interface RateSample {
  windowMs: number;
  pages: number;
}

/** Group samples by window (median pages per window length). */
export function samplesToPoints(samples: RateSample[]): CurvePoint[] {
  const by = new Map<number, number[]>();
  for (const s of samples) by.set(s.windowMs, [...(by.get(s.windowMs) ?? []), s.pages]);
  return [...by].map(([windowMs, ps]) => ({ windowMs, pages: median(ps) })).sort((a, b) => a.windowMs - b.windowMs);
}

/**
 * Windows of the synthetic curve: the measured ones plus 16 log-spaced from
 * one epoch to max(10 s, 2 × the longest measured), each rounded to whole
 * epochs — a window of m·E covers exactly m epochs, so the curve stays
 * concave in m and the fit can follow it.
 */
export function syntheticWindowsMs(measured: number[], epochMs: number): number[] {
  const hi = Math.max(10_000, 2 * Math.max(...measured));
  const raw = [...measured];
  for (let i = 0; i < 16; i++) raw.push(epochMs * Math.pow(hi / epochMs, i / 15));
  const out = new Set(raw.map((w) => Math.max(1, Math.round(w / epochMs)) * epochMs));
  return [...out].sort((a, b) => a - b);
}

/**
 * Fit a synthetic trace to measured rate samples under a shape assumption.
 * `from` names the input and what was read from it (stored in meta.synthetic).
 */
export async function traceFromRates(
  samples: RateSample[], guest: { nPages: number; pageSize: number; nPagesFrom: string }, from: Record<string, unknown>, ctx: ImportContext,
): Promise<ImportResult> {
  const o = ctx.options;
  const shape = (o.shape as Shape | undefined) ?? 'hot';
  const epochMs = (o['epoch-ms'] as number | undefined) ?? RATES_DEFAULT_EPOCH_MS;
  const measured = samplesToPoints(samples);
  for (const p of measured) {
    const file = String(from.input ?? 'input');
    if (!Number.isFinite(p.pages)) throw new TraceError(file, {}, `finite dirty rates, found one giving ${p.pages} pages in ${p.windowMs} ms`);
    if (p.pages > guest.nPages && guest.nPagesFrom !== '--ram-size') throw new TraceError(file, {}, `at most the guest's ${guest.nPages} pages (${guest.nPagesFrom}) dirtied in a window, found ${Math.round(p.pages)} in ${p.windowMs} ms`);
    if (p.pages > guest.nPages) throw new RangeError(`the input reports ${Math.round(p.pages)} pages dirtied in ${p.windowMs} ms, more than the guest's ${guest.nPages} pages (${guest.nPagesFrom})`);
  }
  const sf = curveFromShape(measured, shape, guest.nPages, o['hot-pages'] as number | undefined);
  const windows = syntheticWindowsMs(measured.map((p) => p.windowMs), epochMs);
  const curve = windows.map((w) => ({ windowMs: w, pages: sf.curve(w) }));
  const shapeErrors = measured.map((p) => ({ windowMs: p.windowMs, measured: p.pages, shape: round1(sf.curve(p.windowMs)), relError: p.pages > 0 ? round6(sf.curve(p.windowMs) / p.pages - 1) : 0 }));
  const assumption = `${shape}: ${sf.formula}; ${shape === 'hot' ? 'H' : 'N'} = ${sf.setPages} pages (${sf.setPagesFrom}); λ = ${round1(sf.writesPerSec)} page writes/s fitted to the measured windows`;
  const r = await fitTrace({
    points: curve,
    nPages: guest.nPages,
    pageSize: guest.pageSize,
    epochMs,
    seed: (o.seed as number | undefined) ?? 1,
    meta: {
      synthetic: {
        note: 'SYNTHETIC: the input carries dirty rates, not pages; the page identities are made up to match the rate curve',
        from,
        measuredWindows: measured,
        shapeAssumption: assumption,
        shape: { name: shape, setPages: sf.setPages, setPagesFrom: sf.setPagesFrom, writesPerSec: sf.writesPerSec, formula: sf.formula },
        shapeVsMeasured: shapeErrors,
        guestPages: `${guest.nPages} (${guest.nPagesFrom})`,
      },
    },
  }, ctx.kernel);
  const worstShape = shapeErrors.reduce((a, b) => (Math.abs(b.relError) > Math.abs(a.relError) ? b : a));
  const notes = [
    `SYNTHETIC trace: ${measured.length} measured window${measured.length > 1 ? 's' : ''} (${measured.map((p) => `${p.windowMs} ms → ${round1(p.pages)} pages`).join(', ')}) extended by the ${shape} shape`,
    `shape assumption: ${assumption}`,
    `the shape misses the measured windows by at most ${pct(worstShape.relError)} (at ${worstShape.windowMs} ms)`,
    `generate fit: ${r.header.nEpochs} epochs of ${epochMs} ms over ${guest.nPages} pages (${guest.nPagesFrom}); worst |W(t) error| ${(r.worstRelError * 100).toFixed(2)} % at ${r.worstAtMs} ms over ${r.points.length} sampled windows (tolerance ${FIT_TOLERANCE * 100} %)`,
  ];
  return { header: r.header, epochs: r.epochs, notes, curve: curve.map((p) => ({ windowMs: p.windowMs, pages: round3(p.pages) })) };
}

const round1 = (x: number) => Math.round(x * 10) / 10;
const round3 = (x: number) => Math.round(x * 1000) / 1000;
const round6 = (x: number) => Math.round(x * 1e6) / 1e6;
/** A signed share as "+1.23 %". */
export const pct = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(2)} %`;
