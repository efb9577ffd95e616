// The browser entry as apps consume it: an esbuild bundle, a Vite bundle and
// a plain <script type="module"> page over the package's files (import map →
// dist/web/dirtylab.js), each served on 127.0.0.1 and run in headless
// Chromium (playwright, the system Chromium). In each the kernel loads, a
// bundled trace is read by fetch and a gzipped copy as bytes
// (DecompressionStream), and simulate() and compare() with a fixed seed give
// exactly the numbers Node gives (test/fixtures/browser-app/compute.js runs
// in both); in each page compare() runs over a pool of 2 Workers (the pool's
// default worker script, bundled by Vite or beside dist/web/dirtylab.js; the
// esbuild page names dist/web/worker.browser.js with browserWorker). The
// static page is served twice: as any static host would, and cross-origin
// isolated (COOP + COEP headers), where the pool's workers take their runs
// from a shared queue (a SharedArrayBuffer) instead of one message per run.
import { createServer, type Server } from 'node:http';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join, normalize, sep } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright';
import * as lib from '../src/index.js';
// @ts-expect-error: a plain .mjs script without types
import { findChromium } from '../scripts/ensure-chromium.mjs';
import { root } from './run-cli.js';

const fixture = join(root, 'test/fixtures/browser-app');
const traceFile = join(root, 'data/light-bw32-dt300.dpt');
const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };

let work: string;
let server: Server;
let base: string;
let isolatedServer: Server;
let isolatedBase: string;
let browser: Browser;
let expected: unknown;

/**
 * A static file server over `dir` (symlinks followed, like any static host);
 * `isolated`: every response carries the headers that make a page
 * cross-origin isolated (SharedArrayBuffer allowed).
 */
function serve(dir: string, isolated = false): Promise<Server> {
  const extra: Record<string, string> = isolated ? { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' } : {};
  const s = createServer((req, res) => {
    const path = normalize(join(dir, decodeURIComponent(new URL(req.url!, 'http://x').pathname)));
    if (!path.startsWith(dir + sep)) { res.writeHead(403).end(); return; }
    try {
      const body = readFileSync(path);
      res.writeHead(200, { 'content-type': TYPES[extname(path)] ?? 'application/octet-stream', ...extra }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  return new Promise((ok) => s.listen(0, '127.0.0.1', () => ok(s)));
}

async function pageResult(path: string, at = base): Promise<{ ok: boolean; inNode?: boolean; isolated?: boolean; error?: string; result?: unknown; workers: string[] }> {
  const page = await browser.newPage();
  const errors: string[] = [];
  const workers: string[] = [];
  page.on('worker', (w) => workers.push(w.url()));
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()}`));
  page.on('response', (r) => { if (r.status() >= 400) errors.push(`HTTP ${r.status()}: ${r.url()}`); });
  try {
    await page.goto(`${at}/${path}`);
    await page.waitForFunction(() => (window as unknown as { __result?: unknown }).__result !== undefined, undefined, { timeout: 90_000 })
      .catch((e: Error) => { throw new Error(`${path}: no result (${e.message})\n${errors.join('\n')}`); });
    const r = await page.evaluate(() => (window as unknown as { __result: unknown }).__result) as { ok: boolean; error?: string };
    if (!r.ok || errors.length > 0) throw new Error(`${path}: ${r.error ?? ''}\n${errors.join('\n')}`);
    return { ...r, workers };
  } finally {
    await page.close();
  }
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'dirtylab-web-'));
  // An app directory whose node_modules/dirtylab is this package (resolved through its exports).
  const app = join(work, 'app');
  mkdirSync(join(app, 'node_modules'), { recursive: true });
  symlinkSync(root, join(app, 'node_modules', 'dirtylab'), 'dir');
  cpSync(fixture, app, { recursive: true });
  const gz = gzipSync(readFileSync(traceFile));

  const { build: esbuild } = await import('esbuild');
  await esbuild({
    absWorkingDir: app,
    entryPoints: ['entry-esbuild.js'],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    outdir: join(app, 'out-esbuild'),
    loader: { '.wasm': 'file', '.dpt': 'file' },
    logLevel: 'error',
  });
  cpSync(join(app, 'index-esbuild.html'), join(app, 'out-esbuild', 'index.html'));
  writeFileSync(join(app, 'out-esbuild', 'light.dpt.gz'), gz);

  const { build: vite } = await import('vite');
  await vite({
    root: app,
    configFile: false,
    logLevel: 'error',
    base: './', // relative asset URLs: the bundle is served from a subdirectory
    build: { outDir: join(app, 'out-vite'), emptyOutDir: true, rollupOptions: { input: join(app, 'index-vite.html') } },
  });
  writeFileSync(join(app, 'out-vite', 'light.dpt.gz'), gz);

  writeFileSync(join(app, 'light.dpt.gz'), gz); // for the static page at the app's root

  expected = await fixtureCompute();
  server = await serve(app);
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  isolatedServer = await serve(app, true);
  isolatedBase = `http://127.0.0.1:${(isolatedServer.address() as AddressInfo).port}`;
  browser = await chromium.launch({
    executablePath: (findChromium() as string | null) ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await new Promise((ok) => (server ? server.close(ok) : ok(undefined)));
  await new Promise((ok) => (isolatedServer ? isolatedServer.close(ok) : ok(undefined)));
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Node's numbers: the same compute() over src/, reading the file and the gzipped bytes. */
async function fixtureCompute(): Promise<unknown> {
  const { compute } = (await import(join(fixture, 'compute.js'))) as { compute: (l: typeof lib, t: lib.TraceInput, gz: Uint8Array) => Promise<unknown> };
  return compute(lib, lib.fileInput(traceFile), new Uint8Array(gzipSync(readFileSync(traceFile))));
}

describe('browser bundles in headless Chromium agree with Node', () => {
  it('Node computes a comparison to agree with', () => {
    const e = expected as { gzipSame: boolean; simulate: { completed: boolean }; compare: unknown[] };
    expect(e.gzipSame).toBe(true);
    expect(e.simulate.completed).toBe(true);
    expect(e.compare.length).toBeGreaterThanOrEqual(2 * 3);
  });

  // Each page runs the comparison over a pool of 2 Workers: Vite bundles the pool's default worker
  // script from pool.js; dist/web/worker.browser.js sits beside dirtylab.js; the esbuild page starts
  // that prebuilt worker itself (browserWorker).
  it.each([
    ['esbuild bundle (file loader + setKernelSource; browserWorker → dist/web/worker.browser.js)', 'out-esbuild/index.html', /\/node_modules\/dirtylab\/dist\/web\/worker\.browser\.js$/],
    ['Vite bundle (new URL(…, import.meta.url) and the pool\'s worker copied by Vite)', 'out-vite/index-vite.html', /\/out-vite\/assets\/worker\.browser-[\w-]+\.js$/],
    ['static directory, <script type="module"> + import map → dist/web/dirtylab.js and its worker', 'index-static.html', /\/node_modules\/dirtylab\/dist\/web\/worker\.browser\.js$/],
  ])('%s', async (_name, path, worker) => {
    const r = await pageResult(path);
    expect(r.inNode).toBe(false);
    expect(r.isolated).toBe(false); // the pool hands out runs by message
    expect(r.result).toEqual(expected);
    expect(r.workers).toHaveLength(2);
    for (const w of r.workers) expect(w).toMatch(worker);
  }, 120_000);

  it('static directory, cross-origin isolated: the pool\'s shared queue gives the same numbers', async () => {
    const r = await pageResult('index-static.html', isolatedBase);
    expect(r.isolated).toBe(true);
    expect(r.result).toEqual(expected);
    expect(r.workers).toHaveLength(2);
  }, 120_000);
});
