/** Shared pieces of the chart specs: the schema, fonts, sizes. */
export const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

/** A vega-lite spec (kept loose: the specs are plain JSON). */
export type Spec = Record<string, unknown>;

/** Config every chart shares: readable text, no clipping. */
export const CONFIG = {
  font: 'DejaVu Sans, sans-serif',
  axis: { labelFontSize: 11, titleFontSize: 12, labelLimit: 400 },
  legend: { labelFontSize: 11, titleFontSize: 12, labelLimit: 400 },
  header: { labelFontSize: 12, titleFontSize: 12 },
  title: { fontSize: 14, anchor: 'start' },
  view: { stroke: '#ddd' },
};

/** Wrap a spec body with schema, title and config. */
export function chart(title: string, body: Spec): Spec {
  return { $schema: SCHEMA, title, config: CONFIG, padding: 10, ...body };
}
