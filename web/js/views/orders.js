// Order history and one order's page, whose status follows the watch stream.
import { call, followOrder, ApiError } from '../api.js';
import { h, fill, title, formatMoney, formatTime, orderStatus, shortId, badge, TERMINAL, announce } from '../dom.js';
import { alertBox, setAlert, busy } from '../forms.js';
import { isAdmin } from '../session.js';

const EXPLAIN = {
  PENDING: 'Checking out: reserving stock and charging your card. This page updates by itself.',
  CONFIRMED: 'Paid for; it is being prepared for the carrier.',
  SHIPPED: 'Handed to the carrier.',
  FAILED: 'The order did not go through. Nothing was charged and no stock is held.',
  CANCELLED: 'Cancelled; any payment has been refunded.',
};
const CANCELLABLE = new Set(['PENDING', 'CONFIRMED']);

/** Pages of orders walked with page tokens; returns [list, pager]. */
export function pagedOrders(query, { hashFor, signal, pageSize = 20 }) {
  const token = query.get('page') ?? '';
  return call('listOrders', { query: { page_size: pageSize, page_token: token }, signal }).then((page) => {
    const trailKey = hashFor('');
    const seen = (pagedOrders.trails[trailKey] ??= ['']);
    let index = seen.indexOf(token);
    if (index < 0) { seen.length = 1; seen.push(token); index = seen.length - 1; }
    const next = page.next_page_token ?? '';
    if (next) { seen.length = index + 1; seen.push(next); }
    const pager = h('nav', { class: 'pager', 'aria-label': 'Pages' },
      index > 0 ? h('button', { type: 'button', class: 'button secondary', onclick: () => { location.hash = hashFor(seen[index - 1]); } }, 'Previous page') : null,
      next ? h('button', { type: 'button', class: 'button secondary', onclick: () => { location.hash = hashFor(next); } }, 'Next page') : null);
    return [page.orders ?? [], pager];
  });
}
pagedOrders.trails = {};

export async function ordersView({ query, signal }) {
  const [orders, pager] = await pagedOrders(query, { signal, hashFor: (t) => `#/orders${t ? `?page=${encodeURIComponent(t)}` : ''}` });
  if (!orders.length && !query.get('page')) {
    return [title('Orders'), h('p', null, 'You have no orders yet. ', h('a', { href: '#/' }, 'Browse products'), '.')];
  }
  return [
    title('Orders'),
    h('ul', { class: 'orders' }, orders.map((o) => {
      const status = orderStatus(o);
      return h('li', null,
        h('a', { href: `#/orders/${encodeURIComponent(o.id)}` }, `Order ${shortId(o.id)}`),
        ' ', badge(status), ' ',
        h('span', null, formatMoney(o.total)), ' ',
        h('span', { class: 'muted' }, formatTime(o.create_time)));
    })),
    pager,
  ];
}

export async function orderView({ params, signal }) {
  const id = params.id;
  const { order: first } = await call('getOrder', { params: { order_id: id }, signal });
  let order = first;

  // Updated in place as the order moves on; role="status" is a polite live
  // region (said explicitly too), read out whole on each change.
  const statusBox = h('div', { role: 'status', 'aria-live': 'polite', 'aria-atomic': 'true', class: 'order-status' });
  const live = h('p', { class: 'muted live-note' });
  const details = h('div');
  const alert = alertBox();
  const actions = h('div', { class: 'actions' }, alert);

  function render() {
    const status = orderStatus(order);
    fill(statusBox,
      h('p', { class: 'status-line' }, 'Status: ', badge(status)),
      h('p', null, EXPLAIN[status] ?? ''),
      order.failure_reason && (status === 'FAILED' || status === 'CANCELLED')
        ? h('p', { class: 'failure' }, h('strong', null, 'Reason: '), order.failure_reason) : null);
    fill(details,
      h('table', { class: 'table' },
        h('caption', { class: 'vh' }, 'Items'),
        h('thead', null, h('tr', null, ['Product', 'Unit price', 'Quantity', 'Line total'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', null, (order.items ?? []).map((item) => h('tr', null,
          h('th', { scope: 'row' }, item.product_name || item.product_id),
          h('td', { 'data-label': 'Unit price' }, formatMoney(item.unit_price)),
          h('td', { 'data-label': 'Quantity' }, String(item.quantity)),
          h('td', { 'data-label': 'Line total' }, formatMoney(item.line_total)))))),
      h('p', { class: 'total' }, 'Total: ', h('strong', null, formatMoney(order.total))),
      h('dl', { class: 'facts' },
        h('dt', null, 'Order id'), h('dd', null, h('code', null, order.id)),
        h('dt', null, 'Placed'), h('dd', null, formatTime(order.create_time)),
        h('dt', null, 'Last change'), h('dd', null, formatTime(order.update_time))));
    const buttons = [];
    if (CANCELLABLE.has(status)) buttons.push(h('button', { type: 'button', class: 'button danger', onclick: (e) => act(e.currentTarget, 'cancelOrder', 'Order cancelled.') }, 'Cancel order'));
    if (status === 'CONFIRMED' && isAdmin()) buttons.push(h('button', { type: 'button', class: 'button', onclick: (e) => act(e.currentTarget, 'shipOrder', 'Order shipped.') }, `Ship order ${shortId(order.id)}`));
    fill(actions, alert, buttons);
  }

  async function act(button, operation, done) {
    setAlert(actions, '');
    await busy(button, async () => {
      try {
        const body = operation === 'cancelOrder' ? { reason: 'cancelled by the customer' } : {};
        ({ order } = await call(operation, { params: { order_id: order.id }, body }));
        render();
        announce(done);
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        setAlert(actions, error.message);
      }
    });
  }

  // An update never takes a terminal order back (a re-opened watch may
  // start with what it read just before a cancel answered).
  function update(next) {
    const before = orderStatus(order);
    if (TERMINAL.has(before) && !TERMINAL.has(orderStatus(next))) return;
    order = next;
    if (orderStatus(order) !== before) render();
  }

  // Follow the watch until the order is terminal (SHIPPED, FAILED,
  // CANCELLED), where the server ends the stream too; CONFIRMED is not: it
  // may still ship or be cancelled. followOrder re-opens a stream the server
  // ends first (after its maximum lifetime) and stops when the route changes
  // (the router aborts `signal`).
  let following = false;
  async function follow() {
    if (following || signal.aborted || TERMINAL.has(orderStatus(order))) return;
    following = true;
    live.textContent = 'Following this order live…';
    try {
      const how = await followOrder(order.id, {
        signal,
        from: order.status,
        done: (next) => TERMINAL.has(orderStatus(next)),
        onOrder: (next) => {
          update(next);
          live.textContent = 'Following this order live…';
        },
        onWait: ({ delayMs, error }) => {
          if (error) live.textContent = delayMs ? `Connection lost; reconnecting in ${Math.ceil(delayMs / 1000)} s…` : 'Reconnecting…';
        },
      });
      if (how === 'done' && !signal.aborted) live.textContent = '';
    } catch (error) {
      if (signal.aborted || error?.name === 'AbortError') return;
      if (!(error instanceof ApiError)) console.warn(error);
      const why = error instanceof ApiError ? error.message : 'the shop sent an answer this page cannot read.';
      fill(live, `Live updates stopped: ${why} `,
        h('button', { type: 'button', class: 'button secondary small', onclick: () => follow() }, 'Try again'));
    } finally {
      following = false;
    }
  }

  render();
  follow();
  return [
    h('p', null, h('a', { href: '#/orders' }, '← Order history')),
    title(`Order ${shortId(order.id)}`),
    statusBox,
    live,
    details,
    actions,
  ];
}
