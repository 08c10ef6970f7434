#ifndef FSB_CLI_COMMANDS_H_
#define FSB_CLI_COMMANDS_H_

#include <functional>
#include <istream>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "cli/args.h"
#include "cli/exec_terminal.h"
#include "fastpath/v1/fastpath.grpc.pb.h"

namespace fsb::cli {

inline constexpr std::string_view kVersion = "0.1.0";

// Process exit codes of `fsb`.
inline constexpr int kExitOk = 0;
inline constexpr int kExitServerError = 1;  // the RPC failed (any gRPC status but OK)
inline constexpr int kExitUsage = 2;        // the command line is wrong; no RPC was made

// The deadline of an exec session.
inline constexpr absl::Duration kExecDeadline = absl::Hours(24);

// Connects to the FastPath API at `endpoint` ("host:port"). Called at most once per
// Run, and only when the command needs the server.
using StubFactory =
    std::function<std::unique_ptr<fastpath::v1::FastPathService::StubInterface>(
        const std::string& endpoint)>;

// Connects to the SandboxIO API (logs, exec) at `endpoint`.
using IoStubFactory = std::function<std::unique_ptr<fastpath::v1::SandboxIO::StubInterface>(
    const std::string& endpoint)>;

// What a run of `fsb` needs from the process: the environment, the way to reach the
// server, the standard streams (all three non-null) and the wall-clock time (for AGE
// columns, --expire-in and reset revisions).
struct CliContext {
  EnvLookup env;
  StubFactory connect;
  std::istream* in = nullptr;  // read by `apply -f -`
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
  absl::Time now;
  // For `logs` and `exec`; unset: an insecure gRPC channel to the endpoint.
  IoStubFactory connect_io;
  // The local end of `exec`; unset: NewProcessTerminal().
  std::function<std::unique_ptr<ExecTerminal>()> terminal;
};

// Parses `args` (argv without argv[0]) and executes the command; returns the exit code.
//
// Guarantees: a usage error prints "fsb: error: <problem>" and a hint to stderr, returns
// kExitUsage and never calls `connect`; for `apply` this includes a file that cannot be
// read or is not a valid Sandbox manifest — every file is read and checked before the
// first RPC. A failed RPC prints "fsb: error: <CODE>: <message>" to stderr and returns
// kExitServerError. Results go to `out`, diagnostics to `err`. Every RPC carries a
// deadline of --timeout (DeleteSandbox: plus --grace, which the server may wait), except
// the streams: `logs -f` has none (it ends when the sandbox exits, or on Ctrl-C) and
// `exec` has kExecDeadline.
//
// `logs` writes stdout entries to `out` and stderr entries to `err`. `exec` returns the
// command's exit code; with -t it holds the terminal in raw mode until it returns,
// whatever the way out; SIGINT, SIGTERM or SIGHUP cancel it (exit 128 + the signal).
int Run(const std::vector<std::string>& args, const CliContext& context);

}  // namespace fsb::cli

#endif  // FSB_CLI_COMMANDS_H_
