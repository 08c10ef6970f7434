#!/usr/bin/env bash
# Takes a CPU profile of a running fsb binary through its profiling listener and prints
# the functions that use the most CPU.
#
# Usage: scripts/profile.sh HOST:PORT [SECONDS] [BINARY]
#   HOST:PORT  the profiling listener (--pprof-bind-address): localhost:6060 is the
#              controller's default, localhost:6061 the agent's
#   SECONDS    how long to profile, 1..300 (default 30)
#   BINARY     the profiled program, for symbols; default: the executable of the local
#              process listening on PORT (found with ss; needs the right to read
#              /proc/PID/exe, i.e. the same user or root)
#
# Environment:
#   FSB_PROFILE_OUT  where to keep the profile (default: ./fsb-cpu-HOST-PORT-TIME.prof)
#   FSB_PROFILE_TOP  how many functions to print (default 25)
#
# The profile is kept: `google-pprof --web BINARY FILE` explores it, and
# `scripts/flamegraph.sh FILE BINARY` draws it.
set -euo pipefail

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
}

(($# >= 1 && $# <= 3)) || usage
address="$1"
seconds="${2:-30}"
binary="${3:-}"
[[ "${address}" == *:* ]] || usage
[[ "${seconds}" =~ ^[0-9]+$ ]] && ((seconds >= 1 && seconds <= 300)) || {
  echo "profile.sh: SECONDS must be a whole number from 1 to 300, got \"${seconds}\"" >&2
  exit 2
}
for tool in curl google-pprof; do
  command -v "${tool}" >/dev/null || {
    echo "profile.sh: ${tool} not found (scripts/install-deps.sh installs it)" >&2
    exit 1
  }
done

host="${address%:*}"
port="${address##*:}"
host="${host:-127.0.0.1}"

# The executable of the local process listening on the port.
if [[ -z "${binary}" ]]; then
  pid="$(ss -Hltnp "sport = :${port}" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n1 | cut -d= -f2 || true)"
  if [[ -z "${pid}" ]]; then
    echo "profile.sh: no local process found listening on port ${port}; pass BINARY" >&2
    exit 1
  fi
  # /proc/PID/exe still opens when the file was replaced or deleted since the start.
  binary="$(readlink -f "/proc/${pid}/exe" 2>/dev/null || true)"
  [[ -n "${binary}" && -r "${binary}" ]] || binary="/proc/${pid}/exe"
  [[ -r "${binary}" ]] || {
    echo "profile.sh: cannot read the executable of pid ${pid}; pass BINARY" >&2
    exit 1
  }
fi
[[ -r "${binary}" ]] || { echo "profile.sh: cannot read ${binary}" >&2; exit 1; }

out="${FSB_PROFILE_OUT:-./fsb-cpu-${host}-${port}-$(date +%Y%m%d-%H%M%S).prof}"
url="http://${host}:${port}/debug/pprof/profile?seconds=${seconds}"
echo "profile.sh: profiling ${binary} through ${url} for ${seconds}s..." >&2
code="$(curl -sS --max-time $((seconds + 60)) -o "${out}" -w '%{http_code}' "${url}")" || {
  rm -f "${out}"
  exit 1
}
if [[ "${code}" != 200 ]]; then
  echo "profile.sh: HTTP ${code}: $(cat "${out}")" >&2
  rm -f "${out}"
  exit 1
fi

# "Total: N samples", then the top functions by their own (flat) samples.
google-pprof --text "${binary}" "${out}" | awk -v top="${FSB_PROFILE_TOP:-25}" 'NR <= top + 1'
echo "profile.sh: profile kept in ${out}; flame graph: scripts/flamegraph.sh ${out} ${binary}" >&2
