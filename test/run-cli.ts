// Runs the real `dirtylab` command (bin/dirtylab.js → dist/, built by pretest).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

export const root = new URL('..', import.meta.url).pathname;
const bin = join(root, 'bin/dirtylab.js');

/** Run dirtylab with args from the repository root. */
export function dirtylab(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
