#!/usr/bin/env bash
# A private OCI distribution registry (Debian's docker-registry) on a loopback port, with
# its config, storage and log under DIR, for pull tests and local experiments.
#
# Usage:
#   scripts/registry.sh start DIR PORT [USER:PASSWORD]
#       start it on 127.0.0.1:PORT (no-op when it already runs); with USER:PASSWORD it
#       requires HTTP Basic auth (htpasswd file, bcrypt). Waits until /v2/ answers.
#   scripts/registry.sh stop DIR
#
# Push to it with e.g.
#   skopeo copy --insecure-policy --dest-tls-verify=false --dest-creds USER:PASSWORD \
#     oci-archive:image.tar docker://127.0.0.1:PORT/fsb/app:1
# The log is DIR/registry.log.
set -euo pipefail

cmd="${1:-}"
dir="${2:-}"
if [[ -z "${cmd}" || -z "${dir}" ]]; then
  echo "usage: $0 start DIR PORT [USER:PASSWORD] | stop DIR" >&2
  exit 2
fi
mkdir -p "${dir}"
dir="$(cd "${dir}" && pwd)"
pidfile="${dir}/registry.pid"

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

running() { pid_alive "${pidfile}"; }

start() {
  local port="${1:-}" login="${2:-}"
  if [[ -z "${port}" ]]; then
    echo "usage: $0 start DIR PORT [USER:PASSWORD]" >&2
    exit 2
  fi
  if running; then
    return 0
  fi
  if ! command -v docker-registry >/dev/null; then
    echo "registry.sh: docker-registry missing: apt-get install docker-registry" >&2
    exit 1
  fi
  local auth=""
  if [[ -n "${login}" ]]; then
    if ! command -v htpasswd >/dev/null; then
      echo "registry.sh: htpasswd missing: apt-get install apache2-utils" >&2
      exit 1
    fi
    htpasswd -Bbn "${login%%:*}" "${login#*:}" >"${dir}/htpasswd"
    auth="auth:
  htpasswd:
    realm: fsb-registry
    path: ${dir}/htpasswd"
  fi
  cat >"${dir}/config.yml" <<EOF
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: ${dir}/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:${port}
  secret: fsb-test-registry
${auth}
EOF
  setsid docker-registry serve "${dir}/config.yml" >>"${dir}/registry.log" 2>&1 </dev/null &
  echo $! >"${pidfile}"
  for _ in $(seq 1 100); do
    # 200 without auth, 401 with: either way it answers.
    code="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${port}/v2/" || true)"
    if [[ "${code}" == 200 || "${code}" == 401 ]]; then
      return 0
    fi
    if ! running; then
      echo "registry.sh: docker-registry exited; last lines of ${dir}/registry.log:" >&2
      tail -n 20 "${dir}/registry.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "registry.sh: the registry did not answer on 127.0.0.1:${port} within 10s" >&2
  exit 1
}

stop() { stop_pidfile "${pidfile}"; }

case "${cmd}" in
  start) start "${3:-}" "${4:-}" ;;
  stop) stop ;;
  *)
    echo "usage: $0 start DIR PORT [USER:PASSWORD] | stop DIR" >&2
    exit 2
    ;;
esac
