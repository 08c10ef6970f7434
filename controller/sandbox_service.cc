#include "controller/sandbox_service.h"

#include <algorithm>
#include <cstdint>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "internal/ids.h"
#include "internal/image_ref.h"
#include "internal/strings.h"
#include "internal/validation.h"

namespace fsb::controller {
namespace {

using ::fsb::v1alpha1::Sandbox;

void SetTimestamp(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t seconds = absl::ToUnixSeconds(t);
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>((t - absl::FromUnixSeconds(seconds)) / absl::Nanoseconds(1)));
}

std::string Qualified(std::string_view ns, std::string_view name) {
  return absl::StrCat(Sv(ns), "/", Sv(name));
}

// The host part of a host:port address, brackets of an IPv6 literal kept, so that
// host + ":" + port is again an address.
std::string_view HostOf(std::string_view address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos) return address;
  if (address.front() == '[' && address[colon - 1] != ']') return address;  // bare "[::1]"
  return address.substr(0, colon);
}

v1alpha1::SandboxSpec::ConsistencyMode ToSpecMode(fastpath::v1::ConsistencyMode mode) {
  return mode == fastpath::v1::STRONG ? v1alpha1::SandboxSpec::strong : v1alpha1::SandboxSpec::fast;
}

// Validates `request` and turns it into a Pending record with defaults applied and a
// fresh sandbox id; the placement fields of its status are left empty.
absl::StatusOr<Sandbox> NewSandbox(const fastpath::v1::CreateRequest& request) {
  Sandbox sandbox;
  sandbox.set_api_version("fsb.io/v1alpha1");
  sandbox.set_kind("Sandbox");
  auto* meta = sandbox.mutable_metadata();
  meta->set_namespace_(request.namespace_().empty() ? kDefaultNamespace : request.namespace_());
  meta->set_name(request.name().empty() ? absl::StrCat("sb-", RandomHex(4)) : request.name());
  if (absl::Status s = ValidateDnsLabel("namespace", meta->namespace_()); !s.ok()) return s;
  if (absl::Status s = ValidateDnsLabel("name", meta->name()); !s.ok()) return s;
  for (const auto& [key, value] : request.labels()) {
    if (absl::Status s = ValidateLabel("labels", key, value); !s.ok()) return s;
  }
  *meta->mutable_labels() = request.labels();

  auto* spec = sandbox.mutable_spec();
  if (request.image().empty()) return absl::InvalidArgumentError("image is required");
  absl::StatusOr<std::string> image = NormalizeImageReference(request.image());
  if (!image.ok()) return image.status();
  spec->set_image(*std::move(image));
  *spec->mutable_command() = request.command();
  *spec->mutable_args() = request.args();
  std::vector<std::pair<std::string, std::string>> env(request.envs().begin(),
                                                       request.envs().end());
  std::sort(env.begin(), env.end());
  for (auto& [name, value] : env) {
    if (absl::Status s = ValidateEnvName("envs", name); !s.ok()) return s;
    auto* var = spec->add_env();
    var->set_name(std::move(name));
    var->set_value(std::move(value));
  }
  spec->set_working_dir(request.working_dir());
  absl::flat_hash_set<int> ports;
  for (int port : request.exposed_ports()) {
    if (absl::Status s = ValidatePort("exposed_ports", port); !s.ok()) return s;
    if (!ports.insert(port).second) {
      return absl::InvalidArgumentError(absl::StrCat("exposed_ports: port ", port, " is repeated"));
    }
  }
  *spec->mutable_exposed_ports() = request.exposed_ports();
  spec->set_pool_ref(request.pool_ref().empty() ? kDefaultPool : request.pool_ref());
  spec->set_consistency_mode(ToSpecMode(request.consistency_mode()));

  sandbox.mutable_status()->set_phase(v1alpha1::SandboxStatus::Pending);
  sandbox.mutable_status()->set_container_id(RandomHex(8));
  return sandbox;
}

fsb::agent::v1::SandboxSpec AgentSpec(const Sandbox& sandbox) {
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
  return spec;
}

// Moves `status` to the phase the agent reports: RUNNING -> Running; EXITED ->
// Succeeded (exit code 0) or Failed, with the exit code and the agent's message.
// Other agent phases say nothing new and leave `status` alone.
void ApplyAgentState(const fsb::agent::v1::SandboxStatus& state, v1alpha1::SandboxStatus* status) {
  switch (state.phase()) {
    case fsb::agent::v1::SANDBOX_PHASE_RUNNING:
      status->set_phase(v1alpha1::SandboxStatus::Running);
      break;
    case fsb::agent::v1::SANDBOX_PHASE_EXITED:
      status->set_phase(state.exit_code() == 0 ? v1alpha1::SandboxStatus::Succeeded
                                               : v1alpha1::SandboxStatus::Failed);
      status->set_exit_code(state.exit_code());
      if (!state.message().empty()) status->set_message(state.message());
      break;
    default:
      break;
  }
}

// The references that parse, normalized; agents already report normalized ones.
std::vector<std::string> NormalizedImages(
    const google::protobuf::RepeatedPtrField<std::string>& images) {
  std::vector<std::string> out;
  out.reserve(images.size());
  for (const std::string& image : images) {
    if (auto ref = NormalizeImageReference(image); ref.ok()) out.push_back(*std::move(ref));
  }
  return out;
}

}  // namespace

SandboxService::SandboxService(Registry* registry, AgentClient* agents, const Clock* clock)
    : registry_(registry), agents_(agents), clock_(clock) {}

absl::StatusOr<Sandbox> SandboxService::Create(const fastpath::v1::CreateRequest& request) {
  absl::StatusOr<Sandbox> built = NewSandbox(request);
  if (!built.ok()) return built.status();
  Sandbox sandbox = *std::move(built);
  SetTimestamp(clock_->Now(), sandbox.mutable_metadata()->mutable_creation_timestamp());
  const Key key{sandbox.metadata().namespace_(), sandbox.metadata().name()};
  {
    absl::MutexLock lock(&mu_);
    if (!sandboxes_.try_emplace(key, Entry{sandbox, /*busy=*/true}).second) {
      return absl::AlreadyExistsError(
          absl::StrCat("sandbox ", Qualified(key.first, key.second), " already exists"));
    }
  }

  absl::StatusOr<Placement> placement =
      registry_->Allocate(sandbox.spec().pool_ref(), sandbox.spec().image());
  if (!placement.ok()) return AbortCreate(key, placement.status());
  absl::StatusOr<fsb::agent::v1::SandboxStatus> started =
      agents_->CreateSandbox(placement->address, AgentSpec(sandbox));
  if (!started.ok()) {
    registry_->Release(placement->agent_id);
    return AbortCreate(key, started.status());
  }

  auto* status = sandbox.mutable_status();
  status->set_agent(placement->agent_id);
  status->set_node(placement->node);
  const std::string_view host = HostOf(placement->address);
  for (int port : sandbox.spec().exposed_ports()) {
    status->add_endpoints(absl::StrCat(Sv(host), ":", port));
  }
  status->set_phase(v1alpha1::SandboxStatus::Running);
  ApplyAgentState(*started, status);
  {
    absl::MutexLock lock(&mu_);
    // The busy record is still there: only this call removes or replaces it.
    Entry& entry = sandboxes_.at(key);
    entry.sandbox = sandbox;
    entry.busy = false;
  }
  VLOG(1) << "sandbox " << Qualified(key.first, key.second) << " (" << status->container_id()
          << ") created on agent " << placement->agent_id;
  return sandbox;
}

absl::Status SandboxService::AbortCreate(const Key& key, absl::Status status) {
  absl::MutexLock lock(&mu_);
  sandboxes_.erase(key);
  return status;
}

absl::StatusOr<Sandbox> SandboxService::Get(std::string_view ns, std::string_view name) const {
  const Key key{ns.empty() ? kDefaultNamespace : ns, name};
  absl::MutexLock lock(&mu_);
  auto it = sandboxes_.find(key);
  if (it == sandboxes_.end()) {
    return absl::NotFoundError(
        absl::StrCat("sandbox ", Qualified(key.first, key.second), " not found"));
  }
  return it->second.sandbox;
}

std::vector<Sandbox> SandboxService::List(std::string_view ns) const {
  std::vector<Sandbox> out;
  absl::MutexLock lock(&mu_);
  // Keys are ordered by namespace first, so one namespace is a contiguous range.
  auto it = ns.empty() ? sandboxes_.begin() : sandboxes_.lower_bound(Key{ns, ""});
  for (; it != sandboxes_.end() && (ns.empty() || it->first.first == ns); ++it) {
    out.push_back(it->second.sandbox);
  }
  return out;
}

absl::Status SandboxService::Delete(std::string_view ns, std::string_view name) {
  const Key key{ns.empty() ? kDefaultNamespace : ns, name};
  const std::string qualified = Qualified(key.first, key.second);
  std::string agent_id;
  std::string sandbox_id;
  {
    absl::MutexLock lock(&mu_);
    auto it = sandboxes_.find(key);
    if (it == sandboxes_.end())
      return absl::NotFoundError(absl::StrCat("sandbox ", qualified, " not found"));
    Entry& entry = it->second;
    auto* status = entry.sandbox.mutable_status();
    if (entry.busy) {
      return absl::FailedPreconditionError(absl::StrCat(
          "sandbox ", qualified, " is being ",
          status->phase() == v1alpha1::SandboxStatus::Terminating ? "deleted" : "created",
          "; retry later"));
    }
    entry.busy = true;
    status->set_phase(v1alpha1::SandboxStatus::Terminating);
    SetTimestamp(clock_->Now(), entry.sandbox.mutable_metadata()->mutable_deletion_timestamp());
    agent_id = status->agent();
    sandbox_id = status->container_id();
  }

  absl::StatusOr<AgentView> agent = registry_->Get(agent_id);
  absl::Status deleted =
      agent.ok() ? agents_->DeleteSandbox(agent->address, sandbox_id, absl::ZeroDuration())
                 : absl::UnavailableError(absl::StrCat("agent ", agent_id, " hosting sandbox ",
                                                       qualified, " is not registered"));
  if (deleted.ok() || absl::IsNotFound(deleted)) {
    registry_->Release(agent_id);
    absl::MutexLock lock(&mu_);
    sandboxes_.erase(key);
    VLOG(1) << "sandbox " << qualified << " (" << sandbox_id << ") deleted";
    return absl::OkStatus();
  }
  absl::MutexLock lock(&mu_);
  Entry& entry = sandboxes_.at(key);
  entry.busy = false;
  entry.sandbox.mutable_status()->set_message(absl::StrCat("delete failed: ", deleted.message()));
  return deleted;
}

absl::Status SandboxService::RegisterAgent(const fsb::agent::v1::RegisterRequest& request) {
  const fsb::agent::v1::AgentInfo& info = request.agent();
  absl::Status registered = registry_->Register({.id = info.agent_id(),
                                                 .address = info.address(),
                                                 .node = info.node_name(),
                                                 .pool = info.pool(),
                                                 .capacity = info.capacity(),
                                                 .images = NormalizedImages(info.images()),
                                                 .reported_sandboxes = request.sandboxes_size()});
  if (!registered.ok()) return registered;
  Observe(info.agent_id(), request.sandboxes());
  LOG(INFO) << "agent " << info.agent_id() << " registered: address " << info.address() << ", node "
            << info.node_name() << ", pool " << (info.pool().empty() ? kDefaultPool : info.pool())
            << ", capacity " << info.capacity() << ", " << request.sandboxes_size() << " sandboxes";
  return absl::OkStatus();
}

absl::Status SandboxService::Heartbeat(const fsb::agent::v1::HeartbeatRequest& request) {
  absl::Status status = registry_->Heartbeat(request.agent_id(), NormalizedImages(request.images()),
                                             request.sandboxes_size());
  if (!status.ok()) return status;
  Observe(request.agent_id(), request.sandboxes());
  return absl::OkStatus();
}

void SandboxService::Observe(
    std::string_view agent_id,
    const google::protobuf::RepeatedPtrField<fsb::agent::v1::SandboxStatus>& states) {
  absl::MutexLock lock(&mu_);
  for (const fsb::agent::v1::SandboxStatus& state : states) {
    auto it = sandboxes_.find(Key{state.namespace_(), state.name()});
    if (it == sandboxes_.end() || it->second.busy) continue;
    v1alpha1::SandboxStatus* status = it->second.sandbox.mutable_status();
    if (status->phase() == v1alpha1::SandboxStatus::Terminating || status->agent() != agent_id ||
        status->container_id() != state.sandbox_id()) {
      continue;
    }
    ApplyAgentState(state, status);
  }
}

}  // namespace fsb::controller
