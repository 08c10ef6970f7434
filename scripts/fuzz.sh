#!/usr/bin/env bash
# Builds the fuzz tree (clang, -DFSB_FUZZ=ON: libFuzzer + ASan + UBSan over the libraries
# the targets use, nothing else) and runs each target of tests/fuzz for a fixed time,
# starting from its checked-in corpus and regressions. Fails when a target crashes, trips
# a sanitizer or violates an invariant; the input is then left in
# <build>/fuzz/artifacts/<target>/ (add it to tests/fuzz/regressions/<target>/ with the
# fix). Prints executions per second for each target.
#
# Usage: scripts/fuzz.sh [--seconds N] [--target NAME]... [--no-build]
#   --seconds N   per target (default 30)
#   --target NAME only this target (repeatable; default: every tests/fuzz/*_fuzz.cc)
#   --no-build    use the fuzz tree as it is
#   FSB_FUZZ_BUILD_DIR  the fuzz tree (default <repo>/build-fuzz)
#   FSB_JOBS            parallel build jobs (default 2)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${FSB_FUZZ_BUILD_DIR:-${repo_root}/build-fuzz}"
jobs="${FSB_JOBS:-2}"
seconds=30
build=1
targets=()
usage() {
  echo "usage: $0 [--seconds N] [--target NAME]... [--no-build]" >&2
  exit 2
}
while (($#)); do
  case "$1" in
    --seconds)
      [[ "${2:-}" =~ ^[0-9]+$ && "$2" -gt 0 ]] || usage
      seconds="$2"
      shift 2
      ;;
    --target)
      [[ -n "${2:-}" && -f "${repo_root}/tests/fuzz/${2}_fuzz.cc" ]] || usage
      targets+=("$2")
      shift 2
      ;;
    --no-build)
      build=0
      shift
      ;;
    *) usage ;;
  esac
done
if ((${#targets[@]} == 0)); then
  for f in "${repo_root}"/tests/fuzz/*_fuzz.cc; do
    name="$(basename "${f}" _fuzz.cc)"
    targets+=("${name}")
  done
fi

if ((build)); then
  if ! command -v clang++-14 >/dev/null; then
    echo "fuzz: clang++-14 is missing: run scripts/install-deps.sh" >&2
    exit 1
  fi
  # RelWithDebInfo at -O1 with line tables: fast enough to fuzz, quicker to compile.
  cmake -S "${repo_root}" -B "${build_dir}" -G Ninja -DFSB_FUZZ=ON \
    -DCMAKE_CXX_COMPILER=clang++-14 \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only -DNDEBUG" >/dev/null
  cmake --build "${build_dir}" -j "${jobs}" --target $(printf '%s_fuzz ' "${targets[@]}")
fi

# Leaks in a process that exits at the end of its time are not findings; every other
# ASan and UBSan report is.
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:symbolize=1${ASAN_OPTIONS:+:${ASAN_OPTIONS}}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:${UBSAN_OPTIONS}}"
work="${build_dir}/fuzz"
failed=()
summary=()
for t in "${targets[@]}"; do
  bin="${build_dir}/tests/fuzz/${t}_fuzz"
  corpus="${work}/corpus/${t}"   # the checked-in inputs plus what this tree's runs found
  artifacts="${work}/artifacts/${t}"
  log="${work}/${t}.log"
  mkdir -p "${corpus}" "${artifacts}"
  cp -n "${repo_root}/tests/fuzz/corpus/${t}/"* "${corpus}/" 2>/dev/null || true
  cp -n "${repo_root}/tests/fuzz/regressions/${t}/"* "${corpus}/" 2>/dev/null || true
  echo "== fuzz ${t}: ${seconds} s"
  status=0
  "${bin}" -max_total_time="${seconds}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="${artifacts}/" "${corpus}" >"${log}" 2>&1 || status=$?
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "${log}" | tail -n 1)"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "${log}" | tail -n 1)"
  cov="$(grep -o 'cov: [0-9]*' "${log}" | tail -n 1 || true)"
  summary+=("$(printf '%-16s %10s runs %8s exec/s  %s' "${t}" "${runs:-?}" "${rate:-?}" "${cov}")")
  if ((status != 0)); then
    failed+=("${t}")
    echo "fuzz: ${t} FAILED (exit ${status}); the end of ${log}:" >&2
    tail -n 40 "${log}" >&2
    ls "${artifacts}" >&2 || true
  fi
done

echo "== fuzz summary (${seconds} s per target)"
printf '%s\n' "${summary[@]}"
if ((${#failed[@]})); then
  echo "fuzz: ${#failed[@]} target(s) failed: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets ran clean"
