// Labelled inputs with a slot for their error, and the mapping of the API's
// google.rpc.BadRequest field violations onto them.
import { h } from './dom.js';

/**
 * A labelled control: <label for=id>, the control, an optional hint and the
 * error slot `error-<id>` that aria-describedby always names.
 * kind: 'input' (default), 'textarea' or 'select' (options: [[value, text]]).
 */
export function field({ id, label, kind = 'input', options = [], hint, ...attrs }) {
  const described = [hint ? `hint-${id}` : null, `error-${id}`].filter(Boolean).join(' ');
  const common = { id, name: id, 'aria-describedby': described, ...attrs };
  let control;
  if (kind === 'select') {
    control = h('select', common, options.map(([value, text]) => h('option', { value }, text)));
    if (attrs.value !== undefined) control.value = attrs.value;
  } else if (kind === 'textarea') {
    control = h('textarea', common);
  } else {
    control = h('input', { type: 'text', ...common });
  }
  return h('div', { class: 'field' },
    h('label', { for: id }, label),
    hint ? h('p', { class: 'hint', id: `hint-${id}` }, hint) : null,
    control,
    h('p', { class: 'field-error', id: `error-${id}` }));
}

/** The form's general error slot (role=alert; hidden while empty). */
export const alertBox = () => h('div', { class: 'alert', role: 'alert' });

export function clearErrors(form) {
  for (const el of form.querySelectorAll('[aria-invalid="true"]')) el.removeAttribute('aria-invalid');
  for (const el of form.querySelectorAll('.field-error')) el.textContent = '';
  const alert = form.querySelector('[role="alert"]');
  if (alert) alert.textContent = '';
}

/** Marks one control invalid with a message next to it. */
export function setFieldError(form, id, message) {
  const input = form.querySelector(`#${CSS.escape(id)}`);
  const slot = form.querySelector(`#error-${CSS.escape(id)}`);
  if (!input || !slot) return false;
  input.setAttribute('aria-invalid', 'true');
  slot.textContent = slot.textContent ? `${slot.textContent} ${message}` : message;
  return true;
}

export function setAlert(form, message) {
  const alert = form.querySelector('[role="alert"]');
  if (alert) alert.textContent = message;
}

const sentence = (text) => {
  const t = String(text ?? '').trim();
  return t ? t[0].toUpperCase() + t.slice(1) : t;
};

/**
 * Shows an ApiError on a form: each field violation next to the control that
 * `fieldToId(field)` names, the rest (and the error's message when no field
 * matched) in the alert. Focuses the first invalid control.
 */
export function showError(form, error, fieldToId = () => null, fallback) {
  clearErrors(form);
  const violations = error?.fieldViolations ?? [];
  const general = [];
  let placed = 0;
  for (const v of violations) {
    const id = fieldToId(v.field);
    if (id && setFieldError(form, id, sentence(v.description))) placed += 1;
    else general.push(v.field ? `${v.field}: ${v.description}` : v.description);
  }
  if (general.length) setAlert(form, general.join('; '));
  else if (!placed) setAlert(form, fallback ?? error?.message ?? 'Something went wrong.');
  else setAlert(form, placed === 1 ? 'Please correct the field marked below.' : `Please correct the ${placed} fields marked below.`);
  const first = form.querySelector('[aria-invalid="true"]');
  if (first) first.focus();
}

/**
 * Disables a button (aria-busy, a spinner from CSS; its name stays the same)
 * while `work` runs, so a second click cannot start a second request.
 */
export async function busy(button, work) {
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
}
