#ifndef FSB_CONTROLLER_SANDBOX_IO_PROXY_H_
#define FSB_CONTROLLER_SANDBOX_IO_PROXY_H_

#include "absl/time/time.h"
#include "controller/client_auth.h"
#include "controller/grpc_agent_client.h"
#include "controller/sandbox/sandbox_service.h"
#include "fastpath/v1/fastpath.grpc.pb.h"

namespace fsb::controller {

// gRPC adapter of fastpath.v1.SandboxIO: finds the sandbox's agent and container
// (SandboxService::Locate) and relays the call to that agent's fsb.agent.v1.SandboxIO,
// message by message: requests are translated (the client names a sandbox, the agent a
// container), the streamed output is the agent's own messages, passed on as they are.
//
// Both sides use gRPC's callback API, so a relayed call costs no thread. Each direction
// has one message in flight at a time: a slow reader slows the writer instead of
// piling messages up in the controller. The agent call carries the client's deadline
// and is cancelled when the client goes away; it also gets a deadline of its own:
// `logs_timeout` for a Logs call without follow, `exec_timeout` for an Exec. A follow has
// none beyond the client's: it ends when the sandbox exits (the agent ends it) or the
// client cancels. The agent's final status is the client's.
//
// Every call is authorized first (ClientAuth; an Exec once its `start` names the
// sandbox), so a caller that may not see the namespace learns nothing of its sandboxes.
// Errors before the agent is called: UNAUTHENTICATED, PERMISSION_DENIED, NOT_FOUND (unknown
// sandbox), FAILED_PRECONDITION (no container on an agent, e.g. Pending), INVALID_ARGUMENT (an Exec
// whose first message is not `start`, negative since). Thread-safe.
class SandboxIOProxy final : public fastpath::v1::SandboxIO::CallbackService {
 public:
  struct Options {
    absl::Duration logs_timeout = absl::Minutes(5);
    absl::Duration exec_timeout = absl::Hours(24);
  };

  // `sandboxes`, `agents` and `auth` must outlive the server.
  SandboxIOProxy(SandboxService* sandboxes, GrpcAgentClient* agents, const ClientAuth* auth,
                 Options options)
      : sandboxes_(sandboxes), agents_(agents), auth_(auth), options_(options) {}

  grpc::ServerWriteReactor<fsb::agent::v1::LogChunk>* Logs(
      grpc::CallbackServerContext* ctx, const fastpath::v1::LogsRequest* request) override;
  grpc::ServerBidiReactor<fastpath::v1::ExecRequest, fsb::agent::v1::ExecOutput>* Exec(
      grpc::CallbackServerContext* ctx) override;

 private:
  SandboxService* const sandboxes_;
  GrpcAgentClient* const agents_;
  const ClientAuth* const auth_;
  const Options options_;
};

}  // namespace fsb::controller

#endif  // FSB_CONTROLLER_SANDBOX_IO_PROXY_H_
