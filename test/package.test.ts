// The package as a consumer gets it: `npm pack` the built repository, `npm
// install` the tarball into an empty directory (no configuration: no
// overrides, no allowScripts, no build tools), then, offline, run the
// README's library example as written, `npx dirtylab --version` and
// `npx dirtylab simulate` on a bundled trace from the installed copy.
//
// The install uses npm's cache first (--offline, then --prefer-offline when
// the cache lacks something: CI has the npm registry). Takes about a minute.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTrace, fileInput, simulate } from '../src/index.js';
import { root } from './run-cli.js';

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string; version: string };
const readme = readFileSync(join(root, 'README.md'), 'utf8');

/** The environment of a consumer's shell: none of `npm test`'s npm_* variables (prefix, lifecycle, …). */
function consumerEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const keep = new Set(['npm_config_cache', 'npm_config_registry', 'npm_config_userconfig']);
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k) || keep.has(k.toLowerCase())) env[k] = v;
  return { ...env, NO_UPDATE_NOTIFIER: '1', npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false', ...extra };
}

function run(cmd: string, args: string[], cwd: string, extra: Record<string, string> = {}, timeout = 120_000): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd, env: consumerEnv(extra), encoding: 'utf8', timeout });
}

const fail = (what: string, r: SpawnSyncReturns<string>) => `${what}: exit ${r.status}\n${r.stdout}\n${r.stderr}`;

let work: string;
let app: string;
let tarball: string;
/** Offline from here on: npm must not reach the registry. */
const OFFLINE = { npm_config_offline: 'true' };

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'dirtylab-pkg-'));
  app = join(work, 'app');
  // pretest built dist/ and build/bitset.wasm; packing must not rebuild (no prepare).
  const packed = run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], root);
  if (packed.status !== 0) throw new Error(fail('npm pack', packed));
  const info = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
  tarball = join(work, info[0]!.filename);
  run('mkdir', ['-p', app], work);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'dirtylab-consumer', version: '1.0.0', private: true }, null, 2) + '\n');
  let inst = run('npm', ['install', '--offline', '--no-audit', '--no-fund', tarball], app, {}, 240_000);
  if (inst.status !== 0) inst = run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], app, {}, 240_000);
  if (inst.status !== 0) throw new Error(fail('npm install <tarball>', inst));
}, 300_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('npm install <tarball> in an empty directory', () => {
  it('ships the built library, the kernel, the bundled traces and the browser bundle, not the sources', () => {
    const files = spawnSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).stdout.split('\n');
    for (const f of ['package/dist/index.js', 'package/dist/browser.js', 'package/dist/web/dirtylab.js', 'package/dist/web/worker.browser.js', 'package/build/bitset.wasm', 'package/bin/dirtylab.js', 'package/data/medium-bw32-dt300.dpt', 'package/README.md']) {
      expect(files).toContain(f);
    }
    expect(files.filter((f) => f.startsWith('package/src/') || f.startsWith('package/assembly/') || f.startsWith('package/test/'))).toEqual([]);
  });

  it('installed without running a build (no AssemblyScript, no compiler) and with the flechette that exists', () => {
    const inst = join(app, 'node_modules', 'dirtylab');
    expect(existsSync(join(inst, 'build', 'bitset.wasm'))).toBe(true);
    expect(readdirSync(join(inst, 'build'))).toEqual(['bitset.wasm']); // prepare did not run
    expect(existsSync(join(app, 'node_modules', 'assemblyscript'))).toBe(false);
    const ls = run('npm', ['ls', '--all', '--json', '@uwdata/flechette'], app, OFFLINE);
    expect(ls.stdout).toContain('"version": "2.6.0"');
    expect(ls.stdout).not.toContain('"version": "2.7');
  });

  it('runs the README library example as written', () => {
    const code = /From code[^\n]*\n\n```js\n([\s\S]*?)```/.exec(readme)![1]!;
    writeFileSync(join(app, 'example.mjs'), code);
    const r = run(process.execPath, ['example.mjs'], app, OFFLINE);
    expect(r.stderr).toBe('');
    expect(r.status, fail('example', r)).toBe(0);
    const [first, second] = r.stdout.trim().split('\n');
    expect(first).toMatch(/^true [\d.]+ [\d.]+ \d+$/);
    expect(second).toMatch(/least median downtime: /);
  });

  it('npx dirtylab --version', () => {
    const r = run('npx', ['dirtylab', '--version'], app, OFFLINE);
    expect(r.status, fail('npx dirtylab --version', r)).toBe(0);
    expect(r.stdout.trim()).toBe(pkg.version);
  });

  it('npx dirtylab simulate on a bundled trace gives what the library gives', async () => {
    const args = ['--method', 'qemu-precopy', '--bandwidth', '32MiB/s', '--start-time', '0', '--json'];
    const r = run('npx', ['dirtylab', 'simulate', 'node_modules/dirtylab/data/light-bw32-dt300.dpt', ...args], app, OFFLINE);
    expect(r.status, fail('npx dirtylab simulate', r)).toBe(0);
    const got = JSON.parse(r.stdout) as { completed: boolean; totalTimeMs: number; downtimeMs: number; pagesSent: number };
    const mine = await simulate(await readTrace(fileInput(join(root, 'data/light-bw32-dt300.dpt'))), { method: 'qemu-precopy', bandwidth: 32 * 2 ** 20, startTimeMs: 0 });
    expect(got.completed).toBe(true);
    expect([got.totalTimeMs, got.downtimeMs, got.pagesSent]).toEqual([mine.totalTimeMs, mine.downtimeMs, mine.pagesSent]);
  });

  it('dirtylab record without its native recorder says how to build it', () => {
    const r = run('npx', ['dirtylab', 'record', '--duration', '1s', '-o', 'x.dpt', '--', 'true'], app, OFFLINE);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/record needs|native recorder/);
  });
});
