#!/usr/bin/env node
// The README's notebook screenshots: serves notebooks-dist/ (npm run notebooks
// first) on 127.0.0.1, opens each notebook with its defaults in headless
// Chromium ((c) with data/medium-bw32-dt300.dpt gzipped and set through the
// file input), and writes docs/notebook-*.png: from the first input down,
// zoomed out only as far as needed to stay under 400 KB.
//   node scripts/notebook-screenshots.mjs [outdir]
import { chromium } from 'playwright';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { REPO, serve } from './notebooks.mjs';
import { findChromium } from './ensure-chromium.mjs';

const out = process.argv[2] ?? join(REPO, 'docs');
mkdirSync(out, { recursive: true });
const tmp = mkdtempSync(join(tmpdir(), 'dirtylab-shots-'));
const gz = join(tmp, 'medium-bw32-dt300.dpt.gz');
writeFileSync(gz, gzipSync(readFileSync(join(REPO, 'data/medium-bw32-dt300.dpt'))));

const SHOTS = [
  { name: 'notebook-why-precopy', path: 'why-precopy.html', ready: '.nb-verdict' },
  { name: 'notebook-double-iteration', path: 'double-iteration.html', ready: '.nb-done' },
  { name: 'notebook-your-trace', path: 'your-trace.html', ready: '.nb-done', file: gz },
];

const { server, url } = await serve(undefined, 0);
const browser = await chromium.launch({
  executablePath: findChromium() ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'],
});
try {
  for (const s of SHOTS) {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('pageerror', (e) => console.error(`${s.path}: page error: ${e.message}`));
    await page.goto(url + s.path);
    if (s.file) {
      await page.waitForSelector('.nb-waiting');
      await page.setInputFiles('input[type=file]', s.file);
    }
    await page.waitForSelector(s.ready, { timeout: 300_000 });
    await page.waitForFunction(() => document.querySelectorAll('.nb-chart svg').length >= 1, null, { timeout: 60_000 });
    await page.waitForTimeout(1500);
    for (const zoom of [1, 0.95, 0.9, 0.85, 0.8]) {
      await page.evaluate((z) => { document.documentElement.style.zoom = String(z); }, zoom);
      await page.waitForTimeout(300);
      const box = await page.evaluate(() => {
        const m = document.querySelector('main').getBoundingClientRect();
        const right = Math.max(m.right, ...Array.from(document.querySelectorAll('main *'), (e) => e.getBoundingClientRect().right));
        const top = document.querySelector('.nb-input, .nb-drop').getBoundingClientRect().top + window.scrollY;
        return { left: m.left, right, top, bottom: document.body.getBoundingClientRect().bottom + window.scrollY };
      });
      const x = Math.max(0, Math.floor(box.left) - 20);
      const clip = { x, y: Math.floor(box.top) - 12, width: Math.min(1280 - x, Math.ceil(box.right) + 20 - x), height: Math.ceil(box.bottom - box.top) + 24 };
      const png = await page.screenshot({ fullPage: true, clip });
      if (png.length < 400_000 || zoom === 0.8) {
        writeFileSync(join(out, `${s.name}.png`), png);
        console.log(`${join(out, `${s.name}.png`)}: ${(png.length / 1024).toFixed(0)} KB at zoom ${zoom}`);
        break;
      }
    }
    await page.close();
  }
} finally {
  await browser.close();
  server.close();
  rmSync(tmp, { recursive: true, force: true });
}
