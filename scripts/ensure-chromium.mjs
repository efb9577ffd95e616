#!/usr/bin/env node
// Make sure a Chromium for the browser tests exists (run by `npm test`'s
// pretest). Uses $CHROMIUM_PATH or a system Chromium; when none is found and
// we are root on a Debian-like system, installs Debian's `chromium` with
// apt-get (no browser download from elsewhere: the registries are all we
// have). Prints the path it settled on; exits 1 with a clear message if none.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

export const CANDIDATES = [
  process.env.CHROMIUM_PATH,
  '/usr/bin/chromium',
  '/usr/lib/chromium/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome',
].filter(Boolean);

export function findChromium() {
  return CANDIDATES.find((p) => existsSync(p)) ?? null;
}

function apt(args) {
  const r = spawnSync('apt-get', args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  return r.status === 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  let found = findChromium();
  if (!found) {
    const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
    const hasApt = spawnSync('sh', ['-c', 'command -v apt-get'], { encoding: 'utf8' }).status === 0;
    if (isRoot && hasApt) {
      console.error('browser tests need Chromium: installing Debian\'s chromium with apt-get …');
      if (!apt(['install', '-y', '-q', 'chromium'])) {
        apt(['update', '-q']);
        apt(['install', '-y', '-q', 'chromium']);
      }
      found = findChromium();
    }
  }
  if (!found) {
    console.error('dirtylab tests: no Chromium found for the browser tests. Install one (Debian: apt-get install chromium) or set CHROMIUM_PATH.');
    process.exit(1);
  }
  console.error(`browser tests will use ${found}`);
}
