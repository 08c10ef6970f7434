#include "controller/registration_server.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "internal/message_limits.h"
#include "internal/status.h"
#include "internal/tls/tls.h"

namespace fsb::controller {

void AcceptAgentMessages(grpc::ServerBuilder& builder) {
  builder.SetMaxReceiveMessageSize(kMaxAgentMessageBytes);
}

AgentRegistration AgentRegistrationFromRequest(const fsb::agent::v1::RegisterRequest& request) {
  const fsb::agent::v1::AgentInfo& info = request.agent();
  AgentRegistration registration;
  AgentDescriptor& agent = registration.agent;
  agent.id = info.agent_id();
  agent.address = info.address();
  agent.node = info.node_name();
  agent.pool = info.pool();
  agent.max_sandboxes = info.capacity();
  agent.images.assign(info.images().begin(), info.images().end());
  agent.warm = WarmCountsOf(request.warm());
  // An agent whose containerd does not answer takes only creates that claim one of its
  // warm instances, until it answers again.
  agent.runtime_down = request.runtime_unavailable();
  registration.sandboxes = ReportedSandboxesOf(request.sandboxes());
  return registration;
}

AgentHeartbeat AgentHeartbeatFromRequest(const fsb::agent::v1::HeartbeatRequest& request) {
  AgentHeartbeat heartbeat;
  heartbeat.agent_id = request.agent_id();
  heartbeat.images.assign(request.images().begin(), request.images().end());
  heartbeat.warm = WarmCountsOf(request.warm());
  heartbeat.runtime_down = request.runtime_unavailable();
  heartbeat.sandboxes = ReportedSandboxesOf(request.sandboxes());
  return heartbeat;
}

grpc::Status RegistrationServer::CheckPeer(const grpc::ServerContext* ctx,
                                           const std::string& agent_id) const {
  if (!verify_agents_ || PeerIs(*ctx->auth_context(), agent_id)) return grpc::Status::OK;
  return grpc::Status(
      grpc::StatusCode::PERMISSION_DENIED,
      absl::StrCat("agent id \"", agent_id, "\" is not the one of the client certificate (",
                   PeerNames(*ctx->auth_context()), ")"));
}

grpc::Status RegistrationServer::Register(grpc::ServerContext* ctx,
                                          const fsb::agent::v1::RegisterRequest* req,
                                          fsb::agent::v1::RegisterResponse* resp) {
  if (grpc::Status s = CheckPeer(ctx, req->agent().agent_id()); !s.ok()) return s;
  absl::StatusOr<std::shared_ptr<const fsb::agent::v1::WarmTargets>> targets =
      sandboxes_->RegisterAgent(AgentRegistrationFromRequest(*req));
  if (!targets.ok()) return ToGrpcStatus(targets.status());
  if (*targets != nullptr) *resp->mutable_warm_targets() = **targets;
  resp->set_heartbeat_interval_millis(absl::ToInt64Milliseconds(heartbeat_interval_));
  return grpc::Status::OK;
}

grpc::Status RegistrationServer::Heartbeat(grpc::ServerContext* ctx,
                                           const fsb::agent::v1::HeartbeatRequest* req,
                                           fsb::agent::v1::HeartbeatResponse* resp) {
  if (grpc::Status s = CheckPeer(ctx, req->agent_id()); !s.ok()) return s;
  absl::StatusOr<std::shared_ptr<const fsb::agent::v1::WarmTargets>> targets =
      sandboxes_->Heartbeat(AgentHeartbeatFromRequest(*req));
  if (!targets.ok()) return ToGrpcStatus(targets.status());
  if (*targets != nullptr) *resp->mutable_warm_targets() = **targets;
  return grpc::Status::OK;
}

}  // namespace fsb::controller
