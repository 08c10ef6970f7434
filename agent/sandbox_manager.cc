#include "agent/sandbox_manager.h"

#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/oci_spec.h"
#include "agent/warm/init_order.h"
#include "glog/logging.h"
#include "google/protobuf/util/message_differencer.h"
#include "internal/directory.h"
#include "internal/ids.h"
#include "internal/image_ref.h"
#include "internal/sandbox_network.h"
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
  status.set_sandbox_id(c.id);  // a warm sandbox's differs from spec.sandbox_id()
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

std::vector<PublishedPort> PublishedPorts(const SandboxSpec& spec) {
  std::vector<PublishedPort> ports;
  ports.reserve(spec.published_ports_size());
  for (const v1::PortPublish& p : spec.published_ports()) {
    ports.push_back({p.host_port(), p.container_port(), p.protocol()});
  }
  return ports;
}

}  // namespace

SandboxManager::SandboxManager(Runtime* runtime, ShimGroups* shim_groups, Clock* clock,
                               AgentMetrics* metrics, Options options, Warm warm,
                               NetworkSlots* network)
    : runtime_(runtime),
      shim_groups_(shim_groups),
      clock_(clock),
      metrics_(metrics),
      options_(std::move(options)),
      warm_(warm),
      network_(network) {}

std::string SandboxManager::LogPath(std::string_view id) const {
  return absl::StrCat(options_.log_dir, "/", Sv(id), ".log");
}

bool SandboxManager::ready() const {
  absl::MutexLock lock(&mu_);
  return ready_;
}

void SandboxManager::AdoptLocked(const SandboxSpec& spec, const ContainerState& c,
                                 std::string spec_json, bool warm) {
  Entry& entry = sandboxes_[c.id];
  entry.spec = spec;
  entry.status = AdoptedStatus(entry.spec, c, LogPath(c.id));
  entry.spec_json = std::move(spec_json);
  entry.warm = warm;
  if (spec.sandbox_id() != c.id) {
    entry.status.set_requested_id(spec.sandbox_id());
    aliases_[spec.sandbox_id()] = c.id;
  }
  if (auto group = c.labels.find(kShimGroupLabel); group != c.labels.end()) {
    entry.shim_group = group->second;
    shim_groups_->Adopt(entry.shim_group);
  }
  if (auto slot = c.labels.find(kNetworkSlotLabel); slot != c.labels.end()) {
    entry.network_slot = slot->second;
    if (network_ != nullptr) {
      absl::StatusOr<NetworkSlot> s = network_->Get(slot->second);
      if (s.ok()) entry.status.set_ip(s->attachment.ip);
    }
  }
}

absl::Status SandboxManager::Recover() {
  absl::StatusOr<std::vector<ContainerState>> containers = runtime_->ListManaged();
  if (!containers.ok()) return containers.status();
  absl::flat_hash_map<std::string, std::string> slot_of;  // container id -> its slot
  for (const ContainerState& c : *containers) {
    if (auto slot = c.labels.find(kNetworkSlotLabel); slot != c.labels.end()) {
      slot_of[c.id] = slot->second;
    }
  }
  // Once, before any instance is adopted (the pool looks its slot up); plugins run
  // without the lock.
  if (network_ != nullptr && !network_recovered_.load()) {
    absl::flat_hash_set<std::string> owned;
    for (const auto& [id, slot] : slot_of) owned.insert(slot);
    if (absl::Status s = network_->Recover(owned); !s.ok()) return s;
    network_recovered_ = true;
  }
  std::vector<std::string> interrupted;
  std::vector<const ContainerState*> instances;  // prepared instances not bound yet
  int adopted = 0;
  {
    absl::MutexLock lock(&mu_);
    for (const ContainerState& c : *containers) {
      if (sandboxes_.contains(c.id)) continue;  // already known (a repeated Recover)
      const bool warm = c.labels.contains(kWarmImageLabel);
      if (warm && c.extension.empty()) {
        instances.push_back(&c);
        continue;
      }
      SandboxSpec spec;
      if (c.extension.empty() || !spec.ParseFromString(c.extension) ||
          (spec.sandbox_id() != c.id && !warm)) {
        continue;  // not ours to adopt; the janitor decides
      }
      if (c.task == TaskState::kNoTask || c.task == TaskState::kCreated) {
        interrupted.push_back(c.id);  // a create the agent did not finish
        continue;
      }
      AdoptLocked(spec, c, c.spec_json, warm);
      ++adopted;
    }
  }
  int idle = 0;
  for (const ContainerState* c : instances) {
    std::optional<WarmClaim> claim;
    if (warm_.pool != nullptr) {
      claim = warm_.pool->ReadClaim(c->id);
      if (c->task == TaskState::kRunning) {
        // An init that still answers was never ordered (the agent died before the
        // order left): the instance is idle, whatever the journal says.
        absl::StatusOr<InitConnection> init = warm_.pool->Probe(c->id, absl::Seconds(2));
        if (init.ok()) {
          if (claim.has_value()) {
            warm_.pool->RemoveClaim(c->id);
            // The claim may have readied its network slot (hosts, route, ports) for its
            // request: the instance is idle no more.
            if (c->labels.contains(kNetworkSlotLabel)) {
              interrupted.push_back(c->id);
              continue;
            }
          }
          warm_.pool->Adopt(*c, *std::move(init));
          ++idle;
          continue;
        }
      }
    }
    if (claim.has_value() && c->task != TaskState::kNoTask && c->task != TaskState::kCreated) {
      // Ordered before the agent died: it is the sandbox its journal names.
      absl::MutexLock lock(&mu_);
      AdoptLocked(claim->spec, *c, claim->spec_json, /*warm=*/true);
      warm_.pool->Bind(c->id, *std::move(claim));
      ++adopted;
      continue;
    }
    interrupted.push_back(c->id);  // half-made, or its init is gone
  }
  for (const std::string& id : interrupted) {
    if (absl::Status s = runtime_->Remove(id); s.ok() || absl::IsNotFound(s)) {
      LOG(INFO) << "removed container " << id << " whose create was interrupted";
    } else {
      LOG(WARNING) << "cannot remove container " << id
                   << " whose create was interrupted (left to the janitor): " << s;
    }
    RemoveFile(LogPath(id));
    if (warm_.pool != nullptr) warm_.pool->Forget(id);
    if (auto slot = slot_of.find(id); slot != slot_of.end() && network_ != nullptr) {
      network_->Release(slot->second);
    }
  }
  {
    absl::MutexLock lock(&mu_);
    ready_ = true;
  }
  LOG(INFO) << "recovered " << adopted << " sandboxes and " << idle
            << " idle warm instances from containerd (" << interrupted.size()
            << " interrupted creates removed)";
  // Refilling starts only now, so that re-adopted instances count.
  if (warm_.pool != nullptr) warm_.pool->Start();
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
  if (!v1::SandboxNetwork_IsValid(spec.network())) {
    return absl::InvalidArgumentError(absl::StrCat("network ", spec.network(), " is not a mode"));
  }
  if (absl::Status s = ValidatePublishedPorts("published_ports", PublishedPorts(spec)); !s.ok()) {
    return s;
  }
  if (spec.published_ports_size() > 0 && network_ == nullptr) {
    return absl::InvalidArgumentError(
        "published_ports: this agent runs sandboxes in its own network namespace "
        "(--sandbox-network=host), where a sandbox binds host ports itself");
  }
  return absl::OkStatus();
}

absl::StatusOr<SandboxManager::Created> SandboxManager::Create(const SandboxSpec& spec) {
  const Stopwatch total;
  AgentTimings timings;
  absl::StatusOr<Created> created = CreateTimed(spec, timings);
  metrics_->RecordCreate(created.status(), timings);
  VLOG(2) << "create " << spec.sandbox_id() << " (" << spec.namespace_() << "/" << spec.name()
          << ") result="
          << (created.ok() ? "ok" : absl::StatusCodeToString(created.status().code()))
          << " path=" << (created.ok() && created->warm ? "warm" : "cold")
          << (created.ok() ? absl::StrCat(" container=", created->status.sandbox_id()) : "")
          << " total=" << total.Elapsed() <<
      [&] {
        std::string stages;
        for (int i = 0; i < kAgentStages; ++i) {
          if (timings.stage[i] == absl::ZeroDuration()) continue;
          absl::StrAppend(&stages, " ", Sv(AgentMetrics::StageName(static_cast<AgentStage>(i))),
                          "=", absl::FormatDuration(timings.stage[i]));
        }
        return stages;
      }();
  return created;
}

const std::string* SandboxManager::Resolve(std::string_view id) const {
  if (auto it = sandboxes_.find(Sv(id)); it != sandboxes_.end()) return &it->first;
  if (auto alias = aliases_.find(Sv(id)); alias != aliases_.end()) return &alias->second;
  return nullptr;
}

void SandboxManager::Rekey(const std::string& from, const std::string& to) {
  auto it = sandboxes_.find(from);
  if (it == sandboxes_.end()) return;
  Entry entry = std::move(it->second);
  sandboxes_.erase(it);
  const std::string& requested = entry.spec.sandbox_id();
  entry.status.set_sandbox_id(to);
  entry.status.set_log_path(LogPath(to));
  if (to == requested) {
    entry.status.clear_requested_id();
    aliases_.erase(requested);
  } else {
    entry.status.set_requested_id(requested);
    aliases_[requested] = to;
  }
  sandboxes_[to] = std::move(entry);
}

absl::StatusOr<SandboxManager::Created> SandboxManager::CreateTimed(const SandboxSpec& spec,
                                                                    AgentTimings& timings) {
  Stopwatch stage;
  if (absl::Status s = Validate(spec); !s.ok()) return s;
  const std::string& id = spec.sandbox_id();
  {
    absl::MutexLock lock(&mu_);
    if (!ready_) return NotReady();
    if (const std::string* key = Resolve(id); key != nullptr) {
      const Entry& e = sandboxes_.at(*key);
      if (!google::protobuf::util::MessageDifferencer::Equals(e.spec, spec)) {
        return absl::AlreadyExistsError(
            absl::StrCat("sandbox id \"", id, "\" exists with a different spec"));
      }
      if (e.creating) {
        return absl::UnavailableError(absl::StrCat("sandbox \"", id, "\" is still being created"));
      }
      return Created{e.status, e.warm};
    }
    if (static_cast<int>(sandboxes_.size()) >= options_.capacity) {
      return absl::ResourceExhaustedError(
          absl::StrCat("agent is at capacity (", options_.capacity, " sandboxes)"));
    }
    Entry& e = sandboxes_[id];
    e.spec = spec;
    e.status.set_sandbox_id(id);
    e.status.set_name(spec.name());
    e.status.set_namespace_(spec.namespace_());
    e.status.set_image(spec.image());
    e.status.set_phase(v1::SANDBOX_PHASE_CREATING);
    e.creating = true;
    e.status.set_created_at_unix_nanos(absl::ToUnixNanos(clock_->Now()));
    e.status.set_log_path(LogPath(id));
  }
  timings[AgentStage::kAdmission] = stage.Lap();

  std::optional<absl::StatusOr<Started>> started;
  if (warm_.pool != nullptr) {
    // Validate() checked the reference.
    const std::string image = *NormalizeImageReference(spec.image());
    std::string reason;
    if (std::optional<WarmInstance> instance = warm_.pool->Claim(image, &reason)) {
      started = StartWarm(spec, *std::move(instance), timings, &reason);
    }
    metrics_->RecordWarmClaim(started.has_value(), started.has_value() ? "" : reason);
  }
  const bool warm = started.has_value();
  if (!warm) {
    bool runtime_down;
    {
      absl::MutexLock lock(&mu_);
      runtime_down = runtime_down_;
      if (runtime_down) {
        aliases_.erase(id);
        sandboxes_.erase(id);
      }
    }
    if (runtime_down) {
      return absl::ResourceExhaustedError(
          "containerd is not answering on this agent: it takes only creates a prepared "
          "(warm) instance can serve");
    }
    if (warm_.pool != nullptr) warm_.pool->ColdCreateStarted();
    started = StartCold(spec, timings);
    if (warm_.pool != nullptr) warm_.pool->ColdCreateDone();
  }

  absl::MutexLock lock(&mu_);
  const std::string* key = Resolve(id);
  if (key == nullptr) {
    return absl::AbortedError(absl::StrCat("sandbox \"", id, "\" vanished during its create"));
  }
  auto it = sandboxes_.find(*key);
  if (!started->ok()) {
    aliases_.erase(id);
    sandboxes_.erase(it);
    return started->status();
  }
  Entry& e = it->second;
  e.creating = false;
  e.shim_group = (*started)->shim_group;
  e.spec_json = std::move((*started)->spec_json);
  e.network_slot = (*started)->network_slot;
  e.status.set_ip((*started)->ip);
  e.warm = warm;
  // An exit event may already have moved it on; only a creating sandbox starts running.
  if (e.status.phase() == v1::SANDBOX_PHASE_CREATING) {
    e.status.set_phase(v1::SANDBOX_PHASE_RUNNING);
  }
  e.status.set_pid((*started)->pid);
  return Created{e.status, warm};
}

RuntimeSpecOptions SandboxManager::SpecOptions(const SandboxSpec& spec,
                                               std::string_view container_id,
                                               const std::string& shim_group,
                                               const NetworkSlot* slot) const {
  RuntimeSpecOptions options;
  if (slot != nullptr) JoinSlot(*slot, &options);
  options.hostname = spec.name();
  options.cgroups_path = absl::StrCat(options_.cgroup_parent, "/", Sv(container_id));
  options.readonly_rootfs = spec.readonly_rootfs();
  ApplySandboxDefaults(options_.defaults, spec.resources(), &options);
  if (!shim_group.empty()) options.annotations[kShimGroupAnnotation] = shim_group;
  return options;
}

absl::Status SandboxManager::ReadySlot(const NetworkSlot& slot, const SandboxSpec& spec) const {
  if (absl::Status s = network_->Configure(slot, spec.name(), spec.network()); !s.ok()) return s;
  return network_->Publish(slot, PublishedPorts(spec));
}

std::optional<absl::StatusOr<SandboxManager::Started>> SandboxManager::StartWarm(
    const SandboxSpec& spec, WarmInstance instance, AgentTimings& timings, std::string* fallback) {
  Stopwatch stage;
  absl::StatusOr<ProcessSpec> process =
      MergeProcess(instance.resolved.config, spec, instance.users.get());
  if (!process.ok()) {
    // The request itself is wrong; a cold create would fail the same way.
    warm_.pool->Return(std::move(instance));
    return absl::StatusOr<Started>(process.status());
  }
  // The instance runs with the defaults (WarmPool made it so); only what the request
  // sets itself is written over them.
  const v1::ResourceLimits& limits = spec.resources();
  const bool has_limits =
      limits.cpu_millicores() > 0 || limits.memory_bytes() > 0 || limits.pids() > 0;
  if (has_limits && warm_.limits == nullptr) {
    warm_.pool->Return(std::move(instance));
    *fallback = "limits";
    return std::nullopt;
  }
  const NetworkSlot* slot = instance.network.id.empty() ? nullptr : &instance.network;
  const RuntimeSpecOptions options = SpecOptions(spec, instance.id, instance.shim_group, slot);
  WarmClaim claim{spec, BuildRuntimeSpecJson(*process, options)};
  if (absl::Status s = warm_.pool->WriteClaim(instance.id, claim); !s.ok()) {
    LOG(WARNING) << "warm create " << spec.sandbox_id() << " goes cold: " << s;
    warm_.pool->Return(std::move(instance));
    *fallback = "journal";
    return std::nullopt;
  }
  if (has_limits) {
    if (absl::Status s = warm_.limits->Apply(options.cgroups_path, limits); !s.ok()) {
      LOG(WARNING) << "warm create " << spec.sandbox_id() << " goes cold: " << s;
      warm_.pool->RemoveClaim(instance.id);
      warm_.pool->Discard(std::move(instance));  // its cgroup may be half-limited
      *fallback = "limits";
      return std::nullopt;
    }
  }
  timings[AgentStage::kWarmClaim] = stage.Lap();
  if (slot != nullptr) {
    if (absl::Status s = ReadySlot(*slot, spec); !s.ok()) {
      LOG(WARNING) << "warm create " << spec.sandbox_id() << " goes cold: " << s;
      warm_.pool->RemoveClaim(instance.id);
      warm_.pool->Discard(std::move(instance));  // its slot may be half-readied
      *fallback = "network";
      return std::nullopt;
    }
    timings[AgentStage::kNetwork] = stage.Lap();
  }
  {
    // From here an exit event for the instance is this sandbox's.
    absl::MutexLock lock(&mu_);
    Rekey(spec.sandbox_id(), instance.id);
  }
  absl::Status ran = instance.init.Run(InitOrderFor(*process, options), options_.init_timeout);
  timings[AgentStage::kInitExec] = stage.Lap();
  if (!ran.ok()) {
    warm_.pool->RemoveClaim(instance.id);
    const std::string id = instance.id;
    warm_.pool->Discard(std::move(instance));
    if (absl::IsInvalidArgument(ran) || absl::IsFailedPrecondition(ran)) {
      return absl::StatusOr<Started>(ran);  // the request's process cannot run in its image
    }
    LOG(WARNING) << "warm create " << spec.sandbox_id() << " goes cold: " << ran;
    absl::MutexLock lock(&mu_);
    Rekey(id, spec.sandbox_id());
    *fallback = "init";
    return std::nullopt;
  }
  Started started{instance.id,         instance.pid,        claim.spec_json,
                  instance.shim_group, instance.network.id, instance.network.attachment.ip};
  warm_.pool->Commit(std::move(instance), std::move(claim));
  return absl::StatusOr<Started>(std::move(started));
}

absl::StatusOr<SandboxManager::Started> SandboxManager::StartCold(const SandboxSpec& spec,
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

  std::optional<NetworkSlot> slot;
  if (network_ != nullptr) {
    absl::StatusOr<NetworkSlot> acquired = network_->Acquire();
    if (!acquired.ok()) return acquired.status();
    if (absl::Status s = ReadySlot(*acquired, spec); !s.ok()) {
      network_->Release(acquired->id);
      return s;
    }
    slot = *std::move(acquired);
    timings[AgentStage::kNetwork] = stage.Lap();
  }

  const std::string& id = spec.sandbox_id();
  Started started;
  started.container_id = id;
  started.shim_group = shim_groups_->Join();
  ContainerParams params;
  params.id = id;
  params.image = image->name;
  params.chain_id = image->chain_id;
  params.spec_json = BuildRuntimeSpecJson(
      *process, SpecOptions(spec, id, started.shim_group, slot.has_value() ? &*slot : nullptr));
  params.labels = {{kSandboxIdLabel, id},
                   {kSandboxNameLabel, spec.name()},
                   {kSandboxNamespaceLabel, spec.namespace_()}};
  if (!started.shim_group.empty()) params.labels[kShimGroupLabel] = started.shim_group;
  if (slot.has_value()) {
    params.labels[kNetworkSlotLabel] = slot->id;
    started.network_slot = slot->id;
    started.ip = slot->attachment.ip;
  }
  params.log_path = LogPath(id);
  params.extension = spec.SerializeAsString();
  absl::StatusOr<uint32_t> pid = runtime_->CreateAndStart(params, timings);
  shim_groups_->CreateDone(started.shim_group);
  if (!pid.ok()) {
    shim_groups_->Leave(started.shim_group);
    if (slot.has_value()) network_->Release(slot->id);
    return pid.status();
  }
  started.pid = *pid;
  started.spec_json = std::move(params.spec_json);
  return started;
}

absl::Status SandboxManager::Delete(std::string_view id, std::optional<absl::Duration> grace) {
  absl::Status deleted = DeleteUnrecorded(id, grace);
  metrics_->RecordDelete(deleted);
  return deleted;
}

absl::Status SandboxManager::DeleteUnrecorded(std::string_view id,
                                              std::optional<absl::Duration> grace) {
  std::string key;
  {
    absl::MutexLock lock(&mu_);
    if (!ready_) return NotReady();
    const std::string* resolved = Resolve(id);
    if (resolved == nullptr) {
      return absl::NotFoundError(absl::StrCat("sandbox \"", Sv(id), "\" not found on this agent"));
    }
    key = *resolved;
    auto it = sandboxes_.find(key);
    if (it->second.creating) {
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
  // `deleting` kept every other writer off the entry (a create has finished with it).
  auto it = sandboxes_.find(key);
  if (it == sandboxes_.end()) {
    return absl::InternalError(absl::StrCat("sandbox \"", key, "\" vanished during its delete"));
  }
  if (!s.ok()) {
    it->second.deleting = false;
    return s;
  }
  for (const std::string& name : LogFiles()) {
    if (IsLogOf(name, key)) RemoveFile(absl::StrCat(options_.log_dir, "/", name));
  }
  shim_groups_->Leave(it->second.shim_group);
  if (it->second.warm && warm_.pool != nullptr) warm_.pool->Forget(key);
  if (!it->second.network_slot.empty() && network_ != nullptr) {
    network_->Release(it->second.network_slot);
  }
  aliases_.erase(it->second.spec.sandbox_id());
  sandboxes_.erase(it);
  return absl::OkStatus();
}

absl::StatusOr<SandboxStatus> SandboxManager::Get(std::string_view id) const {
  absl::MutexLock lock(&mu_);
  const std::string* key = Resolve(id);
  if (key == nullptr) {
    return absl::NotFoundError(absl::StrCat("sandbox \"", Sv(id), "\" not found on this agent"));
  }
  return sandboxes_.at(*key).status;
}

absl::StatusOr<std::string> SandboxManager::RuntimeSpec(std::string_view id) const {
  absl::MutexLock lock(&mu_);
  const std::string* key = Resolve(id);
  if (key == nullptr) {
    return absl::NotFoundError(absl::StrCat("sandbox \"", Sv(id), "\" not found on this agent"));
  }
  return sandboxes_.at(*key).spec_json;
}

void SandboxManager::SetRuntimeAvailable(bool available) {
  absl::MutexLock lock(&mu_);
  runtime_down_ = !available;
}

std::vector<fsb::agent::v1::WarmCount> SandboxManager::WarmCounts() const {
  if (warm_.pool == nullptr) return {};
  return warm_.pool->Counts();
}

std::vector<SandboxStatus> SandboxManager::List() const {
  absl::MutexLock lock(&mu_);
  std::vector<SandboxStatus> out;
  out.reserve(sandboxes_.size());
  for (const auto& [id, e] : sandboxes_) out.push_back(e.status);
  return out;
}

bool SandboxManager::OnExit(std::string_view id, uint32_t exit_status) {
  absl::ReleasableMutexLock lock(&mu_);
  auto it = sandboxes_.find(Sv(id));
  if (it == sandboxes_.end()) {
    lock.Release();
    if (warm_.pool != nullptr) warm_.pool->OnExit(id);
    return false;
  }
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
    if ((e.status.phase() != v1::SANDBOX_PHASE_RUNNING && !e.vanished) || e.deleting) continue;
    auto it = by_id.find(id);
    if (it == by_id.end()) {
      e.status.set_phase(v1::SANDBOX_PHASE_UNKNOWN);
      e.status.set_message("container no longer exists in containerd");
      e.vanished = true;
      continue;
    }
    if (it->second->task == TaskState::kStopped) {
      e.status.set_phase(v1::SANDBOX_PHASE_EXITED);
      e.status.set_exit_code(static_cast<int32_t>(it->second->exit_status));
      e.vanished = false;
    } else if (e.vanished && it->second->task == TaskState::kRunning) {
      // Missing from one list only (taken while its create finished, or while
      // containerd restarted): it runs.
      e.status.set_phase(v1::SANDBOX_PHASE_RUNNING);
      e.status.clear_message();
      e.vanished = false;
    }
  }
  UpdateGauges();
  return absl::OkStatus();
}

void SandboxManager::UpdateGauges() {
  std::array<int, v1::SandboxPhase_ARRAYSIZE> phases{};
  for (const auto& [id, e] : sandboxes_) ++phases[e.status.phase()];
  for (int p = v1::SANDBOX_PHASE_CREATING; p < v1::SandboxPhase_ARRAYSIZE; ++p) {
    std::string name = absl::AsciiStrToLower(v1::SandboxPhase_Name(static_cast<v1::SandboxPhase>(p))
                                                 .substr(sizeof("SANDBOX_PHASE_") - 1));
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

  {
    absl::MutexLock lock(&mu_);
    if (!ready_) return NotReady();
  }
  // Whether `id` belongs to a sandbox or a pool instance right now. The pool is asked
  // first: a claimed instance is the pool's until its sandbox is in `sandboxes_`, so in
  // this order no claim can slip between the two answers.
  auto owned = [this](const std::string& id) {
    if (warm_.pool != nullptr && warm_.pool->Owns(id)) return true;
    absl::MutexLock lock(&mu_);
    return sandboxes_.contains(id);
  };
  std::vector<std::string> doomed;  // runtime objects to remove
  GarbageReport report;
  absl::flat_hash_set<std::string> with_container;
  absl::flat_hash_set<std::string> named_slots;
  for (const ContainerState& c : *containers) {
    with_container.insert(c.id);
    if (auto slot = c.labels.find(kNetworkSlotLabel); slot != c.labels.end()) {
      named_slots.insert(slot->second);
    }
    if (c.created_at < cutoff && !owned(c.id)) {
      doomed.push_back(c.id);
      ++report.containers;
    }
  }
  for (const std::string& key : *snapshots) {
    // A snapshot without container: its create or delete was cut short. Snapshots are
    // prepared right after their container record, so a sandbox being created has both.
    if (!with_container.contains(key) && !owned(key)) {
      doomed.push_back(key);
      ++report.snapshots;
    }
  }
  for (const std::string& id : doomed) {
    if (owned(id)) continue;  // claimed or created since it was listed
    if (absl::Status s = runtime_->Remove(id); !s.ok() && !absl::IsNotFound(s)) {
      LOG(WARNING) << "janitor: cannot remove " << id << ": " << s;
    } else {
      LOG(INFO) << "janitor: removed " << id << ", which no sandbox of this agent owns";
    }
  }

  for (const std::string& name : LogFiles()) {
    const size_t dot = name.find(".log");
    if (dot == std::string::npos) continue;
    const std::string id = name.substr(0, dot);
    const std::string path = absl::StrCat(options_.log_dir, "/", name);
    struct stat st;
    if (stat(path.c_str(), &st) != 0 || absl::FromTimeT(st.st_mtime) >= cutoff) continue;
    if (!owned(id)) {
      RemoveFile(path);
      ++report.log_files;
    }
  }
  // A slot is named by its container from its create on (a prepared instance's too), and
  // a create takes less than the grace; one no container names was cut short.
  if (network_ != nullptr)
    report.network_slots = network_->Sweep(named_slots, options_.janitor_grace);
  return report;
}

std::vector<std::string> SandboxManager::LogFiles() const {
  absl::StatusOr<std::vector<std::string>> names = ListDirectory(options_.log_dir);
  if (names.ok()) return *std::move(names);
  LOG(WARNING) << "log files are left: " << names.status();
  return {};
}

void SandboxManager::RemoveFile(const std::string& path) {
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    LOG(WARNING) << "cannot remove " << path << ": " << std::strerror(errno);
  }
}

}  // namespace fsb::agent
