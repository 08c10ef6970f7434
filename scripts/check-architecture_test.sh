#!/usr/bin/env bash
# Tests scripts/check-architecture.sh on small repositories made in a temporary folder:
# a clean tree passes, and each rule fails on a deliberate violation, naming the file.
# ctest runs it as `architecture_check_test`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
check="${here}/check-architecture.sh"
work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
failures=0

# Makes a fresh repository with a clean tree: internal, controller (and its scheduler), agent.
fresh() {
  rm -rf "${work}/repo"
  mkdir -p "${work}/repo"/{internal,controller/scheduler,agent,scripts}
  cd "${work}/repo"
  cp "${here}/../.clang-format" .
  printf '#include "internal/clock.h"\n\nint Scheduled() { return 1; }\n' \
    > controller/scheduler/scheduler.cc
  printf '#include "controller/scheduler/scheduler.h"\n#include "internal/clock.h"\n\nint P() { return 2; }\n' \
    > controller/placement.cc
  printf '#include "internal/clock.h"\n\nint A() { return 3; }\n' > agent/a.cc
  printf '// The clock.\nint Clock() { return 0; }\n' > internal/clock.h
  printf 'clock internal/clock.h  # the implementation\n' > scripts/architecture-allow.txt
  git init -q . && git add -A
}

# expect CODE TEXT NAME: the check exits CODE, and its output has TEXT.
expect() {
  local code=0 out
  out="$("${check}" --repo "${work}/repo" 2>&1)" || code=$?
  if [[ "${code}" != "$1" ]] || ! grep -qF -- "$2" <<<"${out}"; then
    echo "FAIL $3: want exit $1 and '$2', got exit ${code}:"
    echo "${out}"
    failures=$((failures + 1))
  else
    echo "ok   $3"
  fi
}

add() {  # add FILE TEXT: writes TEXT (printf format) to FILE and tracks it.
  printf "$2" > "$1"
  git add "$1"
}

fresh
expect 0 "every rule holds" "a clean tree passes"

fresh
add internal/ids.h '#include "agent/runtime.h"\n'
expect 1 "internal/ids.h: includes agent/runtime.h" "internal must not include agent"

fresh
add controller/scheduler/view.h '#include "controller/sandbox_service.h"\n'
expect 1 "controller/scheduler/view.h: includes controller/sandbox_service.h" \
  "the scheduler must not include the rest of the controller"

fresh
add agent/b.cc '#include "controller/agent_client.h"\n'
expect 1 "agent/b.cc: includes controller/agent_client.h" "agent must not include controller"

fresh
add agent/c.cc '#include "api/agent.grpc.pb.h"\n'
expect 1 "agent/c.cc: includes a generated gRPC header" "gRPC headers only in adapters"
printf 'grpc-header agent/c.*  # adapter\n' >> scripts/architecture-allow.txt
expect 0 "every rule holds" "an allowed gRPC header passes"

fresh
add agent/d.cc 'long T() { return absl::ToUnixSeconds(absl::Now()); }\n'
expect 1 "agent/d.cc: reads the clock directly" "no absl::Now"
fresh
add agent/d.cc '#include <chrono>\n\nauto T() { return std::chrono::steady_clock::now(); }\n'
expect 1 "agent/d.cc: reads the clock directly" "no std::chrono clock"
fresh
add agent/d.cc '// Never absl::Now() here.\nint T() { return 0; }\n'
expect 0 "every rule holds" "a clock read in a comment passes"
fresh
add agent/d_test.cc 'long T() { return absl::ToUnixSeconds(absl::Now()); }\n'
expect 0 "every rule holds" "tests may read the clock"

fresh
add agent/e.cc 'void E() { throw 1; }\n'
expect 1 "agent/e.cc: throws or catches" "no throw"

fresh
add agent/f.cc 'int   F( ) {return 1;}\n'
expect 1 "agent/f.cc: not clang-format clean" "formatting"

fresh
printf 'exceptions agent/g.cc\n' >> scripts/architecture-allow.txt
expect 1 "must say why" "an allow entry needs a reason"

if ((failures)); then
  echo "${failures} case(s) failed"
  exit 1
fi
echo "all cases passed"
