#include "agent/sandbox_manager.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "agent/oci_spec.h"
#include "glog/logging.h"
#include "google/protobuf/util/message_differencer.h"
#include "internal/image_ref.h"
#include "internal/strings.h"
#include "internal/validation.h"

namespace fsb::agent {

using fsb::agent::v1::SandboxPhase;
using fsb::agent::v1::SandboxSpec;
using fsb::agent::v1::SandboxStatus;

SandboxManager::SandboxManager(Runtime* runtime, Clock* clock, Options options)
    : runtime_(runtime), clock_(clock), options_(std::move(options)) {}

std::string SandboxManager::LogPath(std::string_view id) const {
  return absl::StrCat(options_.log_dir, "/", Sv(id), ".log");
}

absl::Status SandboxManager::Validate(const SandboxSpec& spec) const {
  // The id names the container, snapshot, cgroup and log file: a DNS label keeps it
  // safe in all of them.
  if (absl::Status s = ValidateDnsLabel("sandbox_id", spec.sandbox_id()); !s.ok()) return s;
  if (absl::Status s = ValidateDnsLabel("name", spec.name()); !s.ok()) return s;
  if (absl::Status s = ValidateDnsLabel("namespace", spec.namespace_()); !s.ok()) return s;
  if (spec.image().empty()) return absl::InvalidArgumentError("image is required");
  if (auto ref = NormalizeImageReference(spec.image()); !ref.ok()) return ref.status();
  for (const auto& [key, value] : spec.env()) {
    if (absl::Status s = ValidateEnvName("env", key); !s.ok()) return s;
  }
  if (!spec.working_dir().empty() && spec.working_dir().front() != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("working_dir \"", spec.working_dir(), "\" must be an absolute path"));
  }
  return absl::OkStatus();
}

absl::StatusOr<SandboxStatus> SandboxManager::Create(const SandboxSpec& spec) {
  if (absl::Status s = Validate(spec); !s.ok()) return s;
  const std::string& id = spec.sandbox_id();
  {
    absl::MutexLock lock(&mu_);
    if (auto it = sandboxes_.find(id); it != sandboxes_.end()) {
      if (!google::protobuf::util::MessageDifferencer::Equals(it->second.spec, spec)) {
        return absl::AlreadyExistsError(
            absl::StrCat("sandbox id \"", id, "\" exists with a different spec"));
      }
      if (it->second.status.phase() == v1::SANDBOX_PHASE_CREATING) {
        return absl::UnavailableError(absl::StrCat("sandbox \"", id, "\" is still being created"));
      }
      return it->second.status;
    }
    if (static_cast<int>(sandboxes_.size()) >= options_.capacity) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "agent is at capacity (", options_.capacity, " sandboxes)"));
    }
    Entry& e = sandboxes_[id];
    e.spec = spec;
    e.status.set_sandbox_id(id);
    e.status.set_name(spec.name());
    e.status.set_namespace_(spec.namespace_());
    e.status.set_image(spec.image());
    e.status.set_phase(v1::SANDBOX_PHASE_CREATING);
    e.status.set_created_at_unix_nanos(absl::ToUnixNanos(clock_->Now()));
    e.status.set_log_path(LogPath(id));
  }

  absl::StatusOr<uint32_t> pid = Start(spec);
  absl::MutexLock lock(&mu_);
  auto it = sandboxes_.find(id);
  CHECK(it != sandboxes_.end()) << "admitted sandbox " << id << " vanished during create";
  if (!pid.ok()) {
    sandboxes_.erase(it);
    return pid.status();
  }
  it->second.status.set_phase(v1::SANDBOX_PHASE_RUNNING);
  it->second.status.set_pid(*pid);
  return it->second.status;
}

absl::StatusOr<uint32_t> SandboxManager::Start(const SandboxSpec& spec) {
  absl::StatusOr<std::string> ref = NormalizeImageReference(spec.image());
  if (!ref.ok()) return ref.status();
  absl::StatusOr<ResolvedImage> image = runtime_->ResolveImage(*ref);
  if (!image.ok()) return image.status();
  absl::StatusOr<ProcessSpec> process = MergeProcess(image->config, spec);
  if (!process.ok()) return process.status();

  RuntimeSpecOptions spec_options;
  spec_options.hostname = spec.name();
  spec_options.cgroups_path = absl::StrCat(options_.cgroup_parent, "/", spec.sandbox_id());
  ContainerParams params;
  params.id = spec.sandbox_id();
  params.image = image->name;
  params.chain_id = image->chain_id;
  params.spec_json = BuildRuntimeSpecJson(*process, spec_options);
  params.labels = {{kSandboxIdLabel, spec.sandbox_id()},
                   {kSandboxNameLabel, spec.name()},
                   {kSandboxNamespaceLabel, spec.namespace_()}};
  params.log_path = LogPath(spec.sandbox_id());
  return runtime_->CreateAndStart(params);
}

absl::Status SandboxManager::Delete(std::string_view id, std::optional<absl::Duration> grace) {
  const std::string key(id);
  {
    absl::MutexLock lock(&mu_);
    auto it = sandboxes_.find(key);
    if (it == sandboxes_.end()) {
      return absl::NotFoundError(absl::StrCat("sandbox \"", key, "\" not found on this agent"));
    }
    if (it->second.status.phase() == v1::SANDBOX_PHASE_CREATING) {
      return absl::FailedPreconditionError(
          absl::StrCat("sandbox \"", key, "\" is still being created"));
    }
    if (it->second.deleting) {
      return absl::UnavailableError(absl::StrCat("sandbox \"", key, "\" is already being deleted"));
    }
    it->second.deleting = true;
  }
  absl::Status s = runtime_->Stop(key, grace.value_or(options_.default_grace));
  if (s.ok()) {
    s = runtime_->Remove(key);
    if (absl::IsNotFound(s)) s = absl::OkStatus();
  }
  absl::MutexLock lock(&mu_);
  auto it = sandboxes_.find(key);
  CHECK(it != sandboxes_.end()) << "sandbox " << key << " vanished during delete";
  if (!s.ok()) {
    it->second.deleting = false;
    return s;
  }
  const std::string log = LogPath(key);
  if (unlink(log.c_str()) != 0 && errno != ENOENT) {
    LOG(WARNING) << "cannot remove " << log << ": " << std::strerror(errno);
  }
  sandboxes_.erase(it);
  return absl::OkStatus();
}

absl::StatusOr<SandboxStatus> SandboxManager::Get(std::string_view id) const {
  absl::MutexLock lock(&mu_);
  auto it = sandboxes_.find(std::string(id));
  if (it == sandboxes_.end()) {
    return absl::NotFoundError(
        absl::StrCat("sandbox \"", Sv(id), "\" not found on this agent"));
  }
  return it->second.status;
}

std::vector<SandboxStatus> SandboxManager::List() const {
  absl::MutexLock lock(&mu_);
  std::vector<SandboxStatus> out;
  out.reserve(sandboxes_.size());
  for (const auto& [id, e] : sandboxes_) out.push_back(e.status);
  return out;
}

absl::Status SandboxManager::Refresh() {
  absl::StatusOr<std::vector<ContainerState>> states = runtime_->ListManaged();
  if (!states.ok()) return states.status();
  absl::flat_hash_map<std::string, const ContainerState*> by_id;
  for (const ContainerState& c : *states) by_id[c.id] = &c;
  absl::MutexLock lock(&mu_);
  for (auto& [id, e] : sandboxes_) {
    if (e.status.phase() != v1::SANDBOX_PHASE_RUNNING || e.deleting) continue;
    auto it = by_id.find(id);
    if (it == by_id.end()) {
      e.status.set_phase(v1::SANDBOX_PHASE_UNKNOWN);
      e.status.set_message("container no longer exists in containerd");
    } else if (it->second->task == TaskState::kStopped) {
      e.status.set_phase(v1::SANDBOX_PHASE_EXITED);
      e.status.set_exit_code(static_cast<int32_t>(it->second->exit_status));
    }
  }
  return absl::OkStatus();
}

}  // namespace fsb::agent
