#!/usr/bin/env node
// Checks that every operation the storefront's API client uses exists in the
// running edge's OpenAPI document.
//
//   node web/tests/api-contract.mjs http://127.0.0.1:8080
//
// Exits 0 when all are there; otherwise lists the missing ones and exits 1
// (2 when the document cannot be fetched).
import { OPERATIONS } from '../js/api.js';

const base = (process.argv[2] || process.env.BAZAAR_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');

// Path parameters may be spelled differently ({product.id} / {product_id}):
// compare the templates' shapes, and the names too when both are given.
const shape = (path) => path.replace(/\{[^}]*\}/g, '{}');

let doc;
try {
  const response = await fetch(`${base}/openapi.json`, { headers: { accept: 'application/json' } });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  doc = await response.json();
} catch (error) {
  console.error(`could not fetch ${base}/openapi.json: ${error.message}`);
  process.exit(2);
}

const byShape = new Map();
for (const [path, item] of Object.entries(doc.paths ?? {})) {
  const methods = Object.keys(item).filter((k) => ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'].includes(k));
  const list = byShape.get(shape(path)) ?? [];
  list.push({ path, methods });
  byShape.set(shape(path), list);
}

const missing = [];
const renamed = [];
for (const [name, { method, path }] of Object.entries(OPERATIONS)) {
  const candidates = (byShape.get(shape(path)) ?? []).filter((c) => c.methods.includes(method.toLowerCase()));
  if (!candidates.length) missing.push(`${name}: ${method} ${path}`);
  else if (!candidates.some((c) => c.path === path)) renamed.push(`${name}: ${method} ${path} (document: ${candidates[0].path})`);
}

const total = Object.keys(OPERATIONS).length;
if (renamed.length) {
  console.log(`note: ${renamed.length} operation(s) name their path parameters differently:\n  ${renamed.join('\n  ')}`);
}
if (missing.length) {
  console.error(`${missing.length} of ${total} operation(s) used by web/js/api.js are not in ${base}/openapi.json:\n  ${missing.join('\n  ')}`);
  process.exit(1);
}
console.log(`all ${total} operations used by web/js/api.js are in ${base}/openapi.json`);
