#include "cli/args.h"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cli/values.h"
#include "internal/image_ref.h"
#include "internal/request_limits.h"
#include "internal/sandbox_network.h"
#include "internal/strings.h"
#include "internal/validation.h"

namespace fsb::cli {
namespace {

constexpr std::string_view kUsage =
    R"(fsb - start and manage fast sandboxes

Usage:
  fsb [global flags] COMMAND [flags] [-- CMD [ARG...]]

Commands:
  run       Create and start a sandbox
  ls        List sandboxes (alias: list)
  get       Show one sandbox
  update    Change a sandbox's expiry, failure policy, recovery timeout or labels
  reset     Restart a sandbox in a fresh container (same name and spec)
  rm        Delete sandboxes, sandbox pools or gone agents (alias: delete)
  apply     Create or update sandboxes and sandbox pools from YAML or JSON files
  logs      Print a sandbox's output
  exec      Run a command in a sandbox
  agents    List the registered agents
  pools     List the sandbox pools
  image     Import an image archive on the agents (image import FILE)
  bench     Create sandboxes under load; report latencies and the servers' stages
  config    Show or edit the config file's contexts (how to reach a controller)
  completion
            Print the bash completion script (completion bash), e.g.
            fsb completion bash > /etc/bash_completion.d/fsb
  version   Print the client version (also: --version)
  help      Show this help

fsb run --image IMG [flags] [-- CMD [ARG...]]
  --image IMG               image to run (required)
  --name NAME               sandbox name, a DNS label (default: generated)
  -e, --env K=V             environment variable (repeatable)
  -w, --workdir DIR         working directory
  --pool POOL               sandbox pool to place the sandbox in
  -l, --label K=V           label (repeatable)
  --port PORT               port the sandbox listens on, 1-65535 (repeatable); reached
                            at SANDBOX-IP:PORT from the node
  -p, --publish HOST:PORT[/PROTO]
                            forward the node's port HOST to the sandbox's PORT, tcp
                            (default) or udp, e.g. 8080:80 (repeatable); reached at
                            NODE:HOST
  --network MODE            egress (default: outbound traffic through the node's NAT)
                            or no-egress (reachable from the node only, no way out)
  --strong                  persist before starting (strong consistency)
  --request-id ID           idempotency key (default: NAMESPACE/NAME); the same ID with
                            the same spec returns the existing sandbox
  --cpu CPU                 CPU limit, a Kubernetes quantity: 500m (half a core), 2, 0.5
  --memory SIZE             memory limit: 256Mi, 1Gi, 500M or bytes
  --pids N                  maximum number of processes, 4-4194304
  --expire-in DURATION      expire the sandbox DURATION from now (1s-87600h), e.g. 30m
  --failure-policy POLICY   when its agent is lost: manual (default: stay Lost) or
                            auto-recreate (recreate elsewhere after the recovery timeout)
  --recovery-timeout DUR    wait before auto-recreate, whole seconds 1s-24h (default 60s)
  -- CMD [ARG...]           command replacing the image's entrypoint and cmd

fsb ls [-l SELECTOR] [-A] [-o json|yaml|wide]
  -l, --selector SELECTOR   label selector: k=v, k==v, k!=v, k, !k, comma-separated (AND)
  -A, --all-namespaces      list every namespace; the table gains a NAMESPACE column
  -o, --output FORMAT       json, yaml or wide (default: a table; wide adds ID, IP,
                            NETWORK and ENDPOINTS)

fsb get NAME [-o json|yaml|wide]
  -o, --output FORMAT       json or yaml: the fsb.io/v1alpha1 Sandbox resource
                            (metadata, spec, status); wide: adds ID, IP (the
                            sandbox's own address), NETWORK and ENDPOINTS

fsb update NAME [flags]     at least one of:
  --expire-in DURATION      expire DURATION from now
  --expire-at TIME          expire at TIME: RFC 3339 (2030-01-02T15:04:05Z) or unix seconds
  --no-expire               never expire
  --failure-policy POLICY   manual or auto-recreate
  --recovery-timeout DUR    whole seconds, 1s-24h
  -l, --label K=V           add or change a label (repeatable)
  --remove-label KEY        remove a label (repeatable)

fsb reset NAME              replace the sandbox's container with a fresh one (same name
                            and spec): sends a new reset revision, the current time

fsb rm NAME [NAME...] [--grace DURATION | --now]
                            pool/POOL deletes that SandboxPool; agent/AGENT forgets an
                            agent that is gone (no heartbeat), its sandboxes stay Lost
  --grace DURATION          SIGTERM-to-SIGKILL grace, whole seconds 0-10m
                            (default: the agent's); the request deadline grows by it
  --now                     kill at once (--grace 0)

fsb apply -f FILE [-f FILE...]
  -f, --filename FILE       Sandbox and SandboxPool resources in YAML (documents
                            separated by ---) or JSON; - reads standard input
                            (repeatable). Creates missing sandboxes, updates the mutable
                            fields of existing ones; creates or replaces pools

fsb logs NAME [-f] [--tail N] [--since DURATION] [--timestamps]
  -f, --follow              keep printing new lines until the sandbox exits
  --tail N                  only the last N lines, up to 1000000 (default -1: all)
  --since DURATION          only lines logged in the last DURATION, e.g. 10m
  --timestamps              prefix each line with the time it was logged (RFC 3339)
                            stdout lines go to stdout, stderr lines to stderr

fsb exec NAME [-i] [-t] [-e K=V]... [-w DIR] -- CMD [ARG...]
  -i, --stdin               forward standard input to the command
  -t, --tty                 run the command in a terminal (this one in raw mode; its
                            size follows this window's)
  -e, --env K=V             environment variable over the sandbox's (repeatable)
  -w, --workdir DIR         working directory (default: the sandbox's)
                            fsb exits with the command's exit code

fsb agents [-o json|yaml|wide]
  -o, --output FORMAT       json or yaml: the fsb.io/v1alpha1 Agent resources;
                            wide: adds ADDRESS, RUNTIME (Down: only creates that
                            claim a warm instance go there), WARM (ready/desired
                            warm instances per image) and IMAGES

fsb pools [-o json|yaml]
  -o, --output FORMAT       json or yaml: the fsb.io/v1alpha1 SandboxPool resources
                            WARM: ready/desired warm instances per image across the
                            pool's agents

fsb image import FILE [--agent NAME] [--force] [-o json]
  --agent NAME              import on this agent only (default: every registered agent)
  --force                   re-point image names that exist with another digest
                            (without it such an import is refused and changes nothing)
  -o, --output json         print the controller's answer as JSON
                            FILE is an OCI image archive; the deadline is --timeout, at
                            least 30m; exit 1 unless every agent imported it

fsb bench --image IMG [flags] [-- CMD [ARG...]]
  --image IMG               image of the sandboxes (required)
  --requests N              sandboxes to create, 1-100000 (default 10); named
                            bench-<run id>-<i>
  --concurrency C           creates in flight at once, 1-N (default 1)
  --rate R                  start at most R creates per second in all (default: no limit)
  --cleanup                 delete the sandboxes afterwards (grace 0) and time it
  --strong                  persist before starting (strong consistency)
  --controller-metrics HOST:PORT
                            controller /metrics (default: the endpoint's host, port 9091)
  --agent-metrics HOST:PORT agent /metrics (repeatable; default: every registered agent)
  --agent-metrics-port PORT port of the agents' /metrics (default 5759)
  -o, --output json         every figure as JSON
  -- CMD [ARG...]           the sandboxes' command (default: sleep 3600)
                            exit 1 if any create (or cleanup delete) failed

fsb config view             the config file, inline tokens redacted
fsb config get-contexts     its contexts; * marks the current one
fsb config current-context  the current context's name
fsb config use-context NAME make NAME the current context
fsb config set-context NAME [--endpoint HOST:PORT] [--ca FILE]
    [--token-file FILE | --token TOKEN] [-n NS] [--tls-server-name NAME]
    [--insecure] [--insecure-skip-tls-verify]
                            create or update context NAME (other contexts are kept; an
                            empty value clears a field, e.g. --ca=)
                            The file is $FSB_CONFIG, else ~/.config/fsb/config.yaml:
                              current-context: local
                              contexts:
                                - name: local
                                  endpoint: 127.0.0.1:9090
                                  ca: /path/ca.crt
                                  token-file: /path/token
                                  namespace: default

Global flags:
  --endpoint HOST:PORT      controller address (default: $FSB_ENDPOINT, else the
                            context's, else 127.0.0.1:9090)
  -n, --namespace NS        namespace (default: the context's, else "default")
  --context NAME            the config file's context to use (default: its
                            current-context)
  --token TOKEN             bearer token (default: $FSB_TOKEN, else the context's token or
                            token-file)
  --ca FILE                 PEM of the CA that signed the controller's certificate
                            (default: $FSB_CA, else the context's ca); implies TLS
  --tls-server-name NAME    the name to verify in the controller's certificate (default:
                            the endpoint's host)
  --insecure                plaintext, no token (a controller run with --insecure)
  --insecure-skip-tls-verify
                            TLS without verifying the controller's certificate (unsafe)
  --timeout DURATION        deadline of each request, e.g. 500ms, 30s, 2m (default 60s)
  -h, --help                show this help
  --version                 print the client version
                            TLS or not: these flags, else $FSB_CA, else the context's
                            insecure or insecure-skip-tls-verify; with none of them, TLS

Durations: whole seconds (30) or units ms, s, m, h (1h30m).

Examples:
  fsb run --image busybox --name hello -- sh -c 'echo hi; sleep 3600'
  fsb run --image busybox --name job --cpu 500m --memory 256Mi --pids 100 \
      --expire-in 2h --failure-policy auto-recreate -l team=a -- sleep 7200
  fsb run --image busybox --name web --port 8080 -p 18080:8080 --network no-egress \
      -- httpd -f -p 8080
  fsb ls -o wide
  fsb ls -A -l team=a,tier!=batch
  fsb get hello -o yaml
  fsb update hello --expire-in 30m -l tier=fe --remove-label old
  fsb update hello --no-expire --failure-policy manual
  fsb reset hello
  fsb apply -f sandboxes.yaml
  fsb get hello -o yaml | fsb apply -f -
  fsb agents -o wide
  fsb apply -f pool.yaml    (kind: SandboxPool, spec.maxSandboxesPerAgent: 2)
  fsb pools
  fsb rm pool/gpu
  fsb rm agent/node-7
  fsb logs hello -f --tail 20
  fsb exec hello -- sh -c 'echo $HOSTNAME'
  fsb exec -it hello -- sh
  fsb rm hello
  fsb rm --now job
  fsb image import app.tar --agent node-1
  fsb bench --image busybox --requests 50 --concurrency 8 --cleanup -o json
  fsb config set-context prod --endpoint fsb.example.com:9090 --ca ca.crt \
      --token-file ~/.fsb-token -n team-a
  fsb config use-context prod

Exit status: 0 on success, 1 on a server or connection error, 2 on a usage or config
error; exec: the command's.
)";

// One bit per command word, to say which commands accept a flag.
enum CommandBit : uint32_t {
  kRunBit = 1 << 0,
  kListBit = 1 << 1,
  kGetBit = 1 << 2,
  kDeleteBit = 1 << 3,
  kVersionBit = 1 << 4,
  kHelpBit = 1 << 5,
  kUpdateBit = 1 << 6,
  kResetBit = 1 << 7,
  kApplyBit = 1 << 8,
  kAgentsBit = 1 << 9,
  kLogsBit = 1 << 10,
  kExecBit = 1 << 11,
  kImageBit = 1 << 12,
  kBenchBit = 1 << 13,
  kPoolsBit = 1 << 14,
  kConfigBit = 1 << 15,
  kCompletionBit = 1 << 16,
  kAllBits = (1 << 17) - 1,
};

struct FlagSpec {
  std::string_view name;  // long form, without "--"
  char short_name;        // 0: none
  bool takes_value;
  uint32_t commands;
};

constexpr FlagSpec kFlags[] = {
    {"endpoint", 0, true, kAllBits},
    {"namespace", 'n', true, kAllBits},
    {"timeout", 0, true, kAllBits},
    {"help", 'h', false, kAllBits},
    {"version", 0, false, kAllBits},
    {"context", 0, true, kAllBits},
    {"token", 0, true, kAllBits},
    {"ca", 0, true, kAllBits},
    {"tls-server-name", 0, true, kAllBits},
    {"insecure", 0, false, kAllBits},
    {"insecure-skip-tls-verify", 0, false, kAllBits},
    {"token-file", 0, true, kConfigBit},
    {"image", 0, true, kRunBit | kBenchBit},
    {"name", 0, true, kRunBit},
    {"env", 'e', true, kRunBit | kExecBit},
    {"workdir", 'w', true, kRunBit | kExecBit},
    {"pool", 0, true, kRunBit},
    {"label", 'l', true, kRunBit | kUpdateBit},
    {"port", 0, true, kRunBit},
    {"publish", 'p', true, kRunBit},
    {"network", 0, true, kRunBit},
    {"strong", 0, false, kRunBit | kBenchBit},
    {"request-id", 0, true, kRunBit},
    {"cpu", 0, true, kRunBit},
    {"memory", 0, true, kRunBit},
    {"pids", 0, true, kRunBit},
    {"expire-in", 0, true, kRunBit | kUpdateBit},
    {"failure-policy", 0, true, kRunBit | kUpdateBit},
    {"recovery-timeout", 0, true, kRunBit | kUpdateBit},
    {"expire-at", 0, true, kUpdateBit},
    {"no-expire", 0, false, kUpdateBit},
    {"remove-label", 0, true, kUpdateBit},
    {"selector", 'l', true, kListBit},
    {"all-namespaces", 'A', false, kListBit},
    {"output", 'o', true, kListBit | kGetBit | kAgentsBit | kPoolsBit | kImageBit | kBenchBit},
    {"grace", 0, true, kDeleteBit},
    {"now", 0, false, kDeleteBit},
    {"filename", 'f', true, kApplyBit},
    {"follow", 'f', false, kLogsBit},
    {"tail", 0, true, kLogsBit},
    {"since", 0, true, kLogsBit},
    {"timestamps", 0, false, kLogsBit},
    {"stdin", 'i', false, kExecBit},
    {"tty", 't', false, kExecBit},
    {"agent", 0, true, kImageBit},
    {"force", 0, false, kImageBit},
    {"requests", 0, true, kBenchBit},
    {"concurrency", 0, true, kBenchBit},
    {"rate", 0, true, kBenchBit},
    {"cleanup", 0, false, kBenchBit},
    {"controller-metrics", 0, true, kBenchBit},
    {"agent-metrics", 0, true, kBenchBit},
    {"agent-metrics-port", 0, true, kBenchBit},
};

// A short name shared by several flags must mean one flag per command. (Where they
// disagree on taking a value, the tokenizer needs the command word first.)
constexpr bool ShortNamesAreUnambiguous() {
  for (size_t i = 0; i < std::size(kFlags); ++i) {
    for (size_t j = i + 1; j < std::size(kFlags); ++j) {
      const FlagSpec& a = kFlags[i];
      const FlagSpec& b = kFlags[j];
      if (a.short_name == 0 || a.short_name != b.short_name) continue;
      if ((a.commands & b.commands) != 0) return false;
    }
  }
  return true;
}
static_assert(ShortNamesAreUnambiguous());

struct CommandWord {
  std::string_view word;
  CommandBit bit;
};

constexpr CommandWord kCommands[] = {
    {"run", kRunBit},
    {"ls", kListBit},
    {"list", kListBit},
    {"get", kGetBit},
    {"rm", kDeleteBit},
    {"delete", kDeleteBit},
    {"update", kUpdateBit},
    {"reset", kResetBit},
    {"apply", kApplyBit},
    {"agents", kAgentsBit},
    {"version", kVersionBit},
    {"help", kHelpBit},
    {"logs", kLogsBit},
    {"exec", kExecBit},
    {"image", kImageBit},
    {"bench", kBenchBit},
    {"pools", kPoolsBit},
    {"config", kConfigBit},
    {"completion", kCompletionBit},
};

// The subcommand of `fsb image`, and the shells of `fsb completion`.
constexpr std::string_view kImageImport = "import";
constexpr std::string_view kCompletionShell = "bash";

// The verbs of `fsb config`.
struct ConfigVerbWord {
  std::string_view word;
  ConfigCommand::Verb verb;
  bool takes_name;
};
constexpr ConfigVerbWord kConfigVerbs[] = {
    {"view", ConfigCommand::Verb::kView, false},
    {"get-contexts", ConfigCommand::Verb::kGetContexts, false},
    {"current-context", ConfigCommand::Verb::kCurrentContext, false},
    {"use-context", ConfigCommand::Verb::kUseContext, true},
    {"set-context", ConfigCommand::Verb::kSetContext, true},
};

// What the completion offers as the value of a flag: fixed words, or (empty) file names.
// Flags taking a value without a hint get no completion.
struct FlagValueHint {
  std::string_view flag;  // a long name in kFlags
  uint32_t commands;      // the commands the hint is for
  std::string_view words;
};
constexpr FlagValueHint kValueHints[] = {
    {"output", kListBit | kGetBit | kAgentsBit, "json yaml wide"},
    {"output", kPoolsBit, "json yaml"},
    {"output", kImageBit | kBenchBit, "json"},
    {"network", kRunBit, "egress no-egress"},
    {"failure-policy", kRunBit | kUpdateBit, "manual auto-recreate"},
    {"filename", kApplyBit, ""},
    {"ca", kAllBits, ""},
    {"token-file", kConfigBit, ""},
};

// Every hint names a flag taking a value for all the hint's commands.
constexpr bool ValueHintsNameFlags() {
  for (const FlagValueHint& hint : kValueHints) {
    bool found = false;
    for (const FlagSpec& f : kFlags) {
      if (f.name == hint.flag && f.takes_value && (f.commands & hint.commands) == hint.commands) {
        found = true;
      }
    }
    if (!found) return false;
  }
  return true;
}
static_assert(ValueHintsNameFlags());

// Bounds of the duration flags; the server's limits are internal/request_limits.h's.
constexpr absl::Duration kMaxExpireIn = absl::Hours(24 * 3650);  // ten years
constexpr absl::Duration kMaxRecoveryTimeout = absl::Seconds(kMaxRecoveryTimeoutSeconds);
constexpr absl::Duration kMaxGrace = absl::Seconds(kMaxDeleteGracePeriodSeconds);

// A flag occurrence, in command-line order.
struct FlagValue {
  const FlagSpec* spec;  // for a short flag, resolved again once the command is known
  std::string spelled;   // as typed, for messages: "--env", "-n"
  char short_name;       // the letter when typed in short form, else 0
  std::string value;     // "true"/"false" for boolean flags
};

// The command line split into flags, positional words and the words after "--".
struct Tokens {
  std::vector<FlagValue> flags;
  std::vector<std::string> positionals;
  bool saw_dash_dash = false;
  std::vector<std::string> after_dash_dash;
};

absl::Status UsageError(std::string_view message) {
  return absl::InvalidArgumentError(std::string(message));
}

// Stores the value of `parsed` into `into`, or returns its error.
template <typename T, typename U>
absl::Status Assign(absl::StatusOr<T> parsed, U& into) {
  if (!parsed.ok()) return parsed.status();
  into = *std::move(parsed);
  return absl::OkStatus();
}

const FlagSpec* FindLong(std::string_view name) {
  for (const FlagSpec& f : kFlags) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

// The flag with short name `c` among those valid for one of `commands`.
const FlagSpec* FindShort(char c, uint32_t commands) {
  for (const FlagSpec& f : kFlags) {
    if (f.short_name != 0 && f.short_name == c && (f.commands & commands) != 0) return &f;
  }
  return nullptr;
}

absl::StatusOr<std::string> ParseBool(std::string_view spelled, std::string_view value) {
  if (value == "true" || value == "false") return std::string(value);
  return UsageError(
      absl::StrCat("flag ", Sv(spelled), " takes true or false, got \"", Sv(value), "\""));
}

// The commands `word` names; all of them when it names none.
uint32_t CommandBits(std::string_view word) {
  for (const CommandWord& c : kCommands) {
    if (c.word == word) return c.bit;
  }
  return kAllBits;
}

// The flag a short name stands for in command `word` (empty: not known yet, any command).
// An error when no flag has that name for the command, or when, the command not being
// known, the candidates disagree on taking a value (a letter like -f).
absl::StatusOr<const FlagSpec*> ResolveShort(char c, std::string_view word) {
  const uint32_t commands = word.empty() ? kAllBits : CommandBits(word);
  const FlagSpec* found = FindShort(c, commands);
  const std::string spelled = absl::StrCat("-", std::string(1, c));
  if (found == nullptr) {
    if (FindShort(c, kAllBits) == nullptr) {
      return UsageError(absl::StrCat("unknown flag \"", spelled, "\""));
    }
    return UsageError(absl::StrCat("flag ", spelled, " is not valid for \"", Sv(word), "\""));
  }
  for (const FlagSpec& f : kFlags) {
    if (f.short_name == c && (f.commands & commands) != 0 && f.takes_value != found->takes_value) {
      return UsageError(absl::StrCat("flag ", spelled,
                                     " means different things for different commands: put "
                                     "it after the command"));
    }
  }
  return found;
}

absl::StatusOr<Tokens> Tokenize(const std::vector<std::string>& args) {
  Tokens tokens;
  std::string word;  // the command word, once seen (if it is one)
  // Stores a flag's value: `inline_value` if given, else the next argument.
  auto add = [&](const FlagSpec* spec, std::string spelled, char short_name,
                 std::optional<std::string> inline_value, size_t& i) -> absl::Status {
    FlagValue flag{spec, spelled, short_name, ""};
    if (!spec->takes_value) {
      absl::StatusOr<std::string> value =
          inline_value ? ParseBool(spelled, *inline_value) : std::string("true");
      if (!value.ok()) return value.status();
      flag.value = *std::move(value);
    } else if (inline_value) {
      flag.value = *std::move(inline_value);
    } else if (i + 1 < args.size() && args[i + 1] != "--") {
      flag.value = args[++i];
    } else {
      return UsageError(absl::StrCat("flag ", Sv(spelled), " needs a value"));
    }
    tokens.flags.push_back(std::move(flag));
    return absl::OkStatus();
  };
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      tokens.saw_dash_dash = true;
      tokens.after_dash_dash.assign(args.begin() + i + 1, args.end());
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      if (tokens.positionals.empty() && CommandBits(arg) != kAllBits) word = arg;
      tokens.positionals.push_back(arg);
      continue;
    }
    if (arg[1] == '-') {
      std::string_view body = std::string_view(arg).substr(2);
      size_t eq = body.find('=');
      std::string_view name = body.substr(0, eq);
      std::string spelled = absl::StrCat("--", Sv(name));
      const FlagSpec* spec = FindLong(name);
      if (spec == nullptr) {
        return UsageError(absl::StrCat("unknown flag \"", Sv(spelled), "\""));
      }
      std::optional<std::string> inline_value;
      if (eq != std::string_view::npos) inline_value = std::string(body.substr(eq + 1));
      if (absl::Status s = add(spec, spelled, 0, std::move(inline_value), i); !s.ok()) return s;
      continue;
    }
    // Short flags: boolean ones combine (-it); one that takes a value takes the rest of
    // the word (-nteam, -n=team) or the next argument.
    std::string_view letters = std::string_view(arg).substr(1);
    while (!letters.empty()) {
      const char c = letters.front();
      letters.remove_prefix(1);
      absl::StatusOr<const FlagSpec*> spec = ResolveShort(c, word);
      if (!spec.ok()) return spec.status();
      std::optional<std::string> inline_value;
      if (!letters.empty() && (letters.front() == '=' || (*spec)->takes_value)) {
        if (letters.front() == '=') letters.remove_prefix(1);
        inline_value = std::string(letters);
        letters = {};
      }
      const std::string spelled = absl::StrCat("-", std::string(1, c));
      if (absl::Status s = add(*spec, spelled, c, std::move(inline_value), i); !s.ok()) return s;
    }
  }
  return tokens;
}

absl::StatusOr<absl::Duration> ParseTimeout(const FlagValue& flag) {
  absl::StatusOr<absl::Duration> d = ParseDuration(flag.spelled, flag.value);
  if (!d.ok()) return d.status();
  if (*d <= absl::ZeroDuration() || *d == absl::InfiniteDuration()) {
    return UsageError(
        absl::StrCat(flag.spelled, " \"", flag.value, "\" must be positive and finite"));
  }
  return d;
}

absl::StatusOr<OutputFormat> ParseOutput(std::string_view value) {
  if (value == "json") return OutputFormat::kJson;
  if (value == "yaml") return OutputFormat::kYaml;
  if (value == "wide") return OutputFormat::kWide;
  return UsageError(
      absl::StrCat("unknown output format \"", Sv(value), "\" for -o: use json, yaml or wide"));
}

absl::StatusOr<FailurePolicy> ParseFailurePolicy(const FlagValue& flag) {
  if (flag.value == "manual" || flag.value == "Manual") return FailurePolicy::kManual;
  if (flag.value == "auto-recreate" || flag.value == "AutoRecreate") {
    return FailurePolicy::kAutoRecreate;
  }
  return UsageError(absl::StrCat(flag.spelled, " \"", flag.value,
                                 "\" is not a policy: use manual or auto-recreate"));
}

absl::StatusOr<int32_t> ParseRecoveryTimeout(const FlagValue& flag) {
  absl::StatusOr<int64_t> seconds =
      ParseSeconds(flag.spelled, flag.value, absl::Seconds(1), kMaxRecoveryTimeout);
  if (!seconds.ok()) return seconds.status();
  return static_cast<int32_t>(*seconds);
}

// --expire-in: unix seconds `now` + the duration.
absl::StatusOr<int64_t> ParseExpireIn(const FlagValue& flag, absl::Time now) {
  absl::StatusOr<int64_t> seconds =
      ParseSeconds(flag.spelled, flag.value, absl::Seconds(1), kMaxExpireIn);
  if (!seconds.ok()) return seconds.status();
  return absl::ToUnixSeconds(now + absl::Seconds(*seconds));
}

// --expire-at: unix seconds of a time after `now`.
absl::StatusOr<int64_t> ParseExpireAt(const FlagValue& flag, absl::Time now) {
  absl::StatusOr<absl::Time> at = ParseTimestamp(flag.spelled, flag.value);
  if (!at.ok()) return at.status();
  if (*at <= now) {
    return UsageError(absl::StrCat(flag.spelled, " \"", flag.value, "\" is not in the future"));
  }
  return absl::ToUnixSeconds(*at);
}

// A whole number within [min, max].
absl::StatusOr<int64_t> ParseInteger(const FlagValue& flag, int64_t min, int64_t max) {
  int64_t n = 0;
  if (!absl::SimpleAtoi(flag.value, &n)) {
    return UsageError(absl::StrCat(flag.spelled, " \"", flag.value, "\" is not a number"));
  }
  if (n < min || n > max) {
    return UsageError(absl::StrCat(flag.spelled, " ", n, " is out of range ", min, "-", max));
  }
  return n;
}

absl::StatusOr<std::string> ParseRequestId(const FlagValue& flag) {
  if (flag.value.empty()) return UsageError(absl::StrCat(flag.spelled, " is empty"));
  for (char c : flag.value) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
      return UsageError(absl::StrCat(flag.spelled, " \"", flag.value,
                                     "\" may not contain whitespace or control characters"));
    }
  }
  return flag.value;
}

// Adds a validated KEY=VALUE from --env or --label to `into`.
absl::Status AddKeyValue(const FlagValue& flag, std::map<std::string, std::string>& into) {
  absl::StatusOr<std::pair<std::string, std::string>> kv = ParseKeyValue(flag.spelled, flag.value);
  if (!kv.ok()) return kv.status();
  absl::Status valid = flag.spec->name == "env"
                           ? ValidateEnvName(flag.spelled, kv->first)
                           : ValidateLabel(flag.spelled, kv->first, kv->second);
  if (!valid.ok()) return valid;
  into[kv->first] = kv->second;
  return absl::OkStatus();
}

// Adds a --publish entry to `into`, unless it is malformed or publishes a host port
// and protocol that an earlier one does.
absl::Status AddPublished(const FlagValue& flag, std::vector<PublishedPort>& into) {
  absl::StatusOr<PublishedPort> port = ParsePublishedPort(flag.spelled, flag.value);
  if (!port.ok()) return port.status();
  into.push_back(*std::move(port));
  return ValidatePublishedPorts(flag.spelled, into);
}

// A group of mutually exclusive flags; repeating one flag of the group is allowed.
struct Conflicts {
  // Records that `flag` was given; an error if another flag of the group was too.
  absl::Status Add(const FlagValue& flag) {
    if (first != nullptr && first->spec != flag.spec) {
      return UsageError(
          absl::StrCat("flag ", flag.spelled, " cannot be combined with ", first->spelled));
    }
    first = &flag;
    return absl::OkStatus();
  }
  const FlagValue* first = nullptr;
};

absl::StatusOr<RunCommand> BuildRun(const Tokens& tokens, absl::Time now) {
  if (!tokens.positionals.empty()) {
    return UsageError(absl::StrCat("unexpected argument \"", tokens.positionals.front(),
                                   "\" for run; put the sandbox command after '--'"));
  }
  RunCommand run;
  for (const FlagValue& flag : tokens.flags) {
    std::string_view name = flag.spec->name;
    absl::Status s;
    if (name == "image") {
      run.image = flag.value;
    } else if (name == "name") {
      run.name = flag.value;
    } else if (name == "workdir") {
      run.workdir = flag.value;
    } else if (name == "pool") {
      run.pool = flag.value;
    } else if (name == "strong") {
      run.strong = flag.value == "true";
    } else if (name == "env") {
      s = AddKeyValue(flag, run.envs);
    } else if (name == "label") {
      s = AddKeyValue(flag, run.labels);
    } else if (name == "port") {
      int port = 0;
      if (!absl::SimpleAtoi(Sv(flag.value), &port)) {
        return UsageError(absl::StrCat("--port \"", flag.value, "\" is not a number"));
      }
      s = ValidatePort("--port", port);
      run.ports.push_back(port);
    } else if (name == "publish") {
      s = AddPublished(flag, run.publish);
    } else if (name == "network") {
      s = ValidateNetworkMode(flag.spelled, flag.value, /*allow_empty=*/false);
      run.network = flag.value;
    } else if (name == "request-id") {
      s = Assign(ParseRequestId(flag), run.request_id);
    } else if (name == "expire-in") {
      s = Assign(ParseExpireIn(flag, now), run.expire_time_seconds);
    } else if (name == "failure-policy") {
      s = Assign(ParseFailurePolicy(flag), run.failure_policy);
    } else if (name == "recovery-timeout") {
      s = Assign(ParseRecoveryTimeout(flag), run.recovery_timeout_seconds);
    } else if (name == "cpu") {
      s = Assign(ParseQuantity(flag.spelled, flag.value, QuantityUnit::kMillicores),
                 run.cpu_millicores);
    } else if (name == "memory") {
      s = Assign(ParseQuantity(flag.spelled, flag.value, QuantityUnit::kBytes), run.memory_bytes);
    } else if (name == "pids") {
      s = Assign(ParseInteger(flag, kMinPids, kMaxPids), run.pids);
    }
    if (!s.ok()) return s;
  }
  if (run.image.empty()) return UsageError("run needs --image");
  if (absl::StatusOr<std::string> ref = NormalizeImageReference(run.image); !ref.ok()) {
    return UsageError(absl::StrCat("--image: ", ref.status().message()));
  }
  if (!run.name.empty()) {
    if (absl::Status s = ValidateDnsLabel("--name", run.name); !s.ok()) return s;
  }
  run.command = tokens.after_dash_dash;
  return run;
}

// The NAMEs of `rm`, validated as DNS labels; at least one.
absl::StatusOr<std::vector<std::string>> Names(std::string_view command, const Tokens& tokens) {
  if (tokens.positionals.empty()) {
    return UsageError(absl::StrCat(Sv(command), " needs a sandbox NAME"));
  }
  for (const std::string& name : tokens.positionals) {
    if (absl::Status s = ValidateDnsLabel("NAME", name); !s.ok()) return s;
  }
  return tokens.positionals;
}

// The single NAME of `get`, `update` and `reset`.
absl::StatusOr<std::string> OneName(std::string_view command, const Tokens& tokens) {
  if (tokens.positionals.size() > 1) {
    return UsageError(
        absl::StrCat(Sv(command), " takes one NAME, got ", tokens.positionals.size()));
  }
  absl::StatusOr<std::vector<std::string>> names = Names(command, tokens);
  if (!names.ok()) return names.status();
  return names->front();
}

absl::StatusOr<UpdateCommand> BuildUpdate(std::string_view word, const Tokens& tokens,
                                          absl::Time now) {
  UpdateCommand update;
  if (absl::Status s = Assign(OneName(word, tokens), update.name); !s.ok()) return s;
  Conflicts expiry;
  for (const FlagValue& flag : tokens.flags) {
    std::string_view name = flag.spec->name;
    absl::Status s;
    if (name == "expire-in") {
      s = expiry.Add(flag);
      if (s.ok()) s = Assign(ParseExpireIn(flag, now), update.expire_time_seconds);
    } else if (name == "expire-at") {
      s = expiry.Add(flag);
      if (s.ok()) s = Assign(ParseExpireAt(flag, now), update.expire_time_seconds);
    } else if (name == "no-expire" && flag.value == "true") {
      s = expiry.Add(flag);
      update.expire_time_seconds = 0;
    } else if (name == "failure-policy") {
      s = Assign(ParseFailurePolicy(flag), update.failure_policy);
    } else if (name == "recovery-timeout") {
      s = Assign(ParseRecoveryTimeout(flag), update.recovery_timeout_seconds);
    } else if (name == "label") {
      s = AddKeyValue(flag, update.labels);
    } else if (name == "remove-label") {
      s = ValidateLabel(flag.spelled, flag.value, "");
      update.remove_labels.push_back(flag.value);
    }
    if (!s.ok()) return s;
  }
  for (const std::string& key : update.remove_labels) {
    if (update.labels.contains(key)) {
      return UsageError(
          absl::StrCat("label \"", key, "\" is both set (--label) and removed (--remove-label)"));
    }
  }
  if (!update.expire_time_seconds && !update.failure_policy && !update.recovery_timeout_seconds &&
      update.labels.empty() && update.remove_labels.empty()) {
    return UsageError(
        "update needs something to change: --expire-in, --expire-at, --no-expire, "
        "--failure-policy, --recovery-timeout, --label or --remove-label");
  }
  return update;
}

absl::StatusOr<DeleteCommand> BuildDelete(std::string_view word, const Tokens& tokens) {
  DeleteCommand del;
  if (tokens.positionals.empty()) {
    return UsageError(absl::StrCat(Sv(word), " needs a sandbox NAME (or pool/POOL)"));
  }
  for (const std::string& name : tokens.positionals) {
    const std::string_view n = name;
    absl::Status s;
    if (n.starts_with(kPoolPrefix)) {
      s = ValidateDnsLabel("POOL", n.substr(kPoolPrefix.size()));
    } else if (n.starts_with(kAgentPrefix)) {
      s = ValidateDnsSubdomain("AGENT", n.substr(kAgentPrefix.size()));
    } else {
      s = ValidateDnsLabel("NAME", n);
    }
    if (!s.ok()) return s;
  }
  del.names = tokens.positionals;
  Conflicts grace;
  for (const FlagValue& flag : tokens.flags) {
    std::string_view name = flag.spec->name;
    absl::Status s;
    if (name == "grace") {
      s = grace.Add(flag);
      if (s.ok()) {
        s = Assign(ParseSeconds(flag.spelled, flag.value, absl::ZeroDuration(), kMaxGrace),
                   del.grace_period_seconds);
      }
    } else if (name == "now" && flag.value == "true") {
      s = grace.Add(flag);
      del.grace_period_seconds = 0;
    }
    if (!s.ok()) return s;
  }
  return del;
}

absl::Status NoPositionals(std::string_view command, const Tokens& tokens) {
  if (tokens.positionals.empty()) return absl::OkStatus();
  return UsageError(
      absl::StrCat("unexpected argument \"", tokens.positionals.front(), "\" for ", Sv(command)));
}

absl::StatusOr<ApplyCommand> BuildApply(std::string_view word, const Tokens& tokens) {
  if (absl::Status s = NoPositionals(word, tokens); !s.ok()) return s;
  ApplyCommand apply;
  for (const FlagValue& flag : tokens.flags) {
    if (flag.spec->name != "filename") continue;
    if (flag.value.empty()) return UsageError(absl::StrCat("flag ", flag.spelled, " is empty"));
    apply.files.push_back(flag.value);
  }
  if (apply.files.empty()) return UsageError("apply needs -f FILE (- for standard input)");
  return apply;
}

absl::StatusOr<OutputFormat> OutputOf(const Tokens& tokens) {
  OutputFormat format = OutputFormat::kTable;
  for (const FlagValue& flag : tokens.flags) {
    if (flag.spec->name != "output") continue;
    absl::StatusOr<OutputFormat> parsed = ParseOutput(flag.value);
    if (!parsed.ok()) return parsed.status();
    format = *parsed;
  }
  return format;
}

absl::StatusOr<ListCommand> BuildList(std::string_view word, const Tokens& tokens) {
  if (absl::Status s = NoPositionals(word, tokens); !s.ok()) return s;
  ListCommand list;
  if (absl::Status s = Assign(OutputOf(tokens), list.output); !s.ok()) return s;
  for (const FlagValue& flag : tokens.flags) {
    if (flag.spec->name == "selector") {
      if (flag.value.empty()) return UsageError(absl::StrCat("flag ", flag.spelled, " is empty"));
      list.selector = flag.value;
    } else if (flag.spec->name == "all-namespaces") {
      list.all_namespaces = flag.value == "true";
    }
  }
  return list;
}

absl::StatusOr<LogsCommand> BuildLogs(std::string_view word, const Tokens& tokens, absl::Time now) {
  LogsCommand logs;
  if (absl::Status s = Assign(OneName(word, tokens), logs.name); !s.ok()) return s;
  for (const FlagValue& flag : tokens.flags) {
    std::string_view name = flag.spec->name;
    if (name == "follow") {
      logs.follow = flag.value == "true";
    } else if (name == "timestamps") {
      logs.timestamps = flag.value == "true";
    } else if (name == "tail") {
      if (!absl::SimpleAtoi(flag.value, &logs.tail_lines) || logs.tail_lines < -1 ||
          logs.tail_lines > kMaxLogsTailLines) {
        return UsageError(absl::StrCat(flag.spelled, " \"", flag.value,
                                       "\" must be a number of lines up to ", kMaxLogsTailLines,
                                       ", or -1 for all"));
      }
    } else if (name == "since") {
      absl::StatusOr<absl::Duration> since = ParseDuration(flag.spelled, flag.value);
      if (!since.ok()) return since.status();
      if (*since <= absl::ZeroDuration() || *since == absl::InfiniteDuration()) {
        return UsageError(
            absl::StrCat(flag.spelled, " \"", flag.value, "\" must be positive and finite"));
      }
      logs.since_unix_seconds = std::max<int64_t>(1, absl::ToUnixSeconds(now - *since));
    }
  }
  return logs;
}

absl::StatusOr<ExecCommand> BuildExec(std::string_view word, const Tokens& tokens) {
  ExecCommand exec;
  if (absl::Status s = Assign(OneName(word, tokens), exec.name); !s.ok()) return s;
  for (const FlagValue& flag : tokens.flags) {
    std::string_view name = flag.spec->name;
    absl::Status s;
    if (name == "stdin") {
      exec.stdin = flag.value == "true";
    } else if (name == "tty") {
      exec.tty = flag.value == "true";
    } else if (name == "env") {
      s = AddKeyValue(flag, exec.envs);
    } else if (name == "workdir") {
      if (flag.value.empty() || flag.value.front() != '/') {
        return UsageError(
            absl::StrCat(flag.spelled, " \"", flag.value, "\" must be an absolute path"));
      }
      exec.workdir = flag.value;
    }
    if (!s.ok()) return s;
  }
  if (tokens.after_dash_dash.empty() || tokens.after_dash_dash.front().empty()) {
    return UsageError("exec needs a command after '--': fsb exec NAME -- CMD [ARG...]");
  }
  exec.command = tokens.after_dash_dash;
  return exec;
}

// `-o json`, the one output format of `image import` and `bench` besides their text.
absl::StatusOr<bool> JsonOutputOf(std::string_view word, const Tokens& tokens) {
  bool json = false;
  for (const FlagValue& flag : tokens.flags) {
    if (flag.spec->name != "output") continue;
    if (flag.value != "json") {
      return UsageError(absl::StrCat("unknown output format \"", flag.value, "\" for ", Sv(word),
                                     ": use -o json"));
    }
    json = true;
  }
  return json;
}

absl::StatusOr<ImageImportCommand> BuildImage(std::string_view word, const Tokens& tokens) {
  const std::vector<std::string>& words = tokens.positionals;
  if (words.empty()) return UsageError("image needs a subcommand: fsb image import FILE");
  if (words.front() != kImageImport) {
    return UsageError(absl::StrCat("unknown subcommand \"", words.front(),
                                   "\" for image: use fsb image import FILE"));
  }
  if (words.size() != 2 || words[1].empty()) {
    return UsageError(absl::StrCat("image import takes one FILE, got ", words.size() - 1));
  }
  ImageImportCommand import;
  import.file = words[1];
  if (absl::Status s = Assign(JsonOutputOf(word, tokens), import.json); !s.ok()) return s;
  for (const FlagValue& flag : tokens.flags) {
    if (flag.spec->name == "force") {
      import.force = flag.value == "true";
      continue;
    }
    if (flag.spec->name != "agent") continue;
    if (flag.value.empty()) return UsageError(absl::StrCat("flag ", flag.spelled, " is empty"));
    import.agent = flag.value;
  }
  return import;
}

// --rate: creates per second, positive and at most a million.
absl::StatusOr<double> ParseRate(const FlagValue& flag) {
  double rate = 0;
  if (!absl::SimpleAtod(flag.value, &rate) || !(rate > 0) || rate > 1e6) {
    return UsageError(absl::StrCat(flag.spelled, " \"", flag.value,
                                   "\" must be a number of creates per second, above 0 and at "
                                   "most 1000000"));
  }
  return rate;
}

absl::StatusOr<std::string> ParseAddress(const FlagValue& flag) {
  if (absl::Status s = ParseHostPort(flag.spelled, flag.value).status(); !s.ok()) return s;
  return flag.value;
}

absl::StatusOr<BenchCommand> BuildBench(std::string_view word, const Tokens& tokens) {
  if (absl::Status s = NoPositionals(word, tokens); !s.ok()) return s;
  BenchCommand bench;
  if (absl::Status s = Assign(JsonOutputOf(word, tokens), bench.json); !s.ok()) return s;
  const FlagValue* concurrency = nullptr;
  for (const FlagValue& flag : tokens.flags) {
    std::string_view name = flag.spec->name;
    absl::Status s;
    if (name == "image") {
      bench.image = flag.value;
    } else if (name == "requests") {
      s = Assign(ParseInteger(flag, 1, kMaxBenchRequests), bench.requests);
    } else if (name == "concurrency") {
      concurrency = &flag;
      s = Assign(ParseInteger(flag, 1, kMaxBenchRequests), bench.concurrency);
    } else if (name == "rate") {
      s = Assign(ParseRate(flag), bench.rate);
    } else if (name == "cleanup") {
      bench.cleanup = flag.value == "true";
    } else if (name == "strong") {
      bench.strong = flag.value == "true";
    } else if (name == "controller-metrics") {
      s = Assign(ParseAddress(flag), bench.controller_metrics);
    } else if (name == "agent-metrics") {
      std::string address;
      s = Assign(ParseAddress(flag), address);
      bench.agent_metrics.push_back(std::move(address));
    } else if (name == "agent-metrics-port") {
      s = Assign(ParseInteger(flag, 1, 65535), bench.agent_metrics_port);
    }
    if (!s.ok()) return s;
  }
  if (bench.image.empty()) return UsageError("bench needs --image");
  if (absl::StatusOr<std::string> ref = NormalizeImageReference(bench.image); !ref.ok()) {
    return UsageError(absl::StrCat("--image: ", ref.status().message()));
  }
  if (bench.concurrency > bench.requests) {
    return UsageError(absl::StrCat(concurrency->spelled, " ", bench.concurrency,
                                   " is above --requests ", bench.requests));
  }
  if (tokens.saw_dash_dash) {
    if (tokens.after_dash_dash.empty() || tokens.after_dash_dash.front().empty()) {
      return UsageError("bench needs a command after '--' (default: sleep 3600)");
    }
    bench.command = tokens.after_dash_dash;
  } else {
    bench.command = {"sleep", "3600"};
  }
  return bench;
}

// The connection flags, which `config set-context` takes as the context's new fields.
bool IsConnectionFlag(std::string_view name) {
  for (std::string_view f : {"endpoint", "namespace", "context", "token", "token-file", "ca",
                             "tls-server-name", "insecure", "insecure-skip-tls-verify"}) {
    if (f == name) return true;
  }
  return false;
}

// Stores the global flags into `global`; the connection flags only if `connection` (they
// mean something else to `config`).
absl::Status ApplyGlobals(const Tokens& tokens, bool connection, GlobalOptions& global) {
  const FlagValue* insecure = nullptr;
  const FlagValue* tls = nullptr;  // the last flag that needs TLS
  for (const FlagValue& flag : tokens.flags) {
    std::string_view name = flag.spec->name;
    if (name == "timeout") {
      if (absl::Status s = Assign(ParseTimeout(flag), global.timeout); !s.ok()) return s;
    }
    if (!connection || !IsConnectionFlag(name)) continue;
    if (flag.spec->takes_value && flag.value.empty()) {
      return UsageError(absl::StrCat(flag.spelled, " is empty"));
    }
    if (name == "endpoint") {
      global.endpoint = flag.value;
    } else if (name == "namespace") {
      if (absl::Status s = ValidateDnsLabel("--namespace", flag.value); !s.ok()) return s;
      global.ns = flag.value;
    } else if (name == "context") {
      global.context = flag.value;
    } else if (name == "token") {
      global.token = flag.value;
      tls = &flag;
    } else if (name == "ca") {
      global.ca_file = flag.value;
      tls = &flag;
    } else if (name == "tls-server-name") {
      global.tls_server_name = flag.value;
      tls = &flag;
    } else if (name == "insecure") {
      global.insecure = flag.value == "true";
      insecure = global.insecure ? &flag : nullptr;
    } else if (name == "insecure-skip-tls-verify") {
      global.insecure_skip_tls_verify = flag.value == "true";
      if (global.insecure_skip_tls_verify) tls = &flag;
    }
  }
  if (insecure != nullptr && tls != nullptr) {
    return UsageError(absl::StrCat("flag ", insecure->spelled,
                                   " (plaintext) cannot be combined with ", tls->spelled));
  }
  return absl::OkStatus();
}

absl::StatusOr<ConfigCommand> BuildConfig(const Tokens& tokens) {
  using Verb = ConfigCommand::Verb;
  constexpr std::string_view kVerbList =
      "view, get-contexts, current-context, use-context NAME or set-context NAME";
  const std::vector<std::string>& words = tokens.positionals;
  if (words.empty()) return UsageError(absl::StrCat("config needs a verb: ", Sv(kVerbList)));
  const ConfigVerbWord* verb = nullptr;
  for (const ConfigVerbWord& v : kConfigVerbs) {
    if (v.word == words.front()) verb = &v;
  }
  if (verb == nullptr) {
    return UsageError(
        absl::StrCat("unknown verb \"", words.front(), "\" for config: use ", Sv(kVerbList)));
  }
  const std::string spelled = absl::StrCat("config ", Sv(verb->word));
  if (verb->takes_name && (words.size() != 2 || words[1].empty())) {
    return UsageError(absl::StrCat(spelled, " takes one context NAME"));
  }
  if (!verb->takes_name && words.size() > 1) {
    return UsageError(absl::StrCat("unexpected argument \"", words[1], "\" for ", spelled));
  }
  ConfigCommand config;
  config.verb = verb->verb;
  if (verb->takes_name) config.name = words[1];
  for (const FlagValue& flag : tokens.flags) {
    std::string_view name = flag.spec->name;
    if (!IsConnectionFlag(name)) continue;
    if (config.verb != Verb::kSetContext || name == "context") {
      return UsageError(absl::StrCat("flag ", flag.spelled, " is not valid for \"", spelled, "\""));
    }
    ContextUpdate& update = config.update;
    if (name == "endpoint") {
      update.endpoint = flag.value;
    } else if (name == "namespace") {
      update.ns = flag.value;
    } else if (name == "token") {
      update.token = flag.value;
    } else if (name == "token-file") {
      update.token_file = flag.value;
    } else if (name == "ca") {
      update.ca = flag.value;
    } else if (name == "tls-server-name") {
      update.tls_server_name = flag.value;
    } else if (name == "insecure") {
      update.insecure = flag.value == "true";
    } else if (name == "insecure-skip-tls-verify") {
      update.insecure_skip_tls_verify = flag.value == "true";
    }
  }
  return config;
}

// Binds every flag to the command: resolves short names (which may mean different flags
// for different commands) and rejects flags the command does not take.
absl::Status BindFlags(std::string_view word, CommandBit bit, Tokens& tokens) {
  for (FlagValue& flag : tokens.flags) {
    if (flag.short_name != 0) {
      if (const FlagSpec* spec = FindShort(flag.short_name, bit); spec != nullptr) {
        flag.spec = spec;
      }
    }
    if ((flag.spec->commands & bit) == 0) {
      return UsageError(
          absl::StrCat("flag ", flag.spelled, " is not valid for \"", Sv(word), "\""));
    }
  }
  return absl::OkStatus();
}

// The flags of the commands in `bits` (kAllBits: the global flags, valid for every
// command), spelled: all of them space-separated, and those taking a value as a bash case
// pattern ('|'-separated).
struct CompletionFlags {
  std::string words;
  std::string value_pattern;
};

CompletionFlags FlagsFor(uint32_t bits) {
  CompletionFlags flags;
  for (const FlagSpec& f : kFlags) {
    if (bits == kAllBits ? f.commands != kAllBits : (f.commands & bits) == 0) continue;
    std::vector<std::string> spelled = {absl::StrCat("--", Sv(f.name))};
    if (f.short_name != 0) spelled.push_back(absl::StrCat("-", std::string(1, f.short_name)));
    for (const std::string& word : spelled) {
      absl::StrAppend(&flags.words, flags.words.empty() ? "" : " ", word);
      if (!f.takes_value) continue;
      absl::StrAppend(&flags.value_pattern, flags.value_pattern.empty() ? "" : "|", word);
    }
  }
  return flags;
}

// The body of the completion for the commands in `bits` (as FlagsFor): a `case "${prev}"`
// completing a flag's value (hinted words, file names, or nothing), then the flags.
std::string CompletionArm(uint32_t bits) {
  const CompletionFlags flags = FlagsFor(bits);
  std::string arm = "      case \"${prev}\" in\n";
  for (const FlagValueHint& hint : kValueHints) {
    if (bits == kAllBits ? hint.commands != kAllBits : (hint.commands & bits) == 0) continue;
    std::string pattern = absl::StrCat("--", Sv(hint.flag));
    for (const FlagSpec& f : kFlags) {
      if (f.name == hint.flag && f.short_name != 0 && (f.commands & bits) != 0) {
        absl::StrAppend(&pattern, "|-", std::string(1, f.short_name));
      }
    }
    absl::StrAppend(&arm, "        ", pattern, ") _fsb_reply ",
                    hint.words.empty() ? "-f" : absl::StrCat("-W '", Sv(hint.words), "'"),
                    "; return ;;\n");
  }
  absl::StrAppend(&arm, "        ", flags.value_pattern, ") return ;;\n",
                  "      esac\n      flags='", flags.words, "'\n");
  return arm;
}

}  // namespace

absl::StatusOr<Invocation> ParseArgs(const std::vector<std::string>& args, absl::Time now) {
  absl::StatusOr<Tokens> tokenized = Tokenize(args);
  if (!tokenized.ok()) return tokenized.status();
  Tokens tokens = *std::move(tokenized);

  Invocation invocation;
  const bool config = !tokens.positionals.empty() && tokens.positionals.front() == "config";
  if (absl::Status s = ApplyGlobals(tokens, !config, invocation.global); !s.ok()) return s;

  bool help = false;
  for (const FlagValue& flag : tokens.flags) {
    if (flag.spec->name == "help") help = flag.value == "true";
  }
  if (help) {
    invocation.command = HelpCommand{};
    return invocation;
  }
  for (const FlagValue& flag : tokens.flags) {
    if (flag.spec->name == "version" && flag.value == "true") {
      invocation.command = VersionCommand{};
      return invocation;
    }
  }
  if (tokens.positionals.empty()) {
    if (tokens.saw_dash_dash) return UsageError("'--' needs a command before it: fsb run ...");
    invocation.command = NoCommand{};
    return invocation;
  }

  const std::string word = tokens.positionals.front();
  tokens.positionals.erase(tokens.positionals.begin());
  const CommandWord* command = nullptr;
  for (const CommandWord& c : kCommands) {
    if (c.word == word) command = &c;
  }
  if (command == nullptr) return UsageError(absl::StrCat("unknown command \"", word, "\""));
  if (absl::Status s = BindFlags(word, command->bit, tokens); !s.ok()) return s;
  if (tokens.saw_dash_dash && command->bit != kRunBit && command->bit != kExecBit &&
      command->bit != kBenchBit) {
    return UsageError(
        absl::StrCat("'--' is only valid for run, exec and bench, not \"", word, "\""));
  }

  absl::Status built;
  switch (command->bit) {
    case kRunBit:
      built = Assign(BuildRun(tokens, now), invocation.command);
      break;
    case kListBit:
      built = Assign(BuildList(word, tokens), invocation.command);
      break;
    case kGetBit: {
      GetCommand get;
      built = Assign(OneName(word, tokens), get.name);
      if (built.ok()) built = Assign(OutputOf(tokens), get.output);
      invocation.command = std::move(get);
      break;
    }
    case kUpdateBit:
      built = Assign(BuildUpdate(word, tokens, now), invocation.command);
      break;
    case kResetBit: {
      ResetCommand reset;
      built = Assign(OneName(word, tokens), reset.name);
      invocation.command = std::move(reset);
      break;
    }
    case kDeleteBit:
      built = Assign(BuildDelete(word, tokens), invocation.command);
      break;
    case kApplyBit:
      built = Assign(BuildApply(word, tokens), invocation.command);
      break;
    case kAgentsBit: {
      AgentsCommand agents;
      built = NoPositionals(word, tokens);
      if (built.ok()) built = Assign(OutputOf(tokens), agents.output);
      invocation.command = agents;
      break;
    }
    case kPoolsBit: {
      PoolsCommand pools;
      built = NoPositionals(word, tokens);
      if (built.ok()) built = Assign(OutputOf(tokens), pools.output);
      invocation.command = pools;
      break;
    }
    case kLogsBit:
      built = Assign(BuildLogs(word, tokens, now), invocation.command);
      break;
    case kExecBit:
      built = Assign(BuildExec(word, tokens), invocation.command);
      break;
    case kImageBit:
      built = Assign(BuildImage(word, tokens), invocation.command);
      break;
    case kBenchBit:
      built = Assign(BuildBench(word, tokens), invocation.command);
      break;
    case kConfigBit:
      built = Assign(BuildConfig(tokens), invocation.command);
      break;
    case kVersionBit:
      built = NoPositionals(word, tokens);
      invocation.command = VersionCommand{};
      break;
    case kCompletionBit:
      if (tokens.positionals.size() != 1 || tokens.positionals.front() != kCompletionShell) {
        return UsageError(
            absl::StrCat("completion takes one shell: fsb completion ", Sv(kCompletionShell)));
      }
      invocation.command = CompletionCommand{};
      break;
    case kHelpBit:  // `fsb help [anything]`
      invocation.command = HelpCommand{};
      break;
    default:
      return absl::InternalError(absl::StrCat("unhandled command \"", word, "\""));
  }
  if (!built.ok()) return built;
  return invocation;
}

std::string_view UsageText() { return kUsage; }

std::string BashCompletionScript() {
  std::string commands;
  std::string command_pattern;
  for (const CommandWord& c : kCommands) {
    absl::StrAppend(&commands, commands.empty() ? "" : " ", Sv(c.word));
    absl::StrAppend(&command_pattern, command_pattern.empty() ? "" : "|", Sv(c.word));
  }
  std::string config_verbs;
  for (const ConfigVerbWord& v : kConfigVerbs) {
    absl::StrAppend(&config_verbs, config_verbs.empty() ? "" : " ", Sv(v.word));
  }
  std::string script = absl::StrCat(
      R"(# bash completion for fsb: `fsb completion bash` prints it, from the tables the CLI
# parses its arguments with.
_fsb_reply() {
  COMPREPLY=($(compgen "$@" -- "${cur}"))
  [[ "$1" == -f ]] && compopt -o filenames 2>/dev/null
  return 0
}

# Whether flag $2 of command $1 ("": none yet) takes a value.
_fsb_takes_value() {
  case "$1" in
    "") case "$2" in )",
      FlagsFor(kAllBits).value_pattern, R"() return 0 ;; esac ;;
)");
  for (const CommandWord& c : kCommands) {
    absl::StrAppend(&script, "    ", Sv(c.word), ") case \"$2\" in ", FlagsFor(c.bit).value_pattern,
                    ") return 0 ;; esac ;;\n");
  }
  absl::StrAppend(&script, R"(  esac
  return 1
}

_fsb() {
  local cur="${COMP_WORDS[COMP_CWORD]}" prev="" cmd="" sub="" flags="" i word
  local skip=0
  COMPREPLY=()
  # --flag=value arrives as three words: --flag, =, value.
  if [[ "${cur}" == "=" ]]; then cur=""; fi
  if ((COMP_CWORD >= 1)); then prev="${COMP_WORDS[COMP_CWORD - 1]}"; fi
  if [[ "${prev}" == "=" ]] && ((COMP_CWORD >= 2)); then prev="${COMP_WORDS[COMP_CWORD - 2]}"; fi
  # The command word, then its first positional word (a subcommand); nothing after "--".
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="${COMP_WORDS[i]}"
    if ((skip)); then skip=0; continue; fi
    case "${word}" in
      --) return 0 ;;
      =) skip=1; continue ;;
      -*) [[ "${COMP_WORDS[i + 1]:-}" != "=" ]] && _fsb_takes_value "${cmd}" "${word}" && skip=1
        continue ;;
    esac
    if [[ -z "${cmd}" ]]; then
      case "${word}" in
        )",
                  command_pattern, R"() cmd="${word}" ;;
      esac
    elif [[ -z "${sub}" ]]; then
      sub="${word}"
    fi
  done
  case "${cmd}" in
    "")
)",
                  CompletionArm(kAllBits), "      ;;\n");
  for (const CommandWord& c : kCommands) {
    absl::StrAppend(&script, "    ", Sv(c.word), ")\n", CompletionArm(c.bit), "      ;;\n");
  }
  absl::StrAppend(&script, R"(  esac
  if [[ "${cur}" == -* ]]; then _fsb_reply -W "${flags}"; return; fi
  case "${cmd}" in
    "") _fsb_reply -W ')",
                  commands, R"(' ;;
    image) if [[ -z "${sub}" ]]; then _fsb_reply -W ')",
                  Sv(kImageImport), R"('; else _fsb_reply -f; fi ;;
    config) [[ -z "${sub}" ]] && _fsb_reply -W ')",
                  config_verbs, R"(' ;;
    completion) [[ -z "${sub}" ]] && _fsb_reply -W ')",
                  Sv(kCompletionShell), R"(' ;;
  esac
  return 0
}

complete -F _fsb fsb
)");
  return script;
}

}  // namespace fsb::cli
