#!/usr/bin/env bash
# README command 1: from a fresh Debian 12 machine to a running sandbox.
#
#   scripts/quickstart.sh        install deps, build (Release), start a private containerd,
#                                import the test image, make the PKI and an admin token,
#                                set the CLI's context "quickstart", start fsb-controller
#                                and fsb-agent in the background (TLS and tokens on),
#                                `fsb run` a sandbox and `fsb ls`
#   scripts/quickstart.sh down   stop everything it started (also scripts/dev-down.sh)
#
# Re-running is safe: what already runs is kept. Everything lives under the state folder
# (FSB_STATE_DIR, default <repo>/.state): containerd's root/state/socket, the agent's
# logs and state, and each process's log. Needs root (containerd and runc).
#   FSB_BUILD_DIR  build folder (default <repo>/build-release)
#   FSB_JOBS       parallel build jobs (default 2)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
state="${FSB_STATE_DIR:-${repo_root}/.state}"
build_dir="${FSB_BUILD_DIR:-${repo_root}/build-release}"
jobs="${FSB_JOBS:-2}"
image=docker.io/fsb/busybox:latest
endpoint=127.0.0.1:9090
agent_port=5758

mkdir -p "${state}"
state="$(cd "${state}" && pwd)"
sock="$("${repo_root}/scripts/containerd.sh" socket "${state}")"
fsb="${build_dir}/cli/fsb"

. "${repo_root}/scripts/lib.sh"

stop_process() {
  if pid_alive "${state}/$1.pid"; then echo "quickstart: stopping $1"; fi
  stop_pidfile "${state}/$1.pid"
}

down() {
  stop_process fsb-agent
  stop_process fsb-controller
  "${repo_root}/scripts/containerd.sh" stop "${state}"
  # The sandboxes are gone with containerd: their network slots, the firewall tables
  # and the fsb0 bridge go too.
  if [[ -x "${build_dir}/agent/fsb-agent" ]]; then
    "${build_dir}/agent/fsb-agent" --remove-sandbox-network --state-dir="${state}/agent" \
      --logtostderr 2>>"${state}/fsb-agent.log" || true
  fi
  echo "quickstart: stopped containerd (state kept in ${state}; remove it to start afresh)"
}

# Starts NAME (a binary under the build folder) in the background unless it runs.
start_process() {
  local name="$1" binary="$2"
  shift 2
  local pidfile="${state}/${name}.pid"
  if pid_alive "${pidfile}"; then
    echo "quickstart: ${name} already running (pid $(cat "${pidfile}"))"
    return
  fi
  setsid "${binary}" "$@" >>"${state}/${name}.log" 2>&1 </dev/null &
  echo $! >"${pidfile}"
  echo "quickstart: started ${name} (pid $!, log ${state}/${name}.log)"
}

if [[ "${1:-}" == "down" ]]; then
  down
  exit 0
fi
if [[ -n "${1:-}" ]]; then
  echo "usage: $0 [down]" >&2
  exit 2
fi
if [[ "$(id -u)" != 0 ]]; then
  echo "quickstart: needs root (containerd and runc)" >&2
  exit 1
fi

"${repo_root}/scripts/install-deps.sh"
cmake -S "${repo_root}" -B "${build_dir}" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "${build_dir}" -j "${jobs}" --target fsb fsb-controller fsb-agent

"${repo_root}/scripts/containerd.sh" start "${state}"
echo "quickstart: containerd answering on ${sock}"
"${repo_root}/scripts/build-test-image.sh" --address "${sock}" --namespace fsb --name "${image}"

# The cluster PKI: the controller and the agent authenticate each other (mutual TLS).
node="$(hostname | tr '[:upper:]' '[:lower:]')"
pki="${state}/pki"
"${repo_root}/scripts/gen-certs.sh" --dir "${pki}" --agent "${node}"

# Clients authenticate with bearer tokens: an admin token for this machine's user, and
# the CLI's context "quickstart" using it with the cluster CA.
tokens="${state}/tokens.yaml"
admin_token="${state}/admin.token"
if [[ ! -s "${admin_token}" ]]; then
  rm -f "${tokens}"
  "${repo_root}/scripts/add-token.sh" --file "${tokens}" --subject quickstart-admin \
    --role admin --token-out "${admin_token}"
fi
"${fsb}" config set-context quickstart --endpoint "${endpoint}" --ca "${pki}/ca.crt" \
  --token-file "${admin_token}"
"${fsb}" config use-context quickstart

start_process fsb-controller "${build_dir}/controller/fsb-controller" \
  --fastpath-bind-address="0.0.0.0:9090" --agent-bind-address="127.0.0.1:9092" \
  --data-dir="${state}/controller" --tokens-file="${tokens}" \
  --tls-cert="${pki}/controller.crt" --tls-key="${pki}/controller.key" --tls-ca="${pki}/ca.crt"
start_process fsb-agent "${build_dir}/agent/fsb-agent" \
  --agent-port="${agent_port}" --controller="127.0.0.1:9092" \
  --containerd-socket="${sock}" --containerd-namespace=fsb \
  --state-dir="${state}/agent" --node-name="${node}" --warm="${image}=2" \
  --tls-cert="${pki}/agent-${node}.crt" --tls-key="${pki}/agent-${node}.key" \
  --tls-ca="${pki}/ca.crt"

if "${fsb}" get hello >/dev/null 2>&1; then
  echo "quickstart: sandbox hello already exists"
else
  # The agent registers within a heartbeat of starting; until then creates are refused.
  created=0
  for _ in $(seq 1 100); do
    if out="$("${fsb}" run --image "${image}" --name hello -- sleep 3600 2>&1)"; then
      echo "${out}"
      created=1
      break
    fi
    case "${out}" in
      *RESOURCE_EXHAUSTED*|*UNAVAILABLE*) sleep 0.2 ;;
      *) echo "${out}" >&2; exit 1 ;;
    esac
  done
  if ((!created)); then
    echo "quickstart: the agent did not register; see ${state}/fsb-agent.log" >&2
    echo "${out}" >&2
    exit 1
  fi
fi

echo
"${fsb}" ls -o wide   # IP: the sandbox's own address on the node's bridge fsb0
echo
echo "containerd's own view (namespace fsb):"
ctr --address "${sock}" --namespace fsb tasks ls

cat <<EOF

fsb is running, with TLS and tokens. The CLI's current context "quickstart" has the
endpoint, the CA and the admin token (fsb config view). Try:
  export PATH="${build_dir}/cli:\$PATH"
  fsb run --image fsb/busybox --name demo -- sh -c 'echo hi; sleep 600'   # warm: a few ms
  fsb agents -o wide                        # WARM: the agent keeps 2 prepared instances
  fsb ls -o wide
  fsb get demo -o yaml
  fsb rm demo
  ctr --address ${sock} -n fsb tasks ls     # containerd's view

Logs: ${state}/fsb-controller.log ${state}/fsb-agent.log
Certificates (cluster CA, controller, agent): ${pki}/
Client tokens: ${tokens} (hashes; add one: scripts/add-token.sh --file ${tokens} ...)
Admin token: ${admin_token}
Sandbox output: ${state}/agent/logs/<sandbox id>.log
Stop everything: ${repo_root}/scripts/quickstart.sh down
EOF
