/**
 * Headless chart rendering: vega-lite → vega → SVG (vega's renderer 'none',
 * no canvas needed), SVG → PNG with @resvg/resvg-js using the DejaVu fonts
 * shipped in assets/fonts, so text renders the same on any machine.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { Spec } from './charts/common.js';

const fontDir = fileURLToPath(new URL('../../assets/fonts/', import.meta.url));

/** Render a vega-lite spec to SVG. */
export async function toSvg(spec: Spec): Promise<string> {
  // vega-lite's warnings (e.g. about faceted independent scales) go nowhere: output stays clean.
  const { spec: vg } = vl.compile(spec as unknown as vl.TopLevelSpec, { logger: vega.logger(vega.None) });
  const view = new vega.View(vega.parse(vg), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Rasterise SVG at 2× with the shipped fonts. */
export function toPng(svg: string): Uint8Array {
  const r = new Resvg(svg, {
    background: 'white',
    fitTo: { mode: 'zoom', value: 2 },
    font: {
      loadSystemFonts: false,
      fontFiles: [`${fontDir}DejaVuSans.ttf`, `${fontDir}DejaVuSans-Bold.ttf`],
      defaultFontFamily: 'DejaVu Sans',
      sansSerifFamily: 'DejaVu Sans',
    },
  });
  return r.render().asPng();
}

/** The browser builds of vega, vega-lite and vega-embed, to inline in report.html. */
export function vegaScripts(): string[] {
  return [packageFile('vega', 'build/vega.min.js'), packageFile('vega-lite', 'build/vega-lite.min.js'), packageFile('vega-embed', 'build/vega-embed.min.js')];
}

/** A file of an installed package, found by walking up from this module (their exports maps hide the builds). */
function packageFile(pkg: string, file: string): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (true) {
    const candidate = join(dir, 'node_modules', pkg, file);
    if (existsSync(candidate)) return readFileSync(candidate, 'utf8');
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find ${pkg}/${file} in any node_modules above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}
