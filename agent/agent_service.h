#ifndef FSB_AGENT_AGENT_SERVICE_H_
#define FSB_AGENT_AGENT_SERVICE_H_

#include "agent/sandbox_manager.h"
#include "fsb/agent/v1/agent.grpc.pb.h"

namespace fsb::agent {

// gRPC adapter of fsb.agent.v1.AgentService over a SandboxManager: decode, call,
// encode. Thread-safe as the manager is.
class AgentServiceImpl final : public fsb::agent::v1::AgentService::Service {
 public:
  explicit AgentServiceImpl(SandboxManager* manager) : manager_(manager) {}

  grpc::Status CreateSandbox(grpc::ServerContext* ctx, const v1::CreateSandboxRequest* req,
                             v1::CreateSandboxResponse* resp) override;
  grpc::Status DeleteSandbox(grpc::ServerContext* ctx, const v1::DeleteSandboxRequest* req,
                             v1::DeleteSandboxResponse* resp) override;
  grpc::Status GetSandbox(grpc::ServerContext* ctx, const v1::GetSandboxRequest* req,
                          v1::SandboxStatus* resp) override;
  grpc::Status ListSandboxes(grpc::ServerContext* ctx, const v1::ListSandboxesRequest* req,
                             v1::ListSandboxesResponse* resp) override;

 private:
  SandboxManager* const manager_;
};

}  // namespace fsb::agent

#endif  // FSB_AGENT_AGENT_SERVICE_H_
