#include "controller/fastpath_server.h"

#include <utility>

#include "internal/status.h"

namespace fsb::controller {
namespace {

void EncodeInfo(const fsb::v1alpha1::Sandbox& sandbox, fastpath::v1::SandboxInfo* info) {
  const auto& meta = sandbox.metadata();
  const auto& spec = sandbox.spec();
  const auto& status = sandbox.status();
  info->set_sandbox_id(status.container_id());
  info->set_phase(fsb::v1alpha1::SandboxStatus::Phase_Name(status.phase()));
  info->set_agent_pod(status.agent());
  *info->mutable_endpoints() = status.endpoints();
  info->set_created_at(meta.creation_timestamp().seconds());
  info->set_image(spec.image());
  info->set_pool_ref(spec.pool_ref());
  info->set_sandbox_name(meta.name());
  info->set_namespace_(meta.namespace_());
  *info->mutable_labels() = meta.labels();
  *info->mutable_command() = spec.command();
  *info->mutable_args() = spec.args();
  for (const auto& var : spec.env()) (*info->mutable_envs())[var.name()] = var.value();
  info->set_working_dir(spec.working_dir());
  *info->mutable_exposed_ports() = spec.exposed_ports();
  info->set_node(status.node());
  info->set_message(status.message());
  info->set_exit_code(status.exit_code());
}

}  // namespace

grpc::Status FastPathServer::CreateSandbox(grpc::ServerContext*,
                                           const fastpath::v1::CreateRequest* req,
                                           fastpath::v1::CreateResponse* resp) {
  absl::StatusOr<fsb::v1alpha1::Sandbox> sandbox = sandboxes_->Create(*req);
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
  absl::Status status = sandboxes_->Delete(req->namespace_(), req->sandbox_name());
  if (!status.ok()) return ToGrpcStatus(status);
  resp->set_success(true);
  return grpc::Status::OK;
}

grpc::Status FastPathServer::UpdateSandbox(grpc::ServerContext*, const fastpath::v1::UpdateRequest*,
                                           fastpath::v1::UpdateResponse*) {
  return ToGrpcStatus(absl::UnimplementedError(
      "UpdateSandbox is not implemented yet (expiry, reset, failure policy and label updates "
      "come in a later release)"));
}

grpc::Status FastPathServer::ListSandboxes(grpc::ServerContext*,
                                           const fastpath::v1::ListRequest* req,
                                           fastpath::v1::ListResponse* resp) {
  for (const auto& sandbox : sandboxes_->List(req->namespace_())) {
    EncodeInfo(sandbox, resp->add_items());
  }
  return grpc::Status::OK;
}

grpc::Status FastPathServer::GetSandbox(grpc::ServerContext*, const fastpath::v1::GetRequest* req,
                                        fastpath::v1::SandboxInfo* resp) {
  absl::StatusOr<fsb::v1alpha1::Sandbox> sandbox =
      sandboxes_->Get(req->namespace_(), req->sandbox_name());
  if (!sandbox.ok()) return ToGrpcStatus(sandbox.status());
  EncodeInfo(*sandbox, resp);
  return grpc::Status::OK;
}

}  // namespace fsb::controller
