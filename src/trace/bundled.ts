/**
 * The real traces shipped in the package's data/ (data/README.md has their
 * provenance). In browsers a bundled trace is fetched from
 * `new URL('../../data/NAME.dpt', import.meta.url)`: that works when the
 * package is served as files (a static directory, the Vite dev server, the
 * prebuilt dist/web/dirtylab.js); an app bundle should import the file as an
 * asset URL instead (`dirtylab/data/NAME.dpt?url` in Vite, the file loader in
 * esbuild) and read it with urlInput(). Node's entry has its own
 * bundledTrace(), reading the file.
 */
import { urlInput, type TraceInput } from './bytes.js';

/** Names of the bundled traces (data/NAME.dpt). */
export const BUNDLED_TRACES = [
  'heavy-bw32-dt300',
  'heavy-bw32-dt300-ac',
  'heavy-bw32-dt300-pc5',
  'light-bw32-dt300',
  'light-bw32-dt300-r2',
  'light-bw32-dt300-r3',
  'medium-bw16-dt300',
  'medium-bw32-dt300',
  'medium-bw32-dt300-r2',
  'medium-bw32-dt300-r3',
  'postgresql-pgbench',
  'redis-benchmark',
  'tsc-build',
  'xz-compress',
] as const;

export type BundledTraceName = (typeof BUNDLED_TRACES)[number];

/** The file name in data/ of a bundled trace ("medium-bw32-dt300", with or without ".dpt" or "data/"). */
export function bundledTraceFile(name: string): string {
  const base = name.replace(/^(\.\/)?data\//, '').replace(/\.dpt$/, '');
  if (!(BUNDLED_TRACES as readonly string[]).includes(base)) {
    throw new Error(`no bundled trace "${name}"; the bundled traces are ${BUNDLED_TRACES.join(', ')}`);
  }
  return `${base}.dpt`;
}

/** The URL of a bundled trace, relative to this module (dist/trace/ or dist/web/ → data/). */
export function bundledTraceUrl(name: BundledTraceName | string): URL {
  // Not the literal new URL('…', import.meta.url) form on purpose: bundlers
  // would copy every trace of data/ into each app that imports dirtylab.
  const rel = '../../data/' + bundledTraceFile(name);
  return new URL(rel, import.meta.url);
}

/** A bundled trace as a TraceInput (fetched): `readTrace(bundledTrace('medium-bw32-dt300'))`. */
export function bundledTrace(name: BundledTraceName | string): TraceInput {
  return urlInput(bundledTraceUrl(name));
}
