#ifndef FSB_CONTROLLER_FASTPATH_SERVER_H_
#define FSB_CONTROLLER_FASTPATH_SERVER_H_

#include "controller/client_auth.h"
#include "controller/pool_service.h"
#include "controller/sandbox/sandbox_service.h"
#include "controller/sandbox_spec.h"
#include "fastpath/v1/fastpath.grpc.pb.h"

namespace fsb::controller {

// The FastPath API's messages in the sandbox domain's terms, and back. Total: a request
// field with no domain form is carried as the result's `malformed` status. Pure.
// consistency_mode STRONG asks for strong; FAST, the proto3 default that clients which
// never heard of the field send, leaves the mode unset (the controller's default).
// `network` is carried as given (validated with the rest of the spec); each `publish`
// entry, "HOST_PORT:CONTAINER_PORT[/tcp|udp]", becomes a spec.publish entry, and the
// first that does not parse is the create's `malformed` status, naming it. SandboxInfo
// carries status.ip, spec.network and spec.publish in that text form
// ("HOST_PORT:CONTAINER_PORT/PROTOCOL").
CreateSpec CreateSpecFromRequest(const fastpath::v1::CreateRequest& request);
SandboxUpdate SandboxUpdateFromRequest(const fastpath::v1::UpdateRequest& request);
void ToSandboxInfo(const v1alpha1::Sandbox& sandbox, fastpath::v1::SandboxInfo* info);

// gRPC adapter of fastpath.v1.FastPathService over a SandboxService and a PoolService:
// authorize, decode, call, encode; domain errors travel as the matching gRPC codes.
// Every call is authorized (ClientAuth) before anything is looked up, in the namespace
// its request names; a list over every namespace (ListRequest.namespace empty) returns
// only the namespaces the caller may read. Thread-safe as the services are.
class FastPathServer final : public fastpath::v1::FastPathService::Service {
 public:
  // `sandboxes`, `pools` and `auth` must outlive the server.
  FastPathServer(SandboxService* sandboxes, PoolService* pools, const ClientAuth* auth)
      : sandboxes_(sandboxes), pools_(pools), auth_(auth) {}

  grpc::Status CreateSandbox(grpc::ServerContext* ctx, const fastpath::v1::CreateRequest* req,
                             fastpath::v1::CreateResponse* resp) override;
  grpc::Status DeleteSandbox(grpc::ServerContext* ctx, const fastpath::v1::DeleteRequest* req,
                             fastpath::v1::DeleteResponse* resp) override;
  grpc::Status UpdateSandbox(grpc::ServerContext* ctx, const fastpath::v1::UpdateRequest* req,
                             fastpath::v1::UpdateResponse* resp) override;
  grpc::Status ListSandboxes(grpc::ServerContext* ctx, const fastpath::v1::ListRequest* req,
                             fastpath::v1::ListResponse* resp) override;
  grpc::Status GetSandbox(grpc::ServerContext* ctx, const fastpath::v1::GetRequest* req,
                          fastpath::v1::SandboxInfo* resp) override;
  grpc::Status GetSandboxResource(grpc::ServerContext* ctx, const fastpath::v1::GetRequest* req,
                                  fsb::v1alpha1::Sandbox* resp) override;
  grpc::Status ApplySandbox(grpc::ServerContext* ctx, const fastpath::v1::ApplyRequest* req,
                            fastpath::v1::ApplyResponse* resp) override;
  grpc::Status ListAgents(grpc::ServerContext* ctx, const fastpath::v1::ListAgentsRequest* req,
                          fastpath::v1::ListAgentsResponse* resp) override;
  grpc::Status DeleteAgent(grpc::ServerContext* ctx, const fastpath::v1::DeleteAgentRequest* req,
                           fastpath::v1::DeleteAgentResponse* resp) override;
  grpc::Status ApplySandboxPool(grpc::ServerContext* ctx,
                                const fastpath::v1::ApplySandboxPoolRequest* req,
                                fastpath::v1::ApplySandboxPoolResponse* resp) override;
  grpc::Status ListSandboxPools(grpc::ServerContext* ctx,
                                const fastpath::v1::ListSandboxPoolsRequest* req,
                                fastpath::v1::ListSandboxPoolsResponse* resp) override;
  grpc::Status DeleteSandboxPool(grpc::ServerContext* ctx,
                                 const fastpath::v1::DeleteSandboxPoolRequest* req,
                                 fastpath::v1::DeleteSandboxPoolResponse* resp) override;

 private:
  // OK when the caller of `ctx` may call the FastPathService method `name` in `ns`.
  grpc::Status Allow(const grpc::ServerContext* ctx, std::string_view name,
                     std::string_view ns) const;

  SandboxService* const sandboxes_;
  PoolService* const pools_;
  const ClientAuth* const auth_;
};

}  // namespace fsb::controller

#endif  // FSB_CONTROLLER_FASTPATH_SERVER_H_
