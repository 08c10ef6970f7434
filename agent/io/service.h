#ifndef FSB_AGENT_IO_SERVICE_H_
#define FSB_AGENT_IO_SERVICE_H_

#include "agent/io/exec.h"
#include "agent/io/logs.h"
#include "agent/io/stream_limiter.h"
#include "fsb/agent/v1/agent.grpc.pb.h"

namespace fsb::agent {

// gRPC adapter of fsb.agent.v1.SandboxIO over SandboxLogs and SandboxExec: decode, call,
// encode. It uses gRPC's callback API so that a call learns at once that its client went
// away (a follow or an exec may be idle for hours); the blocking work of each call runs on
// a thread of its own, which writes one message at a time and ends with the call. A call
// over the limiter's cap, or whose thread cannot start, ends at once with
// RESOURCE_EXHAUSTED saying why. Thread-safe.
class SandboxIOService final : public fsb::agent::v1::SandboxIO::CallbackService {
 public:
  // All must outlive the server.
  SandboxIOService(SandboxLogs* logs, SandboxExec* exec, StreamLimiter* limiter)
      : logs_(logs), exec_(exec), limiter_(limiter) {}

  grpc::ServerWriteReactor<fsb::agent::v1::LogChunk>* Logs(
      grpc::CallbackServerContext* ctx, const fsb::agent::v1::LogsRequest* request) override;
  grpc::ServerBidiReactor<fsb::agent::v1::ExecInput, fsb::agent::v1::ExecOutput>* Exec(
      grpc::CallbackServerContext* ctx) override;

 private:
  SandboxLogs* const logs_;
  SandboxExec* const exec_;
  StreamLimiter* const limiter_;
};

}  // namespace fsb::agent

#endif  // FSB_AGENT_IO_SERVICE_H_
