#!/usr/bin/env bash
# Checks deploy/systemd (ctest: systemd_units_test):
#   * `systemd-analyze verify` accepts both units without a single message (it exits 0
#     on most mistakes, an unknown key or a bad value, and only warns: any output fails),
#     their ExecStart= pointed at the built binaries in a temporary copy;
#   * every --flag the units and the /etc/default files pass is one the binary defines
#     (gflags' --help), --data-dir is the controller's StateDirectory= and the agent
#     keeps the host's mount namespace and its sandboxes (KillMode=process);
#   * the controller's exposure (systemd-analyze security --offline) is at most 2.0 of
#     10 ("OK"); the agent's is printed (it is root with every capability: EXPOSED);
#   * the checker itself fails on a broken unit (a misspelt key, a bad value).
#
# Usage: verify_test.sh --controller BIN --agent BIN
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
controller="" agent=""
while (($#)); do
  case "$1" in
    --controller) controller="$2"; shift 2 ;;
    --agent) agent="$2"; shift 2 ;;
    *) echo "verify_test: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -x "${controller}" && -x "${agent}" ]] || {
  echo "verify_test: --controller and --agent must be the built binaries" >&2
  exit 2
}
controller="$(realpath "${controller}")"
agent="$(realpath "${agent}")"
if ! command -v systemd-analyze >/dev/null; then
  echo "verify_test: systemd-analyze missing (scripts/install-deps.sh installs systemd)" >&2
  exit 1
fi

tmp="$(mktemp -d)"
trap 'rm -rf "${tmp}"' EXIT
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# verify_unit UNIT_FILE BIN: systemd-analyze verify on a copy whose ExecStart= runs BIN;
# returns 1 when it prints anything or fails.
verify_unit() {
  local unit="$1" bin="$2" copy out
  copy="${tmp}/$(basename "${unit}")"
  sed "s#^ExecStart=/usr/bin/[^ ]*#ExecStart=${bin}#" "${unit}" >"${copy}"
  if ! out="$(systemd-analyze verify --man=no "${copy}" 2>&1)" || [[ -n "${out}" ]]; then
    echo "${out}"
    return 1
  fi
}

# The --flags of a unit's ExecStart= and of its /etc/default file's *_OPTS, one a line
# in gflags' spelling (underscores), without values.
flags_of() {
  local unit="$1" defaults="$2"
  {
    grep '^ExecStart=' "${unit}"
    grep '_OPTS=' "${defaults}"
  } | grep -oE -- '--[a-z][-a-z_]*' | sed 's/^--//; s/-/_/g' | sort -u
}

# check_flags UNIT DEFAULTS BIN: each flag is among BIN's (gflags prints "    -name (").
check_flags() {
  local unit="$1" defaults="$2" bin="$3" known flag
  # gflags' --help exits 1.
  known="$({ "${bin}" --help 2>&1 || true; } | sed -n 's/^    -\([a-z_0-9]*\) .*/\1/p')"
  [[ -n "${known}" ]] || { fail "$(basename "${bin}") --help lists no flags"; return; }
  while read -r flag; do
    grep -qx "${flag}" <<<"${known}" ||
      fail "$(basename "${unit}") or $(basename "${defaults}"): --${flag} is not a flag of $(basename "${bin}")"
  done < <(flags_of "${unit}" "${defaults}")
}

verify_unit "${here}/fsb-controller.service" "${controller}" ||
  fail "systemd-analyze verify fsb-controller.service"
verify_unit "${here}/fsb-agent.service" "${agent}" || fail "systemd-analyze verify fsb-agent.service"
check_flags "${here}/fsb-controller.service" "${here}/fsb-controller.default" "${controller}"
check_flags "${here}/fsb-agent.service" "${here}/fsb-agent.default" "${agent}"

# Exposure scores, on the copies verify_unit made.
if ! systemd-analyze security --offline=yes --threshold=20 "${tmp}/fsb-controller.service" \
    >"${tmp}/security.txt" 2>&1; then
  grep -E '✗|Overall' "${tmp}/security.txt"
  fail "fsb-controller.service: exposure above 2.0"
fi
grep -h 'Overall exposure' "${tmp}/security.txt" || true
systemd-analyze security --offline=yes "${tmp}/fsb-agent.service" 2>&1 | grep 'Overall exposure' || true

# The settings the units must keep.
grep -qx 'StateDirectory=fsb-controller' "${here}/fsb-controller.service" ||
  fail "fsb-controller.service: StateDirectory=fsb-controller"
grep -q -- '--data-dir=/var/lib/fsb-controller[ "]' "${here}/fsb-controller.default" ||
  fail "fsb-controller.default: --data-dir must be the StateDirectory, /var/lib/fsb-controller"
grep -qx 'DynamicUser=yes' "${here}/fsb-controller.service" ||
  fail "fsb-controller.service: not DynamicUser=yes"
grep -qx 'KillMode=process' "${here}/fsb-agent.service" ||
  fail "fsb-agent.service: KillMode=process (a stop must not touch the sandboxes)"
for option in ProtectSystem PrivateTmp ProtectHome PrivateDevices ProtectKernelTunables \
    ProtectKernelModules ProtectControlGroups ReadWritePaths ReadOnlyPaths InaccessiblePaths \
    TemporaryFileSystem BindPaths PrivateMounts MountFlags RootDirectory; do
  if grep -q "^${option}=" "${here}/fsb-agent.service"; then
    fail "fsb-agent.service: ${option}= gives the agent its own mount namespace; containerd" \
      "and runc would not see the network namespaces it mounts"
  fi
done

# The checker catches broken units.
sed 's/^Restart=always/Restart=sometimes/' "${here}/fsb-agent.service" >"${tmp}/bad-value.service"
sed 's/^KillMode=/KilMode=/' "${here}/fsb-agent.service" >"${tmp}/bad-key.service"
for bad in bad-value bad-key; do
  if verify_unit "${tmp}/${bad}.service" "${agent}" >/dev/null; then
    fail "systemd-analyze verify accepted ${bad}.service"
  fi
done
sed 's/--agent-port=/--agent-prot=/' "${here}/fsb-agent.default" >"${tmp}/bad-flag.default"
before="${failures}"
check_flags "${here}/fsb-agent.service" "${tmp}/bad-flag.default" "${agent}" >/dev/null
if ((failures == before)); then
  fail "a misspelt flag (--agent-prot) went unnoticed"
else
  failures="${before}"
fi

if ((failures)); then
  echo "verify_test: ${failures} failure(s)"
  exit 1
fi
echo "verify_test: fsb-controller.service and fsb-agent.service verified"
