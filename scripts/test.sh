#!/usr/bin/env bash
# README command 2: installs every dependency, builds fsb and runs the whole test suite
# (unit, integration and e2e; integration tests start their own containerd and need
# root). `.ci/run` calls this script.
#
# Usage: scripts/test.sh [ctest args...]   e.g. scripts/test.sh -L unit
#   FSB_BUILD_DIR  build folder (default <repo>/build)
#   FSB_JOBS       parallel build jobs (default 2)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${FSB_BUILD_DIR:-${repo_root}/build}"
jobs="${FSB_JOBS:-2}"

"${repo_root}/scripts/install-deps.sh"
cmake -S "${repo_root}" -B "${build_dir}" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "${build_dir}" -j "${jobs}"
cd "${build_dir}"
ctest --output-on-failure --timeout 900 "$@"
