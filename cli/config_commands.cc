#include "cli/config_commands.h"

#include <filesystem>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "cli/config.h"
#include "cli/format.h"

namespace fsb::cli {
namespace {

int Failure(std::ostream& err, absl::string_view message, int code) {
  err << "fsb: error: " << message << "\n";
  return code;
}

// The `get-contexts` table. TLS: plaintext, unverified, ca, or <none> (the default);
// TOKEN: inline, file or <none>.
std::string ContextTable(const CliConfig& config) {
  std::vector<std::vector<std::string>> rows = {
      {"CURRENT", "NAME", "ENDPOINT", "NAMESPACE", "TLS", "TOKEN"}};
  for (const ConfigContext& context : config.contexts) {
    std::string tls;
    if (context.insecure) {
      tls = "plaintext";
    } else if (context.insecure_skip_tls_verify) {
      tls = "unverified";
    } else if (!context.ca.empty()) {
      tls = "ca";
    }
    std::string token;
    if (!context.token.empty()) {
      token = "inline";
    } else if (!context.token_file.empty()) {
      token = "file";
    }
    rows.push_back({context.name == config.current_context ? "*" : " ", context.name,
                    context.endpoint, context.ns, tls, token});
  }
  return FormatColumns(rows);
}

// `update` with relative --ca and --token-file paths made absolute: they were typed
// relative to the working folder, and the file's are relative to its own folder.
ContextUpdate WithAbsolutePaths(ContextUpdate update) {
  for (std::optional<std::string>* path : {&update.ca, &update.token_file}) {
    if (*path && !(*path)->empty()) {
      std::error_code error;
      const std::filesystem::path absolute = std::filesystem::absolute(**path, error);
      if (!error) **path = absolute.lexically_normal().string();
    }
  }
  return update;
}

// Writes `config` to `path`, then prints `done`.
int Save(const std::string& path, const CliConfig& config, std::string_view done, std::ostream& out,
         std::ostream& err) {
  if (absl::Status saved = SaveConfig(path, config); !saved.ok()) {
    return Failure(err, saved.message(), kExitServerError);
  }
  out << done << "\n";
  return kExitOk;
}

}  // namespace

int RunConfigCommand(const ConfigCommand& command, const std::optional<std::string>& path,
                     std::ostream& out, std::ostream& err) {
  using Verb = ConfigCommand::Verb;
  if (!path) return Failure(err, "no config file: set FSB_CONFIG or HOME", kExitUsage);
  absl::StatusOr<CliConfig> config = LoadConfig(*path);
  if (!config.ok()) return Failure(err, config.status().message(), kExitUsage);
  switch (command.verb) {
    case Verb::kView:
      out << FormatConfig(Redacted(*config));
      return kExitOk;
    case Verb::kGetContexts:
      if (config->contexts.empty()) {
        err << "No contexts in " << *path << ".\n";
        return kExitOk;
      }
      out << ContextTable(*config);
      return kExitOk;
    case Verb::kCurrentContext:
      if (config->current_context.empty()) {
        return Failure(err,
                       absl::StrCat(*path,
                                    " has no current-context: pick one with fsb config "
                                    "use-context NAME"),
                       kExitUsage);
      }
      out << config->current_context << "\n";
      return kExitOk;
    case Verb::kUseContext:
      if (config->Find(command.name) == nullptr) {
        return Failure(err, NoSuchContext(*config, command.name, *path), kExitUsage);
      }
      config->current_context = command.name;
      return Save(*path, *config, absl::StrCat("Switched to context \"", command.name, "\"."), out,
                  err);
    case Verb::kSetContext: {
      absl::StatusOr<bool> created =
          SetContext(*config, command.name, WithAbsolutePaths(command.update));
      if (!created.ok()) {
        return Failure(err, absl::StrCat(*path, ": ", created.status().message()), kExitUsage);
      }
      return Save(*path, *config,
                  absl::StrCat("Context \"", command.name, "\" ", *created ? "created" : "modified",
                               " in ", *path, "."),
                  out, err);
    }
  }
  return Failure(err, "unknown config verb", kExitUsage);
}

}  // namespace fsb::cli
