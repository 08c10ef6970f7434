#!/usr/bin/env bash
# README command 2: installs every dependency, builds fsb and runs the whole test suite
# (unit, integration and e2e; integration tests start their own containerd and need
# root). `.ci/run` calls this script.
#
# Usage: scripts/test.sh [--plain|--sanitize=LIST] [--no-fuzz] [ctest args...]
#   e.g. scripts/test.sh --plain -L unit
#
# Without options it runs every check CI runs, each test once, in the tree it concerns:
#   1. build/       RelWithDebInfo, as shipped: builds the programs and runs the tests of
#                   what ships (label `deploy`: chart, manifests, images, package, systemd
#                   units), those that need tcmalloc (label `allocator`: heap profiles) and
#                   those that exhaust file descriptors, which a sanitizer needs for itself
#                   (label `descriptors`);
#   2. build-asan/  AddressSanitizer + UndefinedBehaviorSanitizer, also -O2: every other
#                   test (unit, integration, e2e), so a memory error, a leak at exit or
#                   undefined behaviour in any test, daemon or CLI they run fails the run;
#   3. the fuzz smoke (scripts/fuzz.sh): every libFuzzer target for a short fixed time.
# ctest args (e.g. -R NAME) apply to parts 1 and 2.
#
#   --plain                       build/ alone, everything built, every test
#   --sanitize=address,undefined  part 2 only
#   --sanitize=thread             ThreadSanitizer tree build-tsan/: the unit tests only
#   --no-fuzz                     skip part 3
#
#   FSB_BUILD_DIR   the build folder of part 1 (default <repo>/build); the sanitizer
#                   trees are build-asan/ and build-tsan/ beside it
#   FSB_JOBS        parallel build jobs (default 2)
#   FSB_TEST_JOBS   tests run at once by ctest (default 3: most integration tests wait on
#                   containerd and runc rather than use a CPU)
#   FSB_FUZZ_SECONDS  seconds per fuzz target in part 3 (default 20)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${FSB_BUILD_DIR:-${repo_root}/build}"
jobs="${FSB_JOBS:-2}"
test_jobs="${FSB_TEST_JOBS:-3}"
fuzz_seconds="${FSB_FUZZ_SECONDS:-20}"

sanitize=""
fuzz=1
asan_exclude='^(deploy|descriptors)$'
ctest_args=()
for arg in "$@"; do
  case "${arg}" in
    --sanitize=address,undefined | --sanitize=thread) sanitize="${arg#--sanitize=}" ;;
    --sanitize=*)
      echo "test.sh: ${arg}: expected --sanitize=address,undefined or --sanitize=thread" >&2
      exit 2
      ;;
    --plain) sanitize="none" ;;
    --no-fuzz) fuzz=0 ;;
    *) ctest_args+=("${arg}") ;;
  esac
done

# Configures TREE with the extra cmake arguments, builds TARGET and runs ctest there.
# Usage: run_suite TREE TARGET "cmake args..." ctest-args...
run_suite() {
  local tree="$1" target="$2" cmake_args="$3"
  shift 3
  # shellcheck disable=SC2086 # cmake_args is a list of words
  cmake -S "${repo_root}" -B "${tree}" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo ${cmake_args}
  cmake --build "${tree}" -j "${jobs}" --target "${target}"
  (cd "${tree}" && ctest --output-on-failure --timeout 900 -j "${test_jobs}" "$@")
}

# Sanitizer runtime settings for every process a test starts (the daemons and CLIs inherit
# the environment). A finding aborts the process with a report on its stderr, which the
# test prints; LeakSanitizer checks at every normal exit.
export ASAN_OPTIONS="detect_leaks=1:check_initialization_order=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=${repo_root}/internal/tsan_suppressions.txt"

"${repo_root}/scripts/install-deps.sh"
tree_parent="$(dirname "${build_dir}")"
asan_tree="${tree_parent}/build-asan"
asan="-DFSB_SANITIZE=address,undefined"
case "${sanitize}" in
  address,undefined) run_suite "${asan_tree}" all "${asan}" -LE "${asan_exclude}" "${ctest_args[@]}" ;;
  thread) run_suite "${tree_parent}/build-tsan" all -DFSB_SANITIZE=thread -L unit -LE '^(deploy|descriptors)$' "${ctest_args[@]}" ;;
  none) run_suite "${build_dir}" all "" "${ctest_args[@]}" ;;
  "")
    echo "== test.sh 1/3: ${build_dir} (RelWithDebInfo): the deploy and allocator tests"
    run_suite "${build_dir}" fsb_plain_checks "" -L '^(deploy|allocator|descriptors)$' "${ctest_args[@]}"
    echo "== test.sh 2/3: ${asan_tree} (AddressSanitizer + UndefinedBehaviorSanitizer)"
    run_suite "${asan_tree}" all "${asan}" -LE "${asan_exclude}" "${ctest_args[@]}"
    if ((fuzz)); then
      echo "== test.sh 3/3: fuzz smoke, ${fuzz_seconds} s per target"
      "${repo_root}/scripts/fuzz.sh" --seconds "${fuzz_seconds}"
    fi
    ;;
esac
