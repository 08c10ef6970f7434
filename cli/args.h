#ifndef FSB_CLI_ARGS_H_
#define FSB_CLI_ARGS_H_

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace fsb::cli {

// Default FastPath endpoint of fsb-controller, used when neither --endpoint nor the
// FSB_ENDPOINT environment variable is set.
inline constexpr std::string_view kDefaultEndpoint = "127.0.0.1:9090";
inline constexpr std::string_view kEndpointEnvVar = "FSB_ENDPOINT";
inline constexpr std::string_view kDefaultNamespace = "default";
inline constexpr absl::Duration kDefaultTimeout = absl::Seconds(60);

// How `ls` and `get` render sandboxes.
enum class OutputFormat { kTable, kWide, kJson, kYaml };

// Flags accepted by every command.
struct GlobalOptions {
  std::string endpoint{kDefaultEndpoint};
  std::string ns{kDefaultNamespace};
  // Deadline of every RPC, measured from the moment the RPC starts. Always > 0.
  absl::Duration timeout = kDefaultTimeout;
};

// `fsb help`, `--help`, `-h`: usage on stdout.
struct HelpCommand {};
// `fsb` with no command: usage on stderr, exit 2.
struct NoCommand {};
struct VersionCommand {};

// `fsb run`: CreateSandbox. Every field is validated by the parser.
struct RunCommand {
  std::string image;    // as typed; the server normalizes it
  std::string name;     // empty: the server generates one
  std::string workdir;  // empty: the image's
  std::string pool;
  std::map<std::string, std::string> envs;
  std::map<std::string, std::string> labels;
  std::vector<int> ports;
  bool strong = false;
  // Everything after `--`; replaces the image's entrypoint and cmd as a whole.
  std::vector<std::string> command;
};

// `fsb ls` / `fsb list`: ListSandboxes in the namespace.
struct ListCommand {
  OutputFormat output = OutputFormat::kTable;
};

// `fsb get NAME`: GetSandbox.
struct GetCommand {
  std::string name;
  OutputFormat output = OutputFormat::kTable;
};

// `fsb rm NAME...` / `fsb delete NAME...`: DeleteSandbox for each name, in order.
struct DeleteCommand {
  std::vector<std::string> names;  // at least one
};

using Command = std::variant<NoCommand, HelpCommand, VersionCommand, RunCommand,
                             ListCommand, GetCommand, DeleteCommand>;

// A fully parsed and validated command line.
struct Invocation {
  GlobalOptions global;
  Command command;
};

// Reads an environment variable; std::nullopt when unset. Injected so that the parser
// never touches the process environment.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

// Parses the arguments after argv[0].
//
// Forms: `--flag value`, `--flag=value`, `-n value`, `-nvalue`, `-n=value`; boolean
// flags take no value (`--strong`, or `--strong=true|false`). Flags may appear before or
// after the command word; `--` ends flag parsing and everything after it is the sandbox
// command (only for `run`). Repeated --env/--label/--port accumulate; other repeated
// flags keep the last value. The endpoint is --endpoint, else FSB_ENDPOINT, else
// kDefaultEndpoint.
//
// Returns INVALID_ARGUMENT with a message naming the offending argument for every usage
// error: unknown command or flag, a flag not valid for the command, a missing value or
// positional argument, malformed --env/--label/--port/--timeout/-o values, invalid names.
absl::StatusOr<Invocation> ParseArgs(const std::vector<std::string>& args,
                                     const EnvLookup& env);

// The usage text printed by `fsb help`. Ends with a newline.
std::string_view UsageText();

}  // namespace fsb::cli

#endif  // FSB_CLI_ARGS_H_
