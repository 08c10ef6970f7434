#ifndef FSB_INTERNAL_SUBPROCESS_H_
#define FSB_INTERNAL_SUBPROCESS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace fsb {

// A program to run to completion: the agent's CNI plugins and nft.
struct SubprocessCall {
  std::vector<std::string> argv;  // argv[0] is an absolute path: no PATH search
  std::vector<std::string> env;   // "KEY=VALUE": the whole environment
  std::string stdin_data;         // written to its stdin, which is then closed
  absl::Duration timeout = absl::Seconds(30);
};

struct SubprocessResult {
  int exit_code = 0;  // 128 + signal when a signal ended it
  std::string stdout_data;
  std::string stderr_data;
};

// Runs the call and returns once the program has exited and its output is read (each
// stream capped at 4 MiB; the rest is drained and dropped). A program that exits with a
// non-zero code is a result, not an error. DEADLINE_EXCEEDED when it runs past
// `timeout` (it is SIGKILLed and reaped first); INTERNAL when it cannot be started
// (the message names argv[0] and errno). Never leaves a zombie or an open descriptor.
// Thread-safe: the child is made with posix_spawn, no fork handlers run.
absl::StatusOr<SubprocessResult> RunSubprocess(const SubprocessCall& call);

}  // namespace fsb

#endif  // FSB_INTERNAL_SUBPROCESS_H_
