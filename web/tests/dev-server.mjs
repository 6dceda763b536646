#!/usr/bin/env node
// Serves web/ with the gateway's Content-Security-Policy and passes every
// /v1/..., /openapi.json and /docs request through to the REST edge, so the
// storefront can be tried same-origin before (or without) the gateway
// serving it:   node web/tests/dev-server.mjs [port] [edge-url]
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const port = Number(process.argv[2] || 8090);
const edge = new URL(process.argv[3] || 'http://127.0.0.1:8080');
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };

http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname.startsWith('/v1/') || url.pathname === '/openapi.json' || url.pathname.startsWith('/docs')) {
    const upstream = http.request({
      host: edge.hostname, port: edge.port, method: req.method, path: req.url,
      headers: { ...req.headers, host: edge.host },
    }, (answer) => {
      res.writeHead(answer.statusCode, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => { res.writeHead(502); res.end(); });
    req.pipe(upstream);
    return;
  }
  const path = normalize(url.pathname === '/' ? '/index.html' : url.pathname);
  if (path.includes('..') || path.startsWith('/tests/')) { res.writeHead(404); res.end(); return; }
  try {
    const body = await readFile(join(root, path));
    res.writeHead(200, { 'content-type': TYPES[extname(path)] ?? 'application/octet-stream', 'content-security-policy': CSP, 'cache-control': 'no-store' });
    res.end(body);
  } catch {
    res.writeHead(404); res.end();
  }
}).listen(port, '127.0.0.1', () => console.log(`storefront on http://127.0.0.1:${port}/ (API: ${edge.origin})`));
