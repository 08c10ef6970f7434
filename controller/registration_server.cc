#include "controller/registration_server.h"

#include <utility>

#include "internal/status.h"

namespace fsb::controller {

grpc::Status RegistrationServer::Register(grpc::ServerContext*,
                                          const fsb::agent::v1::RegisterRequest* req,
                                          fsb::agent::v1::RegisterResponse* resp) {
  absl::StatusOr<fsb::agent::v1::RegisterResponse> answer = sandboxes_->RegisterAgent(*req);
  if (!answer.ok()) return ToGrpcStatus(answer.status());
  *resp = *std::move(answer);
  resp->set_heartbeat_interval_millis(absl::ToInt64Milliseconds(heartbeat_interval_));
  return grpc::Status::OK;
}

grpc::Status RegistrationServer::Heartbeat(grpc::ServerContext*,
                                           const fsb::agent::v1::HeartbeatRequest* req,
                                           fsb::agent::v1::HeartbeatResponse* resp) {
  absl::StatusOr<fsb::agent::v1::HeartbeatResponse> answer = sandboxes_->Heartbeat(*req);
  if (!answer.ok()) return ToGrpcStatus(answer.status());
  *resp = *std::move(answer);
  return grpc::Status::OK;
}

}  // namespace fsb::controller
