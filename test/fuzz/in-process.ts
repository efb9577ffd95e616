// Runs the CLI in-process (no child process): the fuzz fixtures' tests use it.
import { vi } from 'vitest';
import { main } from '../../src/cli/main.js';

/** Run the CLI in-process: exit code, what went to stderr, and how long it took. */
export async function runInProcess(...args: string[]): Promise<{ code: number; err: string; ms: number }> {
  let err = '';
  const w = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => { err += String(s); return true; });
  const o = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  const t0 = Date.now();
  try {
    const code = await main(['node', 'dirtylab', ...args]);
    return { code, err, ms: Date.now() - t0 };
  } finally {
    w.mockRestore();
    o.mockRestore();
  }
}
