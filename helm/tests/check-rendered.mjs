// Checks rendered Bazaar manifests against Istio's schemas and against the
// mesh policy they were rendered from.
//
//   node helm/tests/check-rendered.mjs --modules DIR --policy FILE \
//     --alerts ALERTS.yml --dashboard DASHBOARD.json NAME=RENDERED.yaml...
//
// DIR is the node_modules holding @kubernetes-models/istio@3.0.1 and yaml
// (scripts/tools.sh istio-models). Each NAME=FILE is one `helm template`
// output (one values set). Everything it finds wrong is printed; the exit
// status is 1 if anything was. Nothing is skipped: a missing module, an
// Istio kind it cannot validate or an empty rendering is an error.
//
// What is checked, per rendering:
// - every Istio resource: the @kubernetes-models/istio class's validate()
//   (types, enums, required fields), then unknown fields (a field of `spec`
//   the schema never reads) and durations (Istio's syntax, at least 1ms, whole
//   milliseconds: what its admission webhook accepts);
// - every ServiceAccount named by an AuthorizationPolicy exists in the chart;
// - the principals allowed to call each method (internal RPCs reported by
//   name) are exactly the callers the policy names, groups expanded;
// - VirtualService timeouts and retries and DestinationRule breakers equal
//   the policy's numbers;
// - NetworkPolicies allow exactly the caller -> callee pairs of the policy;
// - every Service port is named by protocol, with a matching appProtocol;
// - every container has readiness and liveness probes, requests and limits,
//   and the restricted securityContext;
// - order and notification get the same BAZAAR__EVENTS__ server, stream
//   and subject prefix;
// - every workload's admin port: the ConfigMap binds it on 0.0.0.0, it is
//   container and Service port http-metrics, the pod's prometheus.io
//   annotations name it; under Istio a PeerAuthentication makes that port
//   (and no other, the edge's plaintext option aside) PERMISSIVE and an
//   ALLOW rule opens it (and no gRPC method) to any source; a NetworkPolicy
//   admits it;
// - the dashboard and rules ConfigMaps hold exactly ALERTS.yml and
//   DASHBOARD.json; a PrometheusRule's groups equal ALERTS.yml's; a
//   ServiceMonitor per workload selects its Service and scrapes
//   http-metrics (no schema knows these CRDs: checked field by field).

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const args = process.argv.slice(2);
const option = (name) => {
  const i = args.indexOf(name);
  if (i < 0 || i + 1 >= args.length) usage(`${name} is required`);
  const [value] = args.splice(i, 2).slice(1);
  return value;
};
function usage(problem) {
  console.error(`check-rendered: ${problem}\nusage: check-rendered.mjs --modules DIR --policy FILE --alerts FILE --dashboard FILE NAME=RENDERED.yaml...`);
  process.exit(2);
}
const modules = resolve(option("--modules"));
const policyFile = option("--policy");
const alertsFile = option("--alerts");
const dashboardFile = option("--dashboard");
if (args.length === 0) usage("no rendering given");

const require = createRequire(join(modules, "noop.js"));
const YAML = require("yaml");
const ISTIO = join(modules, "@kubernetes-models", "istio");

const problems = [];
let current = "";
const fail = (message) => problems.push(`[${current}] ${message}`);

// ---------------------------------------------------------------- policy --

const policy = YAML.parse(readFileSync(policyFile, "utf8"));
const groups = policy.groups ?? {};
const expand = (callers) => [...new Set(callers.flatMap((c) => groups[c] ?? [c]))].sort();
const principalOf = (workload) => `${policy.trust_domain}/ns/${policy.namespace}/sa/${workload}`;
// The edge: whoever the `edge` group names, else the gateway.
const edge = new Set(groups.edge ?? ["gateway"]);
// Every method of the policy, with its expanded callers.
const methods = [];
for (const [service, spec] of Object.entries(policy.services)) {
  for (const [name, rule] of Object.entries(spec.methods)) {
    const callers = expand(rule.callers);
    methods.push({
      service,
      name,
      path: `/${spec.grpc_service}/${name}`,
      callers,
      internal: !callers.some((c) => edge.has(c)),
      rule,
      spec,
    });
  }
}
const internal = methods.filter((m) => m.internal);
if (internal.length === 0) problems.push("the policy has no internal RPC (one no edge caller may call): nothing to check");

// -------------------------------------------------------------- durations --

const UNIT_NS = { h: 3600e9, m: 60e9, s: 1e9, ms: 1e6, us: 1e3, "µs": 1e3, ns: 1 };
// Nanoseconds of a Go/Istio duration ("1h2m", "1.5s", "250ms"), or null.
function durationNs(text) {
  if (typeof text !== "string" || !/^(\d+(\.\d+)?(h|m|s|ms|us|µs|ns))+$/.test(text)) return null;
  let total = 0;
  for (const [, number, unit] of text.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)/g)) total += Math.round(Number(number) * UNIT_NS[unit]);
  return total;
}
// Istio's Duration-typed fields (networking and security APIs).
const DURATION_FIELDS = new Set([
  "timeout", "perTryTimeout", "baseEjectionTime", "interval", "connectTimeout", "idleTimeout",
  "maxConnectionDuration", "time", "fixedDelay", "ttl", "drainDuration", "maxStreamDuration",
]);
function checkDurations(value, path) {
  if (Array.isArray(value)) return value.forEach((v, i) => checkDurations(v, `${path}/${i}`));
  if (!value || typeof value !== "object") return;
  for (const [key, v] of Object.entries(value)) {
    if (DURATION_FIELDS.has(key) && typeof v !== "object") {
      const ns = durationNs(v);
      if (ns === null) fail(`${path}/${key}: ${JSON.stringify(v)} is not a duration`);
      else if (ns < 1e6) fail(`${path}/${key}: ${v} is under 1ms (Istio rejects it; leave the field out for none)`);
      else if (ns % 1e6 !== 0) fail(`${path}/${key}: ${v} is not whole milliseconds`);
    }
    checkDurations(v, `${path}/${key}`);
  }
}

// ------------------------------------------------------------ Istio kinds --

// Wraps `value` so that every key the schema's validator reads is recorded.
function track(value, path, seen) {
  if (Array.isArray(value)) return value.map((v, i) => track(v, `${path}/${i}`, seen));
  if (!value || typeof value !== "object") return value;
  const read = new Set();
  seen.push({ path, keys: Object.keys(value), read });
  const inner = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, track(v, `${path}/${k}`, seen)]));
  const note = (k) => typeof k === "string" && read.add(k);
  return new Proxy(inner, {
    get: (t, k, r) => (note(k), Reflect.get(t, k, r)),
    has: (t, k) => (note(k), Reflect.has(t, k)),
    getOwnPropertyDescriptor: (t, k) => (note(k), Reflect.getOwnPropertyDescriptor(t, k)),
  });
}

const classes = new Map();
async function istioModel(apiVersion, kind) {
  const key = `${apiVersion}/${kind}`;
  if (!classes.has(key)) {
    const [group, version] = apiVersion.split("/");
    const camel = (s) => s.replace(/(^|[.-])([a-z0-9])/g, (_, __, c) => c.toUpperCase());
    let model = null;
    try {
      const cls = (await import(pathToFileURL(join(ISTIO, group, version, `${kind}.js`)).href))[kind];
      const { validate } = await import(pathToFileURL(join(ISTIO, "_schemas", `${camel(group)}${camel(version)}${kind}.js`)).href);
      if (typeof cls === "function" && typeof validate === "function") model = { cls, validate };
    } catch {
      model = null;
    }
    classes.set(key, model);
  }
  return classes.get(key);
}

async function checkIstio(doc, where) {
  const model = await istioModel(doc.apiVersion, doc.kind);
  if (!model) return fail(`${where}: @kubernetes-models/istio has no ${doc.apiVersion} ${doc.kind}`);
  try {
    new model.cls(doc).validate();
  } catch (error) {
    return fail(`${where}: ${error.message}`);
  }
  const seen = [];
  if (!model.validate(track(doc, "", seen))) return fail(`${where}: invalid: ${JSON.stringify(model.validate.errors)}`);
  for (const { path, keys, read } of seen) {
    if (!path.startsWith("/spec")) continue;
    for (const k of keys) if (!read.has(k)) fail(`${where}: unknown field ${path}/${k}`);
  }
  checkDurations(doc.spec, `${where} spec`);
}

// ------------------------------------------------------------- workloads --

const RESTRICTED = [
  ["runAsNonRoot", (c, p) => c?.runAsNonRoot === true || (p?.runAsNonRoot === true && c?.runAsNonRoot !== false)],
  ["readOnlyRootFilesystem", (c) => c?.readOnlyRootFilesystem === true],
  ["allowPrivilegeEscalation: false", (c) => c?.allowPrivilegeEscalation === false],
  ["capabilities.drop [ALL]", (c) => (c?.capabilities?.drop ?? []).includes("ALL")],
  ["seccompProfile RuntimeDefault", (c, p) => (c?.seccompProfile ?? p?.seccompProfile)?.type === "RuntimeDefault"],
];

function checkPodSpec(pod, where, containerPorts) {
  for (const c of [...(pod.initContainers ?? []), ...(pod.containers ?? [])]) {
    const at = `${where} container ${c.name}`;
    for (const probe of ["readinessProbe", "livenessProbe"]) {
      const p = c[probe];
      if (!p) { fail(`${at}: no ${probe}`); continue; }
      const port = p.grpc?.port ?? p.httpGet?.port ?? p.tcpSocket?.port;
      if (port === undefined && !p.exec) fail(`${at}: ${probe} has no handler`);
      if (port !== undefined && !containerPorts(c).has(port)) fail(`${at}: ${probe} port ${port} is not a container port`);
    }
    for (const kind of ["requests", "limits"]) {
      for (const resource of ["cpu", "memory"]) {
        if (!c.resources?.[kind]?.[resource]) fail(`${at}: no resources.${kind}.${resource}`);
      }
    }
    for (const [name, ok] of RESTRICTED) if (!ok(c.securityContext, pod.securityContext)) fail(`${at}: securityContext lacks ${name}`);
  }
}

const PORT_NAME = /^(grpc|grpc-web|http|http2|https|tcp|tls|udp)(-[a-z0-9-]+)?$/;
const APP_PROTOCOL = { grpc: "grpc", "grpc-web": "grpc-web", http: "http", http2: "http2", https: "https", tcp: "tcp", tls: "tls", udp: "udp" };

// Istio's string match of AuthorizationPolicy paths.
const pathMatches = (pattern, path) =>
  pattern === "*" ||
  pattern === path ||
  (pattern.endsWith("*") && path.startsWith(pattern.slice(0, -1))) ||
  (pattern.startsWith("*") && path.endsWith(pattern.slice(1)));

const selects = (selector, labels) => Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);

// The operations of an AuthorizationPolicy rule that can match a connection
// to `port`: an operation naming other ports cannot. No `to`: every one.
const operationsOn = (rule, port) =>
  (rule.to ?? [{ operation: {} }]).map((t) => t.operation ?? {}).filter((o) => !o.ports || o.ports.map(String).includes(String(port)));

// --------------------------------------------------------- observability --

const alertsText = readFileSync(alertsFile, "utf8");
const alerts = YAML.parse(alertsText);
if (!alerts?.groups?.length) problems.push(`${alertsFile}: no rule groups`);
const dashboardText = readFileSync(dashboardFile, "utf8");
const METRICS_PORT_NAME = "http-metrics";
// Fields of the Prometheus Operator's kinds the chart may set (its CRDs are
// not here to validate against).
const SERVICE_MONITOR_FIELDS = {
  spec: ["selector", "namespaceSelector", "endpoints", "jobLabel", "targetLabels", "podTargetLabels"],
  endpoint: ["port", "path", "scheme", "interval", "scrapeTimeout", "honorLabels", "relabelings", "metricRelabelings"],
};
const PROMETHEUS_DURATION = /^(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?$/;
// Equal as data: helm's toYaml sorts mapping keys.
const canonical = (v) =>
  Array.isArray(v) ? v.map(canonical) : v && typeof v === "object" ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical(v[k])])) : v;
const deepEqual = (a, b) => JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));

// ------------------------------------------------------------------ main --

let istioCount = 0;
let monitorCount = 0;
let prometheusRuleCount = 0;
for (const spec of args) {
  const eq = spec.indexOf("=");
  if (eq < 1) usage(`${spec}: expected NAME=FILE`);
  current = spec.slice(0, eq);
  const docs = YAML.parseAllDocuments(readFileSync(spec.slice(eq + 1), "utf8"))
    .map((d) => {
      if (d.errors.length) fail(`YAML: ${d.errors.map((e) => e.message).join("; ")}`);
      return d.toJS();
    })
    .filter(Boolean);
  if (docs.length === 0) { fail("nothing rendered"); continue; }
  const of = (kind) => docs.filter((d) => d.kind === kind);
  const named = (kind, name) => of(kind).find((d) => d.metadata.name === name);
  const name = (d) => `${d.kind} ${d.metadata?.name}`;

  // Istio resources.
  const istioDocs = docs.filter((d) => /(^|\.)istio\.io\//.test(d.apiVersion ?? ""));
  istioCount += istioDocs.length;
  for (const d of istioDocs) await checkIstio(d, name(d));

  // Workloads: ServiceAccounts named as workloads, probes, resources, security.
  const deployments = of("Deployment");
  const workloadNames = deployments.map((d) => d.metadata.name).sort();
  for (const w of workloadNames) if (!policy.workloads.includes(w)) fail(`Deployment ${w} is no workload of the policy`);
  for (const s of Object.keys(policy.services)) if (!workloadNames.includes(s)) fail(`the policy's service ${s} has no Deployment`);
  const serviceAccounts = new Set(of("ServiceAccount").map((d) => d.metadata.name));
  for (const kind of ["Deployment", "StatefulSet", "DaemonSet", "Job"]) {
    for (const d of of(kind)) {
      const pod = d.spec.template.spec;
      if (kind === "Deployment" && pod.serviceAccountName !== d.metadata.name) {
        fail(`${name(d)} runs as ${pod.serviceAccountName}, not as its workload's ServiceAccount`);
      }
      if (!serviceAccounts.has(pod.serviceAccountName)) fail(`${name(d)}: ServiceAccount ${pod.serviceAccountName} is not in the chart`);
      const ports = (c) => new Set((c.ports ?? []).flatMap((p) => [p.containerPort, p.name]));
      checkPodSpec(pod, name(d), ports);
    }
  }

  // Services: ports named by protocol.
  for (const s of of("Service")) {
    for (const p of s.spec.ports ?? []) {
      const m = PORT_NAME.exec(p.name ?? "");
      if (!m) fail(`${name(s)} port ${p.port}: name ${JSON.stringify(p.name)} does not start with a protocol (grpc-, http-, ...)`);
      else if (p.appProtocol !== APP_PROTOCOL[m[1]]) fail(`${name(s)} port ${p.name}: appProtocol ${p.appProtocol} instead of ${APP_PROTOCOL[m[1]]}`);
    }
  }

  // Mesh mode as the workloads are told.
  const istioOn = istioDocs.length > 0;
  for (const w of workloadNames) {
    const config = named("ConfigMap", `${w}-config`);
    if (!config) { fail(`workload ${w} has no ConfigMap ${w}-config`); continue; }
    const mode = config.data?.BAZAAR__MESH__MODE;
    if (mode !== (istioOn ? "sidecar" : "proxyless")) fail(`ConfigMap ${w}-config: BAZAAR__MESH__MODE=${mode} with Istio ${istioOn ? "on" : "off"}`);
    // The service port wants a caller identity, which the kubelet lacks.
    const probe = config.data?.BAZAAR__SERVER__PROBE_LISTEN;
    if (w !== "gateway") {
      const probed = named("Deployment", w)?.spec.template.spec.containers.map((c) => c.readinessProbe?.grpc?.port);
      if (!probe) fail(`ConfigMap ${w}-config: no BAZAAR__SERVER__PROBE_LISTEN for the probes`);
      else if (!probed?.every((p) => p !== undefined && probe.endsWith(`:${p}`))) fail(`Deployment ${w}: gRPC probes not on the probe port ${probe}`);
    }
  }

  // Order publishes the events notification consumes: both name the same
  // server, stream and subjects.
  const sharedEvents = ["BAZAAR__EVENTS__NATS_URL", "BAZAAR__EVENTS__STREAM", "BAZAAR__EVENTS__SUBJECT_PREFIX"];
  const eventsOf = (w) => JSON.stringify(sharedEvents.map((k) => named("ConfigMap", `${w}-config`)?.data?.[k] ?? null));
  if (workloadNames.includes("order") && workloadNames.includes("notification") && eventsOf("order") !== eventsOf("notification")) {
    fail(`ConfigMaps order-config and notification-config: [events] ${eventsOf("order")} and ${eventsOf("notification")} differ`);
  }

  if (istioOn) {
    // AuthorizationPolicies: principals exist; each method allows exactly its callers.
    const policies = of("AuthorizationPolicy");
    if (!policies.some((p) => !p.spec?.selector && !p.spec?.rules && !p.spec?.action)) fail("no deny-all AuthorizationPolicy (spec: {}) for the namespace");
    if (!of("PeerAuthentication").some((p) => !p.spec.selector && p.spec.mtls?.mode === "STRICT")) fail("no namespace-wide STRICT PeerAuthentication");
    for (const p of policies) {
      for (const rule of p.spec?.rules ?? []) {
        for (const from of rule.from ?? []) {
          for (const principal of from.source?.principals ?? []) {
            const m = /^([^/]+)\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(principal);
            if (!m) fail(`${name(p)}: principal ${principal} is not <trust-domain>/ns/<ns>/sa/<sa>`);
            else if (m[2] !== p.metadata.namespace || !serviceAccounts.has(m[3])) fail(`${name(p)}: principal ${principal}: no such ServiceAccount in the chart`);
          }
        }
      }
    }
    for (const m of methods) {
      const labels = named("Deployment", m.service)?.spec.template.metadata.labels;
      const allowed = new Set();
      for (const p of policies) {
        if ((p.spec?.action ?? "ALLOW") !== "ALLOW" || !p.spec?.rules || !selects(p.spec.selector?.matchLabels, labels)) continue;
        for (const rule of p.spec.rules) {
          // Only operations that can match the service's port; one
          // without paths matches every path.
          const paths = operationsOn(rule, m.spec.port).flatMap((o) => o.paths ?? ["*"]);
          if (!paths.some((pattern) => pathMatches(pattern, m.path))) continue;
          const sources = rule.from ?? [{ source: { principals: ["*"] } }];
          for (const f of sources) for (const pr of f.source?.principals ?? ["<any source>"]) allowed.add(pr);
        }
      }
      const expected = m.callers.filter((c) => serviceAccounts.has(c)).map(principalOf).sort();
      const got = [...allowed].sort();
      if (JSON.stringify(got) !== JSON.stringify(expected)) {
        fail(`${m.internal ? "internal RPC" : "RPC"} ${m.path}: allowed ${JSON.stringify(got)}, the policy says ${JSON.stringify(expected)}`);
      }
    }
    for (const infra of policy.infrastructure) {
      for (const w of Object.keys(policy.services)) {
        const p = named("AuthorizationPolicy", w);
        const paths = (p?.spec?.rules ?? []).flatMap((r) => (r.to ?? []).flatMap((t) => t.operation?.paths ?? []));
        if (!paths.some((pattern) => pathMatches(pattern, `/${infra}/Check`))) fail(`AuthorizationPolicy ${w}: ${infra} is not allowed`);
      }
    }

    // VirtualServices and DestinationRules carry the policy's numbers.
    for (const [service, spec] of Object.entries(policy.services)) {
      const vs = named("VirtualService", service);
      const dr = named("DestinationRule", service);
      if (!vs || !dr) { fail(`service ${service}: no VirtualService or DestinationRule`); continue; }
      for (const [method, rule] of Object.entries(spec.methods)) {
        const path = `/${spec.grpc_service}/${method}`;
        const route = vs.spec.http.find((r) => r.match?.some((mm) => mm.uri?.exact === path));
        if (!route) { fail(`${name(vs)}: no route for ${path}`); continue; }
        const timeout = rule.timeout ?? spec.timeout;
        const none = durationNs(timeout) === 0;
        if (none ? route.timeout !== undefined : durationNs(route.timeout) !== durationNs(timeout)) {
          fail(`${name(vs)} ${method}: timeout ${route.timeout} instead of ${none ? "none" : timeout}`);
        }
        const attempts = rule.idempotent ? spec.retries.attempts - 1 : 0;
        if (route.retries?.attempts !== attempts) fail(`${name(vs)} ${method}: retries.attempts ${route.retries?.attempts} instead of ${attempts}`);
        if (attempts > 0 && route.retries.retryOn !== "unavailable") fail(`${name(vs)} ${method}: retryOn ${route.retries.retryOn}`);
        if (route.retries?.perTryTimeout !== undefined) fail(`${name(vs)} ${method}: perTryTimeout set`);
      }
      const cb = spec.circuit_breaker;
      const tp = dr.spec.trafficPolicy ?? {};
      const want = [
        ["tls.mode", tp.tls?.mode, "ISTIO_MUTUAL"],
        ["connectionPool.http.http2MaxRequests", tp.connectionPool?.http?.http2MaxRequests, cb.max_requests],
        ["connectionPool.http.http1MaxPendingRequests", tp.connectionPool?.http?.http1MaxPendingRequests, cb.max_pending_requests],
        ["outlierDetection.consecutive5xxErrors", tp.outlierDetection?.consecutive5xxErrors, cb.consecutive_failures],
        ["outlierDetection.consecutiveGatewayErrors", tp.outlierDetection?.consecutiveGatewayErrors, cb.consecutive_failures],
        ["outlierDetection.baseEjectionTime", durationNs(tp.outlierDetection?.baseEjectionTime), durationNs(cb.ejection_time)],
        ["outlierDetection.maxEjectionPercent", tp.outlierDetection?.maxEjectionPercent, cb.max_ejection_percent],
      ];
      for (const [field, got, expected] of want) if (got !== expected) fail(`${name(dr)}: ${field} is ${got}, the policy says ${expected}`);
    }
  }

  // Admin ports: bound, exposed, annotated, reachable through the mesh.
  const metricsPorts = new Map();
  for (const w of workloadNames) {
    const d = named("Deployment", w);
    const env = named("ConfigMap", `${w}-config`)?.data ?? {};
    const key = w === "gateway" ? "BAZAAR__GATEWAY__ADMIN_LISTEN" : "BAZAAR__SERVER__ADMIN_LISTEN";
    const listen = /^0\.0\.0\.0:(\d+)$/.exec(env[key] ?? "");
    if (!listen) { fail(`ConfigMap ${w}-config: ${key}=${env[key]} does not bind the admin port on 0.0.0.0`); continue; }
    const port = Number(listen[1]);
    metricsPorts.set(w, port);
    const containerPort = d?.spec.template.spec.containers.flatMap((c) => c.ports ?? []).find((p) => p.name === METRICS_PORT_NAME);
    if (containerPort?.containerPort !== port) fail(`Deployment ${w}: container port ${METRICS_PORT_NAME} is ${containerPort?.containerPort}, the admin port ${port}`);
    const servicePort = (named("Service", w)?.spec.ports ?? []).find((p) => p.name === METRICS_PORT_NAME);
    if (servicePort?.port !== port || ![port, METRICS_PORT_NAME].includes(servicePort?.targetPort)) fail(`Service ${w}: no port ${METRICS_PORT_NAME} ${port} to the admin port`);
    const annotations = d?.spec.template.metadata.annotations ?? {};
    if (annotations["prometheus.io/scrape"] !== undefined) {
      const want = { "prometheus.io/scrape": "true", "prometheus.io/port": String(port), "prometheus.io/path": "/metrics" };
      // Istio's metrics merging would point them at the agent's port 15020,
      // which the NetworkPolicies keep closed.
      if (istioOn) want["prometheus.istio.io/merge-metrics"] = "false";
      for (const [k, v] of Object.entries(want)) if (annotations[k] !== v) fail(`Deployment ${w}: pod annotation ${k}=${annotations[k]} instead of ${v}`);
    }
    if (istioOn) {
      const labels = d?.spec.template.metadata.labels;
      const peers = of("PeerAuthentication").filter((p) => p.spec.selector && selects(p.spec.selector.matchLabels, labels));
      if (peers.length !== 1) fail(`workload ${w}: ${peers.length} PeerAuthentications select it (one, for its port-level modes)`);
      for (const p of peers) {
        if (p.spec.mtls?.mode !== "STRICT") fail(`${name(p)}: mtls ${p.spec.mtls?.mode} instead of STRICT`);
        const levels = p.spec.portLevelMtls ?? {};
        if (levels[port]?.mode !== "PERMISSIVE") fail(`${name(p)}: the admin port ${port} is not PERMISSIVE (a scraper outside the mesh speaks plaintext)`);
        for (const [other, level] of Object.entries(levels)) {
          if (Number(other) === port || level.mode !== "PERMISSIVE") continue;
          const edge = w === "gateway" && Number(other) === Number(named("Service", "gateway")?.spec.ports.find((sp) => sp.name === "http-rest")?.port);
          if (!edge) fail(`${name(p)}: port ${other} is PERMISSIVE too`);
        }
      }
      // Plaintext scrapers have no principal: the rule must admit any source.
      const open = of("AuthorizationPolicy").some(
        (p) =>
          (p.spec?.action ?? "ALLOW") === "ALLOW" &&
          selects(p.spec?.selector?.matchLabels, labels) &&
          (p.spec?.rules ?? []).some((r) => !r.from && !r.when && operationsOn(r, port).some((o) => !o.paths && !o.methods && !o.hosts)),
      );
      if (!open) fail(`AuthorizationPolicy: no ALLOW rule opens ${w}'s admin port ${port} to any source`);
    }
  }

  // NetworkPolicies: exactly the policy's caller -> callee pairs.
  const netpols = of("NetworkPolicy");
  if (netpols.length) {
    const expected = new Set();
    for (const m of methods) for (const c of m.callers) if (workloadNames.includes(c)) expected.add(`${c}->${m.service}:${m.spec.port}`);
    const got = new Set();
    for (const np of netpols) {
      const callee = np.spec.podSelector.matchLabels?.["app.kubernetes.io/name"];
      for (const rule of np.spec.ingress ?? []) {
        // The admin port is Prometheus's, not a caller's.
        const ports = (rule.ports ?? []).map((p) => p.port).filter((p) => p !== metricsPorts.get(callee));
        for (const from of rule.from ?? []) {
          const caller = from.podSelector?.matchLabels?.["app.kubernetes.io/name"];
          if (!caller || from.namespaceSelector || from.ipBlock) continue;
          for (const port of ports) got.add(`${caller}->${callee}:${port}`);
        }
      }
    }
    const diff = (a, b) => [...a].filter((x) => !b.has(x)).sort();
    const missing = diff(expected, got);
    const extra = diff(got, expected);
    if (missing.length) fail(`NetworkPolicy does not allow ${missing.join(", ")}`);
    if (extra.length) fail(`NetworkPolicy allows ${extra.join(", ")}, which the policy does not`);
    for (const [w, port] of metricsPorts) {
      const np = netpols.find((n) => n.spec.podSelector.matchLabels?.["app.kubernetes.io/name"] === w);
      if (!(np?.spec.ingress ?? []).some((r) => (r.ports ?? []).some((p) => p.port === port))) fail(`NetworkPolicy ${w}: the admin port ${port} is not admitted`);
    }
    const deny = netpols.find((np) => !np.spec.ingress && !np.spec.egress && np.spec.policyTypes?.includes("Ingress") && np.spec.policyTypes?.includes("Egress"));
    if (!deny) fail("no default-deny NetworkPolicy");
  }

  const monitoring = checkMonitoring(docs, workloadNames);
  monitorCount += monitoring.monitors;
  prometheusRuleCount += monitoring.rules;
}

// The Prometheus Operator's kinds and the monitoring ConfigMaps, per rendering.
function checkMonitoring(docs, workloadNames) {
  const of = (kind) => docs.filter((d) => d.kind === kind);
  for (const c of of("ConfigMap")) {
    if (c.data?.["alerts.yml"] !== undefined && c.data["alerts.yml"] !== alertsText) fail(`ConfigMap ${c.metadata.name}: alerts.yml differs from ${alertsFile}`);
    if (c.data?.["bazaar.json"] !== undefined) {
      if (c.data["bazaar.json"] !== dashboardText) fail(`ConfigMap ${c.metadata.name}: bazaar.json differs from ${dashboardFile}`);
      if (c.metadata.labels?.grafana_dashboard === undefined) fail(`ConfigMap ${c.metadata.name}: no grafana_dashboard label for Grafana's sidecar`);
    }
  }
  for (const d of docs.filter((x) => /^monitoring\.coreos\.com\//.test(x.apiVersion ?? ""))) {
    const where = `${d.kind} ${d.metadata?.name}`;
    if (d.apiVersion !== "monitoring.coreos.com/v1") fail(`${where}: apiVersion ${d.apiVersion}`);
    if (!["ServiceMonitor", "PrometheusRule"].includes(d.kind)) fail(`${where}: a kind the chart does not render`);
    if (!d.metadata?.namespace) fail(`${where}: no namespace`);
  }
  for (const r of of("PrometheusRule")) {
    const where = `PrometheusRule ${r.metadata.name}`;
    const unknown = Object.keys(r.spec ?? {}).filter((k) => k !== "groups");
    if (unknown.length) fail(`${where}: unknown spec fields ${unknown.join(", ")}`);
    if (!deepEqual(r.spec?.groups, alerts?.groups)) fail(`${where}: its groups differ from ${alertsFile}`);
    for (const g of r.spec?.groups ?? []) {
      for (const rule of g.rules ?? []) {
        if (!rule.alert || typeof rule.expr !== "string") fail(`${where} group ${g.name}: a rule without alert or expr`);
        if (rule.for !== undefined && !PROMETHEUS_DURATION.test(rule.for)) fail(`${where} ${rule.alert}: for ${rule.for} is not a Prometheus duration`);
      }
    }
  }
  const monitors = of("ServiceMonitor");
  if (monitors.length) {
    const monitored = monitors.map((m) => m.metadata.name).sort();
    if (!deepEqual(monitored, workloadNames)) fail(`ServiceMonitors for ${monitored.join(", ")}, workloads ${workloadNames.join(", ")}`);
  }
  for (const m of monitors) {
    const where = `ServiceMonitor ${m.metadata.name}`;
    const spec = m.spec ?? {};
    for (const k of Object.keys(spec)) if (!SERVICE_MONITOR_FIELDS.spec.includes(k)) fail(`${where}: unknown field spec/${k}`);
    const services = of("Service").filter((s) => selects(spec.selector?.matchLabels, s.metadata.labels));
    if (!spec.selector?.matchLabels || services.length !== 1 || services[0].metadata.name !== m.metadata.name) {
      fail(`${where}: selects Services ${services.map((s) => s.metadata.name).join(", ") || "none"}, not its workload's alone`);
    }
    if (!deepEqual(spec.namespaceSelector?.matchNames, [m.metadata.namespace])) fail(`${where}: namespaceSelector is not its own namespace`);
    if (!spec.endpoints?.length) fail(`${where}: no endpoints`);
    for (const e of spec.endpoints ?? []) {
      for (const k of Object.keys(e)) if (!SERVICE_MONITOR_FIELDS.endpoint.includes(k)) fail(`${where}: unknown endpoint field ${k}`);
      const port = services[0]?.spec.ports.find((p) => p.name === e.port);
      if (e.port !== METRICS_PORT_NAME || !port) fail(`${where}: endpoint port ${e.port} is not the Service's ${METRICS_PORT_NAME}`);
      if (e.path !== "/metrics") fail(`${where}: path ${e.path}`);
      if (e.scheme !== undefined && e.scheme !== "http") fail(`${where}: scheme ${e.scheme} (the admin port is plain HTTP)`);
      for (const k of ["interval", "scrapeTimeout"]) if (e[k] !== undefined && !PROMETHEUS_DURATION.test(e[k])) fail(`${where}: ${k} ${e[k]} is not a duration`);
    }
  }
  return { monitors: monitors.length, rules: of("PrometheusRule").length };
}

if (istioCount === 0) problems.push("no Istio resource in any rendering: nothing was validated against @kubernetes-models/istio");
if (monitorCount === 0 || prometheusRuleCount === 0) problems.push("no ServiceMonitor or no PrometheusRule in any rendering: render one with monitoring enabled");

if (problems.length) {
  for (const p of problems) console.error(`FAIL ${p}`);
  process.exit(1);
}
console.log(
  `ok: ${args.length} renderings, ${istioCount} Istio resources valid; ` +
    `${methods.length} RPCs (internal: ${internal.map((m) => m.name).join(", ")}) allow exactly the policy's callers; ` +
    `${monitorCount} ServiceMonitors, ${prometheusRuleCount} PrometheusRules`,
);
