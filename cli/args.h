#ifndef FSB_CLI_ARGS_H_
#define FSB_CLI_ARGS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cli/config.h"
#include "internal/sandbox_network.h"

namespace fsb::cli {

// Defaults of the connection settings, used when neither a flag, the environment nor the
// config file's context sets them (see ResolveSettings).
inline constexpr std::string_view kDefaultEndpoint = "127.0.0.1:9090";
inline constexpr std::string_view kDefaultNamespace = "default";
inline constexpr absl::Duration kDefaultTimeout = absl::Seconds(60);

// Environment variables of the CLI.
inline constexpr std::string_view kEndpointEnvVar = "FSB_ENDPOINT";
inline constexpr std::string_view kTokenEnvVar = "FSB_TOKEN";
inline constexpr std::string_view kCaEnvVar = "FSB_CA";          // a file
inline constexpr std::string_view kConfigEnvVar = "FSB_CONFIG";  // the config file

// How `ls`, `get` and `agents` render their results.
enum class OutputFormat { kTable, kWide, kJson, kYaml };

// Flags accepted by every command, as given: ResolveSettings completes the unset ones from
// the environment, the config file and the defaults.
struct GlobalOptions {
  std::optional<std::string> endpoint;         // --endpoint; not empty
  std::optional<std::string> ns;               // -n, --namespace; a DNS label
  std::optional<std::string> context;          // --context; not empty
  std::optional<std::string> token;            // --token; not empty
  std::optional<std::string> ca_file;          // --ca; not empty
  std::optional<std::string> tls_server_name;  // --tls-server-name; not empty
  // --insecure: plaintext; never with --token, --ca, --tls-server-name or
  // --insecure-skip-tls-verify.
  bool insecure = false;
  bool insecure_skip_tls_verify = false;  // --insecure-skip-tls-verify
  // Deadline of every RPC, measured from the moment the RPC starts. Always > 0.
  absl::Duration timeout = kDefaultTimeout;
};

// `fsb help`, `--help`, `-h`: usage on stdout.
struct HelpCommand {};
// `fsb` with no command: usage on stderr, exit 2.
struct NoCommand {};
// `fsb version`, `fsb --version`: the release on stdout.
struct VersionCommand {};
// `fsb completion bash`: the bash completion script (BashCompletionScript) on stdout.
struct CompletionCommand {};

// How the controller treats a sandbox whose agent is lost.
enum class FailurePolicy {
  kManual,        // it stays Lost until a user acts
  kAutoRecreate,  // it is recreated elsewhere after the recovery timeout
};

// `fsb run`: CreateSandbox. Every field is validated by the parser; zero values mean
// "the server's default".
struct RunCommand {
  std::string image;    // as typed; the server normalizes it
  std::string name;     // empty: the server generates one
  std::string workdir;  // empty: the image's
  std::string pool;
  std::map<std::string, std::string> envs;
  std::map<std::string, std::string> labels;
  std::vector<int> ports;
  std::string network;  // "egress" or "no-egress"; empty: the server's default (egress)
  std::vector<PublishedPort> publish;  // no host port repeated with the same protocol
  bool strong = false;
  std::string request_id;           // empty: NAMESPACE/NAME
  int64_t expire_time_seconds = 0;  // unix seconds, in the future; 0: never
  FailurePolicy failure_policy = FailurePolicy::kManual;
  int32_t recovery_timeout_seconds = 0;  // 1..86400; 0: the server's default (60)
  int64_t cpu_millicores = 0;            // > 0 when set
  int64_t memory_bytes = 0;              // > 0 when set
  int64_t pids = 0;                      // > 0 when set
  // Everything after `--`; replaces the image's entrypoint and cmd as a whole.
  std::vector<std::string> command;
};

// `fsb ls` / `fsb list`: ListSandboxes in the namespace, or in every namespace.
struct ListCommand {
  OutputFormat output = OutputFormat::kTable;
  std::string selector;         // label selector; empty: every sandbox
  bool all_namespaces = false;  // the request carries an empty namespace
};

// `fsb get NAME`: GetSandbox for the table forms, GetSandboxResource for JSON and YAML.
struct GetCommand {
  std::string name;
  OutputFormat output = OutputFormat::kTable;
};

// `fsb update NAME`: one UpdateSandbox per set field among expire_time_seconds,
// failure_policy and recovery_timeout_seconds (in that order), the labels riding on the
// first. At least one field, label or removal is set.
struct UpdateCommand {
  std::string name;
  std::optional<int64_t> expire_time_seconds;  // unix seconds; 0 removes the expiry
  std::optional<FailurePolicy> failure_policy;
  std::optional<int32_t> recovery_timeout_seconds;  // 1..86400
  std::map<std::string, std::string> labels;        // added or changed
  std::vector<std::string> remove_labels;           // keys, none also in `labels`
};

// `fsb reset NAME`: UpdateSandbox with a new reset revision.
struct ResetCommand {
  std::string name;
};

// `fsb rm pool/NAME` names a SandboxPool, `fsb rm agent/NAME` an agent.
inline constexpr std::string_view kPoolPrefix = "pool/";
inline constexpr std::string_view kAgentPrefix = "agent/";

// `fsb rm NAME...` / `fsb delete NAME...`: in order, DeleteSandbox for each name,
// DeleteSandboxPool for each "pool/NAME", DeleteAgent for each "agent/NAME".
struct DeleteCommand {
  // At least one: DNS labels, possibly after kPoolPrefix, or DNS subdomains after
  // kAgentPrefix.
  std::vector<std::string> names;
  // SIGTERM -> SIGKILL grace, 0..86400 seconds; unset: the agent's default.
  std::optional<int32_t> grace_period_seconds;
};

// `fsb apply -f FILE...`: ApplySandbox or ApplySandboxPool for every document of every
// file, in order.
struct ApplyCommand {
  std::vector<std::string> files;  // at least one; "-" is standard input
};

// `fsb agents`: ListAgents.
struct AgentsCommand {
  OutputFormat output = OutputFormat::kTable;
};

// `fsb pools`: ListSandboxPools.
struct PoolsCommand {
  OutputFormat output = OutputFormat::kTable;
};

// `fsb logs NAME`: SandboxIO.Logs; stdout entries to stdout, stderr entries to stderr.
struct LogsCommand {
  std::string name;
  bool follow = false;             // until the sandbox exits (or Ctrl-C)
  int64_t tail_lines = -1;         // the last N lines; -1: all
  int64_t since_unix_seconds = 0;  // lines logged at or after; 0: all
  bool timestamps = false;         // prefix each line with its RFC 3339 time
};

// `fsb exec NAME [-i] [-t] -- CMD [ARG...]`: SandboxIO.Exec; exits with the command's
// exit code.
struct ExecCommand {
  std::string name;
  std::vector<std::string> command;  // at least one word, the first not empty
  std::map<std::string, std::string> envs;
  std::string workdir;  // empty: the sandbox's
  bool stdin = false;   // -i: forward standard input
  bool tty = false;     // -t: a terminal (raw mode locally, resizes forwarded)
};

// `fsb image import FILE`: Images.ImportImage, the file streamed to the controller.
struct ImageImportCommand {
  std::string file;    // an OCI image archive; not empty
  std::string agent;   // empty: every registered agent
  bool force = false;  // re-point names that exist with another digest
  bool json = false;   // -o json: print the ImportImageResponse
};

// Defaults of `fsb bench`.
inline constexpr int kDefaultBenchRequests = 10;
inline constexpr int kMaxBenchRequests = 100000;
inline constexpr int kDefaultControllerMetricsPort = 9091;
inline constexpr int kDefaultAgentMetricsPort = 5759;

// `fsb bench`: `requests` CreateSandbox calls from `concurrency` workers, timed, with the
// servers' stage histograms scraped before and after.
struct BenchCommand {
  std::string image;                     // required
  int requests = kDefaultBenchRequests;  // 1..kMaxBenchRequests
  int concurrency = 1;                   // 1..requests
  double rate = 0;       // creates started per second, all workers together; 0: unpaced
  bool cleanup = false;  // delete the sandboxes (grace 0) after the run
  bool strong = false;
  // Everything after `--`; default `sleep 3600`.
  std::vector<std::string> command;
  // host:port of the controller's /metrics; empty: the endpoint's host, port 9091.
  std::string controller_metrics;
  // Port of every agent's /metrics (at the host of its registered address).
  int agent_metrics_port = kDefaultAgentMetricsPort;
  // Explicit agent /metrics addresses (host:port); when set, ListAgents is not asked.
  std::vector<std::string> agent_metrics;
  bool json = false;  // -o json
};

// `fsb config VERB`: reads or edits the config file; never contacts the server.
struct ConfigCommand {
  enum class Verb {
    kView,            // the file, inline tokens redacted
    kGetContexts,     // a table of the contexts
    kCurrentContext,  // the current context's name
    kUseContext,      // makes `name` the current context
    kSetContext,      // creates or updates `name` with `update`
  };
  Verb verb = Verb::kView;
  std::string name;      // use-context, set-context: not empty
  ContextUpdate update;  // set-context: the fields given (--endpoint, --ca, ...)
};

using Command = std::variant<NoCommand, HelpCommand, VersionCommand, RunCommand, ListCommand,
                             GetCommand, UpdateCommand, ResetCommand, DeleteCommand, ApplyCommand,
                             AgentsCommand, PoolsCommand, LogsCommand, ExecCommand,
                             ImageImportCommand, BenchCommand, ConfigCommand, CompletionCommand>;

// A fully parsed and validated command line.
struct Invocation {
  GlobalOptions global;
  Command command;
};

// Reads an environment variable; std::nullopt when unset. Injected so that the library
// never touches the process environment.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

// Parses the arguments after argv[0]. `now` is the wall-clock time that relative
// expiries (--expire-in) count from. Reads no environment and no file.
//
// Forms: `--flag value`, `--flag=value`, `-n value`, `-nvalue`, `-n=value`; boolean
// flags take no value (`--strong`, or `--strong=true|false`) and short ones combine
// (`-it`). Flags may appear before or after the command word, except a short flag whose
// letter takes a value for some commands and not for others (`-f`): that one must follow
// the command word. `--` ends flag parsing and everything after it is the sandbox
// command (only for `run`, `exec` and `bench`). Repeated --env, --label, --port,
// --publish, --remove-label, --agent-metrics and -f accumulate; other repeated flags
// keep the last value. A short flag may stand for
// different long flags in different commands (`-l` is --label for run and update,
// --selector for ls). For `config set-context` the connection flags (--endpoint, --ca,
// --token, --token-file, -n, --tls-server-name, --insecure, --insecure-skip-tls-verify)
// are the context's new fields, an empty value clearing one; the other config verbs
// take none of them.
//
// Returns INVALID_ARGUMENT with a message naming the offending argument for every usage
// error: unknown command or flag, a flag not valid for the command, a missing value or
// positional argument, a malformed or out-of-range value, invalid names, conflicting
// flags (--expire-in with --expire-at, --grace with --now, --insecure with --token, ...),
// `update` without anything to change, `bench` with --concurrency above --requests.
absl::StatusOr<Invocation> ParseArgs(const std::vector<std::string>& args, absl::Time now);

// The usage text printed by `fsb help`. Ends with a newline.
std::string_view UsageText();

// The bash completion script of `fsb completion bash`, made from the same command, flag
// and subcommand tables ParseArgs reads, so it offers exactly what ParseArgs accepts:
// command words, each command's flags (long and short), subcommands (image import,
// config's verbs), the fixed values of -o, --network and --failure-policy, and file names
// where a file is expected. Defines the function _fsb and registers it for `fsb`.
std::string BashCompletionScript();

}  // namespace fsb::cli

#endif  // FSB_CLI_ARGS_H_
