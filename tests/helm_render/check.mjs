// Checks of the fsb chart's renders, run by chart_test.sh from a copy in the folder
// where package.json's packages are installed (ES modules resolve from their own folder). Each command exits 0 when
// the check passes, 1 with the reasons on stderr when it fails, 2 on a usage error, 3
// when the check itself breaks (unreadable input).
//
//   objects MANIFESTS             every object validates against the Kubernetes OpenAPI
//                                 schema of its kind (kubernetes-models; prometheus-operator
//                                 kinds with @kubernetes-models/prometheus-operator)
//   values SCHEMA VALUES_JSON     the merged values satisfy values.schema.json (ajv)
//   flags MANIFESTS CONTROLLER_HELP AGENT_HELP CLI_HELP
//                                 every flag given to a container names a flag of its
//                                 program's --help (controller, agent, the fsb CLI)
//   rules MANIFESTS OUT           writes the PrometheusRule's groups, plus a group of
//                                 recording rules with every query of the Grafana
//                                 dashboard ConfigMap, as a rules file for promtool
//   metric-names OUT_RULES NAMES  every metric the rules file queries is in NAMES (one a
//                                 line: the metrics the daemons register)
//   readme VALUES_YAML README     every key of values.yaml is listed in README as `a.b.c`
//                                 (or its parent object, below the top level)
//   extract MANIFESTS DIR         writes each Secret's and ConfigMap's data to DIR/NAME/KEY
//   contract MANIFESTS            the objects the containerised-stack test reads are there:
//                                 Deployment fsb-controller (container controller) and
//                                 DaemonSet fsb-agent (container agent), images
//                                 docker.io/fsb/<name>:0.1.0
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import yaml from "js-yaml";
import Ajv from "ajv";

const [command, ...args] = process.argv.slice(2);
const failures = [];
const fail = (msg) => failures.push(msg);

function documents(file) {
  return yaml.loadAll(readFileSync(file, "utf8")).filter((d) => d != null);
}

function objectName(o) {
  return `${o.kind}/${o.metadata?.name ?? "?"}`;
}

async function modelOf(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  const path =
    group === "monitoring.coreos.com"
      ? `@kubernetes-models/prometheus-operator/${group}/${version}/${kind}`
      : `kubernetes-models/${group ? group + "/" : ""}${version}/${kind}`;
  const module = await import(path);
  return module[kind];
}

// Pods' specs of workload objects, with where they are.
function podSpecs(o) {
  if (o.kind === "Deployment" || o.kind === "DaemonSet" || o.kind === "Job") {
    return [o.spec?.template?.spec];
  }
  return [];
}

async function checkObjects(file) {
  const docs = documents(file);
  if (docs.length === 0) fail(`${file}: no objects`);
  for (const o of docs) {
    if (!o.apiVersion || !o.kind) {
      fail(`${file}: an object without apiVersion/kind: ${JSON.stringify(o).slice(0, 200)}`);
      continue;
    }
    let Model;
    try {
      Model = await modelOf(o.apiVersion, o.kind);
    } catch (e) {
      fail(`${objectName(o)}: no schema for ${o.apiVersion} ${o.kind}`);
      continue;
    }
    try {
      new Model(o).validate();
    } catch (e) {
      fail(`${objectName(o)}: ${e.message}`);
    }
    for (const spec of podSpecs(o)) {
      // Names the OpenAPI schema does not tie together: every mount names a volume.
      const volumes = new Set((spec.volumes ?? []).map((v) => v.name));
      for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])]) {
        for (const m of c.volumeMounts ?? []) {
          if (!volumes.has(m.name)) fail(`${objectName(o)}: ${c.name} mounts unknown volume ${m.name}`);
        }
      }
    }
  }
}

function checkValues(schemaFile, valuesFile) {
  const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
  const validate = ajv.compile(JSON.parse(readFileSync(schemaFile, "utf8")));
  if (!validate(JSON.parse(readFileSync(valuesFile, "utf8")))) {
    for (const e of validate.errors) {
      fail(`values${e.instancePath.replaceAll("/", ".")}: ${e.message} ${JSON.stringify(e.params)}`);
    }
  }
}

// Flag names of a gflags --help text ("    -agent_port (Port ...") or of the fsb CLI's
// help ("  --endpoint HOST:PORT").
function helpFlags(text) {
  const names = new Set();
  for (const m of text.matchAll(/^\s+-([a-z][a-z0-9_]*) \(/gm)) names.add(m[1]);
  for (const m of text.matchAll(/(?:^|[\s,[])--([a-z][a-z0-9-]*)/gm)) names.add(m[1].replaceAll("-", "_"));
  for (const m of text.matchAll(/(?:^|[\s,[])-([a-z])\b/gm)) names.add(m[1]);
  return names;
}

function checkFlags(file, controllerHelp, agentHelp, cliHelp) {
  const programs = {
    controller: helpFlags(readFileSync(controllerHelp, "utf8")),
    agent: helpFlags(readFileSync(agentHelp, "utf8")),
    cli: helpFlags(readFileSync(cliHelp, "utf8")),
  };
  let checked = 0;
  for (const o of documents(file)) {
    for (const spec of podSpecs(o)) {
      for (const c of spec?.containers ?? []) {
        const program = { controller: "controller", agent: "agent", apply: "cli" }[c.name];
        if (!program) {
          fail(`${objectName(o)}: container ${c.name}: which program it runs is unknown`);
          continue;
        }
        for (const arg of [...(c.command ?? []), ...(c.args ?? [])]) {
          const m = /^--?([A-Za-z0-9_-]+)/.exec(arg);
          if (!m) continue;
          const name = m[1].replaceAll("-", "_");
          checked++;
          if (!programs[program].has(name)) {
            fail(`${objectName(o)}: ${c.name} passes ${arg}, not a flag of the ${program}'s --help`);
          }
        }
      }
    }
  }
  if (checked === 0) fail(`${file}: no flags found to check`);
}

function checkRules(file, out) {
  const groups = [];
  for (const o of documents(file)) {
    if (o.kind === "PrometheusRule") groups.push(...o.spec.groups);
    if (o.kind === "ConfigMap" && o.data?.["fsb.json"]) {
      const dashboard = JSON.parse(o.data["fsb.json"]);
      const rules = [];
      for (const panel of dashboard.panels) {
        for (const t of panel.targets ?? []) {
          // Grafana's $__rate_interval is not PromQL; any range stands in for it.
          rules.push({
            record: `dashboard:panel_${panel.id}:${t.refId.toLowerCase()}`,
            expr: t.expr.replaceAll("$__rate_interval", "5m"),
          });
        }
      }
      if (rules.length === 0) fail("the dashboard has no queries");
      groups.push({ name: "fsb-dashboard-queries", rules });
    }
  }
  if (!groups.some((g) => g.rules.some((r) => r.alert))) fail(`${file}: no alerting rules`);
  writeFileSync(out, yaml.dump({ groups }));
}

function checkMetricNames(rulesFile, namesFile) {
  const known = new Set(readFileSync(namesFile, "utf8").split("\n").filter(Boolean));
  const { groups } = yaml.load(readFileSync(rulesFile, "utf8"));
  const promql = new Set([
    "sum", "rate", "histogram_quantile", "by", "and", "or", "unless", "le", "without",
    "humanizeDuration", "max", "min", "avg", "count", "increase", "absent", "on",
  ]);
  let used = 0;
  for (const g of groups) {
    for (const r of g.rules) {
      // Strip label matchers and strings, then every identifier left is a function,
      // keyword, label (inside by (...)) or metric.
      const expr = r.expr.replace(/\{[^}]*\}/g, "").replace(/"[^"]*"/g, "")
        .replace(/\b(by|without)\s*\([^)]*\)/g, "").replace(/\[[^\]]*\]/g, "");
      for (const [id] of expr.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
        if (promql.has(id) || /^[0-9]/.test(id)) continue;
        const base = id.replace(/_(bucket|sum|count)$/, "");
        used++;
        if (!known.has(id) && !known.has(base)) fail(`${g.name}: ${r.alert ?? r.record} uses ${id}, which no daemon registers`);
      }
    }
  }
  if (used === 0) fail(`${rulesFile}: no metric used`);
}

function leafKeys(value, prefix, out) {
  if (value && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length > 0) {
    for (const [k, v] of Object.entries(value)) leafKeys(v, prefix ? `${prefix}.${k}` : k, out);
  } else {
    out.push(prefix);
  }
  return out;
}

function checkReadme(valuesFile, readme) {
  const text = readFileSync(readme, "utf8");
  const keys = leafKeys(yaml.load(readFileSync(valuesFile, "utf8")), "", []);
  for (const key of keys) {
    // A listed object value (e.g. `agent.resources`, Kubernetes' own shape) covers its
    // keys; a top-level object does not.
    const parts = key.split(".");
    const listed = parts.some((_, i) =>
      (i >= 1 || parts.length === 1) && text.includes("`" + parts.slice(0, i + 1).join(".") + "`"));
    if (!listed) fail(`${readme} does not list the value \`${key}\``);
  }
}

function extract(file, dir) {
  for (const o of documents(file)) {
    if (o.kind !== "Secret" && o.kind !== "ConfigMap") continue;
    mkdirSync(`${dir}/${o.metadata.name}`, { recursive: true });
    const entries = [
      ...Object.entries(o.data ?? {}).map(([k, v]) => [k, o.kind === "Secret" ? Buffer.from(v, "base64") : v]),
      ...Object.entries(o.stringData ?? {}),
    ];
    for (const [key, value] of entries) writeFileSync(`${dir}/${o.metadata.name}/${key}`, value, { mode: 0o600 });
  }
}

function checkContract(file) {
  const docs = documents(file);
  for (const [kind, name, container] of [
    ["Deployment", "fsb-controller", "controller"],
    ["DaemonSet", "fsb-agent", "agent"],
  ]) {
    const o = docs.find((d) => d.kind === kind && d.metadata.name === name);
    const c = o?.spec.template.spec.containers.find((x) => x.name === container);
    if (!c) {
      fail(`no ${kind} ${name} with a container ${container}`);
      continue;
    }
    if (c.image !== `docker.io/fsb/${name}:0.1.0`) fail(`${kind} ${name}: image ${c.image}`);
  }
}

const commands = {
  objects: [1, checkObjects],
  values: [2, checkValues],
  flags: [4, checkFlags],
  rules: [2, checkRules],
  "metric-names": [2, checkMetricNames],
  readme: [2, checkReadme],
  contract: [1, checkContract],
  extract: [2, extract],
};
if (!commands[command] || commands[command][0] !== args.length) {
  console.error("usage: check.mjs objects|values|flags|rules|metric-names|readme|contract|extract ARGS... (see the header)");
  process.exit(2);
}
try {
  await commands[command][1](...args);
} catch (e) {
  // Not a verdict: a broken input or check (so that a rejection test cannot pass on it).
  console.error(`check.mjs ${command}: ${e.stack}`);
  process.exit(3);
}
for (const f of failures) console.error(`check.mjs ${command}: ${f}`);
process.exit(failures.length ? 1 : 0);
