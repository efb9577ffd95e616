// The docs the code and README point to are in the repository, and nothing
// points outside it (the team's design notes are not shipped).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { methodIds } from '../src/sim/methods/index.js';
import { root } from './run-cli.js';

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) return n === 'fixtures' ? [] : files(p);
    return /\.(ts|mjs|js|md)$/.test(n) ? [p] : [];
  });
}

const sources = [join(root, 'README.md'), ...files(join(root, 'src')), ...files(join(root, 'test'))];

describe('references', () => {
  it('README, src/ and test/ cite no design notes outside the repository', () => {
    const bad: string[] = [];
    // Patterns assembled so this file does not match itself.
    const outside = new RegExp(['DESIGN' + ' §', 'research' + '/', 'algorithms' + '\\.md', '\\.\\./' + 'shared/'].join('|'));
    for (const f of sources) {
      readFileSync(f, 'utf8').split('\n').forEach((l, i) => { if (outside.test(l)) bad.push(`${relative(root, f)}:${i + 1}: ${l.trim()}`); });
    }
    expect(bad).toEqual([]);
  });

  it('every docs/*.md cited exists', () => {
    const cited = new Set<string>();
    for (const f of sources) for (const m of readFileSync(f, 'utf8').matchAll(/docs\/[a-z-]+\.md/g)) cited.add(m[0]);
    expect([...cited].sort()).toEqual(['docs/dpt-format.md', 'docs/methods.md', 'docs/outputs.md', 'docs/statistics.md']);
    for (const d of cited) expect(existsSync(join(root, d)), d).toBe(true);
  });

  it('docs/methods.md describes every method', () => {
    const doc = readFileSync(join(root, 'docs/methods.md'), 'utf8');
    for (const id of methodIds()) expect(doc, id).toContain(`### \`${id.split('/')[0]}\``);
  });
});
