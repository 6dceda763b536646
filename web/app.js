// Bazaar's storefront: a hash router over views that talk to the REST API.
import { h, title } from './js/dom.js';
import { ApiError } from './js/api.js';
import { signedIn, isAdmin, currentUser, onSessionChange, logOut } from './js/session.js';
import { cartCount, onCartChange } from './js/cart.js';
import { catalogView, productView } from './js/views/shop.js';
import { cartView, checkoutView } from './js/views/cart.js';
import { ordersView, orderView } from './js/views/orders.js';
import { loginView, registerView, accountView } from './js/views/account.js';
import { adminView, adminProductsView, productFormView, adminOrdersView } from './js/views/admin.js';

const SIGNED_IN = 'signed-in';
const ADMIN = 'admin';
const ROUTES = [
  [/^\/$/, catalogView],
  [/^\/products\/([^/]+)$/, productView],
  [/^\/cart$/, cartView],
  [/^\/checkout$/, checkoutView, SIGNED_IN],
  [/^\/orders$/, ordersView, SIGNED_IN],
  [/^\/orders\/([^/]+)$/, orderView, SIGNED_IN],
  [/^\/account$/, accountView, SIGNED_IN],
  [/^\/login$/, loginView],
  [/^\/register$/, registerView],
  [/^\/admin$/, adminView, ADMIN],
  [/^\/admin\/products$/, adminProductsView, ADMIN],
  [/^\/admin\/products\/new$/, productFormView, ADMIN],
  [/^\/admin\/products\/([^/]+)$/, productFormView, ADMIN],
  [/^\/admin\/orders$/, adminOrdersView, ADMIN],
];

const main = document.getElementById('main');
const navList = document.getElementById('nav');
let controller = null;
let generation = 0;
let firstRender = true;
let loginNotice = '';

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, qs = ''] = raw.split('?');
  return { path: path || '/', query: new URLSearchParams(qs) };
}

const navigate = (hash) => {
  if (location.hash === hash) render();
  else location.hash = hash;
};

function renderNav() {
  const { path } = parseHash();
  const section = path === '/' || path.startsWith('/products') ? '/' : `/${path.split('/')[1]}`;
  const link = (href, text, match) => h('li', null,
    h('a', { href, 'aria-current': match === section ? 'page' : null }, text));
  const count = cartCount();
  const items = [
    link('#/', 'Shop', '/'),
    link('#/cart', count ? `Cart (${count})` : 'Cart', '/cart'),
  ];
  if (signedIn()) {
    items.push(link('#/orders', 'Orders', '/orders'), link('#/account', 'Account', '/account'));
    if (isAdmin()) items.push(link('#/admin', 'Admin', '/admin'));
    items.push(h('li', null, h('button', {
      type: 'button', class: 'linkish',
      onclick: async () => { await logOut(); navigate('#/'); },
    }, 'Log out')));
  } else {
    items.push(link('#/login', 'Log in', '/login'), link('#/register', 'Register', '/register'));
  }
  navList.replaceChildren(...items);
  const who = document.getElementById('who');
  const user = currentUser();
  who.textContent = signedIn() && user ? `Signed in as ${user.display_name || user.email}` : '';
}

function problemPage(heading, message, retry) {
  return [
    title(heading),
    h('div', { class: 'alert', role: 'alert' }, message),
    retry ? h('p', null, h('button', { type: 'button', class: 'button', onclick: retry }, 'Try again')) : null,
  ];
}

async function render(options) {
  const keepFocus = options?.keepFocus ? document.activeElement?.id : null;
  controller?.abort();
  controller = new AbortController();
  const { signal } = controller;
  const mine = ++generation;
  const { path, query } = parseHash();
  renderNav();

  let nodes;
  const route = ROUTES.find(([re]) => re.test(path));
  if (!route) {
    nodes = problemPage('Page not found', 'There is no page at this address.');
  } else if (route[2] && !signedIn()) {
    loginNotice = 'Please log in to continue.';
    location.replace('#/login');
    return;
  } else if (route[2] === ADMIN && !isAdmin()) {
    nodes = problemPage('Admin', 'This page is for shop administrators only.');
  } else {
    const match = route[0].exec(path);
    const params = match[1] ? { id: decodeURIComponent(match[1]) } : {};
    main.setAttribute('aria-busy', 'true');
    try {
      nodes = await route[1]({ params, query, signal, navigate, rerender: () => render({ keepFocus: true }) });
    } catch (error) {
      if (signal.aborted || error?.name === 'AbortError') return;
      if (error instanceof ApiError && error.status === 401) {
        loginNotice = 'Your session has ended. Please log in again.';
        location.replace('#/login');
        return;
      }
      console.warn(error);
      if (error instanceof ApiError && (error.status === 404 || error.status === 400)) {
        nodes = problemPage('Not found', 'We could not find that. It may have been removed.');
      } else {
        nodes = problemPage('Something went wrong', error instanceof ApiError ? error.message : 'The page could not be shown.', render);
      }
    } finally {
      if (mine === generation) main.removeAttribute('aria-busy');
    }
  }
  if (mine !== generation) return;
  main.replaceChildren(...[nodes].flat(Infinity).filter(Boolean));
  if (path === '/login' && loginNotice) {
    main.querySelector('h1')?.after(h('p', { class: 'notice' }, loginNotice));
  }
  if (path !== '/login') loginNotice = '';
  const heading = main.querySelector('h1');
  document.title = heading ? `${heading.textContent} — Bazaar` : 'Bazaar';
  const again = keepFocus ? document.getElementById(keepFocus) : null;
  if (again) again.focus();
  else if (!firstRender) (heading ?? main).focus();
  firstRender = false;
}

document.getElementById('skip').addEventListener('click', (e) => {
  e.preventDefault();
  (main.querySelector('h1') ?? main).focus();
});
window.addEventListener('hashchange', () => render());
onSessionChange(renderNav);
onCartChange(renderNav);
window.addEventListener('storage', (e) => { if (e.key === 'bazaar.cart') renderNav(); });
render();
