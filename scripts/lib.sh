# Shell helpers shared by fsb's scripts. Source it: . "$(dirname "$0")/lib.sh"

# Whether the process in PIDFILE runs.
pid_alive() {
  [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

# Stops the process in PIDFILE: SIGTERM, up to 10 s, then SIGKILL; removes PIDFILE.
# Returns 0 whether or not it was running.
stop_pidfile() {
  local pidfile="$1"
  if pid_alive "${pidfile}"; then
    local pid
    pid="$(cat "${pidfile}")"
    kill "${pid}" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "${pid}" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "${pid}" 2>/dev/null || true
  fi
  rm -f "${pidfile}"
}
