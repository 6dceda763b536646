#!/usr/bin/env node
// The storefront in headless Chromium, against a running system.
//
//   node e2e/browser/storefront.mjs <rest-base-url> <screenshot-dir> [--readme <dir>] [--only a,b]
//
// <rest-base-url> is the gateway (e.g. http://127.0.0.1:8080), which serves
// the storefront at / and the REST API at /v1. Each scenario runs in a fresh
// browser context, writes <screenshot-dir>/<scenario>-<nn>-<step>.png per
// step (and <scenario>-<nn>-failure.png when it fails), and fails on any
// request to another origin (all are blocked), any console error and any
// uncaught page error. `--readme <dir>` also writes the README's
// screenshots there. The process exits non-zero when a scenario failed.
//
// Pages are found only through the selector contract of the UI (accessible
// names, see e2e/browser/README.md), never through CSS classes or markup.

import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const CHROMIUM = process.env.BAZAAR_CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
/** How long one action or expectation may wait. */
const STEP_TIMEOUT = 10_000;
/** How long an order may take to settle on its page. */
const SETTLE_TIMEOUT = 20_000;
/** How long a whole scenario may take. */
const SCENARIO_TIMEOUT = 120_000;
const VIEWPORT = { width: 1200, height: 800 };

const PASSWORD = 'correct-horse-battery';
const ADMIN_EMAIL = 'admin@bazaar.local';
const ADMIN_PASSWORD = 'bazaar-admin-dev';
const CARDS = { approved: '4242424242424242', declined: '4000000000009995' };
// The status word in capitals, as the contract has it ("will be shipped
// soon" is not SHIPPED); textContent runs paragraphs together
// ("CONFIRMEDPaid for"), so no \b.
const STATUSES = /PENDING|CONFIRMED|FAILED|CANCELLED|SHIPPED/;

// ---------------------------------------------------------------- arguments

function usage(message) {
  console.error(`${message}\nusage: node storefront.mjs <rest-base-url> <screenshot-dir> [--readme <dir>] [--only name,name]`);
  process.exit(2);
}

const positional = [];
let readmeDir = null;
let only = null;
for (let i = 2; i < process.argv.length; i++) {
  const arg = process.argv[i];
  if (arg === '--readme') readmeDir = process.argv[++i] ?? usage('--readme needs a directory');
  else if (arg === '--only') only = (process.argv[++i] ?? usage('--only needs names')).split(',');
  else if (arg.startsWith('--')) usage(`unknown flag ${arg}`);
  else positional.push(arg);
}
if (positional.length !== 2) usage('expected <rest-base-url> and <screenshot-dir>');
const BASE = positional[0].replace(/\/+$/, '');
const ORIGIN = new URL(BASE).origin;
const SHOTS = positional[1];
const RUN = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

// ------------------------------------------------------------ the REST API

/** One REST call from node (not the browser): {status, body}. */
async function api(method, path, { token, body } = {}) {
  const headers = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const reply = await fetch(`${BASE}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await reply.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: reply.status, body: json };
}

async function apiOk(method, path, options) {
  const reply = await api(method, path, options);
  assert.equal(reply.status, 200, `${method} ${path} answered ${reply.status}: ${JSON.stringify(reply.body)}`);
  return reply.body;
}

/** A new customer, registered through the API: {email, password, name}. */
async function newCustomer(label) {
  const email = `${label}-${RUN}@example.com`;
  const name = `Shopper ${label}`;
  await apiOk('POST', '/v1/users', { body: { email, password: PASSWORD, display_name: name } });
  return { email, password: PASSWORD, name };
}

async function token(email, password) {
  const body = await apiOk('POST', '/v1/sessions', { body: { email, password } });
  return body.access_token;
}

async function productNamed(name) {
  const body = await apiOk('GET', `/v1/products?query=${encodeURIComponent(name)}&page_size=10`);
  const product = (body.products ?? []).find((p) => p.name === name);
  assert.ok(product, `no product named ${JSON.stringify(name)} in the catalog (the seed catalog is expected)`);
  return product;
}

async function stockOf(id) {
  const body = await apiOk('GET', `/v1/products/${id}`);
  return Number(body.product.stock);
}

async function ordersOf(email, password) {
  const body = await apiOk('GET', '/v1/orders?page_size=100', { token: await token(email, password) });
  return body.orders ?? [];
}

// ------------------------------------------------------------- the harness

/** Runs `fn` as step `what`; a failure says which step and what it expected. */
async function step(what, fn) {
  try {
    return await fn();
  } catch (error) {
    const wrapped = new Error(`${what}: ${error.message}`);
    wrapped.cause = error;
    throw wrapped;
  }
}

/** Polls `check` until it holds, for at most STEP_TIMEOUT. */
async function until(check, what, shows = async () => '') {
  const deadline = Date.now() + STEP_TIMEOUT;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`expected ${what} within ${STEP_TIMEOUT} ms ${await shows()}`.trim());
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Sessions not closed yet: a timed-out scenario's are closed after it. */
const openSessions = new Set();

/** A browser context watched for external requests, console and page errors. */
class Session {
  constructor(scenario, context, page) {
    this.scenario = scenario;
    this.context = context;
    this.page = page;
    this.problems = [];
    this.notes = [];
    this.shots = 0;
  }

  static async open(browser, scenario, { viewport = VIEWPORT } = {}) {
    const context = await browser.newContext({ viewport, deviceScaleFactor: 1, locale: 'en-GB' });
    context.setDefaultTimeout(STEP_TIMEOUT);
    const page = await context.newPage();
    const session = new Session(scenario, context, page);
    openSessions.add(session);
    await context.route('**/*', (route) => {
      const request = route.request();
      const url = request.url();
      if (url.startsWith('data:') || url.startsWith('blob:') || new URL(url).origin === ORIGIN) {
        return route.continue();
      }
      session.problems.push(`request to another origin (blocked): ${request.method()} ${url}`);
      return route.abort('blockedbyclient');
    });
    page.on('console', (message) => session.onConsole(message));
    page.on('pageerror', (error) => session.problems.push(`uncaught page error: ${error.stack || error.message}`));
    page.on('crash', () => session.problems.push('the page crashed'));
    return session;
  }

  onConsole(message) {
    if (message.type() !== 'error') return;
    const text = message.text();
    const where = message.location()?.url ?? '';
    // Chromium logs every HTTP error answer as a console error. An API
    // refusal (4xx, e.g. the bad expiry date) is the shop answering, which
    // the page must show; it is not a script error. Everything else is.
    const answered = /^Failed to load resource: the server responded with a status of (4\d\d)/.exec(text);
    if (answered && where.startsWith(`${ORIGIN}/v1/`)) {
      this.notes.push(`API answered ${answered[1]}: ${where}`);
      return;
    }
    this.problems.push(`console error: ${text}${where ? ` (${where})` : ''}`);
  }

  /** Screenshot <scenario>-<nn>-<name>.png (and the README's copy). */
  async shot(name, { readme, fullPage = true } = {}) {
    this.shots += 1;
    const file = `${this.scenario}-${String(this.shots).padStart(2, '0')}-${name}.png`;
    await this.page.screenshot({ path: join(SHOTS, file), fullPage });
    if (readme && readmeDir) {
      await this.page.screenshot({ path: join(readmeDir, `${readme}.png`), fullPage: false });
    }
  }

  /** What the page offers, as its accessibility tree (for failure reports). */
  async describe() {
    try {
      const tree = await this.page.locator('body').ariaSnapshot({ timeout: 2_000 });
      return tree.length > 6000 ? `${tree.slice(0, 6000)}\n  … (cut)` : tree;
    } catch (error) {
      return `(no accessibility snapshot: ${error.message})`;
    }
  }

  assertClean() {
    assert.deepEqual(this.problems, [], `the page misbehaved:\n  ${this.problems.join('\n  ')}`);
  }

  async close() {
    openSessions.delete(this);
    await this.context.close().catch(() => {});
  }
}

// ----------------------------------------------------------- the UI helpers

function link(page, name) {
  return page.getByRole('link', { name, exact: typeof name === 'string' }).first();
}

function button(page, name) {
  return page.getByRole('button', { name, exact: typeof name === 'string' }).first();
}

function field(page, label) {
  return page.getByLabel(label, { exact: true }).first();
}

function cartLink(page) {
  return page.getByRole('link', { name: /^Cart\b/ }).first();
}

async function visible(locator, what) {
  await step(`expected ${what}`, () => locator.waitFor({ state: 'visible' }));
}

/** No "null", "undefined", "NaN" or "[object Object]" shown where a value belongs. */
async function assertNoPlaceholders(page, where) {
  const text = await page.locator('main').first().innerText();
  const found = /\b(null|undefined|NaN)\b|\[object Object\]/.exec(text);
  assert.ok(!found, `${where} shows ${JSON.stringify(found?.[0])} as text: ${JSON.stringify(text.slice(Math.max(0, found?.index - 80), found?.index + 40))}`);
}

async function openShop(page) {
  await page.goto(`${BASE}/`);
  await visible(field(page, 'Search products'), 'the catalog\'s input "Search products" at /');
}

async function register(session, { email, password, name }) {
  const { page } = session;
  await step('nav link "Register"', () => link(page, 'Register').click());
  await visible(field(page, 'Display name'), 'the register form (label "Display name")');
  await field(page, 'Email').fill(email);
  await field(page, 'Password').fill(password);
  await field(page, 'Display name').fill(name);
  await session.shot('register');
  await step('button "Register"', () => button(page, 'Register').click());
  await visible(button(page, 'Log out'), 'button "Log out" after registering');
  await visible(field(page, 'Search products'), 'the catalog after registering');
}

async function logIn(session, email, password) {
  const { page } = session;
  await step('nav link "Log in"', () => link(page, 'Log in').click());
  await visible(field(page, 'Password'), 'the log-in form (label "Password")');
  await field(page, 'Email').fill(email);
  await field(page, 'Password').fill(password);
  await session.shot('log-in');
  await step('button "Log in"', () => button(page, 'Log in').click());
  await visible(button(page, 'Log out'), 'button "Log out" after logging in');
  await visible(field(page, 'Search products'), 'the catalog after logging in');
}

/** Searches the catalog and returns the <article> of the product `name`. */
async function search(page, text, name) {
  await field(page, 'Search products').fill(text);
  await step('button "Search"', () => button(page, 'Search').click());
  const article = page
    .getByRole('article')
    .filter({ has: page.getByRole('heading', { name }).getByRole('link', { name }) });
  await visible(article.first(), `an <article> with a heading link "${name}" after searching "${text}"`);
  return article.first();
}

async function addFromCatalog(page, text, name) {
  const article = await search(page, text, name);
  await step(`button "Add ${name} to cart"`, () =>
    article.getByRole('button', { name: `Add ${name} to cart`, exact: true }).click(),
  );
}

/** The product page of `product`; checks its name, price and stock. */
async function openProduct(page, product) {
  await page.goto(`${BASE}/#/products/${product.id}`);
  await visible(page.getByRole('heading', { level: 1, name: product.name, exact: true }), `<h1> "${product.name}" on #/products/${product.id}`);
  const major = (Number(product.price.amount_minor) / 100).toFixed(2);
  await visible(page.getByText(new RegExp(`${escapeRegExp(major)}|${escapeRegExp(major.replace('.', ','))}`)).first(), `the price ${major} on the product page`);
  await visible(page.getByText(`In stock: ${Number(product.stock)}`, { exact: false }).first(), `the text "In stock: ${Number(product.stock)}"`);
}

async function openCart(page, names) {
  await step('nav link "Cart"', () => cartLink(page).click());
  await visible(page.getByRole('heading', { level: 1, name: 'Cart', exact: true }), '<h1>Cart</h1> on #/cart');
  for (const name of names) {
    await visible(field(page, `Quantity of ${name}`), `input "Quantity of ${name}" in the cart`);
    await visible(button(page, `Remove ${name}`), `button "Remove ${name}" in the cart`);
  }
}

async function openCheckout(page) {
  const checkout = page
    .getByRole('link', { name: 'Checkout', exact: true })
    .or(page.getByRole('button', { name: 'Checkout', exact: true }))
    .first();
  await step('link or button "Checkout" in the cart', () => checkout.click());
  await visible(field(page, 'Card number'), 'input "Card number" on #/checkout');
}

async function fillCard(page, { number = CARDS.approved, month = '12', year = '2099', cvc = '123', holder = 'Ada Lovelace' } = {}) {
  await step('checkout input "Card number"', () => field(page, 'Card number').fill(number));
  await step('checkout input "Expiry month"', () => fillOrSelect(field(page, 'Expiry month'), month));
  await step('checkout input "Expiry year"', () => fillOrSelect(field(page, 'Expiry year'), year));
  await step('checkout input "CVC"', () => field(page, 'CVC').fill(cvc));
  await step('checkout input "Name on card"', () => field(page, 'Name on card').fill(holder));
}

/** Fills an input, or picks the option of a <select> by value or label. */
async function fillOrSelect(locator, value) {
  const tag = await locator.evaluate((element) => element.tagName);
  if (tag !== 'SELECT') return locator.fill(value);
  const options = await locator.evaluate((element) => [...element.options].map((o) => ({ value: o.value, label: o.label })));
  const wanted = value.toLowerCase();
  const option = options.find((o) => o.value.toLowerCase() === wanted || o.label.toLowerCase() === wanted);
  assert.ok(option, `no option ${JSON.stringify(value)} in the select; it offers ${JSON.stringify(options)}`);
  return locator.selectOption(option.value);
}

const ORDER_URL = /#\/orders\/([^/?#]+)$/;

async function placeOrder(page, { double = false } = {}) {
  const place = button(page, 'Place order');
  await step(`button "Place order"${double ? ' (double-clicked)' : ''}`, () => (double ? place.dblclick() : place.click()));
  await step('after "Place order", the app opens #/orders/<id>', () => page.waitForURL(ORDER_URL));
  await visible(page.getByRole('heading', { level: 1, name: /^Order/ }), 'an <h1> starting "Order" on the order page');
  return ORDER_URL.exec(page.url())[1];
}

function orderStatus(page, status) {
  return page.getByRole('status').filter({ hasText: new RegExp(status) }).first();
}

async function statusText(page) {
  const all = await page.getByRole('status').allInnerTexts();
  return all.find((t) => STATUSES.test(t)) ?? `(no role="status" element with a status; found ${JSON.stringify(all)})`;
}

async function waitForStatus(page, status) {
  try {
    await orderStatus(page, status).waitFor({ state: 'visible', timeout: SETTLE_TIMEOUT });
  } catch {
    throw new Error(`expected the order page's role="status" to say ${status} within ${SETTLE_TIMEOUT} ms; it says: ${await statusText(page)}`);
  }
}

/** The page's watch requests (GET …:watch): {open: Set, opened: n}, as they come and go. */
function openWatches(page) {
  const watches = { open: new Set(), opened: 0 };
  const isWatch = (request) => /\/v1\/orders\/[^/]+:watch$/.test(new URL(request.url()).pathname);
  page.on('request', (request) => {
    if (!isWatch(request)) return;
    watches.opened += 1;
    watches.open.add(request);
  });
  for (const event of ['requestfinished', 'requestfailed']) {
    page.on(event, (request) => watches.open.delete(request));
  }
  return watches;
}

/** How long a change made through the API may take to show on an open order page. */
const LIVE_TIMEOUT = STEP_TIMEOUT;
const MARKER = 'still here';

/** Marks the window: a reload or navigation would lose the marker. */
async function markWindow(page) {
  await page.evaluate((marker) => {
    window.__bazaarE2eMarker = marker;
  }, MARKER);
}

/**
 * The order page's one role="status" element, which says `status` now and
 * is a polite live region; checked again by expectLiveChange.
 */
async function liveStatusBox(page, status) {
  const boxes = page.getByRole('status').filter({ hasText: STATUSES });
  assert.equal(await boxes.count(), 1, `the order page has ${await boxes.count()} role="status" elements naming a status`);
  const box = await boxes.first().elementHandle();
  assert.match(await box.innerText(), new RegExp(status), 'the role="status" element before the change');
  const live = await box.evaluate((el) => el.getAttribute('aria-live') ?? (el.getAttribute('role') === 'status' ? 'polite (implicit)' : 'off'));
  assert.match(live, /^polite/, `the role="status" element has aria-live=${JSON.stringify(live)}`);
  return box;
}

/**
 * After a change made through the API at `since`: the open page (its window
 * marker still there) shows `status` within LIVE_TIMEOUT in the same
 * role="status" element, and offers no "Cancel order" once it is terminal.
 */
async function expectLiveChange(page, box, status, since) {
  const shows = async () => `(it says: ${await statusText(page)})`;
  await until(async () => new RegExp(status).test(await box.innerText().catch(() => '')) || (await orderStatus(page, status).count()) > 0,
    `the open order page's role="status" to say ${status} (no reload)`, shows);
  const ms = Date.now() - since;
  assert.equal(await box.evaluate((el) => el.isConnected), true, `the role="status" element was replaced, not updated in place, when the order turned ${status}`);
  assert.match(await box.innerText(), new RegExp(status));
  assert.equal(await page.evaluate(() => window.__bazaarE2eMarker), MARKER, `the order page was reloaded or left while it turned ${status}`);
  if (['SHIPPED', 'CANCELLED', 'FAILED'].includes(status)) {
    await until(async () => (await page.getByRole('button', { name: 'Cancel order', exact: true }).count()) === 0, `no "Cancel order" button once the order is ${status}`);
  }
  await assertNoPlaceholders(page, `the ${status.toLowerCase()} order's page`);
  console.log(`     ${status} shown ${ms} ms after the API call (live, no reload)`);
  return ms;
}

// -------------------------------------------------------------- scenarios

const scenarios = [];
function scenario(name, description, fn) {
  scenarios.push({ name, description, fn });
}

scenario('harness', 'the guards work: a request to another origin, a console error and a page error are caught', async (browser) => {
  const session = await Session.open(browser, 'harness');
  const { page } = session;
  try {
    await openShop(page);
    await page.evaluate(() => {
      fetch('http://192.0.2.1/tracker.gif').catch(() => {});
      console.error('a deliberate console error');
      setTimeout(() => {
        throw new Error('a deliberate page error');
      });
    });
    // The page's CSP stops that fetch before it reaches the route: both
    // say so. A navigation elsewhere passes the CSP and meets the route.
    await page.goto('http://192.0.2.1/landing').then(
      () => assert.fail('a page of another origin loaded'),
      () => {},
    );
    const want = [
      /console error: .*http:\/\/192\.0\.2\.1\/tracker\.gif/,
      /request to another origin \(blocked\): GET http:\/\/192\.0\.2\.1\/landing/,
      /console error: a deliberate console error/,
      /uncaught page error: .*a deliberate page error/,
    ];
    const deadline = Date.now() + STEP_TIMEOUT;
    while (!want.every((w) => session.problems.some((p) => w.test(p))) && Date.now() < deadline) {
      await page.waitForTimeout(50);
    }
    for (const w of want) {
      assert.ok(session.problems.some((p) => w.test(p)), `the harness did not catch ${w}; it saw ${JSON.stringify(session.problems)}`);
    }
    // What it caught was staged: this scenario passes when all was caught.
    session.problems.length = 0;
    return session;
  } catch (error) {
    error.session = session;
    throw error;
  }
});

scenario('checkout', 'a shopper registers, searches, adds two products, pays; the order page shows CONFIRMED, then SHIPPED live when the shop ships it (no reload)', async (browser) => {
  const session = await Session.open(browser, 'checkout');
  const { page } = session;
  try {
    const first = await productNamed('Ceramic Pour-Over Coffee Dripper');
    const second = await productNamed('Rechargeable Headlamp 400 lm');
    const shopper = { email: `checkout-${RUN}@example.com`, password: PASSWORD, name: 'Ada Lovelace' };
    await openShop(page);
    await session.shot('catalog', { readme: 'catalog', fullPage: false });
    await register(session, shopper);
    assert.equal(await page.getByRole('link', { name: 'Admin', exact: true }).count(), 0, 'a customer must not see the "Admin" link');
    await addFromCatalog(page, 'dripper', first.name);
    await session.shot('search-first');
    await addFromCatalog(page, 'headlamp', second.name);
    await session.shot('search-second');
    await openCart(page, [first.name, second.name]);
    await session.shot('cart');
    await openCheckout(page);
    await fillCard(page, { number: CARDS.approved, holder: shopper.name });
    await session.shot('checkout', { readme: 'checkout', fullPage: false });
    // From here on the page must not be reloaded or left: the marker would go.
    const loads = [];
    page.on('load', () => loads.push(page.url()));
    const orderId = await placeOrder(page);
    await markWindow(page);
    const navigations = [];
    page.on('framenavigated', (frame) => {
      if (frame === page.mainFrame()) navigations.push(frame.url());
    });
    await session.shot('order-placed');
    await waitForStatus(page, 'CONFIRMED');
    await session.shot('order-confirmed', { readme: 'order', fullPage: false });
    await assertNoPlaceholders(page, 'the confirmed order\'s page');
    const order = (await apiOk('GET', `/v1/orders/${orderId}`, { token: await token(shopper.email, shopper.password) })).order;
    assert.equal(order.status, 'ORDER_STATUS_CONFIRMED', `the API says order ${orderId} is ${order.status}`);
    const lines = order.items.map((i) => `${i.product_name} x${i.quantity}`).sort();
    assert.deepEqual(lines, [`${first.name} x1`, `${second.name} x1`].sort(), 'the order holds the two products, one each');
    assert.equal(await page.evaluate(() => window.__bazaarE2eMarker), MARKER, 'the order page was reloaded while the order settled');
    assert.deepEqual(loads, [], `the page loaded again after "Place order": ${loads.join(', ')}`);
    assert.deepEqual(navigations, [], `the order page navigated while the order settled: ${navigations.join(', ')}`);
    assert.match(page.url(), new RegExp(`#/orders/${orderId}$`));
    await visible(button(page, 'Cancel order'), 'button "Cancel order" on a CONFIRMED order');
    // The shop ships it (the admin, through the API from here) while the
    // page stays open: CONFIRMED is not terminal, so the page still follows
    // the watch and turns SHIPPED in place, with no reload.
    // (The window marker set after "Place order" must still be there after.)
    const box = await liveStatusBox(page, 'CONFIRMED');
    const adminToken = await token(ADMIN_EMAIL, ADMIN_PASSWORD);
    const shipped = Date.now();
    await apiOk('POST', `/v1/orders/${orderId}:ship`, { token: adminToken, body: {} });
    await expectLiveChange(page, box, 'SHIPPED', shipped);
    assert.deepEqual(loads, [], `the page loaded again while the order shipped: ${loads.join(', ')}`);
    assert.deepEqual(navigations, [], `the order page navigated while the order shipped: ${navigations.join(', ')}`);
    await session.shot('order-shipped');
    await step('nav link "Orders"', () => link(page, 'Orders').click());
    await visible(page.getByRole('heading', { level: 1, name: 'Orders', exact: true }), '<h1>Orders</h1> on #/orders');
    await visible(page.locator(`a[href$="#/orders/${orderId}"]`).first(), `a link to #/orders/${orderId} on #/orders`);
    await session.shot('orders');
    return session;
  } catch (error) {
    error.session = session;
    throw error;
  }
});

/** The product names of the catalog page shown, in order. */
async function shownProducts(page) {
  await visible(page.getByRole('article').first(), 'a product <article> in the catalog');
  return page.getByRole('article').getByRole('heading').allInnerTexts();
}

/** Every product of the API's catalog (for `query`), by name. */
async function catalogNames(query = '') {
  const names = [];
  let pageToken = '';
  do {
    const body = await apiOk('GET', `/v1/products?page_size=100${query}&page_token=${encodeURIComponent(pageToken)}`);
    names.push(...(body.products ?? []).map((p) => p.name));
    pageToken = body.next_page_token ?? '';
  } while (pageToken);
  return names.sort();
}

scenario('browse', 'an anonymous visitor pages through the catalog and filters it by category', async (browser) => {
  const session = await Session.open(browser, 'browse');
  const { page } = session;
  try {
    const all = await catalogNames();
    await openShop(page);
    const category = field(page, 'Category');
    const first = await category.evaluate((select) => select.options[0]?.label);
    assert.equal(first, 'All categories', 'the first option of "Category"');
    const seen = [];
    let pages = 1;
    seen.push(...(await shownProducts(page)));
    await session.shot('page-1');
    assert.equal(await page.getByRole('button', { name: 'Previous page', exact: true }).count(), 0, 'the first page offers "Previous page"');
    while (seen.length < all.length && pages <= all.length) {
      const before = (await shownProducts(page)).join('|');
      await step(`button "Next page" on catalog page ${pages} (${seen.length} of ${all.length} products seen)`, () => button(page, 'Next page').click());
      await until(async () => (await shownProducts(page)).join('|') !== before, 'another catalog page after "Next page"');
      pages += 1;
      seen.push(...(await shownProducts(page)));
    }
    await session.shot(`page-${pages}`);
    assert.deepEqual([...seen].sort(), all, `paging through ${pages} pages showed each product once`);
    assert.ok(pages > 1, 'the catalog fits one page: paging was not exercised');
    await step('button "Previous page"', () => button(page, 'Previous page').click());
    await visible(button(page, 'Next page'), 'button "Next page" after going back a page');
    await step('select "Category": audio', () => fillOrSelect(category, 'audio'));
    await step('button "Search"', () => button(page, 'Search').click());
    const audio = await catalogNames('&category=audio');
    await until(async () => (await shownProducts(page)).sort().join('|') === audio.join('|'), `the "audio" category's products ${JSON.stringify(audio)}`, async () => `it shows ${JSON.stringify(await shownProducts(page))}`);
    await session.shot('audio');
    return session;
  } catch (error) {
    error.session = session;
    throw error;
  }
});

/** Whether the page is wider than its viewport (a sideways scroll). */
async function overflowsSideways(page) {
  return page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
}

scenario('phone', 'on a phone-sized screen (375 px) a shopper buys with nothing wider than the screen and the menu within reach', async (browser) => {
  const session = await Session.open(browser, 'phone', { viewport: { width: 375, height: 740 } });
  const { page } = session;
  try {
    const product = await productNamed('Ceramic Pour-Over Coffee Dripper');
    const shopper = { email: `phone-${RUN}@example.com`, password: PASSWORD, name: 'Ada Lovelace' };
    const fits = async (where) => {
      assert.equal(await overflowsSideways(page), false, `${where} is wider than a 375 px screen`);
    };
    await openShop(page);
    await fits('the catalog');
    await session.shot('catalog', { fullPage: false });
    await register(session, shopper);
    await openProduct(page, product);
    await fits('the product page');
    await step('button "Add to cart"', () => button(page, 'Add to cart').click());
    await openCart(page, [product.name]);
    await fits('the cart');
    await openCheckout(page);
    await fits('the checkout');
    await fillCard(page, { number: CARDS.approved, holder: shopper.name });
    await session.shot('checkout');
    await placeOrder(page);
    await waitForStatus(page, 'CONFIRMED');
    await fits('the order page');
    await session.shot('order', { fullPage: false });
    for (const name of ['Shop', 'Orders', 'Account']) {
      await visible(link(page, name), `nav link "${name}" on a 375 px screen`);
    }
    return session;
  } catch (error) {
    error.session = session;
    throw error;
  }
});

scenario('declined', 'a declined card shows the decline and leaves the stock as it was', async (browser) => {
  const session = await Session.open(browser, 'declined');
  const { page } = session;
  try {
    const shopper = await newCustomer('declined');
    const product = await productNamed('Cast Iron Dutch Oven 24 cm');
    const before = await stockOf(product.id);
    await openShop(page);
    await logIn(session, shopper.email, shopper.password);
    await openProduct(page, { ...product, stock: before });
    await session.shot('product');
    await step('input "Quantity"', () => field(page, 'Quantity').fill('2'));
    await step('button "Add to cart"', () => button(page, 'Add to cart').click());
    await openCart(page, [product.name]);
    assert.equal(await field(page, `Quantity of ${product.name}`).inputValue(), '2', 'the cart holds the quantity chosen on the product page');
    await openCheckout(page);
    await fillCard(page, { number: CARDS.declined, holder: shopper.name });
    await session.shot('checkout');
    const orderId = await placeOrder(page);
    await waitForStatus(page, 'FAILED');
    const order = (await apiOk('GET', `/v1/orders/${orderId}`, { token: await token(shopper.email, shopper.password) })).order;
    assert.equal(order.status, 'ORDER_STATUS_FAILED', `the API says order ${orderId} is ${order.status}`);
    assert.ok(order.failure_reason, 'the API gives a failure reason');
    await visible(page.getByText(new RegExp(escapeRegExp(order.failure_reason), 'i')).first(), `the failure reason "${order.failure_reason}" on the order page`);
    await session.shot('declined');
    await assertNoPlaceholders(page, 'the failed order\'s page');
    assert.equal(await stockOf(product.id), before, 'the declined order changed the stock');
    await openProduct(page, { ...product, stock: before });
    await session.shot('stock-unchanged');
    return session;
  } catch (error) {
    error.session = session;
    throw error;
  }
});

/** The API's description of the one field violation `card` makes. */
async function violationOf(shopper, product, card) {
  const reply = await api('POST', '/v1/orders', {
    token: await token(shopper.email, shopper.password),
    body: {
      idempotency_key: `probe-${RUN}-${card.exp_month}-${card.exp_year}`,
      items: [{ product_id: product.id, quantity: 1 }],
      payment_method: { card: { number: CARDS.approved, cvc: '123', holder_name: 'Probe', ...card } },
    },
  });
  assert.equal(reply.status, 400, `the API accepted ${JSON.stringify(card)}: ${JSON.stringify(reply.body)}`);
  const violations = (reply.body.details ?? []).flatMap((d) => d.field_violations ?? []);
  assert.equal(violations.length, 1, JSON.stringify(reply.body));
  return violations[0];
}

/** The field error of `input`: aria-invalid, aria-describedby → #error-<id>. */
async function expectFieldError(page, input, label, description) {
  try {
    await page.waitForFunction((element) => element.getAttribute('aria-invalid') === 'true', await input.elementHandle(), { timeout: STEP_TIMEOUT });
  } catch {
    throw new Error(`expected input "${label}" to get aria-invalid="true"; it has aria-invalid=${JSON.stringify(await input.getAttribute('aria-invalid'))}`);
  }
  const id = await input.getAttribute('id');
  assert.ok(id, `input "${label}" has no id`);
  const describedBy = (await input.getAttribute('aria-describedby')) ?? '';
  assert.ok(describedBy.split(/\s+/).includes(`error-${id}`), `input "${label}" (id ${id}) has aria-describedby=${JSON.stringify(describedBy)}, expected it to name error-${id}`);
  const error = page.locator(`[id="error-${id}"]`);
  await visible(error, `the field error #error-${id} of "${label}"`);
  const text = await error.innerText();
  // The page may capitalise the sentence; the words must be the API's.
  assert.ok(text.toLowerCase().includes(description.toLowerCase()), `the field error of "${label}" says ${JSON.stringify(text)}; the API said ${JSON.stringify(description)}`);
  // Next to the field: within a few lines of it.
  const [a, b] = [await input.boundingBox(), await error.boundingBox()];
  const gap = Math.max(0, Math.max(a.y, b.y) - Math.min(a.y + a.height, b.y + b.height));
  assert.ok(gap < 120, `the field error of "${label}" is ${Math.round(gap)} px away from it`);
}

scenario('expiry', 'a bad expiry date shows the API\'s field error next to the field', async (browser) => {
  const session = await Session.open(browser, 'expiry');
  const { page } = session;
  try {
    const shopper = await newCustomer('expiry');
    const product = await productNamed('A5 Dotted Notebook');
    const month = await violationOf(shopper, product, { exp_month: 13, exp_year: 2099 });
    const year = await violationOf(shopper, product, { exp_month: 12, exp_year: 2020 });
    await openShop(page);
    await logIn(session, shopper.email, shopper.password);
    await addFromCatalog(page, 'notebook', product.name);
    await openCart(page, [product.name]);
    await openCheckout(page);
    await fillCard(page, { month: '13', year: '2099' });
    await step('button "Place order"', () => button(page, 'Place order').click());
    await expectFieldError(page, field(page, 'Expiry month'), 'Expiry month', month.description);
    await session.shot('month-13');
    await fillCard(page, { month: '12', year: '2020' });
    await step('button "Place order"', () => button(page, 'Place order').click());
    await expectFieldError(page, field(page, 'Expiry year'), 'Expiry year', year.description);
    assert.notEqual(await field(page, 'Expiry month').getAttribute('aria-invalid'), 'true', 'the month stays marked invalid once it is fixed');
    await session.shot('year-2020');
    assert.match(page.url(), /#\/checkout$/, 'the app left the checkout on a refused card');
    assert.equal((await ordersOf(shopper.email, shopper.password)).length, 0, 'a refused card created an order');
    return session;
  } catch (error) {
    error.session = session;
    throw error;
  }
});

scenario('double-click', 'a double-clicked "Place order" places one order, which the customer then cancels', async (browser) => {
  const session = await Session.open(browser, 'double-click');
  const { page } = session;
  try {
    const shopper = await newCustomer('double');
    const product = await productNamed('Insulated Steel Bottle 750 ml');
    await openShop(page);
    await logIn(session, shopper.email, shopper.password);
    await addFromCatalog(page, 'bottle', product.name);
    await openCart(page, [product.name]);
    await openCheckout(page);
    await fillCard(page, { holder: shopper.name });
    const orderId = await placeOrder(page, { double: true });
    await waitForStatus(page, 'CONFIRMED');
    await session.shot('order');
    // Give a second request time to land before counting.
    await page.waitForTimeout(1_500);
    const orders = await ordersOf(shopper.email, shopper.password);
    assert.equal(orders.length, 1, `a double click placed ${orders.length} orders: ${orders.map((o) => `${o.id} ${o.status}`).join(', ')}`);
    assert.equal(orders[0].id, orderId);
    // The customer changes their mind: the stock comes back.
    const before = await stockOf(product.id);
    page.on('dialog', (dialog) => dialog.accept());
    await step('button "Cancel order" on a CONFIRMED order', () => button(page, 'Cancel order').click());
    await waitForStatus(page, 'CANCELLED');
    await session.shot('cancelled');
    await until(async () => (await page.getByRole('button', { name: 'Cancel order', exact: true }).count()) === 0, 'no "Cancel order" button on a cancelled order');
    const order = (await apiOk('GET', `/v1/orders/${orderId}`, { token: await token(shopper.email, shopper.password) })).order;
    assert.equal(order.status, 'ORDER_STATUS_CANCELLED', `the API says order ${orderId} is ${order.status}`);
    assert.equal(await stockOf(product.id), before + 1, 'cancelling gave the stock back');
    return session;
  } catch (error) {
    error.session = session;
    throw error;
  }
});

scenario('live-cancel', 'an order cancelled through the API while its page is open turns CANCELLED there without a reload', async (browser) => {
  const session = await Session.open(browser, 'live-cancel');
  const { page } = session;
  try {
    const shopper = await newCustomer('live-cancel');
    const product = await productNamed("Chef's Knife 20 cm");
    await openShop(page);
    await logIn(session, shopper.email, shopper.password);
    await addFromCatalog(page, 'knife', product.name);
    await openCart(page, [product.name]);
    await openCheckout(page);
    await fillCard(page, { holder: shopper.name });
    const watches = openWatches(page);
    const orderId = await placeOrder(page);
    await waitForStatus(page, 'CONFIRMED');
    await visible(button(page, 'Cancel order'), 'button "Cancel order" on a CONFIRMED order');
    await markWindow(page);
    const loads = [];
    page.on('load', () => loads.push(page.url()));
    await session.shot('confirmed');
    // Leaving the page stops following: no watch stays open on other pages.
    await until(async () => watches.open.size === 1, 'one watch request open on the CONFIRMED order\'s page', async () => `(${watches.open.size} open)`);
    const openedBefore = watches.opened;
    await step('nav link "Orders"', () => link(page, 'Orders').click());
    await visible(page.getByRole('heading', { level: 1, name: 'Orders', exact: true }), '<h1>Orders</h1> on #/orders');
    await until(async () => watches.open.size === 0, 'the order\'s watch request ended once the order page was left', async () => `(${watches.open.size} still open: ${[...watches.open].map((r) => r.url()).join(', ')})`);
    await page.waitForTimeout(1_500); // longer than the first re-open wait
    assert.equal(watches.opened, openedBefore, `${watches.opened - openedBefore} watch(es) opened after leaving the order page`);
    // Back to it (a hash link, no reload): it follows again.
    await step(`the link to #/orders/${orderId} on #/orders`, () => page.locator(`a[href$="#/orders/${orderId}"]`).first().click());
    await waitForStatus(page, 'CONFIRMED');
    await until(async () => watches.open.size === 1, 'one watch request open on the order page again', async () => `(${watches.open.size} open)`);
    const before = await stockOf(product.id);
    // The customer cancels elsewhere (another device: the API from here).
    const customerToken = await token(shopper.email, shopper.password);
    const box = await liveStatusBox(page, 'CONFIRMED');
    const cancelled = Date.now();
    const { order } = await apiOk('POST', `/v1/orders/${orderId}:cancel`, { token: customerToken, body: { reason: 'cancelled from another device' } });
    assert.equal(order.status, 'ORDER_STATUS_CANCELLED', `the API says order ${orderId} is ${order.status} after cancelling`);
    await expectLiveChange(page, box, 'CANCELLED', cancelled);
    assert.deepEqual(loads, [], `the page loaded again while the order was cancelled: ${loads.join(', ')}`);
    assert.match(page.url(), new RegExp(`#/orders/${orderId}$`));
    await session.shot('cancelled');
    assert.equal(await stockOf(product.id), before + 1, 'cancelling gave the stock back');
    return session;
  } catch (error) {
    error.session = session;
    throw error;
  }
});

scenario('admin-product', 'an admin creates a product, a shopper finds it by search', async (browser) => {
  const admin = await Session.open(browser, 'admin-product');
  let session = admin;
  try {
    const page = admin.page;
    const product = {
      sku: `E2E-LANTERN-${RUN}`.toUpperCase(),
      name: `Storm Lantern ${RUN}`,
      description: 'A hurricane lantern made by the browser test.',
      category: 'outdoors',
      price: '12.50',
      currency: 'EUR',
      stock: '7',
    };
    await openShop(page);
    await logIn(admin, ADMIN_EMAIL, ADMIN_PASSWORD);
    await step('nav link "Admin" (signed in as the admin)', () => link(page, 'Admin').click());
    for (const name of ['New product', 'Products', 'Orders']) {
      await visible(page.getByRole('link', { name, exact: true }).last(), `link "${name}" on #/admin`);
    }
    await admin.shot('admin');
    await step('link "New product"', () => link(page, 'New product').click());
    await visible(field(page, 'SKU'), 'input "SKU" in the product form');
    await step('product form "SKU"', () => field(page, 'SKU').fill(product.sku));
    await step('product form "Name"', () => field(page, 'Name').fill(product.name));
    await step('product form "Description"', () => field(page, 'Description').fill(product.description));
    await step('product form "Category"', () => fillOrSelect(field(page, 'Category'), product.category));
    await step('product form "Price"', () => field(page, 'Price').fill(product.price));
    await step('product form "Currency"', () => fillOrSelect(field(page, 'Currency'), product.currency));
    await step('product form "Stock"', () => field(page, 'Stock').fill(product.stock));
    await admin.shot('product-form', { readme: 'admin', fullPage: false });
    await step('button "Save product"', () => button(page, 'Save product').click());
    await visible(page.getByText('Saved').first(), 'the text "Saved" after saving the product');
    await admin.shot('saved');
    admin.assertClean();
    await admin.close();

    const created = await productNamed(product.name);
    assert.equal(created.sku, product.sku);
    assert.equal(created.category, product.category);
    assert.deepEqual(created.price, { currency_code: 'EUR', amount_minor: '1250' }, 'the price 12.50 is 1250 minor units');
    assert.equal(Number(created.stock), 7);

    session = await Session.open(browser, 'admin-product-shopper');
    const shopper = session.page;
    const customer = await newCustomer('finder');
    await openShop(shopper);
    await logIn(session, customer.email, customer.password);
    const article = await search(shopper, `lantern ${RUN}`, product.name);
    await session.shot('found');
    await step(`the heading link "${product.name}"`, () => article.getByRole('link', { name: product.name }).first().click());
    await openProduct(shopper, created);
    await session.shot('product');
    return session;
  } catch (error) {
    error.session = session;
    throw error;
  }
});

/** axe-core on the current page: serious and critical violations, described. */
async function axeCheck(session, pageName) {
  const { page } = session;
  // The page's CSP allows no inline script; evaluating through the
  // debugging protocol is not subject to it.
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) {
    await page.evaluate(AXE_SOURCE);
  }
  const results = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  await session.shot(pageName);
  return bad.map((v) => {
    const nodes = v.nodes.slice(0, 5).map((n) => `      ${n.target.join(' ')}: ${n.failureSummary?.replace(/\s+/g, ' ')}`);
    return `  ${pageName} (${page.url()}): [${v.impact}] ${v.id}: ${v.help} (${v.nodes.length} element(s))\n${nodes.join('\n')}`;
  });
}

scenario('accessibility', 'axe-core finds no serious or critical violation on the main pages (and the admin ships the order from the admin orders page)', async (browser) => {
  const session = await Session.open(browser, 'accessibility');
  const { page } = session;
  const violations = [];
  const check = async (name) => violations.push(...(await axeCheck(session, name)));
  try {
    const shopper = await newCustomer('axe');
    const product = await productNamed('Adjustable LED Desk Lamp');
    await openShop(page);
    await check('catalog');
    await step('nav link "Log in"', () => link(page, 'Log in').click());
    await visible(field(page, 'Password'), 'the log-in form');
    await check('log-in');
    await step('nav link "Register"', () => link(page, 'Register').click());
    await visible(field(page, 'Display name'), 'the register form');
    await check('register');
    await page.goto(`${BASE}/`);
    await logIn(session, shopper.email, shopper.password);
    await openProduct(page, { ...product, stock: await stockOf(product.id) });
    await check('product');
    await step('button "Add to cart"', () => button(page, 'Add to cart').click());
    await openCart(page, [product.name]);
    await check('cart');
    await openCheckout(page);
    await check('checkout');
    await fillCard(page, { holder: shopper.name });
    const orderId = await placeOrder(page);
    await waitForStatus(page, 'CONFIRMED');
    const heading = await page.getByRole('heading', { level: 1, name: /^Order/ }).innerText();
    const shortId = heading.replace(/^Order\s*/, '').trim();
    await check('order');
    await step('nav link "Orders"', () => link(page, 'Orders').click());
    await visible(page.getByRole('heading', { level: 1, name: 'Orders', exact: true }), '<h1>Orders</h1>');
    await check('orders');
    await step('nav link "Account"', () => link(page, 'Account').click());
    await visible(page.getByRole('heading', { level: 1 }), 'an <h1> on the account page');
    await check('account');
    await step('button "Log out"', () => button(page, 'Log out').click());
    await visible(link(page, 'Log in'), 'nav link "Log in" after logging out');
    await logIn(session, ADMIN_EMAIL, ADMIN_PASSWORD);
    await step('nav link "Admin"', () => link(page, 'Admin').click());
    await visible(page.getByRole('link', { name: 'New product', exact: true }), 'link "New product" on #/admin');
    await check('admin');
    await step('link "New product"', () => link(page, 'New product').click());
    await visible(field(page, 'SKU'), 'the product form');
    await check('admin-product-form');
    await step('link "Products" on #/admin', () => page.getByRole('link', { name: 'Products', exact: true }).last().click());
    await page.waitForTimeout(300);
    await check('admin-products');
    await step('link "Orders" on #/admin', () => page.getByRole('link', { name: 'Orders', exact: true }).last().click());
    const ship = page.getByRole('button', { name: `Ship order ${shortId}`, exact: true });
    await visible(ship, `a button "Ship order ${shortId}" (the short id of the order page's heading "${heading}") on the admin orders page`);
    await check('admin-orders');
    // And the admin ships it from there.
    page.on('dialog', (dialog) => dialog.accept());
    await step(`button "Ship order ${shortId}"`, () => ship.click());
    await until(async () => (await apiOk('GET', `/v1/orders/${orderId}`, { token: await token(ADMIN_EMAIL, ADMIN_PASSWORD) })).order.status === 'ORDER_STATUS_SHIPPED', `order ${orderId} SHIPPED after "Ship order ${shortId}"`);
    await until(async () => (await ship.count()) === 0, `no "Ship order ${shortId}" button once it is shipped`);
    await session.shot('admin-shipped');
    assert.deepEqual(violations, [], `axe-core found serious or critical violations:\n${violations.join('\n')}`);
    return session;
  } catch (error) {
    error.session = session;
    throw error;
  }
});

// ------------------------------------------------------------------- main

async function main() {
  const chosen = only ? scenarios.filter((s) => only.includes(s.name)) : scenarios;
  if (only) {
    const unknown = only.filter((n) => !scenarios.some((s) => s.name === n));
    if (unknown.length) usage(`unknown scenario(s): ${unknown.join(', ')} (known: ${scenarios.map((s) => s.name).join(', ')})`);
  }
  mkdirSync(SHOTS, { recursive: true });
  // Only this run's scenarios' old screenshots go.
  for (const file of readdirSync(SHOTS)) {
    if (file.endsWith('.png') && chosen.some((s) => file.startsWith(`${s.name}-`))) rmSync(join(SHOTS, file));
  }
  if (readmeDir) mkdirSync(readmeDir, { recursive: true });

  const started = Date.now();
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  console.log(`Chromium ${browser.version()}; storefront ${BASE}/; screenshots in ${SHOTS}`);
  const results = [];
  for (const { name, description, fn } of chosen) {
    const t0 = Date.now();
    let session;
    let failure;
    let timer;
    try {
      const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`the scenario took longer than ${SCENARIO_TIMEOUT} ms`)), SCENARIO_TIMEOUT);
      });
      session = await Promise.race([fn(browser), timeout]);
      session.assertClean();
    } catch (error) {
      failure = error;
      // A timed-out scenario returned nothing: report its last session.
      session = error.session ?? session ?? [...openSessions].pop();
    } finally {
      clearTimeout(timer);
    }
    const ms = Date.now() - t0;
    if (failure) {
      let report = `FAIL ${name} (${ms} ms): ${description}\n  ${failure.message.replace(/\n/g, '\n  ')}`;
      if (session) {
        await session.shot('failure').catch(() => {});
        const others = session.problems.filter((p) => !failure.message.includes(p));
        if (others.length) report += `\n  also: ${others.join('\n  also: ')}`;
        if (session.notes.length) report += `\n  (expected API refusals seen: ${session.notes.join('; ')})`;
        report += `\n  at ${session.page.url()}; the page offers:\n${(await session.describe()).replace(/^/gm, '    ')}`;
      }
      console.log(report);
    } else {
      console.log(`ok   ${name} (${ms} ms): ${description}`);
    }
    await session?.close();
    for (const left of [...openSessions]) await left.close();
    results.push({ name, ok: !failure, ms });
  }
  await browser.close();
  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed;
  console.log(`browser: ${passed} passed, ${failed} failed in ${Date.now() - started} ms (screenshots in ${SHOTS})`);
  process.exitCode = failed ? 1 : 0;
}

main().catch((error) => {
  console.error(`storefront tests could not run: ${error.stack || error.message}`);
  process.exit(1);
});
