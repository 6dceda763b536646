// Checks Bazaar's dashboard and alerting rules against each other and
// against the metrics README.md documents (`make observability-check`).
//
//   node observability/check.mjs --modules DIR [--promtool PATH]
//
// DIR is a node_modules holding `yaml` (scripts/tools.sh istio-models).
// Everything found wrong is printed; the exit status is 1 if anything was.
//
// What is checked:
// - README.md's "Observability" section has a metric table (name, type,
//   labels); histograms stand for their _bucket, _sum and _count series;
// - every alerting rule has an expr, a `for`, a severity label and summary
//   and description annotations;
// - the dashboard: JSON, schemaVersion 39-ish, a `datasource` variable of
//   type prometheus, a `service` variable over
//   label_values(grpc_server_handled_total, grpc_service), every panel and
//   target on ${datasource}, unique panel ids, targets with refId and expr;
// - every metric name in the rules and in the dashboard's queries is a
//   documented one (or Prometheus's own `up`), every label a query names is a
//   label of a metric it uses (or a target label), and every documented
//   metric is on the dashboard;
// - the dashboard's queries parse as PromQL (promtool check rules over a
//   temporary file of recording rules made of them).

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  if (i < 0) {
    if (fallback === undefined) usage(`${name} is required`);
    return fallback;
  }
  if (i + 1 >= args.length) usage(`${name} needs a value`);
  return args[i + 1];
};
function usage(problem) {
  console.error(`observability-check: ${problem}\nusage: check.mjs --modules DIR [--promtool PATH]`);
  process.exit(2);
}
const require = createRequire(join(resolve(option("--modules")), "noop.js"));
const YAML = require("yaml");
const promtool = option("--promtool", "promtool");

const RULES = "observability/prometheus/alerts.yml";
const DASHBOARD = "observability/grafana/bazaar.json";
const problems = [];
const fail = (where, message) => problems.push(`${where}: ${message}`);

// ------------------------------------------------------- documented names --

// The metric table of README.md's Observability section: rows
// | `name` | type | `label`, `label` | meaning |
function documentedMetrics() {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const section = /^## Observability\n([\s\S]*?)(?=^## |(?![\s\S]))/m.exec(readme);
  if (!section) {
    fail("README.md", 'no "## Observability" section');
    return new Map();
  }
  const metrics = new Map();
  for (const line of section[1].split("\n")) {
    const cells = line.split("|").map((c) => c.trim());
    if (cells.length < 5) continue;
    const name = /^`([a-z_:][a-z0-9_:]*)`$/.exec(cells[1])?.[1];
    const type = cells[2];
    if (!name || !["counter", "gauge", "histogram"].includes(type)) continue;
    if (metrics.has(name)) fail("README.md", `metric ${name} is listed twice`);
    if (type === "counter" && !name.endsWith("_total")) fail("README.md", `counter ${name} does not end in _total`);
    const labels = cells[3] === "" || cells[3] === "—" ? [] : [...cells[3].matchAll(/`([a-z_][a-z0-9_]*)`/g)].map((m) => m[1]);
    metrics.set(name, { type, labels: new Set(labels) });
  }
  if (metrics.size === 0) fail("README.md", "the Observability section has no metric table (| `name` | counter|gauge|histogram | `labels` | meaning |)");
  return metrics;
}

const documented = documentedMetrics();
// Series name -> its documented metric (a histogram's _bucket, _sum, _count).
const series = new Map();
for (const [name, metric] of documented) {
  if (metric.type === "histogram") {
    for (const suffix of ["_bucket", "_sum", "_count"]) series.set(name + suffix, { name, metric, bucket: suffix === "_bucket" });
  } else {
    series.set(name, { name, metric, bucket: false });
  }
}
// Prometheus's own series about each target.
const BUILTIN = new Set(["up"]);
// Labels Prometheus puts on every target's series.
const TARGET_LABELS = new Set(["job", "instance"]);

// ---------------------------------------------------------------- PromQL --

const KEYWORDS = new Set(["and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool", "inf", "nan", "atan2"]);

// Grafana's variables as a value PromQL accepts.
const substitute = (expr) =>
  expr
    .replace(/\$__rate_interval|\$\{__rate_interval\}|\$__interval|\$\{__interval\}|\$__range|\$\{__range\}/g, "5m")
    .replace(/\$\{?[A-Za-z_][A-Za-z0-9_]*\}?/g, ".*");

// The metric names and label names of a PromQL expression.
function analyse(expr) {
  const labels = new Set();
  let text = substitute(expr).replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""');
  text = text.replace(/\{([^}]*)\}/g, (_, body) => {
    for (const m of body.matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)/g)) labels.add(m[1]);
    return " ";
  });
  text = text.replace(/\[[^\]]*\]/g, " ");
  text = text.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g, (_, __, body) => {
    for (const m of body.matchAll(/[A-Za-z_][A-Za-z0-9_]*/g)) labels.add(m[0]);
    return " ";
  });
  const names = new Set();
  for (const m of text.matchAll(/\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const token = m[0];
    if (/^\d/.test(token) || KEYWORDS.has(token.toLowerCase())) continue;
    const after = text.slice(m.index + token.length);
    if (/^\s*\(/.test(after)) continue; // a function or aggregation
    names.add(token);
  }
  return { names, labels };
}

const used = new Set();
function checkExpr(where, expr) {
  if (typeof expr !== "string" || !expr.trim()) return fail(where, "no expr");
  const { names, labels } = analyse(expr);
  if (names.size === 0) fail(where, `no metric in ${JSON.stringify(expr)}`);
  const allowed = new Set(TARGET_LABELS);
  for (const n of names) {
    if (BUILTIN.has(n)) continue;
    const s = series.get(n);
    if (!s) {
      fail(where, `metric ${n} is not documented in README.md's Observability table`);
      continue;
    }
    used.add(s.name);
    for (const l of s.metric.labels) allowed.add(l);
    if (s.bucket) allowed.add("le");
  }
  for (const l of labels) if (!allowed.has(l)) fail(where, `label ${l} belongs to none of ${[...names].join(", ")}`);
}

// ----------------------------------------------------------------- rules --

const rules = YAML.parse(readFileSync(join(root, RULES), "utf8"));
const SEVERITIES = new Set(["critical", "warning", "info"]);
const alertNames = new Set();
for (const group of rules?.groups ?? []) {
  for (const rule of group.rules ?? []) {
    const where = `${RULES} ${rule.alert ?? rule.record ?? "?"}`;
    if (!rule.alert) { fail(where, "not an alerting rule"); continue; }
    if (alertNames.has(rule.alert)) fail(where, "alert name used twice");
    alertNames.add(rule.alert);
    if (!rule.for) fail(where, "no `for`");
    if (!SEVERITIES.has(rule.labels?.severity)) fail(where, `severity ${rule.labels?.severity} is not one of ${[...SEVERITIES].join(", ")}`);
    for (const a of ["summary", "description"]) if (!rule.annotations?.[a]) fail(where, `no ${a} annotation`);
    checkExpr(where, rule.expr);
  }
}
if (alertNames.size === 0) fail(RULES, "no alerting rule");

// ------------------------------------------------------------- dashboard --

let dashboard = null;
try {
  dashboard = JSON.parse(readFileSync(join(root, DASHBOARD), "utf8"));
} catch (error) {
  fail(DASHBOARD, `not JSON: ${error.message}`);
}
const dashboardExprs = [];
if (dashboard) {
  const DS = "${datasource}";
  if (!(dashboard.schemaVersion >= 36 && dashboard.schemaVersion <= 41)) fail(DASHBOARD, `schemaVersion ${dashboard.schemaVersion}, expected about 39`);
  if (!dashboard.uid || !dashboard.title) fail(DASHBOARD, "no uid or title");
  const variables = dashboard.templating?.list ?? [];
  const variable = (name) => variables.find((v) => v.name === name);
  const datasource = variable("datasource");
  if (datasource?.type !== "datasource" || datasource?.query !== "prometheus") fail(DASHBOARD, "no `datasource` variable of type datasource, query prometheus");
  const service = variable("service");
  const serviceQuery = typeof service?.query === "string" ? service.query : service?.query?.query;
  if (service?.type !== "query" || serviceQuery !== "label_values(grpc_server_handled_total, grpc_service)") {
    fail(DASHBOARD, "no `service` query variable over label_values(grpc_server_handled_total, grpc_service)");
  }
  if (service && service.datasource?.uid !== DS) fail(DASHBOARD, "the service variable is not on ${datasource}");
  for (const v of variables.filter((v) => v.type === "query")) {
    const query = typeof v.query === "string" ? v.query : v.query?.query ?? "";
    // label_values(SELECTOR, LABEL): the selector's metric must be documented.
    checkExpr(`${DASHBOARD} variable ${v.name}`, query.replace(/^label_values\((.*),\s*\w+\)$/, "$1"));
  }

  const ids = new Set();
  const flat = (dashboard.panels ?? []).flatMap((p) => [p, ...(p.panels ?? [])]);
  if (flat.length === 0) fail(DASHBOARD, "no panels");
  for (const panel of flat) {
    const where = `${DASHBOARD} panel ${panel.id} ${JSON.stringify(panel.title)}`;
    if (typeof panel.id !== "number" || ids.has(panel.id)) fail(where, "id missing or not unique");
    ids.add(panel.id);
    const g = panel.gridPos;
    if (!g || g.x < 0 || g.w < 1 || g.x + g.w > 24 || g.h < 1) fail(where, `gridPos ${JSON.stringify(g)} outside the 24 columns`);
    if (panel.type === "row") continue;
    if (panel.datasource?.uid !== DS) fail(where, "datasource is not ${datasource}");
    const targets = panel.targets ?? [];
    if (targets.length === 0) fail(where, "no targets");
    const refIds = new Set();
    for (const t of targets) {
      if (!t.refId || refIds.has(t.refId)) fail(where, `refId ${t.refId} missing or repeated`);
      refIds.add(t.refId);
      if (t.datasource && t.datasource.uid !== DS) fail(where, `target ${t.refId} datasource is not \${datasource}`);
      checkExpr(`${where} ${t.refId}`, t.expr);
      dashboardExprs.push({ where: `${where} ${t.refId}`, expr: t.expr });
    }
  }
  const shown = new Set();
  for (const { expr } of dashboardExprs) for (const n of analyse(expr).names) if (series.has(n)) shown.add(series.get(n).name);
  for (const name of documented.keys()) if (!shown.has(name)) fail(DASHBOARD, `documented metric ${name} is on no panel`);
}

// The dashboard's queries must parse: promtool checks them as recording rules.
if (dashboardExprs.length) {
  const dir = mkdtempSync(join(tmpdir(), "bazaar-dashboard-"));
  try {
    const file = join(dir, "dashboard-queries.yml");
    const asRules = { groups: [{ name: "dashboard", rules: dashboardExprs.map((e, i) => ({ record: `dashboard:query:${i}`, expr: substitute(e.expr) })) }] };
    writeFileSync(file, YAML.stringify(asRules));
    try {
      execFileSync(promtool, ["check", "rules", file], { stdio: ["ignore", "pipe", "pipe"] });
    } catch (error) {
      const output = `${error.stdout ?? ""}${error.stderr ?? ""}`.trim() || error.message;
      const bad = [...output.matchAll(/dashboard:query:(\d+)"?: (.*)/g)];
      if (bad.length === 0) fail(DASHBOARD, `promtool rejected the queries:\n${output}`);
      for (const [, i, why] of bad) fail(dashboardExprs[Number(i)].where, `not PromQL: ${why}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (problems.length) {
  for (const p of problems) console.error(`FAIL ${p}`);
  process.exit(1);
}
console.log(
  `ok: ${alertNames.size} alerts, ${dashboardExprs.length} dashboard queries; ` +
    `${used.size} of ${documented.size} documented metrics used, all on the dashboard`,
);
