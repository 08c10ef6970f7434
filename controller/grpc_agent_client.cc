#include "controller/grpc_agent_client.h"

#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "internal/deadline.h"
#include "internal/message_limits.h"
#include "internal/status.h"
#include "internal/strings.h"
#include "internal/tls/tls.h"

namespace fsb::controller {
namespace {

void SetTimeout(grpc::ClientContext* ctx, absl::Duration timeout) {
  ctx->set_deadline(Deadline::In(timeout).ToChrono());
}

}  // namespace

GrpcAgentClient::GrpcAgentClient(Options options) : options_(options) {}

absl::StatusOr<fsb::agent::v1::CreateSandboxResponse> GrpcAgentClient::CreateSandbox(
    std::string_view address, const fsb::agent::v1::SandboxSpec& spec, bool may_pull) {
  fsb::agent::v1::CreateSandboxRequest req;
  *req.mutable_spec() = spec;
  fsb::agent::v1::CreateSandboxResponse resp;
  grpc::ClientContext ctx;
  SetTimeout(&ctx, may_pull ? options_.pull_timeout : options_.create_timeout);
  absl::Status status = FromGrpcStatus(Connect(address)->stub->CreateSandbox(&ctx, req, &resp));
  if (status.ok()) return resp;
  if (!ctx.GetServerTrailingMetadata().contains(kHandledTrailer)) {
    status = absl::Status(
        status.code(), absl::StrCat("agent at ", Sv(address), " not reached: ", status.message()));
    status.SetPayload(kAgentUnreachable, absl::Cord());
  }
  return status;
}

absl::Status GrpcAgentClient::DeleteSandbox(std::string_view address, std::string_view sandbox_id,
                                            std::optional<absl::Duration> grace) {
  fsb::agent::v1::DeleteSandboxRequest req;
  req.set_sandbox_id(std::string(sandbox_id));
  if (grace.has_value()) req.set_grace_period_millis(absl::ToInt64Milliseconds(*grace));
  fsb::agent::v1::DeleteSandboxResponse resp;
  grpc::ClientContext ctx;
  const absl::Duration effective_grace = grace.value_or(options_.default_grace);
  SetTimeout(&ctx, effective_grace + options_.delete_timeout_margin);
  return FromGrpcStatus(Connect(address)->stub->DeleteSandbox(&ctx, req, &resp));
}

std::shared_ptr<GrpcAgentClient::Connection> GrpcAgentClient::Connect(std::string_view address) {
  absl::MutexLock lock(&mu_);
  std::shared_ptr<Connection>& connection = connections_[Sv(address)];
  if (connection == nullptr) {
    connection = std::make_shared<Connection>();
    // An agent's answers (its ListSandboxes) may be as large as its reports.
    if (options_.credentials == nullptr) {
      grpc::ChannelArguments args;
      args.SetMaxReceiveMessageSize(kMaxAgentMessageBytes);
      connection->channel =
          grpc::CreateCustomChannel(std::string(address), grpc::InsecureChannelCredentials(), args);
    } else {
      // An address no agent registered at since the controller started is pinned to its
      // host name, which no agent certificate carries: such calls fail the handshake.
      auto id = agent_ids_.find(Sv(address));
      const std::string_view name = id != agent_ids_.end() ? std::string_view(id->second)
                                                           : address.substr(0, address.rfind(':'));
      grpc::ChannelArguments args = TlsChannelArguments(name);
      args.SetMaxReceiveMessageSize(kMaxAgentMessageBytes);
      connection->channel =
          grpc::CreateCustomChannel(std::string(address), options_.credentials, args);
    }
    connection->stub = fsb::agent::v1::AgentService::NewStub(connection->channel);
  }
  return connection;
}

void GrpcAgentClient::AgentUp(std::string_view agent_id, std::string_view address) {
  std::shared_ptr<grpc::Channel> channel;
  {
    absl::MutexLock lock(&mu_);
    std::string& id = agent_ids_[Sv(address)];
    if (id != agent_id) {
      id = std::string(agent_id);
      connections_.erase(Sv(address));  // pinned to another name; callers keep theirs
      return;
    }
    auto it = connections_.find(Sv(address));
    if (it == connections_.end()) return;
    channel = it->second->channel;
  }
  grpc::experimental::ChannelResetConnectionBackoff(channel.get());
  channel->GetState(/*try_to_connect=*/true);
}

std::shared_ptr<grpc::Channel> GrpcAgentClient::Channel(std::string_view address) {
  return Connect(address)->channel;
}

}  // namespace fsb::controller
