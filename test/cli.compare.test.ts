// End-to-end: `dirtylab compare`, `merge` and `grid` on a small generated trace;
// determinism, shards, the offline report in headless Chromium.
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { chromium } from 'playwright';
import { beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script without types
import { findChromium } from '../scripts/ensure-chromium.mjs';
import { dirtylab } from './run-cli.js';
import { methodIds } from '../src/sim/methods/index.js';

const tmp = mkdtempSync(join(tmpdir(), 'dirtylab-compare-'));
const trace = join(tmp, 'hc.dpt');
const args = [trace, '--replicates', '4', '--bandwidth', '16MiB/s,64MiB/s', '--max-time', '30s', '--seed', '3', '--quiet'];
const out1 = join(tmp, 'a');
let stdout = '';

beforeAll(() => {
  expect(dirtylab('generate', 'hotcold', '--pages', '8192', '--epochs', '40', '--rate', '4000', '--seed', '2', '-o', trace).code).toBe(0);
  const r = dirtylab('compare', ...args, '--out', out1);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  stdout = r.stdout;
}, 180_000);

describe('dirtylab compare', () => {
  it('answers first: a recommendation and the Pareto set, then a table readable at 100 columns', () => {
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('Host profile: ideal (final copy at 1.16 GiB/s)'); // a generated trace: the ideal host, 10 Gbit/s
    expect(lines[1]).toMatch(/^Recommendation: hc at 16 MiB\/s, downtime-limit 300 ms, least median downtime:/);
    const flat = stdout.replace(/\n  /g, ' ');
    expect(flat).toMatch(/Recommendation: hc at 64 MiB\/s, downtime-limit 300 ms, least median downtime: \S+ \[(QEMU\/libvirt|Xen|research)\]( \([a-z-, ]+\))? — median downtime [\d.]+ ms, total [\d.]+ s, [\d.]+ MB(, guest cost [\d.]+ m?s)?, every run completed/);
    expect(flat).toMatch(/^Pareto set, hc at 16 MiB\/s, downtime-limit 300 ms \(downtime × time × bytes; differences inside the CIs are ties\): /m);
    expect(stdout).toMatch(/^method +downtime ms +total s +MB sent .*×base flags$/m);
    expect(flat).toMatch(/CIs cover where in the recording the migration starts/);
    for (const m of methodIds()) {
      expect(stdout).toMatch(new RegExp(`^${m.replace("/", "\\/")}[· ]`, "m"));
    }
    for (const l of lines) expect([...l].length, l).toBeLessThanOrEqual(100);
    expect(lines[lines.length - 1]).toBe(`report: ${join(out1, 'report.html')}`);
  });

  it('writes every output, and nothing half-written', () => {
    const files = readdirSync(out1).sort();
    expect(files).toEqual(['charts', 'report.html', 'runs.arrow', 'runs.csv', 'runs.jsonl', 'summary.arrow', 'summary.csv', 'summary.json']);
    const charts = readdirSync(join(out1, 'charts'));
    for (const c of ['downtime', 'total-time', 'pareto', 'wt', 'rounds-hc', 'heatmap-hc']) {
      expect(charts).toContain(`${c}.svg`);
      expect(charts).toContain(`${c}.png`);
      expect(readFileSync(join(out1, 'charts', `${c}.png`)).subarray(1, 4).toString()).toBe('PNG');
      expect(readFileSync(join(out1, 'charts', `${c}.svg`), 'utf8')).toMatch(/<text[^>]*>[^<]+<\/text>/);
    }
    // every method × 2 bandwidths × 3 write-time models × 4 replicates.
    const runs = readFileSync(join(out1, 'runs.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(runs.length).toBe(methodIds().length * 2 * 3 * 4);
    expect(runs[0].result.provenance).toMatchObject({ schemaVersion: 1, writeTime: 'uniform' });
    expect(runs[0].result.provenance.traceSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(runs[0]).toMatchObject({ trace: 'hc', replicate: 0, bandwidthBytesPerSec: 16 * 2 ** 20, downtimeLimitMs: 300 });
    // Paired: every method starts replicate r at the same guest instant.
    const starts = new Set(runs.filter((r) => r.replicate === 1 && !r.band).map((r) => r.startGuestNs));
    expect(starts.size).toBe(1);
    const arrow = tableFromIPC(readFileSync(join(out1, 'summary.arrow')));
    expect(arrow.numRows).toBe(methodIds().length * 2);
    expect(arrow.schema.fields.map((f) => f.name)).toContain('downtime_ms_ci_lo');
    expect(readFileSync(join(out1, 'summary.csv'), 'utf8').split('\n')[0]).toMatch(/^trace,bandwidth_bytes_per_sec,downtime_limit_ms,method,runs,completed,/);
  });

  it('--json gives the summary: comparisons carry medianDiff, ratio, their CIs, pValue, pHolm, winRate', () => {
    const s = JSON.parse(readFileSync(join(out1, 'summary.json'), 'utf8'));
    const c = s.comparisons.find((x: any) => x.method === 'qemu-precopy' && x.metric === 'downtimeMs');
    for (const k of ['medianDiff', 'medianDiffCI', 'ratio', 'ratioCI', 'pValue', 'pHolm', 'winRate']) expect(c, k).toHaveProperty(k);
    expect(c.pHolm).toBeGreaterThanOrEqual(c.pValue);
    expect(s.recommendations.length).toBe(2);
    expect(s.bootstrap).toMatch(/percentile bootstrap/);
    expect(s.intervals).toMatch(/4 stratified start offsets/);
    const cell = s.cells.find((x: any) => x.method === 'precopy');
    expect(cell.downtimeMs.ci[0]).toBeLessThanOrEqual(cell.downtimeMs.median);
    expect(cell.band.start).toHaveProperty('downtimeMs');
  });

  it('the same seed gives byte-identical outputs', () => {
    const out2 = join(tmp, 'b');
    expect(dirtylab('compare', ...args, '--out', out2).code).toBe(0);
    for (const f of ['summary.json', 'runs.jsonl', 'summary.csv', 'summary.arrow', 'runs.csv', 'runs.arrow', 'report.html', 'charts/pareto.svg']) {
      expect(readFileSync(join(out2, f)).equals(readFileSync(join(out1, f))), f).toBe(true);
    }
  });

  it('3 shards merged give exactly the unsharded outputs; shards of another version are refused', () => {
    const dirs = [0, 1, 2].map((i) => join(tmp, `shard${i}`));
    dirs.forEach((d, i) => {
      const r = dirtylab('compare', ...args, '--shard', `${i}/3`, '--out', d);
      expect(r.code).toBe(0);
      expect(readdirSync(d)).toEqual(['runs.jsonl']);
    });
    const merged = join(tmp, 'merged');
    const m = dirtylab('merge', ...dirs, '--out', merged);
    expect(m.code).toBe(0);
    for (const f of ['summary.json', 'runs.jsonl', 'summary.csv', 'summary.arrow', 'runs.csv', 'runs.arrow', 'report.html']) {
      expect(readFileSync(join(merged, f)).equals(readFileSync(join(out1, f))), f).toBe(true);
    }
    const bad = readFileSync(join(dirs[1]!, 'runs.jsonl'), 'utf8').replace(/"packageVersion":"[^"]+"/g, '"packageVersion":"9.9.9"');
    writeFileSync(join(dirs[1]!, 'runs.jsonl'), bad);
    const r = dirtylab('merge', ...dirs, '--out', join(tmp, 'mixed'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/expected the same comparison as the other shards .*packageVersion/);
    expect(existsSync(join(tmp, 'mixed', 'summary.json'))).toBe(false);
    const missing = dirtylab('merge', dirs[0]!, dirs[2]!, '--out', join(tmp, 'missing'));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/a shard is missing/);
  }, 180_000); // six CLI runs, each rendering every chart: over a minute on a loaded shared machine

  it('--shard auto/n reads JOB_COMPLETION_INDEX', async () => {
    const { spawnSync } = await import('node:child_process');
    const d = join(tmp, 'auto');
    const r = spawnSync(process.execPath, [join(__dirname, '../bin/dirtylab.js'), 'compare', ...args, '--shard', 'auto/3', '--out', d], { env: { ...process.env, JOB_COMPLETION_INDEX: '1' }, encoding: 'utf8' });
    expect(r.status).toBe(0);
    const total = methodIds().length * 2 * 3 * 4;
    expect(r.stdout).toMatch(new RegExp(`^shard 1/3: ${Math.floor(total / 3)} of ${total} runs`));
  });

  it('usage errors exit 1', () => {
    expect(dirtylab('compare', trace, '--methods', 'precopy,warp', '--quiet').code).toBe(1);
    expect(dirtylab('compare', trace, '--param', 'nope=1', '--quiet').stderr).toMatch(/no chosen method takes --param nope/);
    expect(dirtylab('compare', trace, '--shard', '3/3').code).toBe(1);
    expect(dirtylab('compare', trace, '--baseline', 'qemu-precopy', '--methods', 'precopy').code).toBe(1);
  });
});

describe('report.html', () => {
  it('opens offline in headless Chromium, makes no request, and renders every chart', async () => {
    const browser = await chromium.launch({ executablePath: findChromium() ?? '/usr/bin/chromium', args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-background-networking'] });
    try {
      const page = await browser.newPage();
      const requests: string[] = [];
      await page.route('**/*', (route) => {
        const url = route.request().url();
        if (url.startsWith('file:') && url.endsWith('report.html')) return route.continue();
        requests.push(url);
        return route.abort();
      });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.goto(`file://${join(out1, 'report.html')}`);
      await page.waitForFunction(() => [...document.querySelectorAll('.chart')].every((d) => d.querySelector('svg')), null, { timeout: 30_000 });
      const charts = await page.$$eval('.chart', (ds) => ds.map((d) => d.querySelectorAll('svg .mark-symbol path, svg .mark-line path, svg .mark-rect path, svg path').length));
      expect(charts.length).toBe(readdirSync(join(out1, 'charts')).filter((f) => f.endsWith('.svg')).length);
      for (const n of charts) expect(n).toBeGreaterThan(0);
      expect(await page.textContent('.answer')).toMatch(/hc at 16 MiB\/s/);
      expect(await page.textContent('body')).toMatch(/dirtylab compare .*hc\.dpt/);
      expect(requests).toEqual([]);
      expect(errors).toEqual([]);
      // Top-down: the answer, then the tables, then the charts, then the methods and their sources.
      const at = await page.$$eval('#answer, #tables, #charts, #methods', (es) => es.map((e) => [e.id, e.getBoundingClientRect().top] as const));
      expect(at.map(([id]) => id)).toEqual(['answer', 'tables', 'charts', 'methods']);
      for (let i = 1; i < at.length; i++) expect(at[i]![1]).toBeGreaterThan(at[i - 1]![1]);
      expect(await page.textContent('#answer')).toMatch(/over-limit.*stall.*looped/s);
      expect(await page.$$eval('#tables table', (ts) => ts.length)).toBe(2); // one per trace × condition
      expect(await page.$$eval('#charts figcaption', (fs) => fs.map((f) => f.textContent!))).toEqual(expect.arrayContaining([expect.stringMatching(/^Downtime per run\. Each mark is one run's downtime/)]));
      for (const m of methodIds()) expect(await page.textContent('#methods')).toContain(m);
      expect(await page.textContent('#methods')).toMatch(/Source: /);
    } finally {
      await browser.close();
    }
  }, 60_000);

  it('draws every method in its own colour and shape, the same in every chart', () => {
    const html = readFileSync(join(out1, 'report.html'), 'utf8');
    const specs: any[] = JSON.parse(html.match(/^const specs = (.*);$/m)![1]!);
    const styles = new Map<string, string>();
    const walk = (o: any): void => {
      if (!o || typeof o !== 'object') return;
      const enc = o.encoding;
      if (enc?.color?.field === 'method' && enc?.shape?.field === 'method') {
        enc.color.scale.domain.forEach((m: string, i: number) => {
          const style = `${enc.color.scale.range[i]} ${enc.shape.scale.range[i]}`;
          expect(styles.get(m) ?? style, m).toBe(style);
          styles.set(m, style);
        });
      }
      Object.values(o).forEach(walk);
    };
    specs.forEach(walk);
    expect([...styles.keys()]).toEqual(methodIds());
    expect(new Set(styles.values()).size).toBe(methodIds().length);
    for (const s of specs) expect(s.description, JSON.stringify(s.title)).toMatch(/^[A-Z].*\.$/); // a caption sentence
  });

  it('puts downtime on a log axis with decade ticks from 0.1 ms to 10 s and draws the downtime limit', () => {
    const html = readFileSync(join(out1, 'report.html'), 'utf8');
    const specs: any[] = JSON.parse(html.match(/^const specs = (.*);$/m)![1]!);
    const dt = specs.find((s) => s.title.text === 'Downtime per run');
    const x = dt.spec.layer.find((l: any) => l.mark.type === 'point').encoding.x;
    expect(x.scale.type).toBe('log');
    expect(x.axis.values.slice(0, 6)).toEqual([0.1, 1, 10, 100, 1000, 10000]);
    const svg = readFileSync(join(out1, 'charts', 'downtime.svg'), 'utf8');
    for (const t of ['0.1 ms', '1 ms', '10 ms', '100 ms', '1 s', '10 s', 'did not', 'downtime-limit 300 ms']) expect(svg).toContain(`>${t}<`);
    const rule = dt.spec.layer.find((l: any) => l.mark.type === 'rule' && l.mark.strokeDash);
    expect(dt.data.values.filter((v: any) => v.kind === 'rule').map((v: any) => v.x)).toEqual([300, 300]);
    expect(rule.encoding.x.field).toBe('x');
  });
});

describe('a method that does not complete', () => {
  const out = join(tmp, 'dnf');
  beforeAll(() => {
    // 32 MiB at 16 MiB/s cannot be pre-copied in 1 s: qemu-precopy runs out of time; stop-and-copy and postcopy finish.
    const r = dirtylab('compare', trace, '--methods', 'stop-and-copy,qemu-precopy,postcopy', '--baseline', 'stop-and-copy', '--replicates', '2', '--bandwidth', '16MiB/s', '--max-time', '1s', '--seed', '3', '--quiet', '--out', out);
    expect(r.code).toBe(0);
  }, 120_000);

  it('is drawn at "did not complete" and named in the tables, the charts and their captions', () => {
    const sum = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
    expect(sum.cells.find((c: any) => c.method === 'qemu-precopy').completionRate).toBe(0);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html).toMatch(/<tr class="dnf"><td>qemu-precopy .*did not complete/);
    const specs: any[] = JSON.parse(html.match(/^const specs = (.*);$/m)![1]!);
    const dt = specs.find((s) => s.title.text === 'Downtime per run');
    const dnf = dt.data.values.filter((v: any) => v.method === 'qemu-precopy' && v.kind === 'run');
    expect(dnf.length).toBe(2);
    const xs = dt.spec.layer.find((l: any) => l.mark.type === 'point').encoding.x;
    for (const v of dnf) expect(v).toMatchObject({ done: false, x: xs.axis.values[xs.axis.values.length - 1] });
    expect(dt.description).toMatch(/did not complete.*qemu-precopy/);
    const pareto = specs.find((s) => s.title.text === 'Downtime vs total time');
    expect(pareto.data.values.some((v: any) => v.method === 'qemu-precopy' && v.downtime === 'did not complete')).toBe(true);
    const rounds = specs.find((s) => s.title.text.startsWith('Pages per sync'));
    expect(rounds.data.values.some((v: any) => v.panel === 'qemu-precopy|' + v.panel.split('|')[1] && /did not complete/.test(v.panel))).toBe(true);
    expect(readFileSync(join(out, 'charts', 'downtime.svg'), 'utf8')).toContain('>did not<');
  });
});

describe('dirtylab grid', () => {
  it('prints bandwidth × downtime-limit cells with verdicts and writes a heat map', () => {
    const d = join(tmp, 'grid');
    const r = dirtylab('grid', trace, '--bandwidth', '4MiB/s,64MiB/s', '--downtime-limit', '30ms,300ms', '--max-time', '20s', '--out', d);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^qemu-precopy: total time \/ downtime per bandwidth/m);
    expect(r.stdout).toMatch(/^ +64 MiB\/s +[\d.]+ s \/ \d+ ms +[\d.]+ s \/ \d+ ms$/m);
    expect(readdirSync(join(d, 'charts')).sort()).toEqual(['grid.png', 'grid.svg']);
    const cells = JSON.parse(readFileSync(join(d, 'grid.json'), 'utf8'));
    expect(cells.length).toBe(4);
    expect(cells.every((c: any) => typeof c.verdict === 'string')).toBe(true);
  });
});

describe('progress', () => {
  it('shows a bar on stderr when it is a terminal and the work takes over a second; --quiet hides it', async () => {
    const { spawnSync } = await import('node:child_process');
    const bin = join(__dirname, '../bin/dirtylab.js');
    const heavy = join(__dirname, '../data/heavy-bw32-dt300.dpt');
    const cmd = (extra: string) => `${process.execPath} ${bin} compare ${heavy} --replicates 2 --bandwidth 32MiB/s --max-time 60s --out ${join(tmp, 'tty')} ${extra} > /dev/null`;
    // `script` runs the command on a pseudo-terminal and records what reaches it (stderr; stdout is discarded).
    const record = (extra: string) => {
      const log = join(tmp, `tty-${extra || 'bar'}.log`);
      const r = spawnSync('script', ['-qec', cmd(extra), log], { encoding: 'utf8' });
      expect(r.status).toBe(0);
      return readFileSync(log, 'utf8');
    };
    expect(record('')).toMatch(/runs [█░]+ \d+\/\d+ \| ETA/);
    expect(record('--quiet')).not.toMatch(/ETA/);
  }, 120_000);
});
