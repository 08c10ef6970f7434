#ifndef FSB_CLI_CONFIG_COMMANDS_H_
#define FSB_CLI_CONFIG_COMMANDS_H_

#include <optional>
#include <ostream>
#include <string>

#include "cli/args.h"

namespace fsb::cli {

// Runs a `fsb config` verb on the config file at `path` (nullopt: no file is named, as
// when neither FSB_CONFIG nor HOME is set). Results go to `out`, errors to `err` as
// "fsb: error: ...". Returns kExitOk; kExitUsage when the file is unreadable or invalid,
// names no such context, has no current context (current-context) or the update is
// invalid (set-context); kExitServerError when the file cannot be written. The file is
// only written by use-context and set-context, atomically (SaveConfig); set-context
// stores --ca and --token-file paths absolute (relative ones are from the working folder).
int RunConfigCommand(const ConfigCommand& command, const std::optional<std::string>& path,
                     std::ostream& out, std::ostream& err);

}  // namespace fsb::cli

#endif  // FSB_CLI_CONFIG_COMMANDS_H_
