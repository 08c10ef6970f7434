#!/usr/bin/env bash
# End-to-end create benchmark: fsb warm and cold against containerd's own `ctr run -d`,
# on one machine.
#
# Usage: scripts/bench-e2e.sh [--requests N] [--out FILE] [--agent-arg ARG]... [--no-build]
#                              [--insecure]
#   --requests N     sandboxes per run (default 50)
#   --out FILE       where the JSON results go (default bench/results/e2e-<UTC date>.json)
#   --agent-arg ARG  extra fsb-agent flag, e.g. --agent-arg=--shim-group-size=1 (repeatable)
#   --no-build       use the programs already built in FSB_BUILD_DIR, whatever their build
#                    type (CI runs it on its test build); installs and builds nothing
#   --insecure       run the stack without TLS and tokens (--insecure on every program),
#                    to measure what they cost; by default the CLI reaches the controller
#                    over TLS with an admin token, and the agent over mutual TLS
#
# Installs the Debian packages (scripts/install-deps.sh), builds Release (build-release/,
# FSB_BUILD_DIR), then starts a private stack in a temp folder: containerd
# (scripts/containerd.sh), the test image, fsb-controller and one fsb-agent (capacity 2N,
# room for deletes the controller retries) on free loopback ports. After one warm-up
# create (discarded) it runs
#   1. fsb bench --concurrency 1 --cleanup       N creates, one at a time
#   2. fsb bench --concurrency 8                 N creates, 8 in flight; then the shims'
#                                                memory is read with N sandboxes running,
#                                                and they are deleted
#   3. warm: `fsb apply` of a SandboxPool keeping N prepared instances of the image; once
#      they are ready their memory is read (shims, fsb-loggers, fsb-inits, the agent), then
#      fsb bench --concurrency 1 --cleanup, --concurrency 8 --cleanup (waiting for a full
#      pool before each), and a burst of min(N, 16) creates all at once; each with its hit
#      rate (the agent's fsb_agent_warm_claims_total) and, after the burst, the time until
#      the pool is full again
#   4. ctr run -d IMAGE ID sleep 3600            N times in a row, each timed (after one
#                                                warm-up run); the shims' memory is read,
#                                                then the containers are removed
# prints a table (p50/p90/p99/max, creates/s, hit rates, and the ratios to warm at p50)
# and writes every figure,
# the machine and the commands to the JSON file. Everything it started is stopped on exit
# (the temp folder is kept only if the run failed). Needs root (containerd and runc).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${FSB_BUILD_DIR:-${repo_root}/build-release}"
jobs="${FSB_JOBS:-2}"
image=docker.io/fsb/busybox:latest
requests=50
out=""
agent_args=()
build=1
insecure=0

usage() {
  echo "usage: $0 [--requests N] [--out FILE] [--agent-arg ARG]... [--no-build] [--insecure]" >&2
  exit 2
}
while (($#)); do
  case "$1" in
    --requests) [[ $# -ge 2 ]] || usage; requests="$2"; shift 2 ;;
    --requests=*) requests="${1#*=}"; shift ;;
    --out) [[ $# -ge 2 ]] || usage; out="$2"; shift 2 ;;
    --out=*) out="${1#*=}"; shift ;;
    --agent-arg) [[ $# -ge 2 ]] || usage; agent_args+=("$2"); shift 2 ;;
    --agent-arg=*) agent_args+=("${1#*=}"); shift ;;
    --no-build) build=0; shift ;;
    --insecure) insecure=1; shift ;;
    *) usage ;;
  esac
done
if ! [[ "${requests}" =~ ^[0-9]+$ ]] || ((requests < 1)); then
  echo "bench-e2e: --requests must be a whole number >= 1" >&2
  exit 2
fi
if [[ "$(id -u)" != 0 ]]; then
  echo "bench-e2e: needs root (containerd and runc)" >&2
  exit 1
fi
concurrency=$((requests < 8 ? requests : 8))
if [[ -z "${out}" ]]; then
  out="${repo_root}/bench/results/e2e-$(date -u +%Y-%m-%dT%H%M%SZ).json"
fi

. "${repo_root}/scripts/lib.sh"

if ((build)); then
  "${repo_root}/scripts/install-deps.sh"
  cmake -S "${repo_root}" -B "${build_dir}" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "${build_dir}" -j "${jobs}" --target fsb fsb-controller fsb-agent
else
  for program in cli/fsb controller/fsb-controller agent/fsb-agent; do
    if [[ ! -x "${build_dir}/${program}" ]]; then
      echo "bench-e2e: --no-build, but ${build_dir}/${program} is not built" >&2
      exit 1
    fi
  done
fi
build_type="$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "${build_dir}/CMakeCache.txt" 2>/dev/null)"

state="$(mktemp -d /tmp/fsb-bench.XXXXXX)"
sock="$("${repo_root}/scripts/containerd.sh" socket "${state}")"
fsb="${build_dir}/cli/fsb"
ctr=(ctr --address "${sock}" --namespace fsb)
ctr_ids=()
agent_cmd=()
ok=0

finish() {
  set +e
  for id in "${ctr_ids[@]}"; do
    "${ctr[@]}" tasks kill --signal SIGKILL "${id}" >/dev/null 2>&1
  done
  stop_pidfile "${state}/fsb-agent.pid"
  stop_pidfile "${state}/fsb-controller.pid"
  "${repo_root}/scripts/containerd.sh" stop "${state}" >/dev/null 2>&1
  # The sandboxes' network slots, firewall tables and bridge.
  if ((${#agent_cmd[@]})); then
    "${agent_cmd[@]}" --remove-sandbox-network >>"${state}/fsb-agent.log" 2>&1
  fi
  if ((ok)); then
    rm -rf "${state}"
  else
    echo "bench-e2e: failed; logs kept in ${state}" >&2
  fi
}
trap finish EXIT
trap 'exit 130' INT TERM

used_ports=" "
# A TCP port nothing listens on (and not handed out before).
free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 30000))
    [[ "${used_ports}" == *" ${port} "* ]] && continue
    ss -Htln "sport = :${port}" | grep -q . && continue
    used_ports+="${port} "
    echo "${port}"
    return
  done
}

start() {
  local name="$1"
  shift
  setsid "$@" >"${state}/${name}.log" 2>&1 </dev/null &
  echo $! >"${state}/${name}.pid"
}

fastpath_port="$(free_port)"
controller_metrics="127.0.0.1:$(free_port)"
agent_metrics_port="$(free_port)"
endpoint="127.0.0.1:${fastpath_port}"
agent_name=bench-agent

"${repo_root}/scripts/containerd.sh" start "${state}"
"${repo_root}/scripts/build-test-image.sh" --address "${sock}" --namespace fsb --name "${image}"
"${repo_root}/scripts/gen-certs.sh" --dir "${state}/pki" --agent "${agent_name}" >/dev/null
agent_endpoint="127.0.0.1:$(free_port)"
# The CLI's config is the run's own: a context with the CA and an admin token, or
# plaintext with --insecure.
export FSB_CONFIG="${state}/fsb-config.yaml"
if ((insecure)); then
  security=insecure
  controller_security=(--insecure)
  agent_security=(--insecure)
  "${fsb}" config set-context bench --endpoint "${endpoint}" --insecure >/dev/null
else
  security=tls+token
  "${repo_root}/scripts/add-token.sh" --file "${state}/tokens.yaml" --subject bench \
    --role admin --token-out "${state}/admin.token" 2>/dev/null
  controller_security=(--tokens-file="${state}/tokens.yaml"
    --tls-cert="${state}/pki/controller.crt" --tls-key="${state}/pki/controller.key"
    --tls-ca="${state}/pki/ca.crt")
  agent_security=(--tls-cert="${state}/pki/agent-${agent_name}.crt"
    --tls-key="${state}/pki/agent-${agent_name}.key" --tls-ca="${state}/pki/ca.crt")
  "${fsb}" config set-context bench --endpoint "${endpoint}" --ca "${state}/pki/ca.crt" \
    --token-file "${state}/admin.token" >/dev/null
fi
"${fsb}" config use-context bench >/dev/null
controller_cmd=("${build_dir}/controller/fsb-controller"
  --fastpath-bind-address="${endpoint}" --agent-bind-address="${agent_endpoint}"
  --data-dir="${state}/controller" "${controller_security[@]}"
  --metrics-bind-address="${controller_metrics}"
  --pprof-bind-address="127.0.0.1:$(free_port)")
agent_cmd=("${build_dir}/agent/fsb-agent"
  --agent-port="$(free_port)" --controller="${agent_endpoint}" "${agent_security[@]}"
  --containerd-socket="${sock}" --containerd-namespace=fsb
  --state-dir="${state}/agent" --agent-id="${agent_name}" --node-name="$(hostname)"
  --capacity=$((requests * 2)) --metrics-bind-address="127.0.0.1:${agent_metrics_port}"
  --pprof-bind-address="127.0.0.1:$(free_port)"
  --sandbox-bridge=fsbbench0 --sandbox-cidr=10.89.0.0/16 ${agent_args[@]+"${agent_args[@]}"})
start fsb-controller "${controller_cmd[@]}"
start fsb-agent "${agent_cmd[@]}"

ready=0
for _ in $(seq 1 150); do
  if "${fsb}" agents -o json 2>/dev/null | jq -e --arg name "${agent_name}" \
      '.items[]? | select(.metadata.name == $name) | .status.conditions[]?
       | select(.type == "Ready" and .status == "True")' >/dev/null; then
    ready=1
    break
  fi
  sleep 0.2
done
if ((!ready)); then
  echo "bench-e2e: the agent did not become Ready; see ${state}/fsb-agent.log" >&2
  exit 1
fi
echo "bench-e2e: stack ready (fastpath ${endpoint}, ${security}, state ${state})"

bench=("${fsb}" bench --image "${image}" --requests "${requests}"
  --controller-metrics "${controller_metrics}" --agent-metrics-port "${agent_metrics_port}"
  -o json)

# The sum over the running processes whose command line matches PATTERN: count, RSS and
# PSS in KiB, as JSON.
memory_of() {
  local count=0 rss=0 pss=0 pid kib
  for pid in $(pgrep -f -- "$1" || true); do
    kib="$(awk '/^VmRSS:/ {print $2}' "/proc/${pid}/status" 2>/dev/null)" || continue
    [[ -n "${kib}" ]] || continue
    count=$((count + 1))
    rss=$((rss + kib))
    pss=$((pss + $(awk '/^Pss:/ {print $2}' "/proc/${pid}/smaps_rollup" 2>/dev/null || echo 0)))
  done
  jq -n --argjson count "${count}" --argjson rss "${rss}" --argjson pss "${pss}" \
    '{processes: $count, rss_kib: $rss, pss_kib: $pss}'
}

# Shims and fsb-logger processes of this containerd, with N sandboxes running.
stack_memory() {
  jq -n --argjson shims "$(memory_of "containerd-shim-runc-v2 .*-address ${sock}( |$)")" \
    --argjson loggers "$(memory_of "${state}/agent/bin/fsb-logger")" \
    '{shims: $shims, loggers: $loggers}'
}

# Runs fsb bench with the extra flags into FILE; failed creates are in its JSON.
run_bench() {
  local file="$1"
  shift
  if ! "${bench[@]}" "$@" >"${file}"; then
    jq -e . "${file}" >/dev/null 2>&1 || { echo "bench-e2e: fsb bench failed" >&2; exit 1; }
    echo "bench-e2e: some calls failed: $(jq -c '{failures, cleanup}' "${file}")" >&2
  fi
}

echo "bench-e2e: warm-up create"
run_bench "${state}/warm-up.json" --requests 1 --cleanup

echo "bench-e2e: fsb bench, concurrency 1, ${requests} creates"
run_bench "${state}/fsb-c1.json" --concurrency 1 --cleanup

echo "bench-e2e: fsb bench, concurrency ${concurrency}, ${requests} creates"
run_bench "${state}/fsb-c8.json" --concurrency "${concurrency}"
fsb_memory="$(stack_memory)"
mapfile -t names < <(jq -r '.sandboxes[]' "${state}/fsb-c8.json")
if ((${#names[@]})) && ! "${fsb}" rm --now "${names[@]}" >/dev/null; then
  echo "bench-e2e: some deletes failed (the controller retries them)" >&2
fi

# The agent's metric samples matching a regex (name and labels), summed.
agent_metric() {
  curl -sf "http://127.0.0.1:${agent_metrics_port}/metrics" |
    awk -v re="$1" '$0 !~ /^#/ && $1 ~ re {sum += $2} END {print sum + 0}'
}
warm_ready() { agent_metric '^fsb_agent_warm_instances\\{.*state="ready"'; }
warm_hits() { agent_metric '^fsb_agent_warm_claims_total\\{.*result="hit"'; }
# Waits (at most 120 s) until `want` instances are ready; prints the seconds it took.
await_pool() {
  local want="$1" t0 i
  t0="$(date +%s%N)"
  for i in $(seq 1 1200); do
    (($(warm_ready) >= want)) && break
    sleep 0.1
  done
  if (($(warm_ready) < want)); then
    echo "bench-e2e: the warm pool did not fill up (${want} wanted, $(warm_ready) ready)" >&2
    exit 1
  fi
  echo "$((($(date +%s%N) - t0) / 1000000))" | awk '{printf "%.3f", $1 / 1000}'
}
# Runs fsb bench (flags as run_bench) into FILE and records its hit rate in FILE.hits.
warm_bench() {
  local file="$1" before
  shift
  before="$(warm_hits)"
  run_bench "${file}" "$@"
  echo "$(($(warm_hits) - before))" >"${file}.hits"
}
pool_size="${requests}"
burst=$((requests < 16 ? requests : 16))
apply_pool() {
  printf 'apiVersion: fsb.io/v1alpha1\nkind: SandboxPool\nmetadata: {name: default}\nspec:\n  warmImages: [{image: %s, count: %s}]\n' \
    "${image}" "$1" | "${fsb}" apply -f - >/dev/null
}
echo "bench-e2e: warm pool of ${pool_size} instances"
apply_pool "${pool_size}"
fill_s="$(await_pool "${pool_size}")"
sleep 1  # let the last refills settle before reading memory
warm_memory="$(jq -n --argjson stack "$(stack_memory)" \
  --argjson inits "$(memory_of "^/dev/.fsb-init")" \
  --argjson agent "$(memory_of "${build_dir}/agent/fsb-agent")" \
  '$stack + {inits: $inits, agent: $agent}')"
echo "bench-e2e: warm fsb bench, concurrency 1, ${requests} creates"
warm_bench "${state}/warm-c1.json" --concurrency 1 --cleanup
await_pool "${pool_size}" >/dev/null
echo "bench-e2e: warm fsb bench, concurrency ${concurrency}, ${requests} creates"
warm_bench "${state}/warm-c8.json" --concurrency "${concurrency}" --cleanup
await_pool "${pool_size}" >/dev/null
echo "bench-e2e: warm burst, ${burst} creates at once"
warm_bench "${state}/warm-burst.json" --requests "${burst}" --concurrency "${burst}"
refill_s="$(await_pool "${pool_size}")"
mapfile -t names < <(jq -r '.sandboxes[]' "${state}/warm-burst.json")
if ((${#names[@]})) && ! "${fsb}" rm --now "${names[@]}" >/dev/null; then
  echo "bench-e2e: some deletes failed (the controller retries them)" >&2
fi
# What the agent spent on network slots (made ahead, or on demand when none was free).
network_slots="$(jq -n \
  --argjson count "$(agent_metric '^fsb_agent_network_slot_setup_duration_seconds_count\\{result="ok"')" \
  --argjson sum "$(agent_metric '^fsb_agent_network_slot_setup_duration_seconds_sum\\{result="ok"')" \
  --argjson inline "$(agent_metric '^fsb_agent_network_slot_inline_total')" \
  '{setups: $count, inline: $inline,
    mean_setup_ms: (if $count > 0 then $sum / $count * 1000 * 10 | round / 10 else null end)}')"
apply_pool 0
# The idle instances go before ctr's memory is read (bounded: 60 s).
for _ in $(seq 1 600); do
  pgrep -f "^/dev/.fsb-init" >/dev/null || break
  sleep 0.1
done

echo "bench-e2e: ctr run -d, ${requests} times"
ctr_run() {
  local id="$1"
  ctr_ids+=("${id}")
  "${ctr[@]}" run -d "${image}" "${id}" sleep 3600 >/dev/null
}
ctr_remove() {
  local id
  for id in "$@"; do
    "${ctr[@]}" tasks kill --signal SIGKILL "${id}" >/dev/null 2>&1 || true
  done
  for id in "$@"; do
    for _ in $(seq 1 50); do
      "${ctr[@]}" tasks delete "${id}" >/dev/null 2>&1 && break
      sleep 0.1
    done
    "${ctr[@]}" containers rm "${id}" >/dev/null
  done
  ctr_ids=()
}
ctr_run bench-ctr-warmup
ctr_remove bench-ctr-warmup
ctr_ms=()
for i in $(seq 0 $((requests - 1))); do
  t0="$(date +%s%N)"
  ctr_run "bench-ctr-${i}"
  t1="$(date +%s%N)"
  ctr_ms+=("$(((t1 - t0) / 1000))")  # microseconds
done
ctr_memory="$(stack_memory)"
ctr_remove "${ctr_ids[@]}"

# ctr's own start-up (a Go program that dials containerd), for reading the baseline:
# `ctr version` makes one RPC.
version_ms=()
for _ in $(seq 1 10); do
  t0="$(date +%s%N)"
  "${ctr[@]}" version >/dev/null
  t1="$(date +%s%N)"
  version_ms+=("$(((t1 - t0) / 1000))")
done

mkdir -p "$(dirname "${out}")"
commit="$(git -C "${repo_root}" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [[ -n "$(git -C "${repo_root}" status --porcelain 2>/dev/null)" ]]; then
  commit+="+changes"
fi
# Percentiles as fsb bench computes them: linear interpolation between closest ranks.
jq -n \
  --slurpfile c1 "${state}/fsb-c1.json" \
  --slurpfile c8 "${state}/fsb-c8.json" \
  --slurpfile wc1 "${state}/warm-c1.json" \
  --slurpfile wc8 "${state}/warm-c8.json" \
  --slurpfile wburst "${state}/warm-burst.json" \
  --argjson wc1_hits "$(cat "${state}/warm-c1.json.hits")" \
  --argjson wc8_hits "$(cat "${state}/warm-c8.json.hits")" \
  --argjson wburst_hits "$(cat "${state}/warm-burst.json.hits")" \
  --argjson warm_memory "${warm_memory}" \
  --argjson pool_size "${pool_size}" \
  --argjson burst "${burst}" \
  --argjson fill_s "${fill_s}" \
  --argjson refill_s "${refill_s}" \
  --argjson ctr_us "$(printf '%s\n' "${ctr_ms[@]}" | jq -s .)" \
  --argjson version_us "$(printf '%s\n' "${version_ms[@]}" | jq -s .)" \
  --argjson fsb_memory "${fsb_memory}" \
  --argjson ctr_memory "${ctr_memory}" \
  --argjson network_slots "${network_slots}" \
  --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  --arg cpu "$(lscpu | sed -n 's/^Model name: *//p' | head -1)" \
  --arg vcpus "$(nproc)" \
  --arg kernel "$(uname -r)" \
  --arg os "$(. /etc/os-release && echo "${PRETTY_NAME}")" \
  --arg commit "${commit}" \
  --arg build_type "${build_type:-unknown}" \
  --arg containerd "$(containerd --version | awk '{print $3}')" \
  --arg runc "$(runc --version | awk 'NR == 1 {print $3}')" \
  --arg agent_args "${agent_args[*]-}" \
  --arg security "${security}" \
  --arg concurrency "${concurrency}" \
  --arg requests "${requests}" \
  --arg image "${image}" '
  def pct($q): sort as $s | ($s | length) as $n | ($q * ($n - 1)) as $p
    | ($p | floor) as $lo | ([$lo + 1, $n - 1] | min) as $hi
    | $s[$lo] + ($s[$hi] - $s[$lo]) * ($p - $lo);
  def r3: . * 1000 | round / 1000;
  def stats: {count: length, min: (min | r3), p50: (pct(0.5) | r3), p90: (pct(0.9) | r3),
              p99: (pct(0.99) | r3), max: (max | r3), mean: (add / length | r3)};
  ($ctr_us | map(. / 1000)) as $ctr_ms
  | {
      date: $date,
      machine: {cpu: $cpu, vcpus: ($vcpus | tonumber), kernel: $kernel, os: $os,
                containerd: $containerd, runc: $runc},
      commit: $commit,
      build_type: $build_type,
      image: $image,
      requests: ($requests | tonumber),
      agent_args: $agent_args,
      security: $security,
      commands: {
        fsb_c1: "fsb bench --image \($image) --requests \($requests) --concurrency 1 --cleanup -o json",
        fsb_c8: "fsb bench --image \($image) --requests \($requests) --concurrency \($concurrency) -o json",
        ctr: "ctr --address SOCK -n fsb run -d \($image) ID sleep 3600",
        warm_pool: "fsb apply: SandboxPool default, warmImages [{image: \($image), count: \($pool_size)}]",
        warm_c1: "fsb bench --image \($image) --requests \($requests) --concurrency 1 --cleanup -o json",
        warm_c8: "fsb bench --image \($image) --requests \($requests) --concurrency \($concurrency) --cleanup -o json",
        warm_burst: "fsb bench --image \($image) --requests \($burst) --concurrency \($burst) -o json"
      },
      fsb_c1: $c1[0],
      fsb_c8: $c8[0],
      warm: {
        pool_size: $pool_size,
        c1: ($wc1[0] + {hits: $wc1_hits, hit_rate: ($wc1_hits / $wc1[0].requests)}),
        c8: ($wc8[0] + {hits: $wc8_hits, hit_rate: ($wc8_hits / $wc8[0].requests)}),
        burst: ($wburst[0] + {hits: $wburst_hits, hit_rate: ($wburst_hits / $burst)}),
        pool_fill_seconds: $fill_s,
        refill_after_burst_seconds: $refill_s,
        memory_idle: ($warm_memory + {per_instance_pss_kib:
          (($warm_memory.shims.pss_kib + $warm_memory.loggers.pss_kib + $warm_memory.inits.pss_kib)
           / $pool_size | round)})
      },
      network_slots: $network_slots,
      ctr: {latencies_ms: $ctr_ms, latency_ms: ($ctr_ms | stats)},
      ctr_version_ms: ($version_us | map(. / 1000) | stats),
      memory: {fsb_c8: $fsb_memory, ctr: $ctr_memory},
      ratio_ctr_over_fsb_p50: {
        c1: (($ctr_ms | pct(0.5)) / $c1[0].latency_ms.p50 * 100 | round / 100),
        c8: (($ctr_ms | pct(0.5)) / $c8[0].latency_ms.p50 * 100 | round / 100)
      },
      ratio_over_warm_p50: {
        cold_c1: ($c1[0].latency_ms.p50 / $wc1[0].latency_ms.p50 * 10 | round / 10),
        cold_c8: ($c8[0].latency_ms.p50 / $wc8[0].latency_ms.p50 * 10 | round / 10),
        ctr_c1: (($ctr_ms | pct(0.5)) / $wc1[0].latency_ms.p50 * 10 | round / 10)
      }
    }' >"${out}"

jq -r --arg c "${concurrency}" '
  def pad($n): tostring | if length < $n then . + (" " * ($n - length)) else . end;
  def row($name; $l; $rate): ($name | pad(16)) + ($l.p50 | pad(10)) + ($l.p90 | pad(10))
    + ($l.p99 | pad(10)) + ($l.max | pad(10)) + ($rate | tostring | pad(11));
  def hits($w): "\($w.hits)/\($w.requests)";
  def one: . * 10 | round / 10;
  def mib: . / 1024 | one | tostring;
  "create latency, \(.requests) creates each (ms), client-observed",
  row(""; {p50: "p50", p90: "p90", p99: "p99", max: "max"}; "creates/s") + "warm hits",
  row("warm c=1"; .warm.c1.latency_ms; .warm.c1.creates_per_second | one) + hits(.warm.c1),
  row("warm c=\($c)"; .warm.c8.latency_ms; .warm.c8.creates_per_second | one) + hits(.warm.c8),
  row("warm burst \(.warm.burst.requests)"; .warm.burst.latency_ms; .warm.burst.creates_per_second | one) + hits(.warm.burst),
  row("cold c=1"; .fsb_c1.latency_ms; .fsb_c1.creates_per_second | one),
  row("cold c=\($c)"; .fsb_c8.latency_ms; .fsb_c8.creates_per_second | one),
  row("ctr run -d"; .ctr.latency_ms; "-"),
  "",
  "at p50: cold/warm c=1 \(.ratio_over_warm_p50.cold_c1)x, c=\($c) \(.ratio_over_warm_p50.cold_c8)x; ctr/warm c=1 \(.ratio_over_warm_p50.ctr_c1)x; ctr/cold c=1 \(.ratio_ctr_over_fsb_p50.c1), c=\($c) \(.ratio_ctr_over_fsb_p50.c8)",
  "warm pool of \(.warm.pool_size): filled in \(.warm.pool_fill_seconds) s; full again \(.warm.refill_after_burst_seconds) s after the burst",
  "idle warm instances: \(.warm.memory_idle.per_instance_pss_kib) KiB PSS each (shims \(.warm.memory_idle.shims.pss_kib | mib) MiB, fsb-loggers \(.warm.memory_idle.loggers.pss_kib | mib) MiB, fsb-inits \(.warm.memory_idle.inits.pss_kib | mib) MiB PSS); agent \(.warm.memory_idle.agent.rss_kib | mib) MiB RSS, \(.warm.memory_idle.agent.pss_kib | mib) MiB PSS",
  "network slots: \(.network_slots.setups) made, mean \(.network_slots.mean_setup_ms) ms each (netns + CNI ADD), \(.network_slots.inline) of them on demand",
  "ctr version (process start + 1 RPC): p50 \(.ctr_version_ms.p50) ms",
  "memory with \(.requests) sandboxes running:",
  "  fsb: \(.memory.fsb_c8.shims.processes) shims \(.memory.fsb_c8.shims.rss_kib | mib) MiB RSS, \(.memory.fsb_c8.shims.pss_kib | mib) MiB PSS; \(.memory.fsb_c8.loggers.processes) fsb-loggers \(.memory.fsb_c8.loggers.pss_kib | mib) MiB PSS",
  "  ctr: \(.memory.ctr.shims.processes) shims \(.memory.ctr.shims.rss_kib | mib) MiB RSS, \(.memory.ctr.shims.pss_kib | mib) MiB PSS"
' "${out}"
echo "bench-e2e: results in ${out}"
ok=1
