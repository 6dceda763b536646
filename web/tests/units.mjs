#!/usr/bin/env node
// Unit checks of the storefront's pure parts, in plain node (no browser):
//   node web/tests/units.mjs
import assert from 'node:assert/strict';
import { decimalToMinor, minorToDecimal, orderStatus, shortId, formatMoney } from '../js/dom.js';
import { ApiError, watchOrder, useTokens, OPERATIONS } from '../js/api.js';
import { cardFieldId } from '../js/views/cart.js';

let failures = 0;
async function check(name, fn) {
  try { await fn(); console.log(`ok   ${name}`); } catch (e) { failures += 1; console.log(`FAIL ${name}\n     ${e.message}`); }
}

await check('prices in major units become minor units by the currency exponent', () => {
  assert.equal(decimalToMinor('12.50', 'EUR'), '1250');
  assert.equal(decimalToMinor('12,5', 'EUR'), '1250');
  assert.equal(decimalToMinor('12', 'EUR'), '1200');
  assert.equal(decimalToMinor('0.01', 'USD'), '1');
  assert.equal(decimalToMinor('500', 'JPY'), '500');
  assert.equal(decimalToMinor('5.5', 'JPY'), null);
  assert.equal(decimalToMinor('12.505', 'EUR'), null);
  assert.equal(decimalToMinor('-1', 'EUR'), null);
  assert.equal(decimalToMinor('abc', 'EUR'), null);
  assert.equal(minorToDecimal('1250', 'EUR'), '12.50');
  assert.equal(minorToDecimal('5', 'EUR'), '0.05');
  assert.equal(minorToDecimal('500', 'KRW'), '500');
  assert.match(formatMoney({ currency_code: 'EUR', amount_minor: '8900' }), /89\.00/);
});

await check('statuses lose their prefix; short ids are the random tail of a UUIDv7', () => {
  assert.equal(orderStatus({ status: 'ORDER_STATUS_CONFIRMED' }), 'CONFIRMED');
  assert.equal(orderStatus({ status: 4 }), 'FAILED');
  assert.equal(shortId('01a2427b-8832-7583-a3e8-84045bff5ad0'), '5bff5ad0');
});

await check('card field violations map to the checkout inputs', () => {
  assert.equal(cardFieldId('payment_method.card.exp_month'), 'exp-month');
  assert.equal(cardFieldId('payment_method.card.number'), 'card-number');
  assert.equal(cardFieldId('paymentMethod.card.holderName'), 'holder-name');
  assert.equal(cardFieldId('items[0].quantity'), null);
});

await check('BadRequest details give field violations (proto and JSON names)', () => {
  const e = new ApiError(400, { code: 3, message: 'bad', details: [
    { '@type': 'type.googleapis.com/google.rpc.BadRequest', field_violations: [{ field: 'email', description: 'must contain an @' }] },
    { '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: [{ field: 'password', description: 'too short' }] },
    { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'IDEMPOTENCY_KEY_REUSED' },
  ] });
  assert.deepEqual(e.fieldViolations.map((v) => v.field), ['email', 'password']);
  assert.equal(e.reason, 'IDEMPOTENCY_KEY_REUSED');
  assert.equal(e.retryable, false);
  assert.equal(new ApiError(503, {}).retryable, true);
});

// A fake edge answering the watch with NDJSON cut at awkward places.
function streamOf(chunks, status = 200) {
  const encoder = new TextEncoder();
  globalThis.fetch = async (url, init) => {
    assert.match(String(url), /\/v1\/orders\/o-1:watch$/);
    assert.equal(init.method, 'GET');
    return new Response(new ReadableStream({
      start(c) { for (const chunk of chunks) c.enqueue(encoder.encode(chunk)); c.close(); },
    }), { status, headers: { 'content-type': 'application/x-ndjson' } });
  };
}
useTokens({ access: () => 't', refresh: async () => false });
const line = (status) => `${JSON.stringify({ result: { order: { id: 'o-1', status: `ORDER_STATUS_${status}` } } })}\n`;

await check('the watch reads one order per NDJSON line, across chunk boundaries', async () => {
  const all = line('PENDING') + line('CONFIRMED') + line('SHIPPED');
  streamOf([all.slice(0, 10), all.slice(10, 95), all.slice(95), '']);
  const seen = [];
  await watchOrder('o-1', { onOrder: (o) => { seen.push(orderStatus(o)); } });
  assert.deepEqual(seen, ['PENDING', 'CONFIRMED', 'SHIPPED']);
});

await check('the watch stops when the caller says the order settled', async () => {
  streamOf([line('PENDING') + line('CONFIRMED') + line('SHIPPED')]);
  const seen = [];
  await watchOrder('o-1', { onOrder: (o) => { seen.push(orderStatus(o)); return orderStatus(o) === 'CONFIRMED'; } });
  assert.deepEqual(seen, ['PENDING', 'CONFIRMED']);
});

await check('an error line after the first message rejects with its status', async () => {
  streamOf([line('PENDING'), `${JSON.stringify({ error: { code: 14, message: 'order service unavailable', details: [] } })}\n`]);
  await assert.rejects(watchOrder('o-1', { onOrder: () => {} }), (e) => e instanceof ApiError && e.code === 14 && /unavailable/.test(e.message));
});

await check('every operation is a method and a path template under /v1', () => {
  for (const [name, op] of Object.entries(OPERATIONS)) {
    assert.match(op.method, /^(GET|POST|PATCH|PUT|DELETE)$/, name);
    assert.match(op.path, /^\/v1\/[\w/{}.:]+$/, name);
  }
});

if (failures) { console.log(`${failures} failed`); process.exit(1); }
console.log('all passed');
