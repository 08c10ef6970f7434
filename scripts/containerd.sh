#!/usr/bin/env bash
# A private containerd: its own config, root, state and socket under DIR/containerd, so
# that tests and the quickstart never touch (or need) the host's containerd.
#
# Usage:
#   scripts/containerd.sh start DIR   start it (no-op when it already runs); waits until
#                                     it answers on DIR/containerd/containerd.sock
#   scripts/containerd.sh stop DIR    kill every task it runs, stop it and its shims,
#                                     unmount what it mounted
#   scripts/containerd.sh kill DIR    stop only the daemon, as a crash or an upgrade does:
#                                     shims and containers keep running
#   scripts/containerd.sh restart DIR kill, then start
#   scripts/containerd.sh socket DIR  print the socket path
#
# The log is DIR/containerd/containerd.log. Needs root.
set -euo pipefail

cmd="${1:-}"
dir="${2:-}"
if [[ -z "${cmd}" || -z "${dir}" ]]; then
  echo "usage: $0 start|stop|kill|restart|socket DIR" >&2
  exit 2
fi
mkdir -p "${dir}"
dir="$(cd "${dir}" && pwd)"
base="${dir}/containerd"
sock="${base}/containerd.sock"
pidfile="${base}/containerd.pid"
ctr=(ctr --address "${sock}")

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

running() { pid_alive "${pidfile}"; }

start() {
  if running; then
    return 0
  fi
  mkdir -p "${base}/root" "${base}/state"
  # The socket path must fit in sun_path (108 bytes), shims add their own below state.
  if ((${#sock} > 100)); then
    echo "containerd.sh: socket path ${sock} is too long; use a shorter DIR" >&2
    exit 1
  fi
  cat >"${base}/config.toml" <<EOF
version = 2
root = "${base}/root"
state = "${base}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "${sock}"

[ttrpc]
  address = "${sock}.ttrpc"

[debug]
  address = "${sock}.debug"
  level = "info"

[plugins."io.containerd.gc.v1.scheduler"]
  deletion_threshold = 0
EOF
  rm -f "${sock}" "${sock}.ttrpc" "${sock}.debug"
  setsid containerd --config "${base}/config.toml" >>"${base}/containerd.log" 2>&1 </dev/null &
  echo $! >"${pidfile}"
  for _ in $(seq 1 150); do
    if "${ctr[@]}" version >/dev/null 2>&1; then
      return 0
    fi
    if ! running; then
      echo "containerd.sh: containerd exited; last lines of ${base}/containerd.log:" >&2
      tail -n 20 "${base}/containerd.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "containerd.sh: containerd did not answer on ${sock} within 15s" >&2
  exit 1
}

kill_daemon() { stop_pidfile "${pidfile}"; }

stop() {
  if running; then
    # Tasks first, in every namespace, so no container outlives its containerd.
    for ns in $("${ctr[@]}" namespaces ls -q 2>/dev/null); do
      for task in $("${ctr[@]}" -n "${ns}" tasks ls -q 2>/dev/null); do
        "${ctr[@]}" -n "${ns}" tasks kill -a -s SIGKILL "${task}" >/dev/null 2>&1 || true
        "${ctr[@]}" -n "${ns}" tasks delete -f "${task}" >/dev/null 2>&1 || true
      done
    done
  fi
  kill_daemon
  # Shims of this containerd (they outlive it by design) and their containers.
  pkill -9 -f "containerd-shim.* -address ${sock}( |$)" 2>/dev/null || true
  # Mounts (task rootfs) left under the private state/root, deepest first.
  if [[ -d "${base}" ]]; then
    awk -v b="${base}/" 'index($2, b) == 1 { print $2 }' /proc/self/mounts | sort -r |
      while read -r m; do umount -l "${m}" 2>/dev/null || true; done
  fi
}

case "${cmd}" in
  start) start ;;
  stop) stop ;;
  kill) kill_daemon ;;
  restart)
    kill_daemon
    start
    ;;
  socket) echo "${sock}" ;;
  *)
    echo "usage: $0 start|stop|kill|restart|socket DIR" >&2
    exit 2
    ;;
esac
