#!/usr/bin/env node
// The Observable notebooks (notebooks/*.html, Observable Notebook Kit):
//
//   node scripts/notebooks.mjs build    (npm run notebooks)
//     copies the package's browser build (dist/, without source maps and
//     declarations) and build/bitset.wasm into notebooks/.lib/dirtylab/ with
//     the package's own layout (so the kernel's `new URL('../../build/bitset.wasm',
//     import.meta.url)` resolves there too), the bundled traces the notebooks
//     read into notebooks/.lib/data/, then runs `notebooks build --root
//     notebooks` into notebooks-dist/: a static directory any static server
//     can host. Vite bundles the worker pool's Worker too (pool.js's
//     `new Worker(new URL('./worker.browser.js', import.meta.url), {type:
//     'module'})`, with its own copy of the kernel) into assets/, where
//     notebook (b)'s pool starts it.
//     Nothing is fetched from a CDN at build or view time: the
//     notebooks import dirtylab, vega-embed and vega-lite explicitly (relative
//     paths / installed packages, bundled by Vite), never `npm:` specifiers,
//     Notebook Kit's implicit Plot/d3/Inputs or FileAttachment's parsers.
//
//   node scripts/notebooks.mjs serve [--port N]    (npm run notebooks:serve)
//     serves notebooks-dist/ on http://127.0.0.1:N/ (default 8470).
import { cpSync, existsSync, mkdirSync, rmSync, readFileSync, statSync, readdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const ROOT = join(REPO, 'notebooks');
export const LIB = join(ROOT, '.lib');
export const OUT = join(REPO, 'notebooks-dist');
/** The bundled traces the notebooks read (copied from data/). */
export const TRACES = ['light-bw32-dt300', 'medium-bw32-dt300', 'heavy-bw32-dt300'];
/** The notebooks, in the order of the index. */
export const NOTEBOOKS = ['index.html', 'why-precopy.html', 'double-iteration.html', 'your-trace.html'];

/** Copy dist/ + build/bitset.wasm + the traces under notebooks/.lib/. */
export function stage() {
  for (const need of ['dist/browser.js', 'build/bitset.wasm']) {
    if (!existsSync(join(REPO, need))) throw new Error(`${need} is missing: run \`npm run build\` first`);
  }
  rmSync(LIB, { recursive: true, force: true });
  const pkg = join(LIB, 'dirtylab');
  cpSync(join(REPO, 'dist'), join(pkg, 'dist'), {
    recursive: true,
    filter: (src) => !src.endsWith('.map') && !src.endsWith('.d.ts'),
  });
  mkdirSync(join(pkg, 'build'), { recursive: true });
  cpSync(join(REPO, 'build', 'bitset.wasm'), join(pkg, 'build', 'bitset.wasm'));
  mkdirSync(join(LIB, 'data'), { recursive: true });
  for (const t of TRACES) cpSync(join(REPO, 'data', `${t}.dpt`), join(LIB, 'data', `${t}.dpt`));
}

/** Stage, then `notebooks build --root notebooks -o ../notebooks-dist`. */
export function build({ quiet = false } = {}) {
  stage();
  const bin = join(REPO, 'node_modules', '@observablehq', 'notebook-kit', 'dist', 'bin', 'notebooks.js');
  const args = [bin, 'build', '--root', ROOT, '--template', join(ROOT, 'template.html'), '-o', OUT, '--empty', '--', ...NOTEBOOKS.map((n) => join(ROOT, n))];
  const r = spawnSync(process.execPath, args, { cwd: REPO, stdio: quiet ? 'pipe' : 'inherit', encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`notebooks build failed (exit ${r.status})${quiet ? `\n${r.stdout}\n${r.stderr}` : ''}`);
  for (const n of NOTEBOOKS) if (!existsSync(join(OUT, n))) throw new Error(`notebooks build did not write ${n}`);
  return OUT;
}

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json', '.wasm': 'application/wasm', '.svg': 'image/svg+xml',
  '.png': 'image/png', '.woff2': 'font/woff2', '.woff': 'font/woff', '.ttf': 'font/ttf', '.dpt': 'application/octet-stream',
  '.gz': 'application/gzip', '.txt': 'text/plain; charset=utf-8', '.ico': 'image/x-icon',
};

/** A static server over `dir` on 127.0.0.1 (port 0: any free port). Resolves to { server, url }. */
export function serve(dir = OUT, port = 8470) {
  const base = resolve(dir);
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    let file = resolve(join(base, path));
    if (file !== base && !file.startsWith(base + sep)) { res.writeHead(403).end(); return; }
    if (existsSync(file) && statSync(file).isDirectory()) file = join(file, 'index.html');
    if (!existsSync(file)) { res.writeHead(404, { 'content-type': 'text/plain' }).end('not found'); return; }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-cache' });
    res.end(readFileSync(file));
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', () => {
      const a = server.address();
      ok({ server, url: `http://127.0.0.1:${a.port}/` });
    });
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [cmd, ...rest] = process.argv.slice(2);
  if (cmd === 'build') {
    build();
    const files = readdirSync(OUT);
    console.log(`notebooks → ${OUT} (${files.length} entries): serve it with any static server, or \`npm run notebooks:serve\``);
  } else if (cmd === 'serve') {
    if (!existsSync(join(OUT, 'index.html'))) { console.error('notebooks-dist/ is missing: run `npm run notebooks` first'); process.exit(1); }
    const i = rest.indexOf('--port');
    const port = i >= 0 ? Number(rest[i + 1]) : Number(process.env.PORT ?? 8470);
    const { url } = await serve(OUT, port);
    console.log(`notebooks: ${url} (Ctrl-C to stop)`);
  } else {
    console.error('usage: node scripts/notebooks.mjs build | serve [--port N]');
    process.exit(2);
  }
}
