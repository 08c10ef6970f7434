#include "agent/sandbox_manager.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <array>
#include <cstring>
#include <filesystem>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/oci_spec.h"
#include "glog/logging.h"
#include "google/protobuf/util/message_differencer.h"
#include "internal/ids.h"
#include "internal/image_ref.h"
#include "internal/stopwatch.h"
#include "internal/strings.h"
#include "internal/validation.h"

namespace fsb::agent {
namespace {

using fsb::agent::v1::SandboxPhase;
using fsb::agent::v1::SandboxSpec;
using fsb::agent::v1::SandboxStatus;

absl::Status NotReady() {
  return absl::UnavailableError(
      "agent is not ready: it has not yet recovered its sandboxes from containerd");
}

// The status of a sandbox re-adopted from its container.
SandboxStatus AdoptedStatus(const SandboxSpec& spec, const ContainerState& c,
                            const std::string& log_path) {
  SandboxStatus status;
  status.set_sandbox_id(spec.sandbox_id());
  status.set_name(spec.name());
  status.set_namespace_(spec.namespace_());
  status.set_image(spec.image());
  status.set_created_at_unix_nanos(absl::ToUnixNanos(c.created_at));
  status.set_log_path(log_path);
  status.set_pid(c.pid);
  switch (c.task) {
    case TaskState::kRunning:
      status.set_phase(v1::SANDBOX_PHASE_RUNNING);
      break;
    case TaskState::kStopped:
      status.set_phase(v1::SANDBOX_PHASE_EXITED);
      status.set_exit_code(static_cast<int32_t>(c.exit_status));
      break;
    default:
      status.set_phase(v1::SANDBOX_PHASE_UNKNOWN);
      status.set_message("task is paused or in an unknown state");
      break;
  }
  return status;
}

// Whether `file` (a name in the log folder) is a log of sandbox `id`: "<id>.log" or a
// rotated "<id>.log.<n>".
bool IsLogOf(std::string_view file, std::string_view id) {
  return absl::StartsWith(Sv(file), absl::StrCat(Sv(id), ".log"));
}

}  // namespace

SandboxManager::SandboxManager(Runtime* runtime, Clock* clock, AgentMetrics* metrics,
                               Options options)
    : runtime_(runtime), clock_(clock), metrics_(metrics), options_(std::move(options)) {}

std::string SandboxManager::LogPath(std::string_view id) const {
  return absl::StrCat(options_.log_dir, "/", Sv(id), ".log");
}

bool SandboxManager::ready() const {
  absl::MutexLock lock(&mu_);
  return ready_;
}

absl::Status SandboxManager::Recover() {
  absl::StatusOr<std::vector<ContainerState>> containers = runtime_->ListManaged();
  if (!containers.ok()) return containers.status();
  std::vector<std::string> interrupted;
  int adopted = 0;
  {
    absl::MutexLock lock(&mu_);
    for (const ContainerState& c : *containers) {
      if (sandboxes_.contains(c.id)) continue;  // already known (a repeated Recover)
      SandboxSpec spec;
      if (c.extension.empty() || !spec.ParseFromString(c.extension) || spec.sandbox_id() != c.id) {
        continue;  // not ours to adopt; the janitor decides
      }
      if (c.task == TaskState::kNoTask || c.task == TaskState::kCreated) {
        interrupted.push_back(c.id);  // a create the agent did not finish
        continue;
      }
      Entry& entry = sandboxes_[c.id];
      entry.spec = std::move(spec);
      entry.status = AdoptedStatus(entry.spec, c, LogPath(c.id));
      if (auto group = c.labels.find(kShimGroupLabel); group != c.labels.end()) {
        entry.shim_group = group->second;
        ++shim_groups_[entry.shim_group].members;
      }
      ++adopted;
    }
  }
  for (const std::string& id : interrupted) {
    absl::Status s = runtime_->Remove(id);
    LOG(INFO) << "removed sandbox " << id << " whose create was interrupted: " << s;
    RemoveFile(LogPath(id));
  }
  absl::MutexLock lock(&mu_);
  ready_ = true;
  LOG(INFO) << "recovered " << adopted << " sandboxes from containerd ("
            << interrupted.size() << " interrupted creates removed)";
  return absl::OkStatus();
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
  const auto& r = spec.resources();
  if (r.cpu_millicores() < 0 || r.memory_bytes() < 0 || r.pids() < 0) {
    return absl::InvalidArgumentError("resources must not be negative");
  }
  return absl::OkStatus();
}

std::string SandboxManager::JoinShimGroup() {
  if (options_.shim_group_size <= 1) return "";
  const std::string* best = nullptr;
  int best_members = -1;
  for (const auto& [group, g] : shim_groups_) {
    if (g.creating == 0 && g.members < options_.shim_group_size && g.members > best_members) {
      best = &group;
      best_members = g.members;
    }
  }
  std::string group = best != nullptr ? *best : absl::StrCat("fsb-", RandomHex(6));
  ShimGroup& g = shim_groups_[group];
  ++g.members;
  ++g.creating;
  return group;
}

void SandboxManager::CreateDone(const std::string& group) {
  if (auto it = shim_groups_.find(group); it != shim_groups_.end()) --it->second.creating;
}

void SandboxManager::LeaveShimGroup(const std::string& group) {
  if (group.empty()) return;
  auto it = shim_groups_.find(group);
  if (it != shim_groups_.end() && --it->second.members <= 0) shim_groups_.erase(it);
}

absl::StatusOr<SandboxStatus> SandboxManager::Create(const SandboxSpec& spec) {
  const Stopwatch total;
  AgentTimings timings;
  absl::StatusOr<SandboxStatus> created = CreateTimed(spec, timings);
  metrics_->RecordCreate(created.status(), timings);
  VLOG(2) << "create " << spec.sandbox_id() << " (" << spec.namespace_() << "/" << spec.name()
          << ") result=" << (created.ok() ? "ok" : absl::StatusCodeToString(created.status().code()))
          << " total=" << total.Elapsed() << [&] {
               std::string stages;
               for (int i = 0; i < kAgentStages; ++i) {
                 absl::StrAppend(&stages, " ", Sv(AgentMetrics::StageName(static_cast<AgentStage>(i))),
                                 "=", absl::FormatDuration(timings.stage[i]));
               }
               return stages;
             }();
  return created;
}

absl::StatusOr<SandboxStatus> SandboxManager::CreateTimed(const SandboxSpec& spec,
                                                          AgentTimings& timings) {
  Stopwatch stage;
  if (absl::Status s = Validate(spec); !s.ok()) return s;
  const std::string& id = spec.sandbox_id();
  std::string shim_group;
  {
    absl::MutexLock lock(&mu_);
    if (!ready_) return NotReady();
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
    shim_group = JoinShimGroup();
    Entry& e = sandboxes_[id];
    e.spec = spec;
    e.shim_group = shim_group;
    e.status.set_sandbox_id(id);
    e.status.set_name(spec.name());
    e.status.set_namespace_(spec.namespace_());
    e.status.set_image(spec.image());
    e.status.set_phase(v1::SANDBOX_PHASE_CREATING);
    e.status.set_created_at_unix_nanos(absl::ToUnixNanos(clock_->Now()));
    e.status.set_log_path(LogPath(id));
  }
  timings[AgentStage::kAdmission] = stage.Lap();

  absl::StatusOr<uint32_t> pid = Start(spec, shim_group, timings);
  absl::MutexLock lock(&mu_);
  auto it = sandboxes_.find(id);
  CHECK(it != sandboxes_.end()) << "admitted sandbox " << id << " vanished during create";
  CreateDone(it->second.shim_group);
  if (!pid.ok()) {
    LeaveShimGroup(it->second.shim_group);
    sandboxes_.erase(it);
    return pid.status();
  }
  // An exit event may already have moved it on; only a creating sandbox starts running.
  if (it->second.status.phase() == v1::SANDBOX_PHASE_CREATING) {
    it->second.status.set_phase(v1::SANDBOX_PHASE_RUNNING);
  }
  it->second.status.set_pid(*pid);
  return it->second.status;
}

absl::StatusOr<uint32_t> SandboxManager::Start(const SandboxSpec& spec,
                                               const std::string& shim_group,
                                               AgentTimings& timings) {
  Stopwatch stage;
  absl::StatusOr<std::string> ref = NormalizeImageReference(spec.image());
  if (!ref.ok()) return ref.status();
  absl::StatusOr<ResolvedImage> image = runtime_->ResolveImage(*ref);
  if (!image.ok()) return image.status();
  std::optional<UserDatabase> users;
  if (NeedsUserDatabase(image->config.config().user())) {
    absl::StatusOr<std::string> passwd = runtime_->ReadImageFile(image->chain_id, "/etc/passwd");
    absl::StatusOr<std::string> group = runtime_->ReadImageFile(image->chain_id, "/etc/group");
    if (!passwd.ok() && !absl::IsNotFound(passwd.status())) return passwd.status();
    if (!group.ok() && !absl::IsNotFound(group.status())) return group.status();
    users = ParseUserDatabase(passwd.value_or(""), group.value_or(""));
  }
  timings[AgentStage::kImageResolve] = stage.Lap();
  absl::StatusOr<ProcessSpec> process =
      MergeProcess(image->config, spec, users.has_value() ? &*users : nullptr);
  if (!process.ok()) return process.status();

  RuntimeSpecOptions spec_options;
  spec_options.hostname = spec.name();
  spec_options.cgroups_path = absl::StrCat(options_.cgroup_parent, "/", spec.sandbox_id());
  spec_options.readonly_rootfs = spec.readonly_rootfs();
  spec_options.cpu_millicores = spec.resources().cpu_millicores();
  spec_options.memory_bytes = spec.resources().memory_bytes();
  spec_options.pids = spec.resources().pids();
  if (!shim_group.empty()) spec_options.annotations[kShimGroupAnnotation] = shim_group;
  ContainerParams params;
  params.id = spec.sandbox_id();
  params.image = image->name;
  params.chain_id = image->chain_id;
  params.spec_json = BuildRuntimeSpecJson(*process, spec_options);
  params.labels = {{kSandboxIdLabel, spec.sandbox_id()},
                   {kSandboxNameLabel, spec.name()},
                   {kSandboxNamespaceLabel, spec.namespace_()}};
  if (!shim_group.empty()) params.labels[kShimGroupLabel] = shim_group;
  params.log_path = LogPath(spec.sandbox_id());
  params.extension = spec.SerializeAsString();
  return runtime_->CreateAndStart(params, timings);
}

absl::Status SandboxManager::Delete(std::string_view id, std::optional<absl::Duration> grace) {
  absl::Status deleted = DeleteUnrecorded(id, grace);
  metrics_->RecordDelete(deleted);
  return deleted;
}

absl::Status SandboxManager::DeleteUnrecorded(std::string_view id,
                                              std::optional<absl::Duration> grace) {
  const std::string key(id);
  {
    absl::MutexLock lock(&mu_);
    if (!ready_) return NotReady();
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
  std::error_code ec;
  for (const auto& file : std::filesystem::directory_iterator(options_.log_dir, ec)) {
    if (IsLogOf(file.path().filename().string(), key)) RemoveFile(file.path().string());
  }
  LeaveShimGroup(it->second.shim_group);
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

bool SandboxManager::OnExit(std::string_view id, uint32_t exit_status) {
  absl::MutexLock lock(&mu_);
  auto it = sandboxes_.find(std::string(id));
  if (it == sandboxes_.end()) return false;
  SandboxStatus& status = it->second.status;
  if (status.phase() != v1::SANDBOX_PHASE_RUNNING && status.phase() != v1::SANDBOX_PHASE_CREATING) {
    return false;
  }
  status.set_phase(v1::SANDBOX_PHASE_EXITED);
  status.set_exit_code(static_cast<int32_t>(exit_status));
  return true;
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
  UpdateGauges();
  return absl::OkStatus();
}

void SandboxManager::UpdateGauges() {
  std::array<int, v1::SandboxPhase_ARRAYSIZE> phases{};
  for (const auto& [id, e] : sandboxes_) ++phases[e.status.phase()];
  for (int p = v1::SANDBOX_PHASE_CREATING; p < v1::SandboxPhase_ARRAYSIZE; ++p) {
    std::string name = absl::AsciiStrToLower(
        v1::SandboxPhase_Name(static_cast<v1::SandboxPhase>(p)).substr(sizeof("SANDBOX_PHASE_") - 1));
    metrics_->Sandboxes(name).Set(phases[p]);
  }
  metrics_->capacity_total().Set(options_.capacity);
  metrics_->capacity_used().Set(static_cast<double>(sandboxes_.size()));
}

absl::StatusOr<GarbageReport> SandboxManager::CollectGarbage() {
  absl::StatusOr<std::vector<ContainerState>> containers = runtime_->ListManaged();
  if (!containers.ok()) return containers.status();
  absl::StatusOr<std::vector<std::string>> snapshots = runtime_->ListManagedSnapshots();
  if (!snapshots.ok()) return snapshots.status();
  const absl::Time now = clock_->Now();
  const absl::Time cutoff = now - options_.janitor_grace;

  absl::flat_hash_set<std::string> owned;
  std::vector<std::string> doomed;  // runtime objects to remove
  GarbageReport report;
  {
    absl::MutexLock lock(&mu_);
    if (!ready_) return NotReady();
    for (const auto& [id, e] : sandboxes_) owned.insert(id);
  }
  absl::flat_hash_set<std::string> with_container;
  for (const ContainerState& c : *containers) {
    with_container.insert(c.id);
    if (!owned.contains(c.id) && c.created_at < cutoff) {
      doomed.push_back(c.id);
      ++report.containers;
    }
  }
  for (const std::string& key : *snapshots) {
    // A snapshot without container: its create or delete was cut short. Snapshots are
    // prepared right after their container record, so a sandbox being created has both.
    if (!owned.contains(key) && !with_container.contains(key)) {
      doomed.push_back(key);
      ++report.snapshots;
    }
  }
  for (const std::string& id : doomed) {
    if (absl::Status s = runtime_->Remove(id); !s.ok() && !absl::IsNotFound(s)) {
      LOG(WARNING) << "janitor: cannot remove " << id << ": " << s;
    } else {
      LOG(INFO) << "janitor: removed " << id << ", which no sandbox of this agent owns";
    }
  }

  std::error_code ec;
  for (const auto& file : std::filesystem::directory_iterator(options_.log_dir, ec)) {
    const std::string name = file.path().filename().string();
    const size_t dot = name.find(".log");
    if (dot == std::string::npos) continue;
    const std::string id = name.substr(0, dot);
    struct stat st;
    if (stat(file.path().c_str(), &st) != 0 || absl::FromTimeT(st.st_mtime) >= cutoff) continue;
    bool live;
    {
      absl::MutexLock lock(&mu_);
      live = sandboxes_.contains(id);
    }
    if (!live) {
      RemoveFile(file.path().string());
      ++report.log_files;
    }
  }
  return report;
}

void SandboxManager::RemoveFile(const std::string& path) {
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    LOG(WARNING) << "cannot remove " << path << ": " << std::strerror(errno);
  }
}

}  // namespace fsb::agent
