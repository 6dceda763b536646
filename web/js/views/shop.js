// The catalog (search, category, paging by page token) and a product's page.
import { call } from '../api.js';
import { h, vh, title, formatMoney, announce } from '../dom.js';
import { addToCart, MAX_QUANTITY } from '../cart.js';
import { alertBox, field, setAlert } from '../forms.js';

const PAGE_SIZE = 8;

// Categories have no endpoint of their own: they are gathered from the
// catalog once (a few pages at most) and kept for the session.
let categories = null;
/** Forgets the categories seen, after the catalog changed. */
export const forgetCategories = () => { categories = null; };
async function loadCategories(signal) {
  if (categories) return categories;
  const found = new Set();
  let token = '';
  for (let i = 0; i < 5; i += 1) {
    const page = await call('listProducts', { query: { page_size: 100, page_token: token }, signal });
    for (const p of page.products ?? []) if (p.category) found.add(p.category);
    token = page.next_page_token ?? '';
    if (!token) break;
  }
  categories = [...found].sort();
  return categories;
}

// Tokens of the pages seen, per filter, so "Previous page" can go back.
const trail = new Map();

function catalogHash(q, category, pageToken) {
  const qs = new URLSearchParams();
  if (q) qs.set('q', q);
  if (category) qs.set('category', category);
  if (pageToken) qs.set('page', pageToken);
  const s = qs.toString();
  return `#/${s ? `?${s}` : ''}`;
}

export function stockText(product) {
  return `In stock: ${Number(product.stock ?? 0)}`;
}

function productCard(product) {
  const url = `#/products/${encodeURIComponent(product.id)}`;
  const stock = Number(product.stock ?? 0);
  const add = h('button', {
    type: 'button',
    class: 'button',
    disabled: stock < 1,
    onclick: () => {
      addToCart(product, 1);
      announce(`${product.name} added to cart.`);
    },
  }, 'Add', vh(` ${product.name}`), ' to cart');
  return h('article', { class: 'card' },
    h('h2', { class: 'card-title' }, h('a', { href: url }, product.name)),
    h('p', { class: 'muted' }, product.category),
    h('p', { class: 'price' }, formatMoney(product.price)),
    h('p', { class: stock < 1 ? 'stock out' : 'stock' }, stock < 1 ? 'Out of stock' : stockText(product)),
    add);
}

export async function catalogView({ query, signal }) {
  const q = query.get('q') ?? '';
  const category = query.get('category') ?? '';
  const pageToken = query.get('page') ?? '';
  const filterKey = `${q}\u0000${category}`;
  const tokens = trail.get(filterKey) ?? [''];
  trail.set(filterKey, tokens);

  const [page, cats] = await Promise.all([
    call('listProducts', { query: { page_size: PAGE_SIZE, page_token: pageToken, query: q, category }, signal }),
    loadCategories(signal).catch(() => []),
  ]);
  const products = page.products ?? [];
  const next = page.next_page_token ?? '';
  let index = tokens.indexOf(pageToken);
  if (index < 0) { tokens.length = 1; tokens.push(pageToken); index = tokens.length - 1; }
  if (next) { tokens.length = index + 1; tokens.push(next); }

  const search = field({ id: 'search', label: 'Search products', type: 'search', value: q, autocomplete: 'off', maxlength: 200 });
  const select = field({
    id: 'category', label: 'Category', kind: 'select', value: category,
    options: [['', 'All categories'], ...cats.map((c) => [c, c])],
  });
  if (category && !cats.includes(category)) {
    select.querySelector('select').append(h('option', { value: category }, category));
    select.querySelector('select').value = category;
  }
  const form = h('form', {
    class: 'search', role: 'search',
    onsubmit: (e) => {
      e.preventDefault();
      const data = new FormData(form);
      location.hash = catalogHash(String(data.get('search') ?? '').trim(), String(data.get('category') ?? ''), '');
    },
  }, search, select, h('button', { type: 'submit', class: 'button' }, 'Search'));

  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages' },
    index > 0 ? h('button', { type: 'button', class: 'button secondary', onclick: () => { location.hash = catalogHash(q, category, tokens[index - 1]); } }, 'Previous page') : null,
    next ? h('button', { type: 'button', class: 'button secondary', onclick: () => { location.hash = catalogHash(q, category, next); } }, 'Next page') : null);

  const heading = q || category
    ? `Products${q ? ` matching “${q}”` : ''}${category ? ` in ${category}` : ''}`
    : 'Products';
  return [
    title('Shop'),
    form,
    h('section', { 'aria-labelledby': 'results-heading' },
      h('h2', { id: 'results-heading', class: 'vh' }, heading),
      h('p', { class: 'muted', 'aria-live': 'polite' },
        products.length ? `${heading}: page ${index + 1}, ${products.length} shown.` : `${heading}: none found.`),
      h('div', { class: 'grid' }, products.map(productCard))),
    pager,
  ];
}

export async function productView({ params, signal }) {
  const { product } = await call('getProduct', { params: { product_id: params.id }, signal });
  const stock = Number(product.stock ?? 0);
  const alert = alertBox();
  const quantity = field({
    id: 'quantity', label: 'Quantity', type: 'number', value: '1', min: 1,
    max: Math.max(1, Math.min(stock, MAX_QUANTITY)), inputmode: 'numeric', required: true,
  });
  const form = h('form', {
    class: 'stack narrow',
    onsubmit: (e) => {
      e.preventDefault();
      const n = Number.parseInt(form.querySelector('#quantity').value, 10);
      if (!Number.isInteger(n) || n < 1) { setAlert(form, 'Enter a quantity of at least 1.'); return; }
      if (n > stock) { setAlert(form, `Only ${stock} in stock.`); return; }
      setAlert(form, '');
      addToCart(product, n);
      announce(`${n} × ${product.name} added to cart.`);
      form.querySelector('.added').textContent = `Added ${n} to your cart.`;
    },
  }, alert, quantity,
  h('button', { type: 'submit', class: 'button', disabled: stock < 1 }, 'Add to cart'),
  h('p', { class: 'added muted' }));

  return [
    h('p', null, h('a', { href: '#/' }, '← All products')),
    title(product.name),
    h('p', { class: 'price large' }, formatMoney(product.price)),
    h('p', { class: stock < 1 ? 'stock out' : 'stock' }, stockText(product)),
    product.description ? h('p', { class: 'description' }, product.description) : null,
    h('dl', { class: 'facts' },
      h('dt', null, 'Category'), h('dd', null, h('a', { href: catalogHash('', product.category, '') }, product.category)),
      h('dt', null, 'SKU'), h('dd', null, product.sku)),
    form,
  ];
}
