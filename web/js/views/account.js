// Log in, register, and the signed-in account.
import { call, ApiError } from '../api.js';
import { h, title, formatTime } from '../dom.js';
import { alertBox, field, showError, busy, clearErrors } from '../forms.js';
import { logIn, register, currentUser, setUser } from '../session.js';

const fieldMap = (prefix, names) => (path) => {
  const leaf = String(path ?? '').replace(/^user\./, '');
  return names.includes(leaf) ? `${prefix}-${leaf.replace(/_/g, '-')}` : null;
};

export function loginView({ navigate }) {
  const button = h('button', { type: 'submit', class: 'button primary' }, 'Log in');
  const form = h('form', { class: 'stack narrow', novalidate: true }, alertBox(),
    field({ id: 'login-email', label: 'Email', type: 'email', autocomplete: 'email', required: true }),
    field({ id: 'login-password', label: 'Password', type: 'password', autocomplete: 'current-password', required: true }),
    button);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (button.disabled) return;
    clearErrors(form);
    await busy(button, async () => {
      try {
        await logIn(form.querySelector('#login-email').value.trim(), form.querySelector('#login-password').value);
        navigate('#/');
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        showError(form, error, fieldMap('login', ['email', 'password']),
          error.status === 401 ? 'That email and password do not match an account.' : undefined);
      }
    });
  });
  return [title('Log in'), form, h('p', null, 'New here? ', h('a', { href: '#/register' }, 'Sign up'), '.')];
}

export function registerView({ navigate }) {
  const button = h('button', { type: 'submit', class: 'button primary' }, 'Register');
  const form = h('form', { class: 'stack narrow', novalidate: true }, alertBox(),
    field({ id: 'register-email', label: 'Email', type: 'email', autocomplete: 'email', required: true }),
    field({ id: 'register-password', label: 'Password', type: 'password', autocomplete: 'new-password', required: true, minlength: 8, maxlength: 128, hint: '8 to 128 characters.' }),
    field({ id: 'register-display-name', label: 'Display name', autocomplete: 'name', required: true, maxlength: 100 }),
    button);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (button.disabled) return;
    clearErrors(form);
    await busy(button, async () => {
      try {
        await register(
          form.querySelector('#register-email').value.trim(),
          form.querySelector('#register-password').value,
          form.querySelector('#register-display-name').value.trim());
        navigate('#/');
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        showError(form, error, fieldMap('register', ['email', 'password', 'display_name']),
          error.status === 409 ? 'An account with that email already exists. Log in instead.' : undefined);
      }
    });
  });
  return [title('Register'), form, h('p', null, 'Already have an account? ', h('a', { href: '#/login' }, 'Sign in'), '.')];
}

const roleName = (r) => String(r).replace(/^ROLE_/, '').toLowerCase();

export async function accountView({ signal }) {
  let user = currentUser();
  try {
    ({ user } = await call('getMe', { signal }));
    setUser(user);
  } catch (error) {
    if (!(error instanceof ApiError) || error.status === 401) throw error;
  }
  const facts = h('dl', { class: 'facts' });
  const show = () => facts.replaceChildren(
    h('dt', null, 'Display name'), h('dd', null, user.display_name),
    h('dt', null, 'Email'), h('dd', null, user.email),
    h('dt', null, 'Roles'), h('dd', null, (user.roles ?? []).map(roleName).join(', ')),
    h('dt', null, 'Member since'), h('dd', null, formatTime(user.create_time)));
  show();

  const button = h('button', { type: 'submit', class: 'button' }, 'Save name');
  const saved = h('p', { class: 'muted', 'aria-live': 'polite' });
  const form = h('form', { class: 'stack narrow', novalidate: true }, alertBox(),
    field({ id: 'account-display-name', label: 'New display name', autocomplete: 'name', maxlength: 100, value: user.display_name ?? '' }),
    button, saved);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (button.disabled) return;
    clearErrors(form);
    saved.textContent = '';
    await busy(button, async () => {
      try {
        const display = form.querySelector('#account-display-name').value.trim();
        ({ user } = await call('updateUser', { params: { user_id: user.id }, body: { display_name: display } }));
        setUser(user);
        show();
        saved.textContent = 'Saved.';
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        showError(form, error, fieldMap('account', ['display_name']));
      }
    });
  });

  return [
    title('Account'),
    facts,
    h('section', { 'aria-labelledby': 'edit-heading' }, h('h2', { id: 'edit-heading' }, 'Change your name'), form),
  ];
}
