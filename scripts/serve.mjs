#!/usr/bin/env node
// The demo's web server (`npm run serve`): serves the demo page, the JS
// runtime (dist/) and the compiled examples (build/) on localhost, with the
// headers that make the page cross-origin isolated (SharedArrayBuffer).
//
//   node scripts/serve.mjs [--port 8080] [--host 127.0.0.1]
//
// Also imported by the browser tests: startServer({ port: 0 }).
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** What may be served, by URL prefix. */
const ALLOWED = ['/demo/', '/dist/', '/build/examples/', '/build/tests/', '/build/bench/'];

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.map': 'application/json',
  '.json': 'application/json',
  '.hex': 'text/plain; charset=utf-8',
  '.png': 'image/png',
};

/** The headers every response carries: cross-origin isolation for the page and its workers. */
export const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

function handle(req, res, allowed) {
  const url = new URL(req.url, 'http://localhost');
  let pathname = decodeURIComponent(url.pathname);
  if (pathname === '/' || pathname === '/demo') {
    res.writeHead(302, { Location: '/demo/', ...ISOLATION_HEADERS });
    res.end();
    return;
  }
  if (pathname.endsWith('/')) pathname += 'index.html';
  const file = path.join(root, pathname);
  const inside = file.startsWith(root + path.sep) && allowed.some((p) => pathname.startsWith(p));
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, ISOLATION_HEADERS);
    res.end();
    return;
  }
  fs.stat(file, (err, st) => {
    if (!inside || err || !st.isFile()) {
      const hint = pathname.startsWith('/dist/') || pathname.startsWith('/build/') ? ' (run `make` to build it)' : '';
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', ...ISOLATION_HEADERS });
      res.end(`not found: ${pathname}${hint}\n`);
      return;
    }
    res.writeHead(200, {
      'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream',
      'Content-Length': st.size,
      'Cache-Control': 'no-cache',
      ...ISOLATION_HEADERS,
    });
    if (req.method === 'HEAD') res.end();
    else fs.createReadStream(file).pipe(res);
  });
}

/**
 * Start the server; resolves with it and the URL of the demo page. `allow`
 * adds URL prefixes that may be served (a test's own pages).
 */
export function startServer({ port = 8080, host = '127.0.0.1', allow = [] } = {}) {
  const allowed = [...ALLOWED, ...allow];
  return new Promise((resolve, reject) => {
    const server = http.createServer((req, res) => handle(req, res, allowed));
    server.once('error', reject);
    server.listen(port, host, () => {
      const { port: actual } = server.address();
      resolve({ server, url: `http://${host === '127.0.0.1' ? 'localhost' : host}:${actual}/demo/` });
    });
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const arg = (name, fallback) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : fallback;
  };
  for (const f of ['dist/browser.js', 'dist/browser-worker.js', 'dist/browser-host-worker.js', 'dist/demo.js', 'build/examples/listdevs.js']) {
    if (!fs.existsSync(path.join(root, f))) {
      console.error(`serve: ${f} is missing; build first with \`make\``);
      process.exit(1);
    }
  }
  const port = Number(arg('--port', process.env.PORT ?? 8080));
  const host = arg('--host', '127.0.0.1');
  startServer({ port, host }).then(({ url }) => {
    console.log(`libusb-wasm demo: ${url}  (Chrome or Edge; Ctrl-C to stop)`);
  }, (e) => {
    console.error(`serve: cannot listen on ${host}:${port}: ${e.message}${e.code === 'EADDRINUSE' ? ' (try --port 8081)' : ''}`);
    process.exit(1);
  });
}
