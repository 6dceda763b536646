// The cart lives in localStorage: product ids, quantities and the name and
// price seen when added (for display only: the order is priced by the shop).
const KEY = 'bazaar.cart';
const listeners = new Set();

function read() {
  try {
    const lines = JSON.parse(localStorage.getItem(KEY));
    return Array.isArray(lines) ? lines.filter((l) => l && l.product_id && l.quantity > 0) : [];
  } catch { return []; }
}

function write(lines) {
  try { localStorage.setItem(KEY, JSON.stringify(lines)); } catch { /* full or unavailable */ }
  for (const fn of listeners) fn(lines);
}

export const onCartChange = (fn) => listeners.add(fn);
export const cartLines = () => read();
export const cartCount = () => read().reduce((n, l) => n + l.quantity, 0);
export const MAX_QUANTITY = 1000;

export function addToCart(product, quantity = 1) {
  const lines = read();
  const line = lines.find((l) => l.product_id === product.id);
  if (line) {
    line.quantity = Math.min(MAX_QUANTITY, line.quantity + quantity);
    line.name = product.name;
    line.unit_price = product.price;
  } else {
    lines.push({ product_id: product.id, name: product.name, unit_price: product.price, quantity: Math.min(MAX_QUANTITY, quantity) });
  }
  write(lines);
}

export function setQuantity(productId, quantity) {
  const lines = read();
  const line = lines.find((l) => l.product_id === productId);
  if (!line) return;
  line.quantity = Math.max(1, Math.min(MAX_QUANTITY, quantity));
  write(lines);
}

export function removeFromCart(productId) {
  write(read().filter((l) => l.product_id !== productId));
}

export function clearCart() { write([]); }

/** Totals per currency: [{currency_code, amount_minor}]. */
export function cartTotals(lines = read()) {
  const sums = new Map();
  for (const l of lines) {
    const code = l.unit_price?.currency_code ?? '';
    const minor = BigInt(l.unit_price?.amount_minor ?? 0) * BigInt(l.quantity);
    sums.set(code, (sums.get(code) ?? 0n) + minor);
  }
  return [...sums].map(([currency_code, minor]) => ({ currency_code, amount_minor: String(minor) }));
}
