#ifndef FSB_CONTROLLER_GRPC_AGENT_CLIENT_H_
#define FSB_CONTROLLER_GRPC_AGENT_CLIENT_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "controller/agent_client.h"
#include "fsb/agent/v1/agent.grpc.pb.h"
#include "grpcpp/security/credentials.h"

namespace fsb::controller {

// AgentClient over gRPC. Keeps one channel (and stub) per agent address, created on
// first use; gRPC reconnects it as needed. With `credentials` (mutual TLS) a channel
// verifies that the agent's certificate names the agent id registered at its address
// (AgentUp); a new id at an address gets a new channel. Deadlines are wall-clock
// deadlines, as gRPC requires: create calls get `create_timeout`, or `pull_timeout` when
// they may pull the image; delete calls get the grace period (or `default_grace` when the
// caller leaves it to the agent) plus `delete_timeout_margin`. Thread-safe.
class GrpcAgentClient final : public AgentClient {
 public:
  struct Options {
    absl::Duration create_timeout = absl::Seconds(30);
    absl::Duration pull_timeout = absl::Minutes(10);
    absl::Duration delete_timeout_margin = absl::Seconds(15);
    // The grace period agents apply when asked for none; sizes the delete deadline only.
    absl::Duration default_grace = absl::Seconds(10);
    // Null: plaintext channels (the controller's --insecure).
    std::shared_ptr<grpc::ChannelCredentials> credentials;
  };

  explicit GrpcAgentClient(Options options);

  absl::StatusOr<fsb::agent::v1::CreateSandboxResponse> CreateSandbox(
      std::string_view address, const fsb::agent::v1::SandboxSpec& spec, bool may_pull) override;
  absl::Status DeleteSandbox(std::string_view address, std::string_view sandbox_id,
                             std::optional<absl::Duration> grace) override;
  // Resets the connection backoff of the channel to `address`, if one exists, and starts
  // connecting it (a call right away may still fail fast; one a few ms later does not).
  void AgentUp(std::string_view agent_id, std::string_view address) override;

  // The channel to the agent at `address`, created on first use and kept; for the
  // controller's other calls to agents (logs, exec, images) to share it.
  std::shared_ptr<grpc::Channel> Channel(std::string_view address);

 private:
  struct Connection {
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<fsb::agent::v1::AgentService::Stub> stub;
  };
  // The connection to `address`, created on first use (pinned to the agent id last
  // registered there). Never null.
  std::shared_ptr<Connection> Connect(std::string_view address);

  const Options options_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<Connection>> connections_ ABSL_GUARDED_BY(mu_);
  // address -> the agent id registered there: the name its certificate must carry.
  absl::flat_hash_map<std::string, std::string> agent_ids_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fsb::controller

#endif  // FSB_CONTROLLER_GRPC_AGENT_CLIENT_H_
