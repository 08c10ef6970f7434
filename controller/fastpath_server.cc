#include "controller/fastpath_server.h"

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "controller/sandbox_spec.h"
#include "internal/status.h"

namespace fsb::controller {

grpc::Status FastPathServer::CreateSandbox(grpc::ServerContext*,
                                           const fastpath::v1::CreateRequest* req,
                                           fastpath::v1::CreateResponse* resp) {
  absl::StatusOr<fsb::v1alpha1::Sandbox> sandbox = sandboxes_->CreateSandbox(*req);
  if (!sandbox.ok()) return ToGrpcStatus(sandbox.status());
  resp->set_sandbox_id(sandbox->status().container_id());
  resp->set_agent_pod(sandbox->status().agent());
  *resp->mutable_endpoints() = sandbox->status().endpoints();
  resp->set_sandbox_name(sandbox->metadata().name());
  return grpc::Status::OK;
}

grpc::Status FastPathServer::DeleteSandbox(grpc::ServerContext*,
                                           const fastpath::v1::DeleteRequest* req,
                                           fastpath::v1::DeleteResponse* resp) {
  std::optional<absl::Duration> grace;
  if (req->has_grace_period_seconds()) {
    if (req->grace_period_seconds() < 0) {
      return ToGrpcStatus(absl::InvalidArgumentError(absl::StrCat(
          "grace_period_seconds ", req->grace_period_seconds(), " must not be negative")));
    }
    grace = absl::Seconds(req->grace_period_seconds());
  }
  absl::Status status = sandboxes_->Delete(req->namespace_(), req->sandbox_name(), grace);
  if (!status.ok()) return ToGrpcStatus(status);
  resp->set_success(true);
  return grpc::Status::OK;
}

grpc::Status FastPathServer::UpdateSandbox(grpc::ServerContext*,
                                           const fastpath::v1::UpdateRequest* req,
                                           fastpath::v1::UpdateResponse* resp) {
  absl::StatusOr<fsb::v1alpha1::Sandbox> sandbox = sandboxes_->Update(*req);
  if (!sandbox.ok()) return ToGrpcStatus(sandbox.status());
  resp->set_success(true);
  resp->set_message("desired state committed");
  ToSandboxInfo(*sandbox, resp->mutable_sandbox());
  return grpc::Status::OK;
}

grpc::Status FastPathServer::ListSandboxes(grpc::ServerContext*,
                                           const fastpath::v1::ListRequest* req,
                                           fastpath::v1::ListResponse* resp) {
  auto sandboxes = sandboxes_->List(req->namespace_(), req->label_selector());
  if (!sandboxes.ok()) return ToGrpcStatus(sandboxes.status());
  for (const auto& sandbox : *sandboxes) ToSandboxInfo(sandbox, resp->add_items());
  return grpc::Status::OK;
}

grpc::Status FastPathServer::GetSandbox(grpc::ServerContext*, const fastpath::v1::GetRequest* req,
                                        fastpath::v1::SandboxInfo* resp) {
  absl::StatusOr<fsb::v1alpha1::Sandbox> sandbox =
      sandboxes_->Get(req->namespace_(), req->sandbox_name());
  if (!sandbox.ok()) return ToGrpcStatus(sandbox.status());
  ToSandboxInfo(*sandbox, resp);
  return grpc::Status::OK;
}

grpc::Status FastPathServer::GetSandboxResource(grpc::ServerContext*,
                                                const fastpath::v1::GetRequest* req,
                                                fsb::v1alpha1::Sandbox* resp) {
  absl::StatusOr<fsb::v1alpha1::Sandbox> sandbox =
      sandboxes_->Get(req->namespace_(), req->sandbox_name());
  if (!sandbox.ok()) return ToGrpcStatus(sandbox.status());
  *resp = *std::move(sandbox);
  return grpc::Status::OK;
}

grpc::Status FastPathServer::ApplySandbox(grpc::ServerContext*,
                                          const fastpath::v1::ApplyRequest* req,
                                          fastpath::v1::ApplyResponse* resp) {
  bool created = false;
  absl::StatusOr<fsb::v1alpha1::Sandbox> sandbox = sandboxes_->Apply(req->sandbox(), &created);
  if (!sandbox.ok()) return ToGrpcStatus(sandbox.status());
  *resp->mutable_sandbox() = *std::move(sandbox);
  resp->set_created(created);
  return grpc::Status::OK;
}

grpc::Status FastPathServer::ListAgents(grpc::ServerContext*,
                                        const fastpath::v1::ListAgentsRequest*,
                                        fastpath::v1::ListAgentsResponse* resp) {
  absl::StatusOr<std::vector<fsb::v1alpha1::Agent>> agents = sandboxes_->ListAgents();
  if (!agents.ok()) return ToGrpcStatus(agents.status());
  for (auto& agent : *agents) *resp->add_items() = std::move(agent);
  return grpc::Status::OK;
}

grpc::Status FastPathServer::DeleteAgent(grpc::ServerContext*,
                                         const fastpath::v1::DeleteAgentRequest* req,
                                         fastpath::v1::DeleteAgentResponse*) {
  return ToGrpcStatus(sandboxes_->DeleteAgent(req->name()));
}

grpc::Status FastPathServer::ApplySandboxPool(grpc::ServerContext*,
                                              const fastpath::v1::ApplySandboxPoolRequest* req,
                                              fastpath::v1::ApplySandboxPoolResponse* resp) {
  bool created = false;
  absl::StatusOr<fsb::v1alpha1::SandboxPool> pool = pools_->Apply(req->pool(), &created);
  if (!pool.ok()) return ToGrpcStatus(pool.status());
  *resp->mutable_pool() = *std::move(pool);
  resp->set_created(created);
  return grpc::Status::OK;
}

grpc::Status FastPathServer::ListSandboxPools(grpc::ServerContext*,
                                              const fastpath::v1::ListSandboxPoolsRequest*,
                                              fastpath::v1::ListSandboxPoolsResponse* resp) {
  absl::StatusOr<std::vector<fsb::v1alpha1::SandboxPool>> pools = pools_->List();
  if (!pools.ok()) return ToGrpcStatus(pools.status());
  for (auto& pool : *pools) *resp->add_items() = std::move(pool);
  return grpc::Status::OK;
}

grpc::Status FastPathServer::DeleteSandboxPool(grpc::ServerContext*,
                                               const fastpath::v1::DeleteSandboxPoolRequest* req,
                                               fastpath::v1::DeleteSandboxPoolResponse*) {
  return ToGrpcStatus(pools_->Delete(req->name()));
}

}  // namespace fsb::controller
