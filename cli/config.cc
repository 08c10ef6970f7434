#include "cli/config.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/format.h"
#include "internal/strings.h"
#include "internal/validation.h"
#include "internal/yaml.h"

namespace fsb::cli {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

// The context fields, by their name in the file, with their member in ConfigContext and
// ContextUpdate: one table for parsing, writing and updating.
struct StringField {
  std::string_view key;
  std::string ConfigContext::*member;
  std::optional<std::string> ContextUpdate::*update;
};
constexpr StringField kStringFields[] = {
    {"endpoint", &ConfigContext::endpoint, &ContextUpdate::endpoint},
    {"ca", &ConfigContext::ca, &ContextUpdate::ca},
    {"token", &ConfigContext::token, &ContextUpdate::token},
    {"token-file", &ConfigContext::token_file, &ContextUpdate::token_file},
    {"namespace", &ConfigContext::ns, &ContextUpdate::ns},
    {"tls-server-name", &ConfigContext::tls_server_name, &ContextUpdate::tls_server_name},
};

struct BoolField {
  std::string_view key;
  bool ConfigContext::*member;
  std::optional<bool> ContextUpdate::*update;
};
constexpr BoolField kBoolFields[] = {
    {"insecure", &ConfigContext::insecure, &ContextUpdate::insecure},
    {"insecure-skip-tls-verify", &ConfigContext::insecure_skip_tls_verify,
     &ContextUpdate::insecure_skip_tls_verify},
};

absl::Status Invalid(std::string_view message) {
  return absl::InvalidArgumentError(std::string(message));
}

std::string ContextLabel(std::string_view name) {
  return absl::StrCat("context \"", Sv(name), "\"");
}

absl::Status FieldError(std::string_view context, std::string_view field,
                        std::string_view problem) {
  return Invalid(absl::StrCat(ContextLabel(context), ": field \"", Sv(field), "\": ", Sv(problem)));
}

// A struct's keys in byte order, so that the first problem reported does not depend on
// the map's iteration order.
std::vector<std::string> SortedKeys(const Struct& s) {
  std::vector<std::string> keys;
  for (const auto& [key, value] : s.fields()) keys.push_back(key);
  std::sort(keys.begin(), keys.end());
  return keys;
}

std::string_view KindOf(const Value& v) {
  switch (v.kind_case()) {
    case Value::kNullValue:
      return "null";
    case Value::kNumberValue:
      return "a number";
    case Value::kStringValue:
      return "a string";
    case Value::kBoolValue:
      return "a boolean";
    case Value::kStructValue:
      return "a mapping";
    case Value::kListValue:
      return "a list";
    default:
      return "nothing";
  }
}

// One element of `contexts`; `index` (0-based) names it until its name is known.
absl::StatusOr<ConfigContext> ParseContext(const Value& item, size_t index) {
  const std::string unnamed = absl::StrCat("contexts[", index, "]");
  if (!item.has_struct_value()) {
    return Invalid(absl::StrCat(unnamed, ": must be a mapping, not ", Sv(KindOf(item))));
  }
  const auto& fields = item.struct_value().fields();
  ConfigContext context;
  auto name = fields.find("name");
  if (name == fields.end() || !name->second.has_string_value() ||
      name->second.string_value().empty()) {
    return Invalid(absl::StrCat(unnamed, ": field \"name\" must be a non-empty string"));
  }
  context.name = name->second.string_value();
  for (const std::string& key : SortedKeys(item.struct_value())) {
    if (key == "name") continue;
    const Value& value = fields.at(key);
    const auto string_field = std::find_if(std::begin(kStringFields), std::end(kStringFields),
                                           [&](const StringField& f) { return f.key == key; });
    const auto bool_field = std::find_if(std::begin(kBoolFields), std::end(kBoolFields),
                                         [&](const BoolField& f) { return f.key == key; });
    if (string_field != std::end(kStringFields)) {
      if (value.has_null_value()) continue;
      if (!value.has_string_value()) {
        return FieldError(context.name, key,
                          absl::StrCat("must be a string, not ", Sv(KindOf(value)), " (quote it)"));
      }
      context.*(string_field->member) = value.string_value();
    } else if (bool_field != std::end(kBoolFields)) {
      if (value.has_null_value()) continue;
      if (!value.has_bool_value()) {
        return FieldError(context.name, key,
                          absl::StrCat("must be true or false, not ", Sv(KindOf(value))));
      }
      context.*(bool_field->member) = value.bool_value();
    } else {
      return Invalid(absl::StrCat(ContextLabel(context.name), ": unknown field \"", key, "\""));
    }
  }
  if (absl::Status s = ValidateContext(context); !s.ok()) return s;
  return context;
}

absl::StatusOr<CliConfig> ParseRoot(const Value& root) {
  if (!root.has_struct_value()) {
    return Invalid(absl::StrCat("must be a mapping with current-context and contexts, not ",
                                Sv(KindOf(root))));
  }
  CliConfig config;
  const auto& fields = root.struct_value().fields();
  for (const std::string& key : SortedKeys(root.struct_value())) {
    const Value& value = fields.at(key);
    if (key == "current-context") {
      if (value.has_null_value()) continue;
      if (!value.has_string_value()) {
        return Invalid(
            absl::StrCat("field \"current-context\" must be a string, not ", Sv(KindOf(value))));
      }
      config.current_context = value.string_value();
    } else if (key == "contexts") {
      if (value.has_null_value()) continue;
      if (!value.has_list_value()) {
        return Invalid(absl::StrCat("field \"contexts\" must be a list, not ", Sv(KindOf(value))));
      }
      const auto& items = value.list_value().values();
      for (int i = 0; i < items.size(); ++i) {
        absl::StatusOr<ConfigContext> context = ParseContext(items[i], i);
        if (!context.ok()) return context.status();
        if (config.Find(context->name) != nullptr) {
          return Invalid(absl::StrCat(ContextLabel(context->name), " appears twice"));
        }
        config.contexts.push_back(*std::move(context));
      }
    } else {
      return Invalid(
          absl::StrCat("unknown field \"", key, "\" (expected current-context, contexts)"));
    }
  }
  return config;
}

bool HasControlCharacter(std::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

// Removes the temporary file unless released: the error paths of SaveConfig.
class TemporaryFile {
 public:
  explicit TemporaryFile(std::string path) : path_(std::move(path)) {}
  ~TemporaryFile() {
    if (!path_.empty()) unlink(path_.c_str());
  }
  void Release() { path_.clear(); }

 private:
  std::string path_;
};

// `what` failed with `error` (an errno value).
absl::Status SaveError(const std::string& path, std::string_view what, int error) {
  return absl::InternalError(
      absl::StrCat("cannot write ", path, ": ", Sv(what), ": ", std::strerror(error)));
}

// Writes all of `text` to `fd` and syncs it; an errno value on failure, else 0.
int WriteAndSync(int fd, std::string_view text) {
  while (!text.empty()) {
    const ssize_t n = write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    text.remove_prefix(static_cast<size_t>(n));
  }
  return fsync(fd) == 0 ? 0 : errno;
}

}  // namespace

const ConfigContext* CliConfig::Find(std::string_view name) const {
  for (const ConfigContext& context : contexts) {
    if (context.name == name) return &context;
  }
  return nullptr;
}

std::string NoSuchContext(const CliConfig& config, std::string_view name, std::string_view path) {
  std::vector<std::string> names;
  for (const ConfigContext& context : config.contexts) names.push_back(context.name);
  return absl::StrCat(ContextLabel(name), " is not in ", Sv(path),
                      names.empty() ? " (it has none)"
                                    : absl::StrCat(" (it has ", absl::StrJoin(names, ", "), ")"));
}

absl::Status ValidateContext(const ConfigContext& context) {
  if (context.name.empty()) return Invalid("a context has an empty name");
  if (HasControlCharacter(context.name)) {
    return Invalid(
        absl::StrCat(ContextLabel(context.name), ": the name holds a control character"));
  }
  for (const StringField& field : kStringFields) {
    if (HasControlCharacter(context.*(field.member))) {
      return FieldError(context.name, field.key, "holds a control character");
    }
  }
  if (!context.ns.empty()) {
    if (absl::Status s = ValidateDnsLabel("namespace", context.ns); !s.ok()) {
      return FieldError(context.name, "namespace", std::string(s.message()));
    }
  }
  if (std::any_of(context.token.begin(), context.token.end(), [](char c) { return c == ' '; })) {
    return FieldError(context.name, "token", "holds a space");
  }
  if (!context.token.empty() && !context.token_file.empty()) {
    return FieldError(context.name, "token", "cannot be combined with \"token-file\"");
  }
  if (context.insecure) {
    const std::pair<std::string_view, bool> tls_fields[] = {
        {"ca", !context.ca.empty()},
        {"token", !context.token.empty()},
        {"token-file", !context.token_file.empty()},
        {"tls-server-name", !context.tls_server_name.empty()},
        {"insecure-skip-tls-verify", context.insecure_skip_tls_verify},
    };
    for (const auto& [key, set] : tls_fields) {
      if (set) {
        return FieldError(context.name, "insecure",
                          absl::StrCat("plaintext cannot be combined with \"", Sv(key), "\""));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<CliConfig> ParseConfig(std::string_view text, std::string_view path) {
  auto prefixed = [path](const absl::Status& s) {
    return Invalid(absl::StrCat(Sv(path), ": ", s.message()));
  };
  absl::StatusOr<std::vector<YamlDocument>> documents = ParseYamlStream(text);
  if (!documents.ok()) return prefixed(documents.status());
  if (documents->empty()) return CliConfig{};
  if (documents->size() > 1) {
    return Invalid(absl::StrCat(Sv(path), ": holds more than one YAML document"));
  }
  absl::StatusOr<CliConfig> config = ParseRoot(documents->front().value);
  if (!config.ok()) return prefixed(config.status());
  return config;
}

std::string FormatConfig(const CliConfig& config) {
  YamlNode root = YamlNode::Map();
  if (!config.current_context.empty()) {
    root.Set("current-context", YamlNode::String(config.current_context));
  }
  YamlNode contexts = YamlNode::List();
  for (const ConfigContext& context : config.contexts) {
    YamlNode item = YamlNode::Map();
    item.Set("name", YamlNode::String(context.name));
    for (const StringField& field : kStringFields) {
      const std::string& value = context.*(field.member);
      if (!value.empty()) item.Set(field.key, YamlNode::String(value));
    }
    for (const BoolField& field : kBoolFields) {
      if (context.*(field.member)) item.Set(field.key, YamlNode::Bool(true));
    }
    contexts.Append(std::move(item));
  }
  root.Set("contexts", std::move(contexts));
  return root.Emit();
}

CliConfig Redacted(CliConfig config) {
  for (ConfigContext& context : config.contexts) {
    if (!context.token.empty()) context.token = kRedacted;
  }
  return config;
}

absl::StatusOr<CliConfig> LoadConfig(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    if (errno == ENOENT) return CliConfig{};
    return Invalid(absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
  }
  const std::string text(std::istreambuf_iterator<char>(file), {});
  if (file.bad()) return Invalid(absl::StrCat("cannot read ", path));
  return ParseConfig(text, path);
}

absl::Status SaveConfig(const std::string& path, const CliConfig& config) {
  const std::filesystem::path folder = std::filesystem::path(path).parent_path();
  std::error_code error;
  if (!folder.empty() && !std::filesystem::exists(folder, error)) {
    std::filesystem::create_directories(folder, error);
    if (!error) std::filesystem::permissions(folder, std::filesystem::perms::owner_all, error);
    if (error) {
      return absl::InternalError(
          absl::StrCat("cannot create ", folder.string(), ": ", error.message()));
    }
  }
  std::string temporary = path + ".tmp.XXXXXX";
  const int fd = mkstemp(temporary.data());  // mode 0600
  if (fd < 0) return SaveError(path, "cannot create a temporary file", errno);
  TemporaryFile cleanup(temporary);
  const int written = WriteAndSync(fd, FormatConfig(config));
  if (close(fd) != 0 && written == 0) return SaveError(path, "close", errno);
  if (written != 0) return SaveError(path, "write", written);
  if (std::rename(temporary.c_str(), path.c_str()) != 0) return SaveError(path, "rename", errno);
  cleanup.Release();
  return absl::OkStatus();
}

absl::StatusOr<bool> SetContext(CliConfig& config, std::string_view name,
                                const ContextUpdate& update) {
  const ConfigContext* existing = config.Find(name);
  ConfigContext context;
  if (existing != nullptr) {
    context = *existing;
  } else {
    context.name = std::string(name);
  }
  // A token and a token file exclude each other: setting one replaces the other.
  if (update.token && !update.token->empty()) context.token_file.clear();
  if (update.token_file && !update.token_file->empty()) context.token.clear();
  for (const StringField& field : kStringFields) {
    if (update.*(field.update)) context.*(field.member) = *(update.*(field.update));
  }
  for (const BoolField& field : kBoolFields) {
    if (update.*(field.update)) context.*(field.member) = *(update.*(field.update));
  }
  if (absl::Status s = ValidateContext(context); !s.ok()) return s;
  if (existing != nullptr) {
    *std::find_if(config.contexts.begin(), config.contexts.end(),
                  [&](const ConfigContext& c) { return c.name == name; }) = std::move(context);
    return false;
  }
  config.contexts.push_back(std::move(context));
  return true;
}

}  // namespace fsb::cli
