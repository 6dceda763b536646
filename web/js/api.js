// The storefront's only way to the shop: the public REST API of the edge.
// Every operation used is listed in OPERATIONS (method + path template, as in
// /openapi.json); web/tests/api-contract.mjs checks each against the document.

export const OPERATIONS = {
  register: { method: 'POST', path: '/v1/users' },
  login: { method: 'POST', path: '/v1/sessions' },
  refreshToken: { method: 'POST', path: '/v1/tokens:refresh' },
  logout: { method: 'POST', path: '/v1/tokens:revoke' },
  getMe: { method: 'GET', path: '/v1/me' },
  updateUser: { method: 'PATCH', path: '/v1/users/{user_id}' },
  listProducts: { method: 'GET', path: '/v1/products' },
  getProduct: { method: 'GET', path: '/v1/products/{product_id}' },
  createProduct: { method: 'POST', path: '/v1/products' },
  updateProduct: { method: 'PATCH', path: '/v1/products/{product_id}' },
  placeOrder: { method: 'POST', path: '/v1/orders' },
  listOrders: { method: 'GET', path: '/v1/orders' },
  getOrder: { method: 'GET', path: '/v1/orders/{order_id}' },
  cancelOrder: { method: 'POST', path: '/v1/orders/{order_id}:cancel' },
  shipOrder: { method: 'POST', path: '/v1/orders/{order_id}:ship' },
  watchOrder: { method: 'GET', path: '/v1/orders/{order_id}:watch' },
};

/** Same origin unless <meta name="bazaar-api" content="https://..."> says otherwise. */
function apiBase() {
  const meta = globalThis.document?.querySelector('meta[name="bazaar-api"]');
  const content = meta?.getAttribute('content')?.trim();
  return content ? content.replace(/\/+$/, '') : '';
}
const BASE = apiBase();

/** An error answer of the API ({code, message, details}) or of the network. */
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `The shop answered ${status}.`);
    this.name = 'ApiError';
    this.status = status;
    this.code = body?.code ?? 0;
    this.details = Array.isArray(body?.details) ? body.details : [];
  }

  /** google.rpc.BadRequest field violations: [{field, description}]. */
  get fieldViolations() {
    const out = [];
    for (const d of this.details) {
      if (!String(d['@type'] ?? '').endsWith('google.rpc.BadRequest')) continue;
      for (const v of d.field_violations ?? d.fieldViolations ?? []) {
        out.push({ field: v.field ?? '', description: v.description ?? '' });
      }
    }
    return out;
  }

  /** google.rpc.ErrorInfo reason, e.g. INSUFFICIENT_STOCK. */
  get reason() {
    const info = this.details.find((d) => String(d['@type'] ?? '').endsWith('google.rpc.ErrorInfo'));
    return info?.reason ?? '';
  }

  /** True when retrying the same request may succeed (nothing was decided). */
  get retryable() {
    return this.status === 0 || this.status >= 500 || this.status === 429 || this.status === 499;
  }
}

const NETWORK_MESSAGE = 'Could not reach the shop. Check your connection and try again.';

// Tokens come from the session module (set at start-up), so that this module
// stays free of storage and UI concerns.
let tokens = { access: () => '', refresh: async () => false };
export function useTokens(provider) { tokens = provider; }

function url(op, params = {}, query = {}) {
  const path = op.path.replace(/\{([^}]+)\}/g, (_, name) => {
    const value = params[name];
    if (value === undefined || value === '') throw new Error(`missing path parameter ${name}`);
    return encodeURIComponent(value);
  });
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v !== undefined && v !== null && v !== '') qs.set(k, String(v));
  }
  const q = qs.toString();
  return `${BASE}${path}${q ? `?${q}` : ''}`;
}

async function send(name, { params, query, body, signal, auth = true }) {
  const op = OPERATIONS[name];
  if (!op) throw new Error(`unknown operation ${name}`);
  const headers = { accept: op === OPERATIONS.watchOrder ? 'application/x-ndjson' : 'application/json' };
  const token = auth ? tokens.access() : '';
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response;
  try {
    response = await fetch(url(op, params, query), {
      method: op.method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      credentials: 'omit',
    });
  } catch (e) {
    if (e?.name === 'AbortError') throw e;
    throw new ApiError(0, { message: NETWORK_MESSAGE });
  }
  return { response, hadToken: Boolean(token) };
}

async function errorFrom(response) {
  let body = null;
  try { body = await response.json(); } catch { /* not JSON */ }
  return new ApiError(response.status, body);
}

/**
 * Calls one operation. `params` fill the path template, `query` the query
 * string, `body` is sent as JSON. Resolves to the parsed answer; rejects
 * with ApiError. A 401 with a token refreshes the session once and retries.
 */
export async function call(name, options = {}) {
  let { response, hadToken } = await send(name, options);
  if (response.status === 401 && hadToken && (await tokens.refresh())) {
    ({ response } = await send(name, options));
  }
  if (!response.ok) throw await errorFrom(response);
  const text = await response.text();
  return text ? JSON.parse(text) : {};
}

/**
 * Follows GET /v1/orders/{id}:watch: an NDJSON stream, one
 * {"result": {"order": ...}} per line, possibly a last {"error": {...}}.
 * Calls onOrder for each order; resolves when the stream ends (or when
 * onOrder returns true: the caller has seen enough); rejects with ApiError.
 * One stream only: followOrder re-opens it.
 */
export async function watchOrder(orderId, { signal, onOrder }) {
  const options = { params: { order_id: orderId }, signal };
  let { response, hadToken } = await send('watchOrder', options);
  if (response.status === 401 && hadToken && (await tokens.refresh())) {
    ({ response } = await send('watchOrder', options));
  }
  if (!response.ok) throw await errorFrom(response);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const handle = (line) => {
    if (!line.trim()) return false;
    const message = JSON.parse(line);
    if (message.error) throw new ApiError(response.status === 200 ? 500 : response.status, message.error);
    const order = message.result?.order;
    return order ? onOrder(order) === true : false;
  };
  try {
    for (;;) {
      let chunk;
      try {
        chunk = await reader.read();
      } catch (e) {
        if (e?.name === 'AbortError' || signal?.aborted) throw e;
        throw new ApiError(0, { message: NETWORK_MESSAGE });
      }
      if (chunk.done) break;
      buffer += decoder.decode(chunk.value, { stream: true });
      let newline;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        if (handle(line)) return;
      }
    }
    buffer += decoder.decode();
    handle(buffer);
  } finally {
    reader.cancel().catch(() => {});
  }
}

/** How followOrder re-opens the watch (times in ms). */
export const FOLLOW = {
  /** A stream open this long (or that brought a new status) was healthy: the next one opens at once. */
  stableMs: 10_000,
  /** The first wait after a stream that ended early or failed; it doubles each time, */
  baseDelayMs: 1_000,
  /** up to this. */
  maxDelayMs: 30_000,
  /** Failed opens in a row (network, 5xx) after which followOrder gives up. */
  maxFailures: 5,
};

/** Waits `ms`, or less when `signal` aborts (then rejects with an AbortError). */
export function pause(ms, signal) {
  return new Promise((resolve, reject) => {
    const aborted = () => reject(signal.reason instanceof Error ? signal.reason : new DOMException('aborted', 'AbortError'));
    if (signal?.aborted) { aborted(); return; }
    const onAbort = () => { clearTimeout(timer); aborted(); };
    const timer = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Follows an order across as many watch streams as it takes: calls
 * onOrder(order) for each order a stream brings, until done(order) holds
 * (a terminal status: the server ends the stream there too) or `signal`
 * aborts. A stream the server ends first (its maximum lifetime, a restart)
 * is re-opened: at once after a healthy one, else after a wait that doubles
 * from FOLLOW.baseDelayMs up to FOLLOW.maxDelayMs. onWait({delayMs, error})
 * is told before each wait; `from` is the status the caller already shows.
 * Resolves 'done' or 'aborted'; rejects with the
 * ApiError that made it give up (one that retrying cannot fix, or
 * FOLLOW.maxFailures failed opens in a row).
 */
export async function followOrder(orderId, {
  signal, onOrder, done, onWait = () => {}, from,
  policy = FOLLOW, watch = watchOrder, wait = pause, now = Date.now,
}) {
  const isAborted = (error) => signal?.aborted || error?.name === 'AbortError';
  let finished = false;
  let status = from; // the raw status last seen (a change is news)
  let early = 0; // streams in a row that ended early or failed
  let failures = 0; // of which failed
  while (!signal?.aborted) {
    const opened = now();
    let news = false;
    let error = null;
    try {
      await watch(orderId, {
        signal,
        onOrder: (order) => {
          if (status !== undefined && order.status !== status) news = true;
          status = order.status;
          onOrder(order);
          finished = done(order) === true;
          return finished;
        },
      });
    } catch (e) {
      if (isAborted(e)) return 'aborted';
      if (!finished) error = e;
    }
    if (finished) return 'done';
    if (signal?.aborted) return 'aborted';
    if (error && !(error instanceof ApiError && error.retryable)) throw error;
    if (news || now() - opened >= policy.stableMs) {
      early = 0;
      failures = 0;
    } else {
      early += 1;
    }
    if (error) {
      failures += 1;
      if (failures >= policy.maxFailures) throw error;
    } else {
      failures = 0;
    }
    const delayMs = early ? Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (early - 1)) : 0;
    onWait({ delayMs, error });
    try {
      await wait(delayMs, signal);
    } catch (e) {
      if (isAborted(e)) return 'aborted';
      throw e;
    }
  }
  return 'aborted';
}
