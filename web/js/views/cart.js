// The cart and checkout.
import { call, ApiError } from '../api.js';
import { h, vh, title, formatMoney, announce, uuid } from '../dom.js';
import { cartLines, cartTotals, setQuantity, removeFromCart, clearCart, MAX_QUANTITY } from '../cart.js';
import { alertBox, field, showError, clearErrors, setAlert, setFieldError, busy } from '../forms.js';
import { currentUser } from '../session.js';

const totalText = (lines) => cartTotals(lines).map(formatMoney).join(' + ') || formatMoney({ currency_code: 'EUR', amount_minor: 0 });

export function cartView({ rerender }) {
  const lines = cartLines();
  if (!lines.length) {
    return [title('Cart'), h('p', null, 'Your cart is empty. ', h('a', { href: '#/' }, 'Browse products'), '.')];
  }
  const rows = lines.map((line) => {
    const id = `qty-${line.product_id}`;
    const input = h('input', {
      id, type: 'number', min: 1, max: MAX_QUANTITY, inputmode: 'numeric', value: String(line.quantity), class: 'qty',
      onchange: () => {
        const n = Number.parseInt(input.value, 10);
        if (Number.isInteger(n) && n >= 1) setQuantity(line.product_id, n);
        else input.value = String(line.quantity);
        rerender();
      },
    });
    return h('tr', null,
      h('th', { scope: 'row' }, h('a', { href: `#/products/${encodeURIComponent(line.product_id)}` }, line.name)),
      h('td', { 'data-label': 'Price' }, formatMoney(line.unit_price)),
      h('td', { 'data-label': 'Quantity' }, h('label', { for: id, class: 'vh' }, `Quantity of ${line.name}`), input),
      h('td', { 'data-label': 'Subtotal' }, formatMoney({ ...line.unit_price, amount_minor: String(BigInt(line.unit_price?.amount_minor ?? 0) * BigInt(line.quantity)) })),
      h('td', null, h('button', {
        type: 'button', class: 'button secondary small', id: `remove-${line.product_id}`,
        onclick: () => { removeFromCart(line.product_id); announce(`${line.name} removed from cart.`); rerender(); },
      }, 'Remove', vh(` ${line.name}`))));
  });
  return [
    title('Cart'),
    h('table', { class: 'table cart' },
      h('caption', { class: 'vh' }, 'Items in your cart'),
      h('thead', null, h('tr', null, ['Product', 'Price', 'Quantity', 'Subtotal', 'Actions'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', null, rows)),
    h('p', { class: 'total' }, 'Total: ', h('strong', null, totalText(lines))),
    h('p', { class: 'muted' }, 'Prices are confirmed by the shop when you place the order.'),
    h('p', { class: 'actions' },
      h('a', { href: '#/checkout', class: 'button', id: 'to-checkout' }, 'Checkout'),
      h('a', { href: '#/' }, 'Keep browsing')),
  ];
}

export const TEST_CARDS = [
  ['4242424242424242', 'Approved'],
  ['4000000000009995', 'Declined: insufficient funds'],
  ['4000000000000002', 'Declined: generic decline'],
  ['4000000000000119', 'The processor fails; nothing is charged, try again'],
  ['4000000000003220', 'Approved, slowly (a few seconds)'],
];
const sentence = (t) => { const s = String(t ?? '').trim().replace(/[.;,]*$/, '.'); return s[0] ? s[0].toUpperCase() + s.slice(1) : s; };
const spaced = (n) => n.replace(/(\d{4})(?=\d)/g, '$1 ');

const CARD_FIELDS = {
  number: 'card-number', exp_month: 'exp-month', exp_year: 'exp-year', cvc: 'cvc', holder_name: 'holder-name',
  expMonth: 'exp-month', expYear: 'exp-year', holderName: 'holder-name',
};
/** payment_method.card.exp_month -> exp-month (proto or JSON names). */
export function cardFieldId(path) {
  const m = /^(?:payment_?[mM]ethod\.)?card\.(\w+)$/.exec(path ?? '');
  return m ? CARD_FIELDS[m[1]] ?? null : null;
}

// One key per checkout attempt: kept (in sessionStorage, with what it was
// used for) until the shop has answered with an order or refused the request
// outright, so a retry, a double click or a reload never buys twice.
const PENDING = 'bazaar.checkout';
let attempt = null; // {key, fingerprint}; mirrored in sessionStorage
function attemptKey(fingerprint) {
  if (!attempt) {
    try { attempt = JSON.parse(sessionStorage.getItem(PENDING)); } catch { attempt = null; }
  }
  if (attempt?.key && attempt.fingerprint === fingerprint) return attempt.key;
  attempt = { key: uuid(), fingerprint };
  try { sessionStorage.setItem(PENDING, JSON.stringify(attempt)); } catch { /* memory only */ }
  return attempt.key;
}
function dropKey() {
  attempt = null;
  try { sessionStorage.removeItem(PENDING); } catch { /* none */ }
}

export function checkoutView({ navigate }) {
  const lines = cartLines();
  if (!lines.length) {
    return [title('Checkout'), h('p', null, 'Your cart is empty. ', h('a', { href: '#/' }, 'Browse products'), '.')];
  }
  const items = lines.map((l) => ({ product_id: l.product_id, quantity: l.quantity }));
  const user = currentUser();
  const year = new Date().getFullYear();

  const place = h('button', { type: 'submit', class: 'button primary' }, 'Place order');
  const progress = h('p', { class: 'muted', 'aria-live': 'polite' });
  const form = h('form', { class: 'stack narrow', novalidate: true, onsubmit: submit },
    alertBox(),
    h('fieldset', null,
      h('legend', null, 'Card'),
      field({ id: 'card-number', label: 'Card number', inputmode: 'numeric', autocomplete: 'cc-number', required: true, hint: '12 to 19 digits; spaces are fine.' }),
      h('div', { class: 'row' },
        field({ id: 'exp-month', label: 'Expiry month', inputmode: 'numeric', autocomplete: 'cc-exp-month', placeholder: 'MM', maxlength: 2, required: true }),
        field({ id: 'exp-year', label: 'Expiry year', inputmode: 'numeric', autocomplete: 'cc-exp-year', placeholder: 'YYYY', maxlength: 4, required: true }),
        field({ id: 'cvc', label: 'CVC', inputmode: 'numeric', autocomplete: 'cc-csc', maxlength: 4, required: true })),
      field({ id: 'holder-name', label: 'Name on card', autocomplete: 'cc-name', maxlength: 100, value: user?.display_name ?? '' })),
    place, progress);

  const value = (id) => form.querySelector(`#${id}`).value.trim();
  const int = (text) => (/^\d+$/.test(text) ? Number.parseInt(text, 10) : null);

  async function submit(e) {
    e.preventDefault();
    if (place.disabled) return;
    clearErrors(form);
    const month = int(value('exp-month'));
    const yearValue = int(value('exp-year'));
    // Numbers the JSON cannot carry are caught here; every other rule is the
    // shop's, whose field violations are shown where they belong.
    let local = 0;
    if (value('exp-month') && month === null) local += setFieldError(form, 'exp-month', 'Enter the month as a number, 1 to 12.');
    if (value('exp-year') && yearValue === null) local += setFieldError(form, 'exp-year', 'Enter the year as four digits.');
    if (local) { setAlert(form, 'Please correct the fields marked below.'); form.querySelector('[aria-invalid="true"]').focus(); return; }

    const body = {
      idempotency_key: '',
      items,
      payment_method: {
        card: {
          number: value('card-number'),
          exp_month: month ?? 0,
          exp_year: yearValue ?? 0,
          cvc: value('cvc'),
          holder_name: value('holder-name'),
        },
      },
    };
    const fingerprint = JSON.stringify([body.items, body.payment_method.card.number.replace(/\s/g, ''), month, yearValue, body.payment_method.card.cvc, body.payment_method.card.holder_name]);
    body.idempotency_key = attemptKey(fingerprint);

    await busy(place, async () => {
      progress.textContent = 'Placing your order…';
      try {
        const { order } = await call('placeOrder', { body });
        dropKey();
        const status = String(order.status ?? '');
        if (!status.endsWith('FAILED')) clearCart();
        navigate(`#/orders/${encodeURIComponent(order.id)}`);
      } catch (error) {
        progress.textContent = '';
        if (!(error instanceof ApiError)) throw error;
        if (error.retryable) {
          // Nothing is known to have happened: the same key is sent again.
          showError(form, error, cardFieldId, `${sentence(error.message)} Press Place order to try again: the same attempt is resent, so nothing is bought twice.`);
          return;
        }
        // A refusal: nothing was bought under this key, so the next attempt
        // (with corrected fields) gets a new one.
        dropKey();
        if (error.status === 401) {
          showError(form, error, cardFieldId, 'Your session has ended. Log in again to place the order.');
          return;
        }
        showError(form, error, cardFieldId, error.reason === 'IDEMPOTENCY_KEY_REUSED'
          ? 'This checkout attempt was already used for a different order. Press Place order again to start a new one.'
          : undefined);
      }
    });
  }

  const fill = (number) => {
    form.querySelector('#card-number').value = spaced(number);
    if (!value('exp-month')) form.querySelector('#exp-month').value = '12';
    if (!value('exp-year')) form.querySelector('#exp-year').value = String(year + 3);
    if (!value('cvc')) form.querySelector('#cvc').value = '123';
    form.querySelector('#card-number').focus();
  };

  return [
    title('Checkout'),
    h('section', { 'aria-labelledby': 'summary-heading' },
      h('h2', { id: 'summary-heading' }, 'Your order'),
      h('ul', { class: 'summary' }, lines.map((l) => h('li', null, `${l.quantity} × ${l.name}`, ' — ', formatMoney(l.unit_price)))),
      h('p', { class: 'total' }, 'Total: ', h('strong', null, totalText(lines)))),
    h('section', { 'aria-labelledby': 'pay-heading' },
      h('h2', { id: 'pay-heading' }, 'Payment'),
      form),
    h('section', { 'aria-labelledby': 'cards-heading', class: 'test-cards' },
      h('h2', { id: 'cards-heading' }, 'Test cards'),
      h('p', { class: 'muted' }, 'This shop uses a simulated card processor. Any future expiry date and any 3-digit CVC work.'),
      h('ul', null, TEST_CARDS.map(([number, what]) => h('li', null,
        h('code', null, spaced(number)), ` — ${what} `,
        h('button', { type: 'button', class: 'button secondary small', onclick: () => fill(number) }, 'Use card', vh(` ${spaced(number)}`)))))),
  ];
}
