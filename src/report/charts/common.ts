/** Shared pieces of the chart specs: the schema, fonts, sizes, the method encoding, the time axes. */
export const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

/** A vega-lite spec (kept loose: the specs are plain JSON). */
export type Spec = Record<string, unknown>;

/** Config every chart shares: readable text, no clipping. */
export const CONFIG = {
  font: 'DejaVu Sans, sans-serif',
  axis: { labelFontSize: 11, titleFontSize: 12, labelLimit: 400 },
  legend: { labelFontSize: 11, titleFontSize: 12, labelLimit: 400, symbolSize: 90 },
  header: { labelFontSize: 12, titleFontSize: 12 },
  title: { fontSize: 14, anchor: 'start', subtitleFontSize: 12, subtitleColor: '#444', subtitlePadding: 6 },
  view: { stroke: '#ddd' },
};

/** Break a caption into lines of at most `width` characters (a vega-lite subtitle does not wrap). */
function lines(text: string, width = 110): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) { out.push(line); line = word; }
    else line = line ? `${line} ${word}` : word;
  }
  if (line) out.push(line);
  return out;
}

/**
 * Wrap a spec body with schema, title and config. The caption is a sentence
 * that says what the chart shows and how to read it: it is the spec's
 * `description` (report.html prints it under the chart) and its subtitle, so
 * a PNG read on its own says the same.
 */
export function chart(title: string, caption: string, body: Spec): Spec {
  return { $schema: SCHEMA, description: caption, title: { text: title, subtitle: lines(caption) }, config: CONFIG, padding: 10, ...body };
}

/**
 * Colours for methods: 16 that stay apart on white and for the commonest
 * colour-vision deficiencies as far as 16 can (after Trubetskoy's "20 simple
 * colours", the pale ones replaced by darker tones).
 */
export const METHOD_COLOURS = [
  '#4363d8', '#e6194b', '#3cb44b', '#f58231', '#911eb4', '#1fa3c2', '#f032e6', '#9a6324',
  '#469990', '#800000', '#808000', '#000075', '#7f7f7f', '#c9a100', '#6fae00', '#000000',
] as const;
/** Shapes for methods; 7 is prime to 16, so colour and shape repeat together only after 112 methods. */
export const METHOD_SHAPES = ['circle', 'square', 'triangle-up', 'diamond', 'cross', 'triangle-down', 'triangle-right'] as const;

/** The colour and shape of the i-th method (in the comparison's method order). */
export function methodStyle(i: number): { colour: string; shape: string } {
  return { colour: METHOD_COLOURS[i % METHOD_COLOURS.length]!, shape: METHOD_SHAPES[i % METHOD_SHAPES.length]! };
}

/**
 * The colour and shape channels of a `method` field, the same in every chart
 * of a comparison: the scale's domain is every method in order, so a method
 * keeps its colour and shape whether or not a chart shows it.
 */
export function methodEncoding(methods: readonly string[], legend: boolean | string = 'method', shown?: readonly string[]): { color: Spec; shape: Spec } {
  const scale = (range: string[]) => ({ domain: [...methods], range });
  // The legend lists only the methods this chart draws (`shown`), in method order.
  const values = shown ? methods.filter((m) => shown.includes(m)) : undefined;
  const l = legend === false ? { legend: null } : { title: legend === true ? 'method' : legend, ...(values ? { legend: { values } } : {}) };
  return {
    color: { field: 'method', type: 'nominal', scale: scale(methods.map((_, i) => methodStyle(i).colour)), ...l },
    shape: { field: 'method', type: 'nominal', scale: scale(methods.map((_, i) => methodStyle(i).shape)), ...l },
  };
}

/**
 * A log axis of durations with decade ticks labelled in ms or s (0.1 ms,
 * 1 ms, …, 1 s, 10 s), from `loMs` to `hiMs` rounded out to decades, and
 * one more position past the end, labelled "did not complete", where runs
 * that did not finish are drawn. Values are in `unitMs` (1: ms, 1000: s).
 */
export function durationAxis(valuesMs: number[], opts: { minMs?: number; maxMs?: number; unitMs?: number } = {}) {
  const unit = opts.unitMs ?? 1;
  const fin = valuesMs.filter((v) => Number.isFinite(v) && v > 0);
  const lo = Math.min(opts.minMs ?? 0.1, ...fin.map((v) => 10 ** Math.floor(Math.log10(v))));
  const hi = Math.max(opts.maxMs ?? 10_000, ...fin.map((v) => 10 ** Math.ceil(Math.log10(v))));
  const ticksMs: number[] = [];
  for (let t = lo; t <= hi * 1.0001; t *= 10) ticksMs.push(Number(t.toPrecision(1)));
  const dnfMs = hi * 10; // "did not complete": one decade past the last, on its own grid line
  const label = (ms: number) => (ms >= 1000 ? `${+(ms / 1000).toPrecision(3)} s` : `${+ms.toPrecision(3)} ms`);
  const labels = Object.fromEntries([...ticksMs.map((t) => [t / unit, label(t)]), [dnfMs / unit, ['did not', 'complete']]]);
  return {
    /** Where to draw a value (ms): itself, clamped into the axis; +∞ or null at "did not complete". */
    at: (ms: number | null) => (ms === null || !Number.isFinite(ms) ? dnfMs / unit : Math.max(lo, ms) / unit),
    dnf: dnfMs / unit,
    scale: { type: 'log', domain: [lo / unit, dnfMs * 1.6 / unit], nice: false },
    axis: { values: [...ticksMs.map((t) => t / unit), dnfMs / unit], labelExpr: `${JSON.stringify(labels)}[datum.value] || ''`, labelFlush: false, labelOverlap: false },
  };
}
