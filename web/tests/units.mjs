#!/usr/bin/env node
// Unit checks of the storefront's pure parts, in plain node (no browser):
//   node web/tests/units.mjs
import assert from 'node:assert/strict';
import { decimalToMinor, minorToDecimal, orderStatus, shortId, formatMoney, TERMINAL } from '../js/dom.js';
import { ApiError, watchOrder, followOrder, pause, FOLLOW, useTokens, OPERATIONS } from '../js/api.js';
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

// followOrder over the real watchOrder: one fake stream per open, in turn.
function streamsOf(...streams) {
  const encoder = new TextEncoder();
  const opened = { count: 0, cancelled: 0 };
  globalThis.fetch = async (url, init) => {
    assert.match(String(url), /\/v1\/orders\/o-1:watch$/);
    const chunks = streams[opened.count++];
    assert.ok(chunks, `watch opened ${opened.count} times, only ${streams.length} streams staged`);
    if (init.signal?.aborted) throw new DOMException('aborted', 'AbortError');
    return new Response(new ReadableStream({
      start(c) {
        for (const chunk of chunks) c.enqueue(encoder.encode(chunk));
        if (!chunks.open) c.close(); // an open stream waits, as a live watch does
        init.signal?.addEventListener('abort', () => c.error(new DOMException('aborted', 'AbortError')));
      },
      cancel() { opened.cancelled += 1; },
    }), { status: 200, headers: { 'content-type': 'application/x-ndjson' } });
  };
  return opened;
}
const terminal = (o) => TERMINAL.has(orderStatus(o));
/** A clock that only moves when told, and a wait that records and moves it. */
function fakeTime() {
  const t = { now: 0, waits: [] };
  t.clock = () => t.now;
  t.wait = async (ms) => { t.waits.push(ms); t.now += ms; };
  return t;
}

await check('following re-opens a watch the server ends at CONFIRMED and stops at SHIPPED', async () => {
  const opened = streamsOf([line('PENDING'), line('CONFIRMED')], [line('CONFIRMED'), line('SHIPPED')]);
  const t = fakeTime();
  const seen = [];
  const how = await followOrder('o-1', { onOrder: (o) => seen.push(orderStatus(o)), done: terminal, wait: t.wait, now: t.clock });
  assert.equal(how, 'done');
  assert.deepEqual(seen, ['PENDING', 'CONFIRMED', 'CONFIRMED', 'SHIPPED']);
  assert.equal(opened.count, 2);
  assert.deepEqual(t.waits, [0], 'a stream that brought news is re-opened at once');
});

await check('following stops at once on a terminal first message (FAILED, CANCELLED)', async () => {
  for (const status of ['FAILED', 'CANCELLED']) {
    const opened = streamsOf([line(status)]);
    const t = fakeTime();
    assert.equal(await followOrder('o-1', { onOrder: () => {}, done: terminal, wait: t.wait, now: t.clock }), 'done');
    assert.equal(opened.count, 1);
    assert.deepEqual(t.waits, []);
  }
});

await check('streams ending early are re-opened with a doubling wait, capped; a healthy one resets it', async () => {
  const t = fakeTime();
  let opens = 0;
  const watch = async (id, { onOrder }) => {
    opens += 1;
    if (opens === 9) t.now += FOLLOW.stableMs; // this one stays open a full lifetime
    onOrder({ id, status: opens < 11 ? 'ORDER_STATUS_CONFIRMED' : 'ORDER_STATUS_SHIPPED' });
  };
  const how = await followOrder('o-1', { from: 'ORDER_STATUS_CONFIRMED', onOrder: () => {}, done: terminal, watch, wait: t.wait, now: t.clock });
  assert.equal(how, 'done');
  assert.equal(opens, 11);
  assert.deepEqual(t.waits, [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 0, 1000]);
});

await check('failed opens are retried with a wait, then given up; a refusal is not retried', async () => {
  let t = fakeTime();
  let opens = 0;
  const down = new ApiError(503, { message: 'order service unavailable' });
  await assert.rejects(followOrder('o-1', { onOrder: () => {}, done: terminal, wait: t.wait, now: t.clock,
    watch: async () => { opens += 1; throw down; } }), (e) => e === down);
  assert.equal(opens, FOLLOW.maxFailures);
  assert.deepEqual(t.waits, [1000, 2000, 4000, 8000]);

  t = fakeTime();
  opens = 0;
  const missing = new ApiError(404, { code: 5, message: 'no such order' });
  await assert.rejects(followOrder('o-1', { onOrder: () => {}, done: terminal, wait: t.wait, now: t.clock,
    watch: async () => { opens += 1; throw missing; } }), (e) => e === missing);
  assert.equal(opens, 1);
  assert.deepEqual(t.waits, []);

  // A failure between good streams does not count towards giving up.
  t = fakeTime();
  opens = 0;
  const how = await followOrder('o-1', { onOrder: () => {}, done: terminal, wait: t.wait, now: t.clock,
    watch: async (id, { onOrder }) => {
      opens += 1;
      if (opens % 2) throw down;
      onOrder({ id, status: opens < 12 ? 'ORDER_STATUS_CONFIRMED' : 'ORDER_STATUS_CANCELLED' });
    } });
  assert.equal(how, 'done');
  assert.equal(opens, 12);
});

await check('leaving the page (abort) ends a live stream and its reader, and a wait', async () => {
  const stream = [line('CONFIRMED')];
  stream.open = true;
  const opened = streamsOf(stream);
  const controller = new AbortController();
  const seen = [];
  const following = followOrder('o-1', { signal: controller.signal, onOrder: (o) => { seen.push(orderStatus(o)); setTimeout(() => controller.abort(), 10); }, done: terminal });
  assert.equal(await following, 'aborted');
  assert.deepEqual(seen, ['CONFIRMED']);
  assert.equal(opened.count, 1, 'no watch is opened after the abort');

  const again = new AbortController();
  let opens = 0;
  const started = Date.now();
  const waiting = followOrder('o-1', { signal: again.signal, onOrder: () => {}, done: terminal,
    watch: async (id, { onOrder }) => { opens += 1; onOrder({ id, status: 'ORDER_STATUS_CONFIRMED' }); setTimeout(() => again.abort(), 20); } });
  assert.equal(await waiting, 'aborted');
  assert.equal(opens, 1);
  assert.ok(Date.now() - started < FOLLOW.baseDelayMs, 'the abort cut the wait short');
  await assert.rejects(pause(10, AbortSignal.abort()), (e) => e.name === 'AbortError');
});

await check('every operation is a method and a path template under /v1', () => {
  for (const [name, op] of Object.entries(OPERATIONS)) {
    assert.match(op.method, /^(GET|POST|PATCH|PUT|DELETE)$/, name);
    assert.match(op.path, /^\/v1\/[\w/{}.:]+$/, name);
  }
});

if (failures) { console.log(`${failures} failed`); process.exit(1); }
console.log('all passed');
