// The README's tour is tested: every `$ npx dirtylab …` line in its ```sh
// blocks runs the real CLI and must succeed.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { dirtylab, root } from './run-cli.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const tour = readme.slice(readme.indexOf('## A five-minute tour'), readme.indexOf('## The `.dpt` trace format'));
const commands = [...tour.matchAll(/```sh\n([\s\S]*?)```/g)]
  .flatMap((m) => m[1]!.split('\n'))
  .filter((l) => l.startsWith('$ npx dirtylab '))
  .map((l) => l.slice('$ npx dirtylab '.length).trim().split(/\s+/));

describe('README tour', () => {
  it('has examples', () => {
    expect(commands.length).toBeGreaterThanOrEqual(6);
  });
  it.each(commands.map((c) => [c.join(' '), c] as const))('dirtylab %s', (_s, args) => {
    const r = dirtylab(...args);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBeGreaterThan(0);
  });
  it('shows the two commands', () => {
    expect(readme).toContain('npm ci && npm start');
    expect(readme).toContain('npm test');
  });
});

describe('README library example', () => {
  it('runs as written and prints a result and a recommendation', async () => {
    const { spawnSync } = await import('node:child_process');
    const { writeFileSync, unlinkSync } = await import('node:fs');
    const { join } = await import('node:path');
    const code = /From code[^\n]*\n\n```js\n([\s\S]*?)```/.exec(readme)![1]!;
    const file = join(root, `.readme-example-${process.pid}.mjs`);
    writeFileSync(file, code);
    try {
      const r = spawnSync(process.execPath, [file], { cwd: root, encoding: 'utf8' });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const [first, second] = r.stdout.trim().split('\n');
      expect(first).toMatch(/^true [\d.]+ [\d.]+ \d+$/);
      expect(second).toMatch(/^medium at 128 MiB\/s, downtime-limit 300 ms, least median downtime: (precopy \[Xen\]|qemu-precopy \[QEMU\/libvirt\])( \([a-z-, ]+\))? — median downtime/);
    } finally {
      unlinkSync(file);
    }
  });
});
