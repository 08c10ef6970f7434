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
#include "cli/bench.h"
#include "cli/connection.h"
#include "cli/exec_terminal.h"
#include "fastpath/v1/fastpath.grpc.pb.h"

namespace fsb::cli {

// Process exit codes of `fsb`.
inline constexpr int kExitOk = 0;
inline constexpr int kExitServerError = 1;  // the RPC failed (any gRPC status but OK)
inline constexpr int kExitUsage = 2;        // the command line is wrong; no RPC was made

// The deadline of an exec session.
inline constexpr absl::Duration kExecDeadline = absl::Hours(24);

// The shortest deadline of an image import (--timeout when longer): archives are large.
inline constexpr absl::Duration kMinImportDeadline = absl::Minutes(30);

// The size of the data messages of an image import.
inline constexpr size_t kImportChunkBytes = 1 << 20;

// Connects to the FastPath API as `connection` says. Called at most once per Run, and
// only when the command needs the server.
using StubFactory = std::function<std::unique_ptr<fastpath::v1::FastPathService::StubInterface>(
    const Connection& connection)>;

// Connects to the SandboxIO API (logs, exec).
using IoStubFactory = std::function<std::unique_ptr<fastpath::v1::SandboxIO::StubInterface>(
    const Connection& connection)>;

// Connects to the Images API (image import).
using ImagesStubFactory = std::function<std::unique_ptr<fastpath::v1::Images::StubInterface>(
    const Connection& connection)>;

// What a run of `fsb` needs from the process: the environment (which also locates the
// config file, see ConfigPath), the standard streams (all three non-null) and the
// wall-clock time (for AGE columns, --expire-in and reset revisions). The stub factories
// are seams for tests; unset, each connects with NewChannel(connection).
struct CliContext {
  EnvLookup env;
  StubFactory connect;
  std::istream* in = nullptr;  // read by `apply -f -`
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
  absl::Time now;
  // For `logs` and `exec`.
  IoStubFactory connect_io;
  // The local end of `exec`; unset: NewProcessTerminal().
  std::function<std::unique_ptr<ExecTerminal>()> terminal;
  // For `image import`.
  ImagesStubFactory connect_images;
  // Reads the /metrics pages for `bench`; unset: HttpGet with a deadline of --timeout.
  HttpGetter http_get;
};

// Parses `args` (argv without argv[0]) and executes the command; returns the exit code.
//
// Guarantees: a usage error prints "fsb: error: <problem>" and a hint to stderr, returns
// kExitUsage and never calls `connect`; for `apply` this includes a file that cannot be
// read or is not a valid Sandbox manifest — every file is read and checked before the
// first RPC. Before a command that needs the server, the config file is read and the
// settings resolved (ResolveSettings); a config error prints "fsb: error: <problem>"
// and returns kExitUsage, and each warning "fsb: warning: <warning>". `config` verbs
// run RunConfigCommand and never connect. A failed RPC prints "fsb: error: <CODE>:
// <message>" and the lines of FailureHint to stderr and returns kExitServerError. Results go to
// `out`, diagnostics to `err`. Every RPC carries a deadline of --timeout (DeleteSandbox: plus
// --grace, which the server may wait), except the streams: `logs -f` has none (it ends when the
// sandbox exits, or on Ctrl-C) and `exec` has kExecDeadline, `image import` max(--timeout,
// kMinImportDeadline).
//
// `image import` opens FILE before connecting (exit 1 when it cannot be read), streams it
// in kImportChunkBytes pieces, prints "AGENT: imported IMG[, IMG...]" per agent that
// succeeded to `out` and "AGENT: error: ..." per agent that failed to `err`, and returns
// kExitOk only if every agent succeeded. `bench` prints its report (FormatBenchText or,
// with -o json, FormatBenchJson) to `out` and its warnings to `err`, and returns kExitOk
// only if every create (and cleanup delete) succeeded; its stub is shared by its workers.
//
// `logs` writes stdout entries to `out` and stderr entries to `err`. `exec` returns the
// command's exit code; with -t it holds the terminal in raw mode until it returns,
// whatever the way out; SIGINT, SIGTERM or SIGHUP cancel it (exit 128 + the signal).
int Run(const std::vector<std::string>& args, const CliContext& context);

}  // namespace fsb::cli

#endif  // FSB_CLI_COMMANDS_H_
