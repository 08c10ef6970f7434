#!/usr/bin/env bash
# The architecture rules, checked on the tracked sources (ctest runs it as
# `architecture_test`; it needs only git, grep and clang-format).
#
#   1. Includes point one way: api <- internal <- {agent, controller, cli} <- tests, bench.
#      internal includes only internal; agent, controller and cli include internal and
#      themselves, never each other; nothing includes tests/ or bench/; the scheduler, the
#      store, fsb-init and fsb-logger sit below the rest of their program (table below).
#   2. Generated gRPC headers (*.grpc.pb.h) only in gRPC adapters and clients.
#   3. No direct clock read (absl::Now, std::chrono::*_clock::now, time(), clock_gettime)
#      outside internal/clock: time is injected.
#   4. No throw or catch.
#   5. Every C++ file is clang-format clean (.clang-format: Google style, 100 columns).
#
# Exceptions to 2-4 are listed, each with its reason, in scripts/architecture-allow.txt
# ("RULE GLOB  # why"). Tests (*_test.cc), test helpers (tests/, fake_*.h, *_testing.h)
# and bench/ are exempt from 2-4.
#
# Usage: scripts/check-architecture.sh [--repo DIR]   exit 0 when every rule holds, 1 with
# one line per violation otherwise, 2 on a usage error.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ "${1:-}" == "--repo" && -n "${2:-}" ]]; then
  repo="$(cd "$2" && pwd)"
elif (($#)); then
  echo "usage: $0 [--repo DIR]" >&2
  exit 2
fi
cd "${repo}"
allow_file=scripts/architecture-allow.txt
violations=0

fail() {
  echo "architecture: $*"
  violations=$((violations + 1))
}

# The allow-list: "RULE PATTERN  # why", PATTERN a shell glob over repository paths.
allow_rules=()
allow_patterns=()
if [[ -f "${allow_file}" ]]; then
  while read -r rule pattern rest; do
    [[ -z "${rule}" || "${rule}" == "#"* ]] && continue
    if [[ -z "${pattern}" || "${rest}" != "#"?* ]]; then
      fail "${allow_file}: entry '${rule} ${pattern}' must say why after a '#'"
      continue
    fi
    allow_rules+=("${rule}")
    allow_patterns+=("${pattern}")
  done < "${allow_file}"
fi
# Whether RULE is allowed for PATH.
allowed() {
  local i
  for i in "${!allow_rules[@]}"; do
    # shellcheck disable=SC2053  # the pattern is a glob on purpose
    [[ "${allow_rules[i]}" == "$1" && "$2" == ${allow_patterns[i]} ]] && return 0
  done
  return 1
}

# The tracked C++ files; outside a git checkout (an unpacked tarball), every one not in a
# build folder.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t sources < <(git ls-files '*.cc' '*.h')
else
  mapfile -t sources < <(find . -path './build*' -prune -o -path './.cache' -prune -o \
    \( -name '*.cc' -o -name '*.h' \) -type f -print | sed 's:^\./::' | sort)
fi

is_test_code() {
  case "$1" in
    tests/* | bench/* | *_test.cc | */fake_*.h | *_testing.h | */test_http_server.*) return 0 ;;
  esac
  return 1
}

# 1. Include direction. A file belongs to the module of the longest prefix below that
# matches its path, and may include only files under that module's allowed prefixes.
# Generated (api), third-party and system headers are not checked.
declare -A may_include=(
  [internal]="internal"
  [controller/scheduler]="internal controller/scheduler"  # allocation-free, at the bottom
  [controller/store]="internal controller/store"
  [controller]="internal controller"
  [agent/init]="agent/init"  # static binary on libc alone, PID 1 of warm instances
  [agent/logger]="internal agent/logger"
  [agent]="internal agent"
  [cli]="internal cli"
  [tests]="internal agent controller cli tests"
  [bench]="internal agent controller cli bench"
)
module_of() {
  local path="$1" best="" prefix
  for prefix in "${!may_include[@]}"; do
    if [[ "${path}" == "${prefix}/"* && ${#prefix} -gt ${#best} ]]; then best="${prefix}"; fi
  done
  echo "${best}"
}
for file in "${sources[@]}"; do
  module="$(module_of "${file}")"
  [[ -n "${module}" ]] || continue
  while IFS= read -r included; do
    case "${included%%/*}" in
      internal | agent | controller | cli | tests | bench) ;;
      *) continue ;;
    esac
    ok=0
    for prefix in ${may_include[${module}]}; do
      [[ "${included}" == "${prefix}/"* ]] && ok=1
    done
    if ((!ok)); then
      fail "${file}: includes ${included} (${module} may include only: ${may_include[${module}]})"
    fi
  done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "${file}")
done

# 2-4. Patterns, outside test code, unless allowed.
check_pattern() {
  local rule="$1" regex="$2" what="$3" file
  for file in "${sources[@]}"; do
    is_test_code "${file}" && continue
    allowed "${rule}" "${file}" && continue
    # Comments do not count.
    if sed 's://.*$::' "${file}" | grep -qE "${regex}"; then
      fail "${file}: ${what} (rule ${rule}; see ${allow_file})"
    fi
  done
}
check_pattern grpc-header '#include "[^"]*\.grpc\.pb\.h"' \
  "includes a generated gRPC header outside the gRPC adapters and clients"
check_pattern clock 'absl::Now\(\)|_clock::now\(\)|[^_[:alnum:]]time\(nullptr|[^_[:alnum:]]time\(NULL|clock_gettime' \
  "reads the clock directly (inject a Clock, or use Stopwatch for measurement)"
check_pattern exceptions '(^|[^_[:alnum:]])(throw|catch)([^_[:alnum:]]|$)' "throws or catches"

# 5. Formatting: every tracked C++ file is clang-format clean.
if ! command -v clang-format >/dev/null; then
  fail "clang-format is not installed (scripts/install-deps.sh installs it)"
else
  for file in "${sources[@]}"; do
    if ! clang-format --dry-run -Werror "${file}" >/dev/null 2>&1; then
      fail "${file}: not clang-format clean (run clang-format -i ${file})"
    fi
  done
fi

if ((violations)); then
  echo "architecture: ${violations} violation(s)"
  exit 1
fi
echo "architecture: every rule holds (${#sources[@]} files)"
