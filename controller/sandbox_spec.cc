#include "controller/sandbox_spec.h"

#include <algorithm>
#include <cstdint>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "controller/store/resources.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/util/message_differencer.h"
#include "internal/ids.h"
#include "internal/image_ref.h"
#include "internal/sandbox_network.h"
#include "internal/strings.h"
#include "internal/validation.h"

namespace fsb::controller {
namespace {

using ::fsb::v1alpha1::Sandbox;
using ::fsb::v1alpha1::SandboxSpec;

absl::Status TooMany(std::string_view field, size_t n, size_t max) {
  return absl::InvalidArgumentError(
      absl::StrCat(Sv(field), ": ", n, " entries, at most ", max, " are allowed"));
}

absl::Status TooLarge(std::string_view field, size_t bytes, size_t max) {
  return absl::InvalidArgumentError(
      absl::StrCat(Sv(field), ": ", bytes, " bytes, at most ", max, " are allowed"));
}

absl::Status ValidateRequestId(std::string_view id) {
  if (absl::Status s = ValidateText("request_id", id, kMaxRequestIdBytes); !s.ok()) return s;
  for (char c : id) {
    if (c <= ' ' || c == 0x7f) {
      return absl::InvalidArgumentError(absl::StrCat(
          "request_id ", QuoteForError(id), " may not contain whitespace or control characters"));
    }
  }
  return absl::OkStatus();
}

// A resource limit: 0 (the agent's default) or within min..max.
absl::Status ValidateLimit(std::string_view field, int64_t value, int64_t min, int64_t max,
                           std::string_view unit) {
  return value == 0 ? absl::OkStatus() : ValidateRange(field, value, min, max, unit);
}

absl::Status ValidateProcess(const SandboxSpec& spec) {
  if (absl::Status s = ValidateArgv({{"command", spec.command()}, {"args", spec.args()}});
      !s.ok()) {
    return s;
  }
  std::vector<std::pair<std::string_view, std::string_view>> env;
  env.reserve(spec.env_size());
  for (const auto& var : spec.env()) env.emplace_back(var.name(), var.value());
  if (absl::Status s = ValidateEnv("env", env); !s.ok()) return s;
  if (absl::Status s = ValidateWorkingDir("working_dir", spec.working_dir()); !s.ok()) return s;

  if (spec.exposed_ports_size() > kMaxPorts) {
    return TooMany("exposed_ports", spec.exposed_ports_size(), kMaxPorts);
  }
  absl::flat_hash_set<int> ports;
  for (int port : spec.exposed_ports()) {
    if (absl::Status s = ValidatePort("exposed_ports", port); !s.ok()) return s;
    if (!ports.insert(port).second) {
      return absl::InvalidArgumentError(absl::StrCat("exposed_ports: port ", port, " is repeated"));
    }
  }

  const auto& r = spec.resources();
  if (absl::Status s = ValidateLimit("resources.cpu_millicores", r.cpu_millicores(),
                                     kMinCpuMillicores, kMaxCpuMillicores, "millicores");
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ValidateLimit("resources.memory_bytes", r.memory_bytes(), kMinMemoryBytes,
                                     kMaxMemoryBytes, "bytes");
      !s.ok()) {
    return s;
  }
  return ValidateLimit("resources.pids", r.pids(), kMinPids, kMaxPids, "processes");
}

// `at` is after `now`.
absl::Status ValidateFuture(std::string_view field, absl::Time at, absl::Time now) {
  if (at > now) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(Sv(field), ": ", absl::FormatTime(absl::RFC3339_full, at, absl::UTCTimeZone()),
                   " is not in the future"));
}

// Validates the network mode and published ports and fills their defaults: network
// egress, protocol tcp.
absl::Status AdmitNetwork(SandboxSpec& spec) {
  if (absl::Status s = ValidateNetworkMode("network", spec.network(), /*allow_empty=*/true);
      !s.ok()) {
    return s;
  }
  if (spec.network().empty()) spec.set_network(std::string(kNetworkEgress));
  if (spec.publish_size() > kMaxPorts) return TooMany("publish", spec.publish_size(), kMaxPorts);
  std::vector<PublishedPort> ports;
  ports.reserve(spec.publish_size());
  for (const v1alpha1::PortPublish& p : spec.publish()) ports.push_back(PublishedPortOf(p));
  if (absl::Status s = ValidatePublishedPorts("publish", ports); !s.ok()) return s;
  for (v1alpha1::PortPublish& p : *spec.mutable_publish()) {
    if (p.protocol().empty()) p.set_protocol(std::string(kProtocolTcp));
  }
  return absl::OkStatus();
}

// `spec` with the fields that have an implicit default in their pre-default form (a
// network of egress as unset, as records made before the field existed have it), so
// that comparisons see such records as the same spec.
SandboxSpec WithImplicitDefaultsCleared(const SandboxSpec& spec) {
  SandboxSpec out = spec;
  if (out.network() == kNetworkEgress) out.clear_network();
  return out;
}

// Validates `sandbox` as submitted by a client and fills in defaults; see
// SandboxFromCreateSpec.
absl::Status Admit(Sandbox& sandbox, SandboxSpec::ConsistencyMode default_mode, absl::Time now) {
  if (absl::Status s = store::CheckTypeMeta(&sandbox); !s.ok()) return s;

  auto* meta = sandbox.mutable_metadata();
  if (meta->namespace_().empty()) meta->set_namespace_(kDefaultNamespace);
  if (meta->name().empty()) meta->set_name(absl::StrCat("sb-", RandomHex(4)));
  if (absl::Status s = ValidateDnsLabel("namespace", meta->namespace_()); !s.ok()) return s;
  if (absl::Status s = ValidateDnsLabel("name", meta->name()); !s.ok()) return s;
  auto* annotations = meta->mutable_annotations();
  const auto given = annotations->find(kRequestIdAnnotation);
  const std::string request_id = given != annotations->end() && !given->second.empty()
                                     ? given->second
                                     : absl::StrCat(meta->namespace_(), "/", meta->name());
  if (absl::Status s = ValidateRequestId(request_id); !s.ok()) return s;
  if (absl::Status s = ValidateUserMetadata(*meta); !s.ok()) return s;
  (*annotations)[kRequestIdAnnotation] = request_id;

  SandboxSpec* spec = sandbox.mutable_spec();
  if (spec->image().empty()) return absl::InvalidArgumentError("image is required");
  absl::StatusOr<std::string> image = NormalizeImageReference(spec->image());
  if (!image.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("image: ", image.status().message()));
  }
  spec->set_image(*std::move(image));
  std::sort(spec->mutable_env()->begin(), spec->mutable_env()->end(),
            [](const auto& a, const auto& b) { return a.name() < b.name(); });
  if (absl::Status s = ValidateProcess(*spec); !s.ok()) return s;
  if (absl::Status s = AdmitNetwork(*spec); !s.ok()) return s;
  if (spec->pool_ref().empty()) spec->set_pool_ref(kDefaultPool);
  if (absl::Status s = ValidateDnsLabel("pool_ref", spec->pool_ref()); !s.ok()) return s;
  if (spec->failure_policy() == SandboxSpec::FAILURE_POLICY_UNSET) {
    spec->set_failure_policy(SandboxSpec::Manual);
  }
  if (spec->recovery_timeout_seconds() == 0) {
    spec->set_recovery_timeout_seconds(kDefaultRecoveryTimeoutSeconds);
  }
  if (spec->consistency_mode() == SandboxSpec::CONSISTENCY_MODE_UNSET) {
    spec->set_consistency_mode(default_mode);
  }
  if (spec->consistency_mode() != SandboxSpec::fast &&
      spec->consistency_mode() != SandboxSpec::strong) {
    return absl::InvalidArgumentError(absl::StrCat("consistency_mode: ", spec->consistency_mode(),
                                                   " is not a mode (fast or strong)"));
  }
  if (absl::Status s = ValidateMutableSpec(*spec, now); !s.ok()) return s;
  (*annotations)[kSpecHashAnnotation] = SpecHash(*spec);

  sandbox.clear_status();
  sandbox.mutable_status()->set_phase(v1alpha1::SandboxStatus::Pending);
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateUserMetadata(const v1alpha1::ObjectMeta& meta) {
  if (meta.labels_size() > kMaxLabels) return TooMany("labels", meta.labels_size(), kMaxLabels);
  for (const auto& [key, value] : meta.labels()) {
    if (absl::Status s = ValidateLabel("labels", key, value); !s.ok()) return s;
  }
  if (meta.annotations_size() > kMaxAnnotations) {
    return TooMany("annotations", meta.annotations_size(), kMaxAnnotations);
  }
  size_t bytes = 0;
  for (const auto& [key, value] : meta.annotations()) {
    if (absl::Status s = ValidateLabel("annotations", key, ""); !s.ok()) return s;
    const std::string field = absl::StrCat("annotations[", QuoteForError(key), "]");
    if (absl::Status s = ValidateText(field, value, kMaxAnnotationBytes); !s.ok()) return s;
    bytes += key.size() + value.size();
  }
  if (bytes > kMaxAnnotationBytes) return TooLarge("annotations", bytes, kMaxAnnotationBytes);
  return absl::OkStatus();
}

absl::Status ValidateSandboxRef(std::string_view ns, std::string_view name) {
  if (!ns.empty()) {
    if (absl::Status s = ValidateDnsLabel("namespace", ns); !s.ok()) return s;
  }
  return ValidateDnsLabel("sandbox_name", name);
}

absl::Status ValidateArgv(std::initializer_list<ArgvList> lists) {
  size_t count = 0;
  size_t bytes = 0;
  std::string fields;
  for (const ArgvList& list : lists) {
    absl::StrAppend(&fields, fields.empty() ? "" : "+", Sv(list.field));
    for (int i = 0; i < list.entries.size(); ++i) {
      const std::string& entry = list.entries[i];
      if (count == 0 && entry.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat(Sv(list.field), "[0]: is empty; it names the program to run"));
      }
      if (absl::Status s =
              ValidateText(absl::StrCat(Sv(list.field), "[", i, "]"), entry, kMaxArgvBytes);
          !s.ok()) {
        return s;
      }
      ++count;
      bytes += entry.size() + 1;
    }
  }
  if (count > static_cast<size_t>(kMaxArgs)) return TooMany(fields, count, kMaxArgs);
  if (bytes > kMaxArgvBytes) return TooLarge(fields, bytes, kMaxArgvBytes);
  return absl::OkStatus();
}

absl::Status ValidateEnv(std::string_view field,
                         const std::vector<std::pair<std::string_view, std::string_view>>& env) {
  if (env.size() > static_cast<size_t>(kMaxEnv)) return TooMany(field, env.size(), kMaxEnv);
  absl::flat_hash_set<std::string_view> names;
  size_t bytes = 0;
  for (const auto& [name, value] : env) {
    if (absl::Status s = ValidateEnvName(field, name); !s.ok()) return s;
    if (!names.insert(name).second) {
      return absl::InvalidArgumentError(absl::StrCat(Sv(field), ": ", Sv(name), " is set twice"));
    }
    const std::string entry = absl::StrCat(Sv(field), "[", Sv(name), "]");
    if (absl::Status s = ValidateText(entry, value, kMaxEnvBytes); !s.ok()) return s;
    bytes += name.size() + value.size() + 2;
  }
  if (bytes > kMaxEnvBytes) return TooLarge(field, bytes, kMaxEnvBytes);
  return absl::OkStatus();
}

absl::Status ValidateWorkingDir(std::string_view field, std::string_view dir) {
  if (absl::Status s = ValidateText(field, dir, kMaxPathBytes); !s.ok()) return s;
  if (!dir.empty() && dir.front() != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat(Sv(field), " ", QuoteForError(dir), " must be an absolute path"));
  }
  return absl::OkStatus();
}

absl::Status ValidateSandboxUpdate(const SandboxUpdate& update, absl::Time now) {
  if (!update.malformed.ok()) return update.malformed;
  if (absl::Status s = ValidateSandboxRef(update.ns, update.name); !s.ok()) return s;
  if (update.expire_time_seconds.has_value() && *update.expire_time_seconds != 0) {
    const int64_t seconds = *update.expire_time_seconds;
    if (seconds < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("expire_time_seconds: ", seconds, " must not be negative"));
    }
    if (absl::Status s = ValidateUnixTime("expire_time_seconds", seconds); !s.ok()) return s;
    if (absl::Status s = ValidateFuture("expire_time_seconds", absl::FromUnixSeconds(seconds), now);
        !s.ok()) {
      return s;
    }
  }
  if (update.reset_revision.has_value()) {
    if (auto t = ParseResetRevision(*update.reset_revision); !t.ok()) return t.status();
  }
  if (update.recovery_timeout_seconds.has_value()) {
    if (absl::Status s = ValidateRange("recovery_timeout_seconds", *update.recovery_timeout_seconds,
                                       1, kMaxRecoveryTimeoutSeconds, "seconds");
        !s.ok()) {
      return s;
    }
  }
  if (update.labels.size() > static_cast<size_t>(kMaxLabels)) {
    return TooMany("labels", update.labels.size(), kMaxLabels);
  }
  for (const auto& [key, value] : update.labels) {
    if (absl::Status s = ValidateLabel("labels", key, value); !s.ok()) return s;
  }
  if (update.remove_labels.size() > static_cast<size_t>(kMaxLabelChanges)) {
    return TooMany("remove_labels", update.remove_labels.size(), kMaxLabelChanges);
  }
  for (const std::string& key : update.remove_labels) {
    if (absl::Status s = ValidateLabel("remove_labels", key, ""); !s.ok()) return s;
  }
  return absl::OkStatus();
}

void SetTimestamp(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t seconds = absl::ToUnixSeconds(t);
  out->set_seconds(seconds);
  out->set_nanos(
      static_cast<int32_t>(absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(seconds))));
}

absl::Time TimeOf(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

absl::StatusOr<Sandbox> SandboxFromCreateSpec(CreateSpec create,
                                              SandboxSpec::ConsistencyMode default_mode,
                                              absl::Time now) {
  if (!create.malformed.ok()) return create.malformed;
  if (absl::Status s = Admit(create.sandbox, default_mode, now); !s.ok()) return s;
  return std::move(create.sandbox);
}

absl::StatusOr<Sandbox> SandboxFromResource(Sandbox resource,
                                            SandboxSpec::ConsistencyMode default_mode,
                                            absl::Time now) {
  auto* meta = resource.mutable_metadata();
  store::ClearServerOwnedMetadata(meta);
  meta->mutable_annotations()->erase(kSpecHashAnnotation);
  if (absl::Status s = Admit(resource, default_mode, now); !s.ok()) return s;
  return resource;
}

std::string SpecHash(const SandboxSpec& spec) {
  SandboxSpec fixed = WithImplicitDefaultsCleared(spec);
  fixed.clear_expire_time();
  fixed.clear_reset_revision();
  fixed.clear_failure_policy();
  fixed.clear_recovery_timeout_seconds();
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    fixed.SerializeToCodedStream(&coded);
  }
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a 64: stable across processes
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return absl::StrCat(absl::Hex(h, absl::kZeroPad16));
}

std::string ImmutableSpecChanges(const SandboxSpec& current, const SandboxSpec& desired) {
  const SandboxSpec before = WithImplicitDefaultsCleared(current);
  const SandboxSpec after = WithImplicitDefaultsCleared(desired);
  std::vector<std::string> changed;
  const google::protobuf::Descriptor* d = SandboxSpec::descriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    const google::protobuf::FieldDescriptor* f = d->field(i);
    if (f->number() == SandboxSpec::kExpireTimeFieldNumber ||
        f->number() == SandboxSpec::kResetRevisionFieldNumber ||
        f->number() == SandboxSpec::kFailurePolicyFieldNumber ||
        f->number() == SandboxSpec::kRecoveryTimeoutSecondsFieldNumber) {
      continue;
    }
    google::protobuf::util::MessageDifferencer differ;
    std::vector<const google::protobuf::FieldDescriptor*> only{f};
    if (!differ.CompareWithFields(before, after, only, only)) changed.push_back(f->json_name());
  }
  return absl::StrJoin(changed, ", ");
}

absl::Status ValidateMutableSpec(const SandboxSpec& spec, absl::Time now) {
  if (spec.failure_policy() != SandboxSpec::Manual &&
      spec.failure_policy() != SandboxSpec::AutoRecreate) {
    return absl::InvalidArgumentError(absl::StrCat("failure_policy: ", spec.failure_policy(),
                                                   " is not a policy (Manual or AutoRecreate)"));
  }
  if (absl::Status s = ValidateRange("recovery_timeout_seconds", spec.recovery_timeout_seconds(), 0,
                                     kMaxRecoveryTimeoutSeconds, "seconds");
      !s.ok()) {
    return s;
  }
  if (spec.has_expire_time()) {
    if (absl::Status s = ValidateUnixTime("expire_time", spec.expire_time().seconds(),
                                          spec.expire_time().nanos());
        !s.ok()) {
      return s;
    }
    if (absl::Status s = ValidateFuture("expire_time", TimeOf(spec.expire_time()), now); !s.ok()) {
      return s;
    }
  }
  if (!spec.reset_revision().empty()) {
    if (auto t = ParseResetRevision(spec.reset_revision()); !t.ok()) return t.status();
  }
  return absl::OkStatus();
}

absl::StatusOr<absl::Time> ParseResetRevision(std::string_view revision) {
  if (absl::Status s = ValidateText("reset_revision", revision, kMaxResetRevisionBytes); !s.ok()) {
    return s;
  }
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, Sv(revision), &t, &err)) {
    return absl::InvalidArgumentError(absl::StrCat("reset_revision ", QuoteForError(revision),
                                                   " is not an RFC 3339 timestamp: ", err));
  }
  const int64_t seconds = absl::ToUnixSeconds(t);
  if (seconds < kMinUnixSeconds || seconds > kMaxUnixSeconds) {
    return absl::InvalidArgumentError(absl::StrCat("reset_revision ", QuoteForError(revision),
                                                   " is outside RFC 3339's years 0001-9999"));
  }
  return t;
}

fsb::agent::v1::SandboxSpec AgentSpecOf(const Sandbox& sandbox) {
  fsb::agent::v1::SandboxSpec spec;
  spec.set_sandbox_id(sandbox.status().container_id());
  spec.set_name(sandbox.metadata().name());
  spec.set_namespace_(sandbox.metadata().namespace_());
  spec.set_image(sandbox.spec().image());
  *spec.mutable_command() = sandbox.spec().command();
  *spec.mutable_args() = sandbox.spec().args();
  for (const auto& var : sandbox.spec().env()) (*spec.mutable_env())[var.name()] = var.value();
  spec.set_working_dir(sandbox.spec().working_dir());
  *spec.mutable_labels() = sandbox.metadata().labels();
  *spec.mutable_exposed_ports() = sandbox.spec().exposed_ports();
  spec.mutable_resources()->set_cpu_millicores(sandbox.spec().resources().cpu_millicores());
  spec.mutable_resources()->set_memory_bytes(sandbox.spec().resources().memory_bytes());
  spec.mutable_resources()->set_pids(sandbox.spec().resources().pids());
  spec.set_readonly_rootfs(sandbox.spec().read_only_root_filesystem());
  spec.set_network(sandbox.spec().network() == kNetworkNoEgress
                       ? fsb::agent::v1::SANDBOX_NETWORK_NO_EGRESS
                       : fsb::agent::v1::SANDBOX_NETWORK_EGRESS);
  for (const v1alpha1::PortPublish& p : sandbox.spec().publish()) {
    fsb::agent::v1::PortPublish* out = spec.add_published_ports();
    out->set_host_port(p.host_port());
    out->set_container_port(p.container_port());
    out->set_protocol(p.protocol().empty() ? std::string(kProtocolTcp) : p.protocol());
  }
  return spec;
}

PublishedPort PublishedPortOf(const v1alpha1::PortPublish& port) {
  return {port.host_port(), port.container_port(), port.protocol()};
}

void SetPortPublish(const PublishedPort& port, v1alpha1::PortPublish* out) {
  out->set_host_port(port.host_port);
  out->set_container_port(port.container_port);
  out->set_protocol(port.protocol);
}

}  // namespace fsb::controller
