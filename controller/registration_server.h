#ifndef FSB_CONTROLLER_REGISTRATION_SERVER_H_
#define FSB_CONTROLLER_REGISTRATION_SERVER_H_

#include "absl/time/time.h"
#include "controller/sandbox/sandbox_service.h"
#include "fsb/agent/v1/agent.grpc.pb.h"
#include "grpcpp/server_builder.h"

namespace fsb::controller {

// Makes the agent listener `builder` builds accept registrations and heartbeats of up to
// kMaxAgentMessageBytes (gRPC's default is 4 MiB): they grow with a node's images and
// sandboxes. A larger message is RESOURCE_EXHAUSTED before it reaches the service.
void AcceptAgentMessages(grpc::ServerBuilder& builder);

// The registration API's messages in the sandbox domain's terms. Pure.
AgentRegistration AgentRegistrationFromRequest(const fsb::agent::v1::RegisterRequest& request);
AgentHeartbeat AgentHeartbeatFromRequest(const fsb::agent::v1::HeartbeatRequest& request);

// gRPC adapter of fsb.agent.v1.Registration over a SandboxService: decode, call,
// encode. Register answers with `heartbeat_interval`, the period agents are asked to
// heartbeat at; both answers carry the service's warm targets for the agent. With
// `verify_agents` (mutual TLS) an agent speaks only for itself: a Register or Heartbeat
// whose agent id the peer's certificate does not name is PERMISSION_DENIED. Thread-safe
// as the service is.
class RegistrationServer final : public fsb::agent::v1::Registration::Service {
 public:
  // `sandboxes` must outlive the server.
  RegistrationServer(SandboxService* sandboxes, absl::Duration heartbeat_interval,
                     bool verify_agents)
      : sandboxes_(sandboxes),
        heartbeat_interval_(heartbeat_interval),
        verify_agents_(verify_agents) {}

  grpc::Status Register(grpc::ServerContext* ctx, const fsb::agent::v1::RegisterRequest* req,
                        fsb::agent::v1::RegisterResponse* resp) override;
  grpc::Status Heartbeat(grpc::ServerContext* ctx, const fsb::agent::v1::HeartbeatRequest* req,
                         fsb::agent::v1::HeartbeatResponse* resp) override;

 private:
  // OK when the call's peer may speak for `agent_id`.
  grpc::Status CheckPeer(const grpc::ServerContext* ctx, const std::string& agent_id) const;

  SandboxService* const sandboxes_;
  const absl::Duration heartbeat_interval_;
  const bool verify_agents_;
};

}  // namespace fsb::controller

#endif  // FSB_CONTROLLER_REGISTRATION_SERVER_H_
