#include "controller/fastpath_server.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "controller/list_pager.h"
#include "controller/request_validation.h"
#include "controller/sandbox_spec.h"
#include "internal/sandbox_network.h"
#include "internal/status.h"
#include "internal/strings.h"

namespace fsb::controller {

using ::fsb::v1alpha1::Sandbox;
using ::fsb::v1alpha1::SandboxSpec;

namespace {

// The full name of the FastPathService method `name`, as auth::MethodAccessTable has it.
std::string Method(std::string_view name) {
  return absl::StrCat("/fastpath.v1.FastPathService/", Sv(name));
}

}  // namespace

CreateSpec CreateSpecFromRequest(const fastpath::v1::CreateRequest& request) {
  CreateSpec create;
  Sandbox& sandbox = create.sandbox;
  auto* meta = sandbox.mutable_metadata();
  meta->set_namespace_(request.namespace_());
  meta->set_name(request.name());
  *meta->mutable_labels() = request.labels();
  if (!request.request_id().empty()) {
    (*meta->mutable_annotations())[kRequestIdAnnotation] = request.request_id();
  }
  SandboxSpec* spec = sandbox.mutable_spec();
  spec->set_image(request.image());
  *spec->mutable_command() = request.command();
  *spec->mutable_args() = request.args();
  for (const auto& [name, value] : request.envs()) {
    auto* var = spec->add_env();
    var->set_name(name);
    var->set_value(value);
  }
  spec->set_working_dir(request.working_dir());
  *spec->mutable_exposed_ports() = request.exposed_ports();
  *spec->mutable_resources() = request.resources();
  spec->set_read_only_root_filesystem(request.read_only_root_filesystem());
  spec->set_pool_ref(request.pool_ref());
  spec->set_network(request.network());
  // The first field without a domain form is the create's error, in field order; the
  // rest is still decoded (the consistency mode labels even a refused create's metrics).
  auto malformed = [&](absl::Status s) {
    if (create.malformed.ok()) create.malformed = std::move(s);
  };
  switch (request.failure_policy()) {
    case fastpath::v1::MANUAL:
      spec->set_failure_policy(SandboxSpec::Manual);
      break;
    case fastpath::v1::AUTO_RECREATE:
      spec->set_failure_policy(SandboxSpec::AutoRecreate);
      break;
    default:
      malformed(absl::InvalidArgumentError(
          absl::StrCat("failure_policy ", request.failure_policy(), " is not a known policy")));
  }
  if (request.recovery_timeout_seconds() < 0) {
    malformed(absl::InvalidArgumentError("recovery_timeout_seconds must not be negative"));
  }
  spec->set_recovery_timeout_seconds(request.recovery_timeout_seconds());
  if (request.expire_time_seconds() < 0) {
    malformed(absl::InvalidArgumentError("expire_time_seconds must not be negative"));
  }
  if (request.expire_time_seconds() > 0) {
    spec->mutable_expire_time()->set_seconds(request.expire_time_seconds());
  }
  if (request.consistency_mode() == fastpath::v1::STRONG) {
    spec->set_consistency_mode(SandboxSpec::strong);
  } else if (request.consistency_mode() != fastpath::v1::FAST) {
    malformed(absl::InvalidArgumentError(
        absl::StrCat("consistency_mode ", request.consistency_mode(), " is not a known mode")));
  }
  for (const std::string& entry : request.publish()) {
    absl::StatusOr<PublishedPort> port = ParsePublishedPort("publish", entry);
    if (!port.ok()) {
      malformed(port.status());
      continue;
    }
    SetPortPublish(*port, spec->add_publish());
  }
  return create;
}

SandboxUpdate SandboxUpdateFromRequest(const fastpath::v1::UpdateRequest& request) {
  SandboxUpdate update;
  update.ns = request.namespace_();
  update.name = request.sandbox_name();
  switch (request.update_case()) {
    case fastpath::v1::UpdateRequest::kExpireTimeSeconds:
      update.expire_time_seconds = request.expire_time_seconds();
      break;
    case fastpath::v1::UpdateRequest::kResetRevision:
      update.reset_revision = request.reset_revision();
      break;
    case fastpath::v1::UpdateRequest::kFailurePolicy:
      if (request.failure_policy() == fastpath::v1::MANUAL) {
        update.failure_policy = SandboxSpec::Manual;
      } else if (request.failure_policy() == fastpath::v1::AUTO_RECREATE) {
        update.failure_policy = SandboxSpec::AutoRecreate;
      } else {
        update.malformed = absl::InvalidArgumentError(
            absl::StrCat("failure_policy ", request.failure_policy(), " is not a known policy"));
      }
      break;
    case fastpath::v1::UpdateRequest::kRecoveryTimeoutSeconds:
      update.recovery_timeout_seconds = request.recovery_timeout_seconds();
      break;
    case fastpath::v1::UpdateRequest::UPDATE_NOT_SET:
      break;
  }
  update.labels.insert(request.labels().begin(), request.labels().end());
  update.remove_labels.assign(request.remove_labels().begin(), request.remove_labels().end());
  return update;
}

void ToSandboxInfo(const Sandbox& sandbox, fastpath::v1::SandboxInfo* info) {
  const auto& meta = sandbox.metadata();
  const auto& spec = sandbox.spec();
  const auto& status = sandbox.status();
  info->set_sandbox_id(status.container_id());
  info->set_phase(v1alpha1::SandboxStatus::Phase_Name(status.phase()));
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
  info->set_restart_count(status.restart_count());
  info->set_ip(status.ip());
  info->set_network(spec.network());
  for (const v1alpha1::PortPublish& p : spec.publish()) {
    info->add_publish(FormatPublishedPort(PublishedPortOf(p)));
  }
}

grpc::Status FastPathServer::CreateSandbox(grpc::ServerContext* ctx,
                                           const fastpath::v1::CreateRequest* req,
                                           fastpath::v1::CreateResponse* resp) {
  if (grpc::Status allowed = Allow(ctx, "CreateSandbox", req->namespace_()); !allowed.ok())
    return allowed;
  absl::StatusOr<fsb::v1alpha1::Sandbox> sandbox = sandboxes_->Create(CreateSpecFromRequest(*req));
  if (!sandbox.ok()) return ToGrpcStatus(sandbox.status());
  resp->set_sandbox_id(sandbox->status().container_id());
  resp->set_agent_pod(sandbox->status().agent());
  *resp->mutable_endpoints() = sandbox->status().endpoints();
  resp->set_sandbox_name(sandbox->metadata().name());
  return grpc::Status::OK;
}

grpc::Status FastPathServer::DeleteSandbox(grpc::ServerContext* ctx,
                                           const fastpath::v1::DeleteRequest* req,
                                           fastpath::v1::DeleteResponse* resp) {
  if (grpc::Status allowed = Allow(ctx, "DeleteSandbox", req->namespace_()); !allowed.ok())
    return allowed;
  absl::StatusOr<std::optional<absl::Duration>> grace = DeleteGraceFromRequest(*req);
  if (!grace.ok()) return ToGrpcStatus(grace.status());
  absl::Status status = sandboxes_->Delete(req->namespace_(), req->sandbox_name(), *grace);
  if (!status.ok()) return ToGrpcStatus(status);
  resp->set_success(true);
  return grpc::Status::OK;
}

grpc::Status FastPathServer::UpdateSandbox(grpc::ServerContext* ctx,
                                           const fastpath::v1::UpdateRequest* req,
                                           fastpath::v1::UpdateResponse* resp) {
  if (grpc::Status allowed = Allow(ctx, "UpdateSandbox", req->namespace_()); !allowed.ok())
    return allowed;
  absl::StatusOr<fsb::v1alpha1::Sandbox> sandbox =
      sandboxes_->Update(SandboxUpdateFromRequest(*req));
  if (!sandbox.ok()) return ToGrpcStatus(sandbox.status());
  resp->set_success(true);
  resp->set_message("desired state committed");
  ToSandboxInfo(*sandbox, resp->mutable_sandbox());
  return grpc::Status::OK;
}

grpc::Status FastPathServer::ListSandboxes(grpc::ServerContext* ctx,
                                           const fastpath::v1::ListRequest* req,
                                           fastpath::v1::ListResponse* resp) {
  // Every caller may list every namespace, and sees those it may read.
  const bool every_namespace = req->namespace_().empty();
  absl::StatusOr<auth::Principal> caller =
      every_namespace ? auth_->Caller(*ctx)
                      : auth_->Authorize(*ctx, Method("ListSandboxes"), req->namespace_());
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  absl::StatusOr<ListPager> pager =
      ListPager::Start(req->page_size(), req->continue_token(),
                       {req->namespace_(), req->label_selector()}, /*key_parts=*/2);
  if (!pager.ok()) return ToGrpcStatus(pager.status());
  SandboxListRange range{.limit = pager->read_limit()};
  if (!pager->after().empty()) range.after = {pager->after()[0], pager->after()[1]};
  if (every_namespace) {
    range.visible = [&caller](std::string_view ns) { return auth::MayRead(*caller, ns); };
  }
  auto sandboxes = sandboxes_->List(req->namespace_(), req->label_selector(), range);
  if (!sandboxes.ok()) return ToGrpcStatus(sandboxes.status());
  for (const auto& sandbox : *sandboxes) {
    fastpath::v1::SandboxInfo info;
    ToSandboxInfo(sandbox, &info);
    if (!pager->Add({sandbox.metadata().namespace_(), sandbox.metadata().name()},
                    info.ByteSizeLong())) {
      break;
    }
    *resp->add_items() = std::move(info);
  }
  absl::StatusOr<std::string> next = pager->Finish();
  if (!next.ok()) return ToGrpcStatus(next.status());
  resp->set_continue_token(*std::move(next));
  return grpc::Status::OK;
}

grpc::Status FastPathServer::GetSandbox(grpc::ServerContext* ctx,
                                        const fastpath::v1::GetRequest* req,
                                        fastpath::v1::SandboxInfo* resp) {
  if (grpc::Status allowed = Allow(ctx, "GetSandbox", req->namespace_()); !allowed.ok())
    return allowed;
  if (absl::Status s = ValidateSandboxRef(req->namespace_(), req->sandbox_name()); !s.ok())
    return ToGrpcStatus(s);
  absl::StatusOr<fsb::v1alpha1::Sandbox> sandbox =
      sandboxes_->Get(req->namespace_(), req->sandbox_name());
  if (!sandbox.ok()) return ToGrpcStatus(sandbox.status());
  ToSandboxInfo(*sandbox, resp);
  return grpc::Status::OK;
}

grpc::Status FastPathServer::GetSandboxResource(grpc::ServerContext* ctx,
                                                const fastpath::v1::GetRequest* req,
                                                fsb::v1alpha1::Sandbox* resp) {
  if (grpc::Status allowed = Allow(ctx, "GetSandboxResource", req->namespace_()); !allowed.ok())
    return allowed;
  if (absl::Status s = ValidateSandboxRef(req->namespace_(), req->sandbox_name()); !s.ok())
    return ToGrpcStatus(s);
  absl::StatusOr<fsb::v1alpha1::Sandbox> sandbox =
      sandboxes_->Get(req->namespace_(), req->sandbox_name());
  if (!sandbox.ok()) return ToGrpcStatus(sandbox.status());
  *resp = *std::move(sandbox);
  return grpc::Status::OK;
}

grpc::Status FastPathServer::ApplySandbox(grpc::ServerContext* ctx,
                                          const fastpath::v1::ApplyRequest* req,
                                          fastpath::v1::ApplyResponse* resp) {
  if (grpc::Status allowed = Allow(ctx, "ApplySandbox", req->sandbox().metadata().namespace_());
      !allowed.ok())
    return allowed;
  bool created = false;
  absl::StatusOr<fsb::v1alpha1::Sandbox> sandbox = sandboxes_->Apply(req->sandbox(), &created);
  if (!sandbox.ok()) return ToGrpcStatus(sandbox.status());
  *resp->mutable_sandbox() = *std::move(sandbox);
  resp->set_created(created);
  return grpc::Status::OK;
}

grpc::Status FastPathServer::ListAgents(grpc::ServerContext* ctx,
                                        const fastpath::v1::ListAgentsRequest* req,
                                        fastpath::v1::ListAgentsResponse* resp) {
  if (grpc::Status allowed = Allow(ctx, "ListAgents", ""); !allowed.ok()) return allowed;
  absl::StatusOr<ListPager> pager =
      ListPager::Start(req->page_size(), req->continue_token(), {}, /*key_parts=*/1);
  if (!pager.ok()) return ToGrpcStatus(pager.status());
  absl::StatusOr<std::vector<fsb::v1alpha1::Agent>> agents = sandboxes_->ListAgents();
  if (!agents.ok()) return ToGrpcStatus(agents.status());
  // Ordered by name: the page starts after the previous page's last name.
  auto it = agents->begin();
  if (!pager->after().empty()) {
    it = std::upper_bound(agents->begin(), agents->end(), pager->after()[0],
                          [](const std::string& name, const fsb::v1alpha1::Agent& agent) {
                            return name < agent.metadata().name();
                          });
  }
  for (; it != agents->end(); ++it) {
    if (!pager->Add({it->metadata().name()}, it->ByteSizeLong())) break;
    *resp->add_items() = std::move(*it);
  }
  absl::StatusOr<std::string> next = pager->Finish();
  if (!next.ok()) return ToGrpcStatus(next.status());
  resp->set_continue_token(*std::move(next));
  return grpc::Status::OK;
}

grpc::Status FastPathServer::DeleteAgent(grpc::ServerContext* ctx,
                                         const fastpath::v1::DeleteAgentRequest* req,
                                         fastpath::v1::DeleteAgentResponse*) {
  if (grpc::Status allowed = Allow(ctx, "DeleteAgent", ""); !allowed.ok()) return allowed;
  return ToGrpcStatus(sandboxes_->DeleteAgent(req->name()));
}

grpc::Status FastPathServer::ApplySandboxPool(grpc::ServerContext* ctx,
                                              const fastpath::v1::ApplySandboxPoolRequest* req,
                                              fastpath::v1::ApplySandboxPoolResponse* resp) {
  if (grpc::Status allowed = Allow(ctx, "ApplySandboxPool", ""); !allowed.ok()) return allowed;
  bool created = false;
  absl::StatusOr<fsb::v1alpha1::SandboxPool> pool = pools_->Apply(req->pool(), &created);
  if (!pool.ok()) return ToGrpcStatus(pool.status());
  *resp->mutable_pool() = *std::move(pool);
  resp->set_created(created);
  return grpc::Status::OK;
}

grpc::Status FastPathServer::ListSandboxPools(grpc::ServerContext* ctx,
                                              const fastpath::v1::ListSandboxPoolsRequest*,
                                              fastpath::v1::ListSandboxPoolsResponse* resp) {
  if (grpc::Status allowed = Allow(ctx, "ListSandboxPools", ""); !allowed.ok()) return allowed;
  absl::StatusOr<std::vector<fsb::v1alpha1::SandboxPool>> pools = pools_->List();
  if (!pools.ok()) return ToGrpcStatus(pools.status());
  for (auto& pool : *pools) *resp->add_items() = std::move(pool);
  return grpc::Status::OK;
}

grpc::Status FastPathServer::DeleteSandboxPool(grpc::ServerContext* ctx,
                                               const fastpath::v1::DeleteSandboxPoolRequest* req,
                                               fastpath::v1::DeleteSandboxPoolResponse*) {
  if (grpc::Status allowed = Allow(ctx, "DeleteSandboxPool", ""); !allowed.ok()) return allowed;
  return ToGrpcStatus(pools_->Delete(req->name()));
}

grpc::Status FastPathServer::Allow(const grpc::ServerContext* ctx, std::string_view name,
                                   std::string_view ns) const {
  return ToGrpcStatus(auth_->Authorize(*ctx, Method(name), ns).status());
}

}  // namespace fsb::controller
