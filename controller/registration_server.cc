#include "controller/registration_server.h"

#include "internal/status.h"

namespace fsb::controller {

grpc::Status RegistrationServer::Register(grpc::ServerContext*,
                                          const fsb::agent::v1::RegisterRequest* req,
                                          fsb::agent::v1::RegisterResponse* resp) {
  absl::Status status = sandboxes_->RegisterAgent(*req);
  if (!status.ok()) return ToGrpcStatus(status);
  resp->set_heartbeat_interval_millis(absl::ToInt64Milliseconds(heartbeat_interval_));
  return grpc::Status::OK;
}

grpc::Status RegistrationServer::Heartbeat(grpc::ServerContext*,
                                           const fsb::agent::v1::HeartbeatRequest* req,
                                           fsb::agent::v1::HeartbeatResponse*) {
  return ToGrpcStatus(sandboxes_->Heartbeat(*req));
}

}  // namespace fsb::controller
