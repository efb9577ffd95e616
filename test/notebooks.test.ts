// The Observable notebooks (notebooks/, issue 13 item 4): `npm run notebooks`'s
// build served from 127.0.0.1 and driven in headless Chromium. Every page
// renders with no request leaving 127.0.0.1, no failed request, no page error
// and no cell error; (a)'s sliders re-run the simulation; (b) runs in a pool of
// Web Workers, closed when done or re-run, and its numbers are the CLI's for
// the same seed; (c) works on a gzipped trace set through its
// file input. (The README's screenshots: scripts/notebook-screenshots.mjs.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Server } from 'node:http';
import type { CompareSummary } from '../src/stats/summary.js';
import { root } from './run-cli.js';
// @ts-expect-error: a plain .mjs script without types
import { build, serve } from '../scripts/notebooks.mjs';
// @ts-expect-error: a plain .mjs script without types
import { findChromium } from '../scripts/ensure-chromium.mjs';

const METHODS = ['precopy', 'double-iteration/confirm', 'double-iteration/two-round-hot', 'double-iteration/double-final'];
const B = { trace: 'medium-bw32-dt300', replicates: 5, seed: 7, bandwidthMiB: 32, limitMs: 300 };

let server: Server;
let base: string;
let browser: Browser;
let tmp: string;
let cli: Promise<CompareSummary>;

/** The CLI's summary for notebook (b)'s grid (started early: it runs while the notebooks build). */
function cliSummary(): Promise<CompareSummary> {
  const args = [join(root, 'bin/dirtylab.js'), 'compare', `data/${B.trace}.dpt`, '--methods', METHODS.join(','), '--replicates', String(B.replicates),
    '--seed', String(B.seed), '--bandwidth', `${B.bandwidthMiB}MiB/s`, '--downtime-limit', `${B.limitMs}ms`, '--json', '--quiet', '--out', join(tmp, 'cli-report')];
  return new Promise((ok, fail) => {
    const p = spawn(process.execPath, args, { cwd: root });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    p.on('close', (code) => (code === 0 ? ok(JSON.parse(out) as CompareSummary) : fail(new Error(`dirtylab compare exited ${code}: ${err}`))));
  });
}

/** A page that records every request, failure, page error and console error, and the Workers it starts. */
async function open(path: string) {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  const requests: string[] = [];
  const problems: string[] = [];
  const workers: { url: string; closed: boolean }[] = [];
  page.on('worker', (w) => {
    const rec = { url: w.url(), closed: false };
    workers.push(rec);
    w.on('close', () => { rec.closed = true; });
  });
  page.on('request', (r) => requests.push(r.url()));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on('response', (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });
  await page.goto(base + path);
  return { page, requests, problems, workers };
}

/** Nothing left 127.0.0.1, nothing failed, no cell shows an error. */
async function expectClean(page: Page, requests: string[], problems: string[]) {
  const outside = requests.filter((u) => !u.startsWith(base) && !u.startsWith('data:') && !u.startsWith('blob:'));
  expect(outside).toEqual([]);
  expect(requests.length).toBeGreaterThan(3);
  const cellErrors = await page.$$eval('.observablehq--error', (es) => es.map((e) => e.textContent));
  expect(cellErrors).toEqual([]);
  expect(problems).toEqual([]);
}

/** Set a range input's value as a user drag would (input event). */
async function slide(page: Page, name: string, value: number) {
  await page.$eval(`input[type=range][name="${name}"]`, (e, v) => {
    (e as HTMLInputElement).value = String(v);
    e.dispatchEvent(new Event('input', { bubbles: true }));
  }, value);
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'dirtylab-notebooks-'));
  cli = cliSummary();
  cli.catch(() => {}); // awaited in its test
  build({ quiet: true });
  ({ server, url: base } = await serve(undefined, 0));
  browser = await chromium.launch({
    executablePath: findChromium() ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'],
  });
}, 240_000);

afterAll(async () => {
  await browser?.close();
  server?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('notebooks (npm run notebooks, served from 127.0.0.1, headless Chromium)', () => {
  it('the index links the three notebooks', async () => {
    const { page, requests, problems } = await open('');
    const links = await page.$$eval('main a[href]', (as) => as.map((a) => a.getAttribute('href')));
    expect(links).toEqual(expect.arrayContaining(['./why-precopy.html', './double-iteration.html', './your-trace.html']));
    await expectClean(page, requests, problems);
    await page.close();
  });

  it('(a) why pre-copy does not converge: W(t), rounds, and sliders that re-run the simulation', async () => {
    const { page, requests, problems } = await open('why-precopy.html');
    await page.waitForSelector('.nb-verdict', { timeout: 90_000 });
    expect(await page.textContent('.nb-verdict')).toMatch(/^Did not converge/);
    expect(await page.$$eval('.nb-chart svg', (s) => s.length)).toBe(2);
    // 256 MiB/s and a 2 s limit: pre-copy converges on the heavy trace.
    await slide(page, 'bandwidth', 256);
    await slide(page, 'limit', 2000);
    await page.waitForFunction(() => document.querySelector('.nb-verdict')?.textContent?.startsWith('Converged'), null, { timeout: 60_000 });
    await expectClean(page, requests, problems);
    await page.close();
  }, 120_000);

  it("(b) double iteration vs pre-copy: computed in Web Workers, the same numbers as `dirtylab compare` for the same seed", async () => {
    const q = `?traces=${B.trace}&replicates=${B.replicates}&seed=${B.seed}&bandwidth=${B.bandwidthMiB}&limit=${B.limitMs}`;
    const { page, requests, problems, workers } = await open(`double-iteration.html${q}`);
    // The progress texts the page shows while it runs (the bar and line update as runs finish).
    const seen = new Set<string>();
    const poll = setInterval(() => { page.textContent('.nb-progress').then((t) => { if (t) seen.add(t); }, () => {}); }, 50);
    await page.waitForSelector('.nb-done', { timeout: 90_000 }).finally(() => clearInterval(poll));
    await page.waitForSelector('.nb-chart svg', { timeout: 30_000 });
    const rows = await page.$$eval('tr.nb-cell', (trs) => trs.map((tr) => ({
      trace: tr.getAttribute('data-trace'),
      method: tr.getAttribute('data-method'),
      values: Object.fromEntries(Array.from(tr.querySelectorAll('td[data-key]')).filter((td) => td.hasAttribute('data-value')).map((td) => [td.getAttribute('data-key'), td.getAttribute('data-value')])),
    })));
    const answers = await page.$$eval('.nb-answers li', (li) => li.map((x) => x.textContent));
    const sum = await cli;
    expect(rows.map((r) => r.method)).toEqual(METHODS);
    const num = (v: string | undefined) => (v === '' || v === undefined ? null : Number(v));
    for (const r of rows) {
      const c = sum.cells.find((x) => x.trace === r.trace && x.method === r.method)!;
      const k = sum.comparisons.find((x) => x.trace === r.trace && x.method === r.method && x.metric === 'downtimeMs');
      expect({
        completionRate: num(r.values.completionRate), downtimeMs: num(r.values.downtimeMs), totalTimeMs: num(r.values.totalTimeMs),
        transferredBytes: num(r.values.transferredBytes), ratio: num(r.values.ratio), pHolm: num(r.values.pHolm), winRate: num(r.values.winRate),
      }).toEqual({
        completionRate: c.completionRate, downtimeMs: c.downtimeMs.median, totalTimeMs: c.totalTimeMs.median,
        transferredBytes: c.transferredBytes.median, ratio: k?.ratio ?? null, pHolm: k?.pHolm ?? null, winRate: k?.winRate ?? null,
      });
    }
    expect(answers).toEqual(sum.recommendations.map((x) => x.text));

    // It ran in Workers: the page started as many module Workers as it says (navigator.hardwareConcurrency,
    // at most 4), each requested its script (emitted by the notebooks' build next to the page) and loaded
    // its own kernel; the page's main thread fetched no kernel, so it ran no simulation. Once done, the
    // pool was disposed: every Worker closed.
    const n = Number(await page.getAttribute('.nb-progress', 'data-workers'));
    const cores = await page.evaluate(() => navigator.hardwareConcurrency);
    expect(n).toBe(Math.max(1, Math.min(4, cores || 2)));
    expect(await page.textContent('.nb-progress')).toMatch(new RegExp(`^Computed ${METHODS.length * B.replicates * 3} simulated migrations live in this page on ${n} Web Workers? in `));
    expect(workers).toHaveLength(n);
    for (const w of workers) expect(w.url.slice(base.length)).toMatch(/^assets\/worker\.browser-[\w-]+\.js$/);
    expect(workers.every((w) => w.url.startsWith(base))).toBe(true);
    expect(requests.filter((u) => workers.some((w) => w.url === u))).toHaveLength(n);
    expect(requests.filter((u) => u.endsWith('.wasm'))).toHaveLength(n);
    await expect.poll(() => workers.filter((w) => !w.closed).length, { timeout: 10_000 }).toBe(0);
    expect([...seen].filter((t) => / of \d+ simulated migrations on \d+ Web Workers? /.test(t)).length).toBeGreaterThanOrEqual(2);

    // Run again, and again as soon as the first re-run's Workers have started (the cell re-runs under a
    // running pool: Observable's invalidation disposes it): the last run completes with its own pool,
    // every Worker is closed, no error.
    await page.fill('input[name=seed]', String(B.seed + 1));
    await page.click('form.nb-form button[type=submit]');
    await expect.poll(() => workers.length, { timeout: 30_000, interval: 20 }).toBe(2 * n);
    await page.click('form.nb-form button[type=submit]');
    await page.waitForFunction((seed) => document.querySelector('.nb-progress.nb-done code')?.textContent?.includes(`--seed ${seed}`), B.seed + 1, { timeout: 90_000 });
    expect(workers).toHaveLength(3 * n);
    await expect.poll(() => workers.filter((w) => !w.closed).length, { timeout: 10_000 }).toBe(0);
    await expectClean(page, requests, problems);
    await page.close();
  }, 180_000);

  it('(c) your trace: a gzipped .dpt set through the file input gives the answer, charts and both CSVs', async () => {
    const gz = join(tmp, 'my-light.dpt.gz');
    writeFileSync(gz, gzipSync(readFileSync(join(root, 'data/light-bw32-dt300.dpt'))));
    const { page, requests, problems } = await open('your-trace.html?methods=precopy,qemu-precopy&replicates=3');
    await page.waitForSelector('.nb-waiting', { timeout: 60_000 });
    await page.setInputFiles('input[type=file]', gz);
    await page.waitForSelector('.nb-done', { timeout: 90_000 });
    await page.waitForFunction(() => document.querySelectorAll('.nb-chart svg').length === 3, null, { timeout: 30_000 });
    expect(await page.textContent('.nb-trace-info')).toMatch(/^my-light: .*read as dpt \(gzipped\)/);
    expect(await page.$$eval('tr.nb-cell', (trs) => trs.map((tr) => tr.getAttribute('data-method')))).toEqual(['precopy', 'qemu-precopy']);
    expect(await page.$$eval('.nb-answers li', (li) => li.length)).toBe(1);
    const csv = await page.$$eval('a.nb-download', (as) => Promise.all(as.map(async (a) => [a.getAttribute('download'), await (await fetch((a as HTMLAnchorElement).href)).text()])));
    const files = Object.fromEntries(csv) as Record<string, string>;
    expect(Object.keys(files)).toEqual(['summary.csv', 'runs.csv']);
    expect(files['summary.csv']!.split('\n')[0]).toMatch(/^trace,bandwidth_bytes_per_sec,downtime_limit_ms,method,runs,/);
    expect(files['summary.csv']!.trim().split('\n')).toHaveLength(3);
    expect(files['runs.csv']!.split('\n')[0]).toMatch(/^index,trace,trace_sha256,method,/);
    expect(files['runs.csv']!.trim().split('\n')).toHaveLength(1 + 2 * 3 * 3); // methods × offsets × write-time placements
    // advise on the same trace: the pre-copy verdict, the searches and the QMP settings to paste.
    await page.waitForSelector('.nb-advise', { timeout: 90_000 });
    const adv = (await page.textContent('.nb-advise'))!;
    expect(adv).toMatch(/Plain QEMU pre-copy at .* (CONVERGES|DOES NOT CONVERGE) in \d+ % of 4 start offsets/);
    expect(adv).toMatch(/Smallest downtime-limit that converges: /);
    expect(adv).toMatch(/migrate-set-parameters/);
    await expectClean(page, requests, problems);
    await page.close();
  }, 180_000);
});
