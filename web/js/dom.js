// Small DOM helpers. Every piece of text goes in as a text node, never as
// HTML, so nothing the API returns can inject markup.

/**
 * h('a', {href: '#/', class: 'x', onclick: fn}, 'text', child, [more])
 * Attributes: `class`, `for`, `on<event>` listeners, booleans (true sets the
 * attribute, false/null/undefined leaves it out), everything else as-is.
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [key, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (key.startsWith('on') && typeof value === 'function') {
        el.addEventListener(key.slice(2), value);
      } else if (key === 'value' && 'value' in el) {
        el.value = value;
      } else {
        el.setAttribute(key, value === true ? '' : String(value));
      }
    }
  }
  append(el, children);
  return el;
}

/** Replaces an element's children (null/false children are skipped). */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

/** Text only screen readers (and accessible names) get. */
export const vh = (text) => h('span', { class: 'vh' }, text);

/** A heading that takes focus after a navigation. */
export const title = (text, ...extra) => h('h1', { tabindex: '-1' }, text, ...extra);

/** Digits after the decimal point, as Bazaar's currencies have them. */
const ZERO_DECIMAL = new Set(['ISK', 'JPY', 'KRW']);
export const exponent = (code) => (ZERO_DECIMAL.has(code) ? 0 : 2);

export const CURRENCIES = ['AUD', 'BRL', 'CAD', 'CHF', 'CNY', 'CZK', 'DKK', 'EUR', 'GBP', 'HKD',
  'HUF', 'INR', 'ISK', 'JPY', 'KRW', 'MXN', 'NOK', 'NZD', 'PLN', 'RON', 'SEK', 'SGD', 'USD', 'ZAR'];

/** Money {currency_code, amount_minor} (amount_minor may be a string: int64). */
export function formatMoney(money) {
  if (!money) return '';
  const code = money.currency_code ?? money.currencyCode ?? '';
  const minor = Number(money.amount_minor ?? money.amountMinor ?? 0);
  const e = exponent(code);
  const major = minor / 10 ** e;
  try {
    return new Intl.NumberFormat(undefined, {
      style: 'currency', currency: code, minimumFractionDigits: e, maximumFractionDigits: e,
    }).format(major);
  } catch {
    return `${major.toFixed(e)} ${code}`;
  }
}

/** Minor units as a decimal string in major units, e.g. 1250 EUR -> "12.50". */
export function minorToDecimal(minor, code) {
  const e = exponent(code);
  const digits = String(BigInt(minor ?? 0)).padStart(e + 1, '0');
  return e === 0 ? digits : `${digits.slice(0, -e)}.${digits.slice(-e)}`;
}

/** "12.50" -> "1250" for EUR (a string: int64); null when not a price. */
export function decimalToMinor(text, code) {
  const e = exponent(code);
  const m = /^\s*(\d{1,15})(?:[.,](\d*))?\s*$/.exec(text);
  if (!m) return null;
  const frac = m[2] ?? '';
  if (frac.length > e) return null;
  return String(BigInt(m[1]) * 10n ** BigInt(e) + BigInt(frac.padEnd(e, '0') || '0'));
}

/** ORDER_STATUS_CONFIRMED -> CONFIRMED. */
const STATUS_NUMBERS = ['UNSPECIFIED', 'PENDING', 'CONFIRMED', 'SHIPPED', 'FAILED', 'CANCELLED'];
export function orderStatus(order) {
  const s = order?.status;
  if (typeof s === 'number') return STATUS_NUMBERS[s] ?? 'UNSPECIFIED';
  return String(s ?? 'ORDER_STATUS_UNSPECIFIED').replace(/^ORDER_STATUS_/, '');
}

/** Nothing changes after these: the watch ends there, and the order page stops following. */
export const TERMINAL = new Set(['SHIPPED', 'FAILED', 'CANCELLED']);

// Bazaar's ids are UUIDv7: the first digits are a timestamp that orders
// placed within a minute share, so the short form is the last 8 (random) ones.
export const shortId = (id) => String(id ?? '').replace(/-/g, '').slice(-8);

export function formatTime(ts) {
  if (!ts) return '';
  const d = new Date(ts);
  return Number.isNaN(d.getTime()) ? String(ts) : d.toLocaleString();
}

/** A status badge: its class follows the status; the text is the word. */
export const badge = (status) => h('span', { class: `badge badge-${status.toLowerCase()}` }, status);

/** Polite announcements for changes that are not otherwise announced. */
export function announce(text) {
  const region = document.getElementById('announcer');
  if (!region) return;
  region.textContent = '';
  setTimeout(() => { region.textContent = text; }, 50);
}

/** A random UUID (crypto.randomUUID needs a secure context; this does not). */
export function uuid() {
  if (globalThis.crypto?.randomUUID) {
    try { return crypto.randomUUID(); } catch { /* not a secure context */ }
  }
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = [...b].map((v) => v.toString(16).padStart(2, '0')).join('');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}
