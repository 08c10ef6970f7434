#include "cli/args.h"

#include <cstdint>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "internal/image_ref.h"
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
  ls        List sandboxes in the namespace (alias: list)
  get       Show one sandbox
  rm        Delete sandboxes (alias: delete)
  version   Print the client version
  help      Show this help

fsb run --image IMG [flags] [-- CMD [ARG...]]
  --image IMG            image to run (required)
  --name NAME            sandbox name, a DNS label (default: generated)
  -e, --env K=V          environment variable (repeatable)
  -w, --workdir DIR      working directory
  --pool POOL            sandbox pool to place the sandbox in
  -l, --label K=V        label (repeatable)
  --port PORT            port to expose, 1-65535 (repeatable)
  --strong               persist before starting (strong consistency)
  -- CMD [ARG...]        command replacing the image's entrypoint and cmd

fsb ls [-o json|yaml|wide]
fsb get NAME [-o json|yaml|wide]
  -o, --output FORMAT    json, yaml or wide (default: a table)

fsb rm NAME [NAME...]

Global flags:
  --endpoint HOST:PORT   controller address (default: $FSB_ENDPOINT, else 127.0.0.1:9090)
  -n, --namespace NS     namespace (default "default")
  --timeout DURATION     deadline of each request, e.g. 500ms, 30s, 2m (default 60s)
  -h, --help             show this help

Examples:
  fsb run --image busybox --name hello -- sh -c 'echo hi; sleep 3600'
  fsb ls -o wide
  fsb get hello -o yaml
  fsb rm hello

Exit status: 0 on success, 1 on a server or connection error, 2 on a usage error.
)";

// One bit per command word, to say which commands accept a flag.
enum CommandBit : uint32_t {
  kRunBit = 1 << 0,
  kListBit = 1 << 1,
  kGetBit = 1 << 2,
  kDeleteBit = 1 << 3,
  kVersionBit = 1 << 4,
  kHelpBit = 1 << 5,
  kAllBits = (1 << 6) - 1,
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
    {"image", 0, true, kRunBit},
    {"name", 0, true, kRunBit},
    {"env", 'e', true, kRunBit},
    {"workdir", 'w', true, kRunBit},
    {"pool", 0, true, kRunBit},
    {"label", 'l', true, kRunBit},
    {"port", 0, true, kRunBit},
    {"strong", 0, false, kRunBit},
    {"output", 'o', true, kListBit | kGetBit},
};

struct CommandWord {
  std::string_view word;
  CommandBit bit;
};

constexpr CommandWord kCommands[] = {
    {"run", kRunBit},    {"ls", kListBit},         {"list", kListBit},
    {"get", kGetBit},    {"rm", kDeleteBit},       {"delete", kDeleteBit},
    {"version", kVersionBit}, {"help", kHelpBit},
};

// A flag occurrence, in command-line order.
struct FlagValue {
  const FlagSpec* spec;
  std::string spelled;  // as typed, for messages: "--env", "-n"
  std::string value;    // "true"/"false" for boolean flags
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

const FlagSpec* FindLong(std::string_view name) {
  for (const FlagSpec& f : kFlags) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

const FlagSpec* FindShort(char c) {
  for (const FlagSpec& f : kFlags) {
    if (f.short_name != 0 && f.short_name == c) return &f;
  }
  return nullptr;
}

absl::StatusOr<std::string> ParseBool(std::string_view spelled, std::string_view value) {
  if (value == "true" || value == "false") return std::string(value);
  return UsageError(absl::StrCat("flag ", Sv(spelled), " takes true or false, got \"",
                                 Sv(value), "\""));
}

absl::StatusOr<Tokens> Tokenize(const std::vector<std::string>& args) {
  Tokens tokens;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      tokens.saw_dash_dash = true;
      tokens.after_dash_dash.assign(args.begin() + i + 1, args.end());
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      tokens.positionals.push_back(arg);
      continue;
    }
    const FlagSpec* spec = nullptr;
    std::string spelled;
    std::optional<std::string> inline_value;
    if (arg[1] == '-') {
      std::string_view body = std::string_view(arg).substr(2);
      size_t eq = body.find('=');
      std::string_view name = body.substr(0, eq);
      spelled = absl::StrCat("--", Sv(name));
      if (eq != std::string_view::npos) inline_value = std::string(body.substr(eq + 1));
      spec = FindLong(name);
    } else {
      spelled = arg.substr(0, 2);
      spec = FindShort(arg[1]);
      std::string_view rest = std::string_view(arg).substr(2);
      if (!rest.empty()) {
        if (rest.front() == '=') rest.remove_prefix(1);
        inline_value = std::string(rest);
      }
    }
    if (spec == nullptr) return UsageError(absl::StrCat("unknown flag \"", Sv(spelled), "\""));

    FlagValue flag{spec, spelled, ""};
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
  }
  return tokens;
}

absl::StatusOr<absl::Duration> ParseTimeout(std::string_view value) {
  absl::Duration d;
  int64_t seconds = 0;
  if (absl::SimpleAtoi(Sv(value), &seconds)) {
    d = absl::Seconds(seconds);
  } else if (!absl::ParseDuration(Sv(value), &d)) {
    return UsageError(absl::StrCat("--timeout \"", Sv(value),
                                   "\" is not a duration (examples: 500ms, 30s, 2m)"));
  }
  if (d <= absl::ZeroDuration() || d == absl::InfiniteDuration()) {
    return UsageError(absl::StrCat("--timeout \"", Sv(value), "\" must be positive and finite"));
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

// Adds a validated KEY=VALUE from --env or --label to `into`.
absl::Status AddKeyValue(const FlagValue& flag, std::map<std::string, std::string>& into) {
  absl::StatusOr<std::pair<std::string, std::string>> kv =
      ParseKeyValue(flag.spelled, flag.value);
  if (!kv.ok()) return kv.status();
  absl::Status valid = flag.spec->name == "env"
                           ? ValidateEnvName(flag.spelled, kv->first)
                           : ValidateLabel(flag.spelled, kv->first, kv->second);
  if (!valid.ok()) return valid;
  into[kv->first] = kv->second;
  return absl::OkStatus();
}

absl::StatusOr<RunCommand> BuildRun(const Tokens& tokens) {
  if (!tokens.positionals.empty()) {
    return UsageError(absl::StrCat("unexpected argument \"", tokens.positionals.front(),
                                   "\" for run; put the sandbox command after '--'"));
  }
  RunCommand run;
  for (const FlagValue& flag : tokens.flags) {
    std::string_view name = flag.spec->name;
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
      if (absl::Status s = AddKeyValue(flag, run.envs); !s.ok()) return s;
    } else if (name == "label") {
      if (absl::Status s = AddKeyValue(flag, run.labels); !s.ok()) return s;
    } else if (name == "port") {
      int port = 0;
      if (!absl::SimpleAtoi(Sv(flag.value), &port)) {
        return UsageError(absl::StrCat("--port \"", flag.value, "\" is not a number"));
      }
      if (absl::Status s = ValidatePort("--port", port); !s.ok()) return s;
      run.ports.push_back(port);
    }
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

// The single NAME of `get`, or the NAMEs of `rm`, validated as DNS labels.
absl::StatusOr<std::vector<std::string>> Names(std::string_view command,
                                               const Tokens& tokens, bool exactly_one) {
  if (tokens.positionals.empty()) {
    return UsageError(absl::StrCat(Sv(command), " needs a sandbox NAME"));
  }
  if (exactly_one && tokens.positionals.size() > 1) {
    return UsageError(absl::StrCat(Sv(command), " takes one NAME, got ",
                                   tokens.positionals.size()));
  }
  for (const std::string& name : tokens.positionals) {
    if (absl::Status s = ValidateDnsLabel("NAME", name); !s.ok()) return s;
  }
  return tokens.positionals;
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

absl::Status NoPositionals(std::string_view command, const Tokens& tokens) {
  if (tokens.positionals.empty()) return absl::OkStatus();
  return UsageError(absl::StrCat("unexpected argument \"", tokens.positionals.front(),
                                 "\" for ", Sv(command)));
}

absl::Status ApplyGlobals(const Tokens& tokens, const EnvLookup& env, GlobalOptions& global) {
  if (env) {
    if (std::optional<std::string> from_env = env(kEndpointEnvVar);
        from_env && !from_env->empty()) {
      global.endpoint = *from_env;
    }
  }
  for (const FlagValue& flag : tokens.flags) {
    std::string_view name = flag.spec->name;
    if (name == "endpoint") {
      if (flag.value.empty()) return UsageError("--endpoint is empty");
      global.endpoint = flag.value;
    } else if (name == "namespace") {
      if (absl::Status s = ValidateDnsLabel("--namespace", flag.value); !s.ok()) return s;
      global.ns = flag.value;
    } else if (name == "timeout") {
      absl::StatusOr<absl::Duration> timeout = ParseTimeout(flag.value);
      if (!timeout.ok()) return timeout.status();
      global.timeout = *timeout;
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Invocation> ParseArgs(const std::vector<std::string>& args,
                                     const EnvLookup& env) {
  absl::StatusOr<Tokens> tokenized = Tokenize(args);
  if (!tokenized.ok()) return tokenized.status();
  Tokens tokens = *std::move(tokenized);

  Invocation invocation;
  if (absl::Status s = ApplyGlobals(tokens, env, invocation.global); !s.ok()) return s;

  bool help = false;
  for (const FlagValue& flag : tokens.flags) {
    if (flag.spec->name == "help") help = flag.value == "true";
  }
  if (help) {
    invocation.command = HelpCommand{};
    return invocation;
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
  for (const FlagValue& flag : tokens.flags) {
    if ((flag.spec->commands & command->bit) == 0) {
      return UsageError(
          absl::StrCat("flag ", flag.spelled, " is not valid for \"", word, "\""));
    }
  }
  if (tokens.saw_dash_dash && command->bit != kRunBit) {
    return UsageError(absl::StrCat("'--' is only valid for run, not \"", word, "\""));
  }

  switch (command->bit) {
    case kRunBit: {
      absl::StatusOr<RunCommand> run = BuildRun(tokens);
      if (!run.ok()) return run.status();
      invocation.command = *std::move(run);
      break;
    }
    case kListBit: {
      if (absl::Status s = NoPositionals(word, tokens); !s.ok()) return s;
      absl::StatusOr<OutputFormat> output = OutputOf(tokens);
      if (!output.ok()) return output.status();
      invocation.command = ListCommand{*output};
      break;
    }
    case kGetBit: {
      absl::StatusOr<std::vector<std::string>> names = Names(word, tokens, true);
      if (!names.ok()) return names.status();
      absl::StatusOr<OutputFormat> output = OutputOf(tokens);
      if (!output.ok()) return output.status();
      invocation.command = GetCommand{names->front(), *output};
      break;
    }
    case kDeleteBit: {
      absl::StatusOr<std::vector<std::string>> names = Names(word, tokens, false);
      if (!names.ok()) return names.status();
      invocation.command = DeleteCommand{*std::move(names)};
      break;
    }
    case kVersionBit:
      if (absl::Status s = NoPositionals(word, tokens); !s.ok()) return s;
      invocation.command = VersionCommand{};
      break;
    case kHelpBit:  // `fsb help [anything]`
      invocation.command = HelpCommand{};
      break;
    default:
      return absl::InternalError(absl::StrCat("unhandled command \"", word, "\""));
  }
  return invocation;
}

std::string_view UsageText() { return kUsage; }

}  // namespace fsb::cli
