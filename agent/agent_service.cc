#include "agent/agent_service.h"

#include <optional>

#include "internal/status.h"

namespace fsb::agent {

grpc::Status AgentServiceImpl::CreateSandbox(grpc::ServerContext* ctx,
                                             const v1::CreateSandboxRequest* req,
                                             v1::CreateSandboxResponse* resp) {
  ctx->AddTrailingMetadata(kHandledTrailer, "1");
  absl::StatusOr<SandboxManager::Created> created = manager_->Create(req->spec());
  if (!created.ok()) return ToGrpcStatus(created.status());
  *resp->mutable_status() = std::move(created->status);
  resp->set_warm(created->warm);
  for (auto& count : manager_->WarmCounts()) *resp->add_warm_counts() = std::move(count);
  return grpc::Status::OK;
}

grpc::Status AgentServiceImpl::DeleteSandbox(grpc::ServerContext*,
                                             const v1::DeleteSandboxRequest* req,
                                             v1::DeleteSandboxResponse*) {
  return ToGrpcStatus(manager_->Delete(
      req->sandbox_id(), req->has_grace_period_millis()
                             ? std::optional(absl::Milliseconds(req->grace_period_millis()))
                             : std::nullopt));
}

grpc::Status AgentServiceImpl::GetSandbox(grpc::ServerContext*, const v1::GetSandboxRequest* req,
                                          v1::SandboxStatus* resp) {
  auto status = manager_->Get(req->sandbox_id());
  if (!status.ok()) return ToGrpcStatus(status.status());
  *resp = *std::move(status);
  return grpc::Status::OK;
}

grpc::Status AgentServiceImpl::ListSandboxes(grpc::ServerContext*, const v1::ListSandboxesRequest*,
                                             v1::ListSandboxesResponse* resp) {
  for (auto& s : manager_->List()) *resp->add_sandboxes() = std::move(s);
  return grpc::Status::OK;
}

}  // namespace fsb::agent
