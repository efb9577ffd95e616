// Issue 15 item 10: interrupted commands leave no temporary file or directory
// and no partial output; the next run sweeps what a killed (SIGKILL) process
// left. Runs the real CLI (bin/dirtylab.js → dist/) as a child and signals it.
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { root } from './run-cli.js';

const bin = join(root, 'bin/dirtylab.js');
const trace = join(root, 'data/heavy-bw32-dt300.dpt');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Start dirtylab; `exited` resolves with its status or signal. */
function start(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [bin, ...args], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += String(d); });
  child.stdout.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stderr }));
  });
  return { child, exited };
}

/** Every file under dir, relative, sorted (dot files included). */
function tree(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath ?? (d as unknown as { path: string }).path, d.name).slice(dir.length + 1))
    .sort();
}

const GRID_FILES = ['charts/grid.png', 'charts/grid.svg', 'grid.json'];
const gridArgs = (out: string) => ['grid', trace, '--bandwidth', '8MiB/s,16MiB/s,32MiB/s,64MiB/s', '--downtime-limit', '30ms,100ms,300ms,1s', '--methods', 'qemu-precopy,precopy', '--workers', '1', '--quiet', '--out', out];

describe('10: grid interrupted by SIGINT or SIGTERM', () => {
  it.each(['SIGINT', 'SIGTERM'] as const)('%s mid-run: no output directory, no temporary directory', async (sig) => {
    const d = mkdtempSync(join(tmpdir(), 'dl-sig-'));
    const out = join(d, 'grid-out');
    const p = start(gridArgs(out));
    await sleep(1500);
    expect(p.child.exitCode, 'grid finished before the signal: make the grid larger').toBeNull();
    p.child.kill(sig);
    const r = await p.exited;
    expect(r.code === (sig === 'SIGINT' ? 130 : 143) || r.signal === sig, JSON.stringify(r)).toBe(true);
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/); // never a stack trace
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(d)).toEqual([]);
  }, 60_000);

  it.each(['SIGINT', 'SIGTERM'] as const)('%s while the files are written: everything or nothing, never .dirtylab-tmp-PID', async (sig) => {
    const d = mkdtempSync(join(tmpdir(), 'dl-sigw-'));
    const out = join(d, 'grid-out');
    mkdirSync(out);
    // The files go to .dirtylab-tmp-PID one by one, 300 ms apart (a test aid), then are renamed into place.
    const p = start(gridArgs(out), { DIRTYLAB_TEST_WRITE_PAUSE_MS: '300' });
    const tmp = join(out, `.dirtylab-tmp-${p.child.pid}`);
    const t0 = Date.now();
    while (!existsSync(tmp) && p.child.exitCode === null && Date.now() - t0 < 50_000) await sleep(2);
    expect(existsSync(tmp), 'grid never started writing').toBe(true);
    p.child.kill(sig);
    const r = await p.exited;
    // The write cannot be cut half-way: the handler runs after it, so grid
    // exits 130/143, or 0 when it had finished before Node ran the handler.
    expect([0, sig === 'SIGINT' ? 130 : 143], JSON.stringify(r)).toContain(r.code);
    const files = tree(out);
    expect(files.filter((f) => f.includes('dirtylab-tmp'))).toEqual([]);
    expect(files.length === 0 || files.join() === GRID_FILES.join(), files.join()).toBe(true);
  }, 60_000);

  it('a stale .dirtylab-tmp-PID of a dead process and stale trace temporaries are swept by the next run', async () => {
    const d = mkdtempSync(join(tmpdir(), 'dl-stale-'));
    const out = join(d, 'grid-out');
    // What a grid killed with SIGKILL leaves (PID 2147483646 is not running), and a killed convert's temporaries.
    mkdirSync(join(out, '.dirtylab-tmp-2147483646/charts'), { recursive: true });
    writeFileSync(join(out, '.dirtylab-tmp-2147483646/grid.json'), '[');
    writeFileSync(join(out, '.other.dpt.2147483646.k3j2.tmp.raw'), 'partial');
    writeFileSync(join(out, '.x.dpt.2147483646.k3j2.tmp.spool'), 'partial');
    // A live process's temporaries are left alone (this test runner is alive).
    writeFileSync(join(out, `.live.dpt.${process.pid}.abc.tmp`), 'in progress');
    const p = start(['grid', join(root, 'data/light-bw32-dt300.dpt'), '--bandwidth', '32MiB/s', '--downtime-limit', '300ms', '--workers', '1', '--quiet', '--out', out]);
    const r = await p.exited;
    expect(r.code, r.stderr).toBe(0);
    expect(tree(out)).toEqual([`.live.dpt.${process.pid}.abc.tmp`, ...GRID_FILES]);
  }, 60_000);
});

describe('10: convert interrupted', () => {
  it('SIGTERM during a convert leaves neither output nor temporary files', async () => {
    const d = mkdtempSync(join(tmpdir(), 'dl-sigc-'));
    // A trace large enough that converting it takes a while: generate it first.
    const big = join(d, 'big.dpt');
    const g = start(['generate', 'uniform', '--pages', '200000', '--epochs', '100', '--rate', '1000000', '-o', big]);
    expect((await g.exited).code).toBe(0);
    const out = join(d, 'out.dpt.jsonl.gz');
    const p = start(['convert', big, out]);
    const t0 = Date.now();
    while (!readdirSync(d).some((n) => n.startsWith('.out.')) && p.child.exitCode === null && Date.now() - t0 < 30_000) await sleep(2);
    p.child.kill('SIGTERM');
    const r = await p.exited;
    expect(r.code === 143 || r.code === 0, JSON.stringify(r)).toBe(true);
    if (r.code === 143) expect(readdirSync(d)).toEqual(['big.dpt']);
    else expect(readdirSync(d).sort()).toEqual(['big.dpt', 'out.dpt.jsonl.gz']);
  }, 240_000);
});
