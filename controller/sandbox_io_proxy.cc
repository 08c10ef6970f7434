#include "controller/sandbox_io_proxy.h"

#include <atomic>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "controller/request_validation.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "internal/deadline.h"
#include "internal/status.h"

namespace fsb::controller {
namespace {

namespace agentv1 = fsb::agent::v1;
namespace fp = fastpath::v1;

// ---- Translation of the requests (the output needs none: both APIs stream the agent's
// messages) ----

// `request` passed ValidateLogsRequest.
agentv1::LogsRequest ToAgent(const fp::LogsRequest& request,
                             const SandboxService::Location& location) {
  agentv1::LogsRequest out;
  out.set_sandbox_id(location.container_id);
  out.set_follow(request.follow());
  // fastpath.v1: "< 0, or unset without follow: every line kept"; with follow, 0 asks for
  // new lines only.
  const bool all = request.tail_lines() < 0 || (request.tail_lines() == 0 && !request.follow());
  out.set_tail_lines(all ? -1 : request.tail_lines());
  // Saturates past the year 2262, where int64 nanoseconds end: no line is that late.
  out.set_since_unix_nanos(absl::ToUnixNanos(absl::FromUnixSeconds(request.since_unix_seconds())));
  return out;
}

void ToAgent(const fp::ExecStart& start, const SandboxService::Location& location,
             agentv1::ExecInput* out) {
  agentv1::ExecStart* s = out->mutable_start();
  s->set_sandbox_id(location.container_id);
  s->mutable_args()->CopyFrom(start.args());
  s->mutable_env()->insert(start.env().begin(), start.env().end());
  s->set_working_dir(start.working_dir());
  s->set_tty(start.tty());
  s->set_stdin(start.stdin());
  if (start.rows() != 0 || start.cols() != 0) {
    s->mutable_size()->set_rows(start.rows());
    s->mutable_size()->set_cols(start.cols());
  }
}

// Everything but `start`, which only the first message carries.
void ToAgent(const fp::ExecRequest& in, agentv1::ExecInput* out) {
  out->Clear();
  switch (in.input_case()) {
    case fp::ExecRequest::kStdin:
      out->set_stdin(in.stdin());
      break;
    case fp::ExecRequest::kCloseStdin:
      out->set_close_stdin(in.close_stdin());
      break;
    case fp::ExecRequest::kResize:
      *out->mutable_resize() = in.resize();
      break;
    default:
      break;
  }
}

// ---- Relaying ----

// Lets the client's reactions start operations on the agent call's reactor without
// racing its OnDone (after which no operation may start). The agent reactor holds
// (AddHold) from its start; Begin() admits an operation until the call is closing — its
// reads have ended, so it has nothing more to say and anything sent to it is moot — and
// the hold is dropped once it is closing and no admitted operation is still being
// started. Thread-safe.
template <typename Reactor>
class AgentGate {
 public:
  explicit AgentGate(Reactor* reactor) : reactor_(reactor) {}

  void Hold() { reactor_->AddHold(); }

  // True: the caller may start one operation on the reactor, then calls End().
  bool Begin() {
    absl::MutexLock lock(&mu_);
    if (closing_) return false;
    ++starting_;
    return true;
  }
  void End() {
    bool release;
    {
      absl::MutexLock lock(&mu_);
      --starting_;
      release = ShouldReleaseLocked();
    }
    if (release) reactor_->RemoveHold();
  }
  // The agent call's reads have ended.
  void Close() {
    bool release;
    {
      absl::MutexLock lock(&mu_);
      closing_ = true;
      release = ShouldReleaseLocked();
    }
    if (release) reactor_->RemoveHold();
  }

 private:
  bool ShouldReleaseLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!closing_ || starting_ > 0 || released_) return false;
    released_ = true;
    return true;
  }

  Reactor* const reactor_;
  absl::Mutex mu_;
  int starting_ ABSL_GUARDED_BY(mu_) = 0;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  bool released_ ABSL_GUARDED_BY(mu_) = false;
};

// The agent call's reactors; they hand every reaction to the relay.
template <typename RelayT>
class AgentReader final : public grpc::ClientReadReactor<agentv1::LogChunk> {
 public:
  explicit AgentReader(RelayT* relay) : relay_(relay) {}
  void OnReadDone(bool ok) override { relay_->OnAgentRead(ok); }
  void OnDone(const grpc::Status& status) override { relay_->OnAgentDone(status); }

 private:
  RelayT* const relay_;
};

template <typename RelayT>
class AgentStream final : public grpc::ClientBidiReactor<agentv1::ExecInput, agentv1::ExecOutput> {
 public:
  explicit AgentStream(RelayT* relay) : relay_(relay) {}
  void OnWriteDone(bool ok) override { relay_->OnAgentWriteDone(ok); }
  void OnReadDone(bool ok) override { relay_->OnAgentRead(ok); }
  void OnDone(const grpc::Status& status) override { relay_->OnAgentDone(status); }

 private:
  RelayT* const relay_;
};

// What both relays share: the agent call (its context, cancellation and reactor), the
// agent-to-client direction (each agent message is written to the client as it is; the
// next is read, into the same buffer, once the client took it; the agent's final status
// is the client's), and the lifetime of a relay, which ends when both the client's call
// and the agent's are done (each reactor's OnDone drops one reference). `Derived` is the
// relay (CRTP), `ServerReactor` the client call's reactor type, `Agent` the agent call's
// (templated on this base, which it is made with before `Derived` exists: the base turns
// itself into a `Derived` only in reactions, which start once the relay is whole), `Out`
// the streamed message.
template <typename Derived, typename ServerReactor, template <typename> class Agent, typename Out>
class Relay : public ServerReactor {
 public:
  void OnWriteDone(bool ok) override {
    if (!ok) {
      CancelAgent();
      return;
    }
    if (gate_.Begin()) {
      agent_.StartRead(&out_);
      gate_.End();
    }
  }
  void OnCancel() override { CancelAgent(); }
  void OnDone() override { Unref(); }

  void OnAgentRead(bool ok) {
    if (!ok) {
      gate_.Close();
      return;
    }
    this->StartWrite(&out_);
  }
  void OnAgentDone(const grpc::Status& status) {
    this->Finish(status);
    Unref();
  }
  // Exec's agent call took a write: Derived::AgentWriteDone.
  void OnAgentWriteDone(bool ok) { static_cast<Derived*>(this)->AgentWriteDone(ok); }

 protected:
  Relay() : agent_(this), gate_(&agent_) {}

  // A context for the agent call: the client's deadline and cancellation propagate to it;
  // `timeout` (InfiniteDuration: none) bounds it further. If the client already went
  // away, the agent call is cancelled as it starts. Called once, before the agent call.
  grpc::ClientContext* NewAgentContext(const grpc::CallbackServerContext& client,
                                       absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    context_ = grpc::ClientContext::FromCallbackServerContext(client);
    if (timeout != absl::InfiniteDuration()) {
      context_->set_deadline(Deadline::In(timeout).ToChrono());
    }
    if (cancelled_) context_->TryCancel();
    refs_.fetch_add(1);
    return context_.get();
  }

  // The agent call's reads are started: then the call itself.
  void StartAgentCall() {
    gate_.Hold();
    agent_.StartRead(&out_);
    agent_.StartCall();
  }

  std::unique_ptr<agentv1::SandboxIO::Stub> stub_;
  Agent<Relay> agent_;
  AgentGate<Agent<Relay>> gate_;

 private:
  void CancelAgent() {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
    if (context_ != nullptr) context_->TryCancel();
  }

  void Unref() {
    if (refs_.fetch_sub(1) == 1) delete static_cast<Derived*>(this);
  }

  std::atomic<int> refs_{1};  // the client's call
  absl::Mutex mu_;
  std::unique_ptr<grpc::ClientContext> context_ ABSL_GUARDED_BY(mu_);
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  // The agent read in flight, then the client write in flight: never both.
  Out out_;
};

// Logs: the agent's chunks, one at a time.
class LogsRelay final : public Relay<LogsRelay, grpc::ServerWriteReactor<agentv1::LogChunk>,
                                     AgentReader, agentv1::LogChunk> {
 public:
  LogsRelay(grpc::CallbackServerContext* ctx, const fp::LogsRequest& request,
            SandboxService* sandboxes, GrpcAgentClient* agents, const ClientAuth* auth,
            const SandboxIOProxy::Options& options) {
    absl::Status allowed =
        auth->Authorize(*ctx, "/fastpath.v1.SandboxIO/Logs", request.namespace_()).status();
    if (allowed.ok()) allowed = ValidateLogsRequest(request);
    absl::StatusOr<SandboxService::Location> location =
        allowed.ok() ? sandboxes->Locate(request.namespace_(), request.sandbox_name()) : allowed;
    if (!location.ok()) {
      Finish(ToGrpcStatus(location.status()));
      return;
    }
    agent_request_ = ToAgent(request, *location);
    stub_ = agentv1::SandboxIO::NewStub(agents->Channel(location->agent_address));
    grpc::ClientContext* context =
        NewAgentContext(*ctx, request.follow() ? absl::InfiniteDuration() : options.logs_timeout);
    stub_->async()->Logs(context, &agent_request_, &agent_);
    StartAgentCall();
  }

 private:
  agentv1::LogsRequest agent_request_;
};

// Exec: besides the agent-to-client direction, client reads feed agent writes, one
// message in flight. The first client message (start) opens the agent call; the
// client's half-close is the agent call's.
class ExecRelay final
    : public Relay<ExecRelay, grpc::ServerBidiReactor<fp::ExecRequest, agentv1::ExecOutput>,
                   AgentStream, agentv1::ExecOutput> {
 public:
  ExecRelay(grpc::CallbackServerContext* ctx, SandboxService* sandboxes, GrpcAgentClient* agents,
            const ClientAuth* auth, const SandboxIOProxy::Options& options)
      : ctx_(ctx), sandboxes_(sandboxes), agents_(agents), auth_(auth), options_(options) {
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!started_) {
      started_ = true;
      Start(ok);
      return;
    }
    if (!gate_.Begin()) return;
    if (ok) {
      ToAgent(request_, &input_);
      agent_.StartWrite(&input_);
    } else {
      agent_.StartWritesDone();
    }
    gate_.End();
  }

  // The agent took an input: read the client's next.
  void AgentWriteDone(bool ok) {
    if (ok) StartRead(&request_);
  }

 private:
  void Start(bool ok) {
    if (!ok || !request_.has_start()) {
      Finish(
          ToGrpcStatus(absl::InvalidArgumentError("the first message of an exec must be `start`")));
      return;
    }
    const fp::ExecStart& start = request_.start();
    absl::Status allowed =
        auth_->Authorize(*ctx_, "/fastpath.v1.SandboxIO/Exec", start.namespace_()).status();
    if (allowed.ok()) allowed = ValidateExecStart(start);
    absl::StatusOr<SandboxService::Location> location =
        allowed.ok() ? sandboxes_->Locate(start.namespace_(), start.sandbox_name()) : allowed;
    if (!location.ok()) {
      Finish(ToGrpcStatus(location.status()));
      return;
    }
    ToAgent(start, *location, &input_);
    stub_ = agentv1::SandboxIO::NewStub(agents_->Channel(location->agent_address));
    grpc::ClientContext* context = NewAgentContext(*ctx_, options_.exec_timeout);
    stub_->async()->Exec(context, &agent_);
    agent_.StartWrite(&input_);
    StartAgentCall();
  }

  grpc::CallbackServerContext* const ctx_;
  SandboxService* const sandboxes_;
  GrpcAgentClient* const agents_;
  const ClientAuth* const auth_;
  const SandboxIOProxy::Options options_;
  bool started_ = false;      // only OnReadDone touches it; reads never overlap
  fp::ExecRequest request_;   // the client read in flight
  agentv1::ExecInput input_;  // the agent write in flight
};

}  // namespace

grpc::ServerWriteReactor<agentv1::LogChunk>* SandboxIOProxy::Logs(grpc::CallbackServerContext* ctx,
                                                                  const fp::LogsRequest* request) {
  return new LogsRelay(ctx, *request, sandboxes_, agents_, auth_, options_);
}

grpc::ServerBidiReactor<fp::ExecRequest, agentv1::ExecOutput>* SandboxIOProxy::Exec(
    grpc::CallbackServerContext* ctx) {
  return new ExecRelay(ctx, sandboxes_, agents_, auth_, options_);
}

}  // namespace fsb::controller
