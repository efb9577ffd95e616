// Outputs for analysis (runs.csv/.arrow, one column naming rule, stable Arrow
// types, JSON Schemas in schemas/) and the CLI's rough edges (a closed stdout,
// --help, bandwidth units, validate over a glob).
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tableFromIPC, type Table } from 'apache-arrow';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { dirtylab, root } from './run-cli.js';
import { RUN_COLUMNS, SUMMARY_COLUMNS, snakeCase, toArrow } from '../src/report/tables.js';
import { buildProgram, loadCommands, methodsHelp } from '../src/cli/main.js';

const ARROW_NAME = { float64: 'Float64', int32: 'Int32', bool: 'Bool', utf8: 'Utf8', dictionary: 'Dictionary<Int32, Utf8>' } as const;

const tmp = mkdtempSync(join(tmpdir(), 'dirtylab-outputs-'));
const trace = join(tmp, 'hc.dpt');
const out = join(tmp, 'c');
const compareArgs = [trace, '--methods', 'precopy,qemu-precopy,postcopy', '--replicates', '3', '--max-time', '2s', '--quiet'];
const methods = 3;
const runsInGrid = methods * 3 * 3; // methods × write-time (uniform, start, end) × replicates

beforeAll(() => {
  expect(dirtylab('generate', 'hotcold', '--pages', '4096', '--epochs', '20', '--rate', '4000', '--seed', '2', '-o', trace).code).toBe(0);
  const r = dirtylab('compare', ...compareArgs, '--out', out);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
}, 120_000);

function ajv() {
  const a = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
  for (const n of ['run', 'summary', 'validate']) a.addSchema(JSON.parse(readFileSync(join(root, 'schemas', `${n}.schema.json`), 'utf8')));
  return a;
}

function expectValid(schema: string, doc: unknown) {
  const v = ajv().getSchema(schema)!;
  const ok = v(doc);
  expect(ok, JSON.stringify(v.errors?.slice(0, 5))).toBe(true);
}

describe('runs.csv and runs.arrow', () => {
  it('hold one row per run with its grid coordinates and every scalar metric, in runs.jsonl order', () => {
    const jsonl = readFileSync(join(out, 'runs.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const csv = readFileSync(join(out, 'runs.csv'), 'utf8').trim().split('\n');
    const arrow = tableFromIPC(readFileSync(join(out, 'runs.arrow')));
    expect(jsonl.length).toBe(runsInGrid);
    expect(csv.length).toBe(runsInGrid + 1);
    expect(arrow.numRows).toBe(runsInGrid);
    const head = csv[0]!.split(',');
    expect(head).toEqual(arrow.schema.fields.map((f) => f.name));
    for (const c of ['trace', 'bandwidth_bytes_per_sec', 'downtime_limit_ms', 'write_time', 'replicate', 'start_guest_ns', 'method',
      'completed', 'converged', 'stop_reason', 'total_time_ms', 'downtime_ms', 'setup_time_ms', 'transferred_bytes', 'precopy_bytes',
      'downtime_bytes', 'postcopy_bytes', 'pages_sent', 'pages_resent', 'zero_pages_sent', 'dirty_sync_count', 'final_dirty_pages',
      'remote_faults', 'guest_stall_ms', 'max_throttle_pct', 'trace_looped', 'trace_loops']) expect(head).toContain(c);
    // Every SimResult scalar is a column (rounds, extra and provenance stay in runs.jsonl).
    const scalars = Object.keys(jsonl[0].result).filter((k) => !['rounds', 'extra', 'provenance', 'method'].includes(k));
    for (const k of scalars) expect(head, k).toContain(snakeCase(k));
    const rows = arrow.toArray().map((r) => r.toJSON());
    jsonl.forEach((j, i) => {
      const a = rows[i]!;
      expect(a.index).toBe(j.index);
      expect(a.method).toBe(j.method);
      expect(a.replicate).toBe(j.replicate);
      expect(a.write_time).toBe(j.writeTime);
      expect(a.completed).toBe(j.result.completed);
      expect(a.total_time_ms).toBe(j.result.totalTimeMs);
      expect(a.downtime_ms).toBe(j.result.downtimeMs);
      expect(a.pages_sent).toBe(j.result.pagesSent);
      const cells = csv[i + 1]!.split(',');
      expect(Number(cells[head.indexOf('transferred_bytes')])).toBe(j.result.transferredBytes);
      expect(cells[head.indexOf('stop_reason')]).toBe(j.result.stopReason);
    });
  });

  it('one naming rule: every CSV and Arrow column is the snake_case of the JSON field it comes from', () => {
    expect(snakeCase('bandwidthBytesPerSec')).toBe('bandwidth_bytes_per_sec');
    expect(snakeCase('traceSha256')).toBe('trace_sha256');
    expect(snakeCase('downtimeMs_ci_lo')).toBe('downtime_ms_ci_lo');
    for (const c of [...RUN_COLUMNS, ...SUMMARY_COLUMNS]) {
      expect(c.name).toMatch(/^[a-z][a-z0-9]*(_[a-z0-9]+)*$/);
      const last = c.json.startsWith('provenance.') ? c.json.split('.').pop()! : c.json.replace(/\./g, '_');
      const name = c.json === 'provenance.network.linkBandwidthBytesPerSec' ? 'linkBandwidthBytesPerSec' : last;
      expect(c.name, c.json).toBe(snakeCase(name));
    }
    const summaryHead = readFileSync(join(out, 'summary.csv'), 'utf8').split('\n')[0]!.split(',');
    expect(summaryHead).toEqual(SUMMARY_COLUMNS.map((c) => c.name));
    expect(summaryHead).toContain('downtime_ms_median');
    expect(summaryHead).toContain('transferred_bytes_p_holm');
    for (const h of summaryHead) expect(h).not.toMatch(/[A-Z]/);
  });

  it('Arrow types are declared, not inferred from the data: an all-null column stays Float64, small integers stay Float64 where they are bytes', () => {
    const runs = tableFromIPC(readFileSync(join(out, 'runs.arrow')));
    const type = (t: Table, n: string) => String(t.schema.fields.find((f) => f.name === n)!.type);
    expect(type(runs, 'total_time_ms')).toBe('Float64');
    expect(type(runs, 'postcopy_bytes')).toBe('Float64'); // all 0 for pre-copy rows, still Float64
    expect(type(runs, 'replicate')).toBe('Int32');
    expect(type(runs, 'completed')).toBe('Bool');
    expect(type(runs, 'trace_sha256')).toBe('Utf8');
    expect(type(runs, 'method')).toBe('Dictionary<Int32, Utf8>');
    for (const c of RUN_COLUMNS) expect(type(runs, c.name), c.name).toBe(ARROW_NAME[c.type]);
    const sum = tableFromIPC(readFileSync(join(out, 'summary.arrow')));
    expect(type(sum, 'downtime_ms_p_holm')).toBe('Float64'); // null for the baseline's rows
    expect(type(sum, 'runs')).toBe('Int32');
    for (const c of SUMMARY_COLUMNS) expect(type(sum, c.name), c.name).toBe(ARROW_NAME[c.type]);
    // A table of nulls keeps its declared types.
    const empty = tableFromIPC(toArrow([{ name: 'x', type: 'float64', json: 'x', get: () => null }, { name: 'm', type: 'dictionary', json: 'm', get: () => null }], [{}, {}]));
    expect(type(empty, 'x')).toBe('Float64');
    expect(type(empty, 'm')).toBe('Dictionary<Int32, Utf8>');
    expect(empty.toArray().map((r) => r.toJSON())).toEqual([{ x: null, m: null }, { x: null, m: null }]);
  });
});

describe('JSON Schemas (schemas/, draft 2020-12)', () => {
  it('are shipped in the package and exported', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    expect(pkg.files).toContain('schemas');
    expect(pkg.exports['./schemas/*']).toBe('./schemas/*');
    expect(pkg.dependencies.ajv).toBeUndefined();
    for (const n of ['run', 'summary', 'validate']) {
      const s = JSON.parse(readFileSync(join(root, 'schemas', `${n}.schema.json`), 'utf8'));
      expect(s.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    }
  });

  it('summary.json and every runs.jsonl line validate', () => {
    expectValid('summary.schema.json', JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')));
    const v = ajv().getSchema('run.schema.json')!;
    for (const line of readFileSync(join(out, 'runs.jsonl'), 'utf8').trim().split('\n')) {
      expect(v(JSON.parse(line)), JSON.stringify(v.errors?.slice(0, 3))).toBe(true);
    }
  });

  it('a run that misses a field or renames one is refused', () => {
    const line = JSON.parse(readFileSync(join(out, 'runs.jsonl'), 'utf8').split('\n')[0]!);
    const v = ajv().getSchema('run.schema.json')!;
    const { totalTimeMs, ...rest } = line.result;
    expect(v({ ...line, result: { ...rest, total_time_ms: totalTimeMs } })).toBe(false);
  });

  it('simulate --json is a run.schema.json SimResult', () => {
    const r = dirtylab('simulate', trace, '-m', 'qemu-precopy', '--max-time', '2s', '--json');
    expect(r.code).toBe(0);
    expectValid('run.schema.json#/$defs/simResult', JSON.parse(r.stdout));
  });

  it('validate --json and validate.json validate', () => {
    const runs = join(root, 'test/fixtures/qemu-runs');
    const d = join(tmp, 'v');
    const r = dirtylab('validate', join(runs, 'light-bw32-dt300'), join(runs, 'heavy-bw32-dt300-pc3'), '--no-per-sync', '--json', '--out', d);
    expect(r.code).toBe(0);
    expectValid('validate.schema.json', JSON.parse(r.stdout));
    expectValid('validate.schema.json', JSON.parse(readFileSync(join(d, 'validate.json'), 'utf8')));
    expect(readFileSync(join(d, 'validate.csv'), 'utf8').split('\n')[0]).toMatch(/^name,method,skipped,completed_predicted,completed_measured,total_time_ms_predicted,total_time_ms_measured,total_time_ms_error,total_time_ms_rel_error,/);
  }, 60_000);
});

/** Run dirtylab with stdout a pipe we close after its first line; resolve with the exit code and stderr. */
function firstLineThenClose(args: string[]): Promise<{ code: number | null; signal: string | null; line: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [join(root, 'bin/dirtylab.js'), ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '';
    let line = '';
    let stderr = '';
    p.stderr.on('data', (d) => { stderr += d; });
    p.stdout.on('data', (d) => {
      buf += d;
      const i = buf.indexOf('\n');
      if (i >= 0 && !line) {
        line = buf.slice(0, i);
        p.stdout.destroy(); // like `| head -1`
      }
    });
    p.on('close', (code, signal) => resolve({ code, signal, line, stderr }));
  });
}

describe('a closed stdout (| head)', () => {
  it('compare … | head ends quietly with 0', async () => {
    const r = await firstLineThenClose(['compare', ...compareArgs, '--out', join(tmp, 'pipe')]);
    expect(r.line).toMatch(/^Host profile/);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  }, 60_000);

  it('simulate --json | head -1 ends quietly with 0, even when stdout closes before a large write', async () => {
    const r = await firstLineThenClose(['simulate', trace, '-m', 'precopy', '--max-time', '2s', '--json']);
    expect(r.line).toBe('{');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // a help text of ~10 KiB written after the reader left.
    const h = await firstLineThenClose(['simulate', '--help']);
    expect(h.stderr).toBe('');
    expect(h.code).toBe(0);
  }, 60_000);
});

describe('--help', () => {
  beforeAll(() => loadCommands()); // every command's module, as `dirtylab --help` loads them
  const command = (name: string) => buildProgram().commands.find((c) => c.name() === name)!;
  const raw = (name: string) => command(name).helpInformation() + (name === 'simulate' ? methodsHelp() : '');
  const help = (name: string) => raw(name).replace(/\s+/g, ' ');

  it('marks required options', () => {
    expect(help('simulate')).toMatch(/-m, --method <id> \(required\) copy method/);
    expect(help('grid')).toMatch(/--bandwidth <list> \(required\)/);
    expect(help('grid')).toMatch(/--downtime-limit <list> \(required\)/);
    expect(help('merge')).toMatch(/--out <dir> \(required\)/);
    expect(help('generate')).toMatch(/--out <file> \(required\)/);
    expect(help('compare')).not.toMatch(/\(required\)/);
  });

  it('--max-time is simulated time, not run time', () => {
    for (const c of ['simulate', 'compare', 'grid']) expect(help(c)).toMatch(/--max-time <time> simulated-time cap.*not how long dirtylab runs/);
  });

  it('every --param in simulate --help shows its default and, where it has one, its unit', () => {
    expect(dirtylab('simulate', '--help').stdout).toBe(raw('simulate') + '\n');
    const lines = raw('simulate').split('\n').filter((l) => /^\s+--param /.test(l));
    expect(lines.length).toBeGreaterThan(30);
    for (const l of lines) expect(l, l).toMatch(/\(default [^;)]+(; unit [^)]+)?\)/);
    const out = lines.join('\n');
    expect(out).toMatch(/--param rtt=duration \(default 0\.5ms; unit ms/);
    expect(out).toMatch(/--param device-state=size \(default 0; unit bytes/);
    expect(out).toMatch(/--param max-postcopy-bandwidth=bandwidth \(default 0; unit bytes\/s/);
    expect(out).toMatch(/--param cpu-throttle-initial=percent \(default 20; unit %\)/);
    expect(out).toMatch(/--param max-iters=int \(default 29; unit rounds\)/);
    expect(out).toMatch(/--param vcpu-dirty-limit=number \(default 1; unit MB\/s\)/);
    // every parameter whose value has a unit says it.
    for (const l of lines) if (/=(duration|size|bandwidth|percent) /.test(l)) expect(l).toMatch(/; unit /);
  });
});

describe('bandwidth units', () => {
  it('a bandwidth under 1 KiB/s is refused, whichever flag', async () => {
    await loadCommands();
    const r = dirtylab('simulate', trace, '-m', 'precopy', '--bandwidth', '32');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--bandwidth 32 is 32 B\/s, under 1 KiB\/s .*did you mean 32MiB\/s\?/);
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/);
    expect(dirtylab('compare', trace, '--bandwidth', '64MiB/s,100', '--quiet', '--out', join(tmp, 'never')).code).toBe(1);
    // The same parser behind every bandwidth flag (commander turns its error into exit 1).
    for (const [cmd, flag] of [['simulate', '--bandwidth'], ['simulate', '--link-bandwidth'], ['compare', '--bandwidth'], ['compare', '--link-bandwidth'], ['grid', '--bandwidth'], ['grid', '--link-bandwidth']] as const) {
      const o = buildProgram().commands.find((c) => c.name() === cmd)!.options.find((x) => x.long === flag)!;
      expect(() => o.parseArg!('32', undefined), `${cmd} ${flag}`).toThrow(new RegExp(`${flag} 32 is 32 B/s, under 1 KiB/s .*did you mean 32MiB/s\\?`));
      expect(() => o.parseArg!('0.5KiB/s', undefined), `${cmd} ${flag}`).toThrow(/under 1 KiB\/s/);
    }
  });

  it('one under 1 MB/s runs with a warning on stderr', () => {
    const r = dirtylab('simulate', trace, '-m', 'stop-and-copy', '--bandwidth', '2000', '--max-time', '1s');
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('dirtylab: warning: --bandwidth 2000 is 1.95 KiB/s (2000 B/s; a bare number is bytes/s, as in QEMU): did you mean 2000MiB/s?\n');
    const g = dirtylab('grid', trace, '--bandwidth', '500KB/s', '--downtime-limit', '300ms', '--max-time', '1s', '--out', join(tmp, 'g'));
    expect(g.code).toBe(0);
    expect(g.stderr).toMatch(/^dirtylab: warning: --bandwidth 500KB\/s is 488\.28 KiB\/s .*under 1 MB\/s\n$/);
    expect(dirtylab('simulate', trace, '-m', 'stop-and-copy', '--bandwidth', '1MB/s', '--max-time', '1s').stderr).toBe('');
  });
});

describe('validate over a glob', () => {
  it('skips what is not a run with a note; a single non-run is still an error', () => {
    const notes = join(tmp, 'runs');
    mkdirSync(join(notes, 'plots'), { recursive: true });
    writeFileSync(join(notes, 'NOTES.md'), '# notes\n');
    const run = join(root, 'test/fixtures/qemu-runs/light-bw32-dt300');
    const r = dirtylab('validate', run, join(notes, 'plots'), join(notes, 'NOTES.md'), '--no-per-sync');
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(`dirtylab: skipping ${join(notes, 'plots')}: not a run directory (no result.json, no trace.jsonl.gz)\ndirtylab: skipping ${join(notes, 'NOTES.md')}: not a run directory (no result.json, no trace.jsonl.gz)\n`);
    expect(r.stdout).toMatch(/replayed 1 of 1 runs/);
    const one = dirtylab('validate', join(notes, 'plots'));
    expect(one.code).toBe(2);
    expect(one.stderr).toMatch(/result\.json/);
    const none = dirtylab('validate', join(notes, 'plots'), join(notes, 'NOTES.md'));
    expect(none.code).toBe(2);
    const typo = dirtylab('validate', run, join(notes, 'nope'));
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/nope/);
  }, 60_000);
});
