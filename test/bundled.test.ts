// The bundled traces: the names the library knows are exactly data/*.dpt, and
// bundledTrace / bundledTracePath / the kernel source options work in Node.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BUNDLED_TRACES, Kernel, bundledTrace, bundledTracePath, compileKernel, readTrace, setKernelSource } from '../src/index.js';
import { root } from './run-cli.js';

describe('bundled traces', () => {
  it('BUNDLED_TRACES lists data/*.dpt', () => {
    const files = readdirSync(join(root, 'data')).filter((f) => f.endsWith('.dpt')).map((f) => f.slice(0, -4)).sort();
    expect([...BUNDLED_TRACES].sort()).toEqual(files);
  });

  it('bundledTrace reads data/NAME.dpt; names with data/ or .dpt work; unknown names are refused with the list', async () => {
    expect(bundledTracePath('data/light-bw32-dt300.dpt')).toBe(join(root, 'data/light-bw32-dt300.dpt'));
    const t = await readTrace(bundledTrace('light-bw32-dt300'));
    expect(t.header.nPages).toBe(65537);
    expect(() => bundledTrace('nope')).toThrow(/no bundled trace "nope"; the bundled traces are heavy-bw32-dt300, /);
  });
});

describe('kernel source', () => {
  it('loads from bytes, a path, a file URL and a compiled module, then back to the default', async () => {
    const wasm = join(root, 'build/bitset.wasm');
    const bytes = readFileSync(wasm);
    for (const src of [bytes, wasm, new URL(`file://${wasm}`), await compileKernel(bytes)]) {
      setKernelSource(src);
      const k = await Kernel.load();
      const b = k.bitmap(1000);
      k.fill(b, 10, 20);
      expect(k.popcount(b)).toBe(10);
    }
    setKernelSource('/nonexistent/bitset.wasm');
    await expect(Kernel.load()).rejects.toThrow(/ENOENT/);
    setKernelSource(undefined);
    const k = await Kernel.load();
    expect(k.popcount(k.bitmap(64))).toBe(0);
  });
});
