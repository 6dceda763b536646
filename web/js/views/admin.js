// Administration: products (create, edit, stock) and every order (ship).
import { call, ApiError } from '../api.js';
import { h, vh, title, formatMoney, formatTime, orderStatus, shortId, badge, CURRENCIES, minorToDecimal, decimalToMinor, announce } from '../dom.js';
import { alertBox, field, showError, clearErrors, setAlert, setFieldError, busy } from '../forms.js';
import { pagedOrders } from './orders.js';
import { forgetCategories } from './shop.js';

const adminNav = () => h('nav', { class: 'subnav', 'aria-label': 'Administration' },
  h('ul', null,
    h('li', null, h('a', { href: '#/admin/products/new' }, 'New product')),
    h('li', null, h('a', { href: '#/admin/products' }, 'Products')),
    h('li', null, h('a', { href: '#/admin/orders' }, 'Orders'))));

export function adminView() {
  return [
    title('Admin'),
    adminNav(),
    h('p', null, 'Add products and change their prices and stock; see every order and ship the confirmed ones.'),
  ];
}

const trails = {};
export async function adminProductsView({ query, signal }) {
  const token = query.get('page') ?? '';
  const page = await call('listProducts', { query: { page_size: 50, page_token: token }, signal });
  const seen = (trails.products ??= ['']);
  let index = seen.indexOf(token);
  if (index < 0) { seen.length = 1; seen.push(token); index = seen.length - 1; }
  const next = page.next_page_token ?? '';
  if (next) { seen.length = index + 1; seen.push(next); }
  const go = (t) => { location.hash = `#/admin/products${t ? `?page=${encodeURIComponent(t)}` : ''}`; };
  return [
    title('Products'),
    adminNav(),
    h('table', { class: 'table' },
      h('caption', { class: 'vh' }, 'Products in the catalog'),
      h('thead', null, h('tr', null, ['Name', 'SKU', 'Category', 'Price', 'Stock', 'Actions'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', null, (page.products ?? []).map((p) => h('tr', null,
        h('th', { scope: 'row' }, p.name),
        h('td', { 'data-label': 'SKU' }, p.sku),
        h('td', { 'data-label': 'Category' }, p.category),
        h('td', { 'data-label': 'Price' }, formatMoney(p.price)),
        h('td', { 'data-label': 'Stock' }, String(Number(p.stock ?? 0))),
        h('td', null, h('a', { href: `#/admin/products/${encodeURIComponent(p.id)}` }, 'Edit', vh(` ${p.name}`))))))),
    h('nav', { class: 'pager', 'aria-label': 'Pages' },
      index > 0 ? h('button', { type: 'button', class: 'button secondary', onclick: () => go(seen[index - 1]) }, 'Previous page') : null,
      next ? h('button', { type: 'button', class: 'button secondary', onclick: () => go(next) }, 'Next page') : null),
  ];
}

/** product.price.amount_minor -> product-price, and so on. */
function productFieldId(path) {
  const p = String(path ?? '').replace(/^product\./, '');
  if (/^price\.(currency_code|currencyCode)$/.test(p)) return 'product-currency';
  const top = p.split('.')[0];
  return ['sku', 'name', 'description', 'category', 'price', 'stock'].includes(top) ? `product-${top}` : null;
}

export async function productFormView({ params, signal }) {
  let product = null;
  if (params.id) ({ product } = await call('getProduct', { params: { product_id: params.id }, signal }));
  const currency = product?.price?.currency_code ?? 'EUR';
  const heading = title(product ? `Edit ${product.name}` : 'New product');
  const saved = h('p', { role: 'status', class: 'saved' });
  const button = h('button', { type: 'submit', class: 'button primary' }, 'Save product');
  const form = h('form', { class: 'stack narrow', novalidate: true }, alertBox(),
    field({ id: 'product-sku', label: 'SKU', value: product?.sku ?? '', required: true, maxlength: 64, hint: 'Capital letters, digits and dashes, e.g. MUG-001.', autocapitalize: 'characters' }),
    field({ id: 'product-name', label: 'Name', value: product?.name ?? '', required: true, maxlength: 200 }),
    field({ id: 'product-description', label: 'Description', kind: 'textarea', rows: 4, maxlength: 5000 }),
    field({ id: 'product-category', label: 'Category', value: product?.category ?? '', required: true, maxlength: 64, hint: 'Lower-case letters, digits and dashes, e.g. kitchen.' }),
    h('div', { class: 'row' },
      field({ id: 'product-price', label: 'Price', value: product ? minorToDecimal(product.price?.amount_minor ?? 0, currency) : '', inputmode: 'decimal', required: true, hint: 'In major units, e.g. 12.50.' }),
      field({ id: 'product-currency', label: 'Currency', kind: 'select', value: currency, options: CURRENCIES.map((c) => [c, c]) }),
      field({ id: 'product-stock', label: 'Stock', value: product ? String(Number(product.stock ?? 0)) : '0', inputmode: 'numeric', required: true })),
    button, saved);
  form.querySelector('#product-description').value = product?.description ?? '';

  const value = (id) => form.querySelector(`#${id}`).value;
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (button.disabled) return;
    clearErrors(form);
    saved.textContent = '';
    const code = value('product-currency');
    const minor = decimalToMinor(value('product-price'), code);
    const stock = value('product-stock').trim();
    let local = 0;
    if (minor === null) local += setFieldError(form, 'product-price', code && ['JPY', 'KRW', 'ISK'].includes(code) ? `Enter a whole number of ${code}.` : 'Enter a price like 12.50.');
    if (!/^\d{1,15}$/.test(stock)) local += setFieldError(form, 'product-stock', 'Enter a whole number, 0 or more.');
    if (local) { setAlert(form, 'Please correct the fields marked below.'); form.querySelector('[aria-invalid="true"]').focus(); return; }
    const body = {
      sku: value('product-sku').trim(),
      name: value('product-name').trim(),
      description: value('product-description'),
      category: value('product-category').trim(),
      price: { currency_code: code, amount_minor: minor },
      stock,
    };
    await busy(button, async () => {
      try {
        const answer = product
          ? await call('updateProduct', { params: { product_id: product.id }, body })
          : await call('createProduct', { body });
        const created = !product;
        forgetCategories();
        product = answer.product;
        if (created) history.replaceState(null, '', `#/admin/products/${encodeURIComponent(product.id)}`);
        heading.textContent = `Edit ${product.name}`;
        form.querySelector('#product-stock').value = String(Number(product.stock ?? 0));
        saved.replaceChildren('Saved', ` ${product.name} at ${new Date().toLocaleTimeString()}. `,
          h('a', { href: `#/products/${encodeURIComponent(product.id)}` }, 'View in the catalog'));
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        showError(form, error, productFieldId, error.status === 409 ? 'Another product already has that SKU.' : undefined);
      }
    });
  });
  return [heading, adminNav(), form];
}

export async function adminOrdersView({ query, signal }) {
  const [orders, pager] = await pagedOrders(query, { signal, pageSize: 50, hashFor: (t) => `#/admin/orders${t ? `?page=${encodeURIComponent(t)}` : ''}` });
  const alert = alertBox();
  const row = (o) => {
    const status = orderStatus(o);
    const cell = h('td', null);
    if (status === 'CONFIRMED') {
      cell.append(h('button', {
        type: 'button', class: 'button small',
        onclick: async (e) => {
          const button = e.currentTarget;
          setAlert(alert.parentNode, '');
          await busy(button, async () => {
            try {
              const { order } = await call('shipOrder', { params: { order_id: o.id }, body: {} });
              tr.replaceWith(row(order));
              announce(`Order ${shortId(o.id)} shipped.`);
            } catch (error) {
              if (!(error instanceof ApiError)) throw error;
              setAlert(alert.parentNode, `Order ${shortId(o.id)}: ${error.message}`);
            }
          });
        },
      }, `Ship order ${shortId(o.id)}`));
    }
    const tr = h('tr', null,
      h('th', { scope: 'row' }, h('a', { href: `#/orders/${encodeURIComponent(o.id)}` }, `Order ${shortId(o.id)}`)),
      h('td', { 'data-label': 'Status' }, badge(status)),
      h('td', { 'data-label': 'Total' }, formatMoney(o.total)),
      h('td', { 'data-label': 'Customer' }, h('code', null, shortId(o.customer_id))),
      h('td', { 'data-label': 'Placed' }, formatTime(o.create_time)),
      cell);
    return tr;
  };
  return [
    title('All orders'),
    adminNav(),
    h('div', null, alert),
    orders.length ? h('table', { class: 'table' },
      h('caption', { class: 'vh' }, 'Every order, newest first'),
      h('thead', null, h('tr', null, ['Order', 'Status', 'Total', 'Customer', 'Placed', 'Actions'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', null, orders.map(row))) : h('p', null, 'No orders yet.'),
    pager,
  ];
}
