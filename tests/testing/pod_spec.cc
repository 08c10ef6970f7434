#include "tests/testing/pod_spec.h"

#include <algorithm>
#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/struct.pb.h"
#include "internal/strings.h"
#include "internal/yaml.h"

namespace fsb::testing {
namespace {

using google::protobuf::Value;

// The member `key` of object `v`, or null when `v` is no object or lacks it.
const Value* Member(const Value& v, std::string_view key) {
  if (v.kind_case() != Value::kStructValue) return nullptr;
  auto it = v.struct_value().fields().find(std::string(key));
  return it == v.struct_value().fields().end() ? nullptr : &it->second;
}

// Follows `path` (object keys) from `v`; null when a step is missing.
const Value* Path(const Value& v, std::initializer_list<std::string_view> path) {
  const Value* at = &v;
  for (std::string_view key : path) {
    at = Member(*at, key);
    if (at == nullptr) return nullptr;
  }
  return at;
}

absl::Status WrongType(std::string_view where, std::string_view want) {
  return absl::InvalidArgumentError(absl::StrCat(Sv(where), ": not ", Sv(want)));
}

absl::StatusOr<std::string> String(const Value* v, std::string_view where) {
  if (v == nullptr) return std::string();
  if (v->kind_case() != Value::kStringValue) return WrongType(where, "a string");
  return v->string_value();
}

absl::StatusOr<bool> Bool(const Value* v, std::string_view where) {
  if (v == nullptr) return false;
  if (v->kind_case() != Value::kBoolValue) return WrongType(where, "a boolean");
  return v->bool_value();
}

absl::StatusOr<std::optional<int64_t>> Int(const Value* v, std::string_view where) {
  if (v == nullptr) return std::optional<int64_t>();
  if (v->kind_case() != Value::kNumberValue || std::trunc(v->number_value()) != v->number_value()) {
    return WrongType(where, "an integer");
  }
  return std::optional<int64_t>(static_cast<int64_t>(v->number_value()));
}

// The elements of list `v` (none when absent).
absl::StatusOr<std::vector<const Value*>> List(const Value* v, std::string_view where) {
  std::vector<const Value*> out;
  if (v == nullptr) return out;
  if (v->kind_case() != Value::kListValue) return WrongType(where, "a list");
  for (const Value& e : v->list_value().values()) out.push_back(&e);
  return out;
}

absl::StatusOr<std::vector<std::string>> Strings(const Value* v, std::string_view where) {
  absl::StatusOr<std::vector<const Value*>> list = List(v, where);
  if (!list.ok()) return list.status();
  std::vector<std::string> out;
  for (const Value* e : *list) {
    absl::StatusOr<std::string> s = String(e, where);
    if (!s.ok()) return s.status();
    out.push_back(*std::move(s));
  }
  return out;
}

absl::StatusOr<PodContainer::Volume> ReadVolume(const Value& v) {
  PodContainer::Volume volume;
  absl::StatusOr<std::string> name = String(Member(v, "name"), "volume name");
  if (!name.ok()) return name.status();
  if (name->empty()) return absl::InvalidArgumentError("a volume without a name");
  volume.name = *name;
  const std::string where = absl::StrCat("volume ", volume.name);
  if (const Value* host = Member(v, "hostPath"); host != nullptr) {
    volume.kind = PodContainer::Volume::Kind::kHostPath;
    absl::StatusOr<std::string> path = String(Member(*host, "path"), where + " hostPath.path");
    if (!path.ok()) return path.status();
    if (path->empty() || (*path)[0] != '/') {
      return absl::InvalidArgumentError(where + ": hostPath.path is not an absolute path");
    }
    volume.host_path = *path;
  } else if (const Value* secret = Member(v, "secret"); secret != nullptr) {
    volume.kind = PodContainer::Volume::Kind::kSecret;
    absl::StatusOr<std::string> secret_name =
        String(Member(*secret, "secretName"), where + " secret.secretName");
    if (!secret_name.ok()) return secret_name.status();
    if (secret_name->empty()) return absl::InvalidArgumentError(where + ": no secretName");
    volume.secret_name = *secret_name;
    absl::StatusOr<std::optional<int64_t>> mode =
        Int(Member(*secret, "defaultMode"), where + " secret.defaultMode");
    if (!mode.ok()) return mode.status();
    if (mode->has_value()) {
      if (**mode < 0 || **mode > 0777) {
        return absl::InvalidArgumentError(where + ": defaultMode outside 0-0777");
      }
      volume.default_mode = static_cast<uint32_t>(**mode);
    }
    absl::StatusOr<std::vector<const Value*>> items =
        List(Member(*secret, "items"), where + " secret.items");
    if (!items.ok()) return items.status();
    for (const Value* item : *items) {
      absl::StatusOr<std::string> key = String(Member(*item, "key"), where + " item key");
      absl::StatusOr<std::string> path = String(Member(*item, "path"), where + " item path");
      if (!key.ok()) return key.status();
      if (!path.ok()) return path.status();
      if (key->empty() || path->empty() || (*path)[0] == '/' ||
          path->find("..") != std::string::npos) {
        return absl::InvalidArgumentError(where + ": an item needs a key and a relative path");
      }
      volume.items[*key] = *path;
    }
  } else if (Member(v, "emptyDir") != nullptr) {
    volume.kind = PodContainer::Volume::Kind::kEmptyDir;
  } else if (Member(v, "persistentVolumeClaim") != nullptr) {
    volume.kind = PodContainer::Volume::Kind::kPersistentVolumeClaim;
  } else {
    return absl::InvalidArgumentError(where +
                                      ": not hostPath, secret, emptyDir or persistentVolumeClaim");
  }
  return volume;
}

// Fills `out` from the container object `c` of pod spec `pod`.
absl::Status ReadContainer(const Value& pod, const Value& c, PodContainer& out) {
  absl::StatusOr<std::string> image = String(Member(c, "image"), "image");
  if (!image.ok()) return image.status();
  out.image = *image;
  absl::StatusOr<std::vector<std::string>> command = Strings(Member(c, "command"), "command");
  if (!command.ok()) return command.status();
  out.command = *std::move(command);
  absl::StatusOr<std::vector<std::string>> args = Strings(Member(c, "args"), "args");
  if (!args.ok()) return args.status();
  out.args = *std::move(args);

  absl::StatusOr<std::vector<const Value*>> env = List(Member(c, "env"), "env");
  if (!env.ok()) return env.status();
  for (const Value* e : *env) {
    PodContainer::Env var;
    absl::StatusOr<std::string> name = String(Member(*e, "name"), "env name");
    if (!name.ok()) return name.status();
    if (name->empty()) return absl::InvalidArgumentError("an env entry without a name");
    var.name = *name;
    if (const Value* from = Member(*e, "valueFrom"); from != nullptr) {
      const Value* field = Path(*from, {"fieldRef", "fieldPath"});
      if (field == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("env ", var.name, ": valueFrom other than fieldRef"));
      }
      absl::StatusOr<std::string> path = String(field, "env fieldPath");
      if (!path.ok()) return path.status();
      var.field_path = *path;
    } else {
      absl::StatusOr<std::string> value = String(Member(*e, "value"), "env value");
      if (!value.ok()) return value.status();
      var.value = *value;
    }
    out.env.push_back(std::move(var));
  }

  std::vector<PodContainer::Volume> volumes;
  absl::StatusOr<std::vector<const Value*>> pod_volumes = List(Member(pod, "volumes"), "volumes");
  if (!pod_volumes.ok()) return pod_volumes.status();
  for (const Value* v : *pod_volumes) {
    absl::StatusOr<PodContainer::Volume> volume = ReadVolume(*v);
    if (!volume.ok()) return volume.status();
    volumes.push_back(*std::move(volume));
  }
  absl::StatusOr<std::vector<const Value*>> mounts =
      List(Member(c, "volumeMounts"), "volumeMounts");
  if (!mounts.ok()) return mounts.status();
  for (const Value* m : *mounts) {
    PodContainer::Mount mount;
    absl::StatusOr<std::string> name = String(Member(*m, "name"), "volumeMount name");
    absl::StatusOr<std::string> path = String(Member(*m, "mountPath"), "volumeMount mountPath");
    absl::StatusOr<bool> read_only = Bool(Member(*m, "readOnly"), "volumeMount readOnly");
    absl::StatusOr<std::string> propagation =
        String(Member(*m, "mountPropagation"), "volumeMount mountPropagation");
    for (const absl::Status& s :
         {name.status(), path.status(), read_only.status(), propagation.status()}) {
      if (!s.ok()) return s;
    }
    if (path->empty() || (*path)[0] != '/') {
      return absl::InvalidArgumentError(
          absl::StrCat("volumeMount ", *name, ": mountPath is not an absolute path"));
    }
    auto volume = std::find_if(volumes.begin(), volumes.end(),
                               [&](const PodContainer::Volume& v) { return v.name == *name; });
    if (volume == volumes.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("volumeMount ", *name, ": the pod has no volume of that name"));
    }
    mount.volume = *volume;
    mount.path = *path;
    mount.read_only = *read_only;
    mount.propagation = *propagation;
    out.mounts.push_back(std::move(mount));
  }

  absl::StatusOr<std::vector<const Value*>> ports = List(Member(c, "ports"), "ports");
  if (!ports.ok()) return ports.status();
  for (const Value* p : *ports) {
    absl::StatusOr<std::optional<int64_t>> port = Int(Member(*p, "containerPort"), "containerPort");
    if (!port.ok()) return port.status();
    if (!port->has_value() || **port < 1 || **port > 65535) {
      return absl::InvalidArgumentError("a containerPort outside 1-65535");
    }
    out.ports.push_back(static_cast<int>(**port));
  }

  absl::StatusOr<bool> host_network = Bool(Member(pod, "hostNetwork"), "hostNetwork");
  if (!host_network.ok()) return host_network.status();
  out.host_network = *host_network;
  const Value* pod_security = Member(pod, "securityContext");
  const Value* security = Member(c, "securityContext");
  auto security_int = [&](std::string_view key, std::optional<int64_t>& field) -> absl::Status {
    for (const Value* context : {pod_security, security}) {  // the container's wins
      if (context == nullptr) continue;
      absl::StatusOr<std::optional<int64_t>> v = Int(Member(*context, key), key);
      if (!v.ok()) return v.status();
      if (v->has_value()) field = *v;
    }
    return absl::OkStatus();
  };
  if (absl::Status s = security_int("runAsUser", out.run_as_user); !s.ok()) return s;
  if (absl::Status s = security_int("runAsGroup", out.run_as_group); !s.ok()) return s;
  if (pod_security != nullptr) {
    absl::StatusOr<std::optional<int64_t>> fs_group =
        Int(Member(*pod_security, "fsGroup"), "fsGroup");
    if (!fs_group.ok()) return fs_group.status();
    out.fs_group = *fs_group;
  }
  if (security != nullptr) {
    absl::StatusOr<bool> privileged = Bool(Member(*security, "privileged"), "privileged");
    absl::StatusOr<bool> read_only_root =
        Bool(Member(*security, "readOnlyRootFilesystem"), "readOnlyRootFilesystem");
    if (!privileged.ok()) return privileged.status();
    if (!read_only_root.ok()) return read_only_root.status();
    out.privileged = *privileged;
    out.read_only_root = *read_only_root;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<PodContainer> ReadPodContainer(std::string_view manifests, std::string_view kind,
                                              std::string_view name, std::string_view container) {
  absl::StatusOr<std::vector<YamlDocument>> docs = ParseYamlStream(manifests);
  if (!docs.ok()) return docs.status();
  for (const YamlDocument& doc : *docs) {
    const Value* doc_kind = Member(doc.value, "kind");
    const Value* doc_name = Path(doc.value, {"metadata", "name"});
    if (doc_kind == nullptr || doc_name == nullptr || doc_kind->string_value() != kind ||
        doc_name->string_value() != name) {
      continue;
    }
    const Value* pod = Path(doc.value, {"spec", "template", "spec"});
    if (pod == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(Sv(kind), " ", Sv(name), ": no spec.template.spec"));
    }
    absl::StatusOr<std::vector<const Value*>> containers =
        List(Member(*pod, "containers"), "containers");
    if (!containers.ok()) return containers.status();
    for (const Value* c : *containers) {
      const Value* c_name = Member(*c, "name");
      if (c_name == nullptr || c_name->string_value() != container) continue;
      PodContainer out;
      if (absl::Status s = ReadContainer(*pod, *c, out); !s.ok()) {
        return absl::Status(s.code(), absl::StrCat(Sv(kind), " ", Sv(name), " container ",
                                                   Sv(container), ": ", s.message()));
      }
      return out;
    }
    return absl::NotFoundError(
        absl::StrCat(Sv(kind), " ", Sv(name), " has no container ", Sv(container)));
  }
  return absl::NotFoundError(absl::StrCat("no ", Sv(kind), " named ", Sv(name)));
}

std::string ExpandVars(std::string_view s, const std::map<std::string, std::string>& vars) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '$' || i + 1 == s.size()) {
      out += s[i];
    } else if (s[i + 1] == '$') {
      out += '$';
      ++i;
    } else if (s[i + 1] == '(') {
      const size_t close = s.find(')', i + 2);
      if (close == std::string_view::npos) {
        out += s.substr(i);
        break;
      }
      const std::string name(s.substr(i + 2, close - i - 2));
      auto it = vars.find(name);
      out += it == vars.end() ? std::string(s.substr(i, close - i + 1)) : it->second;
      i = close;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace fsb::testing
