#include "agent/io/service.h"

#include <memory>
#include <optional>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "agent/io/descriptors.h"
#include "agent/io/worker.h"
#include "internal/status.h"

namespace fsb::agent {
namespace {

// Gives a worker thread a blocking Write() on a callback stream: one write in flight at
// a time, Write() returns when it completed, false once the stream is broken (the client
// went away). The reactor forwards OnWriteDone() here. Thread-safe.
template <typename Reactor, typename Message>
class BlockingWriter {
 public:
  explicit BlockingWriter(Reactor* reactor) : reactor_(reactor) {}

  bool Write(Message message) {
    {
      absl::MutexLock lock(&mu_);
      if (broken_) return false;
      message_ = std::move(message);
      in_flight_ = true;
    }
    // Not under the lock: the completion may run on any thread.
    reactor_->StartWrite(&message_);
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](bool* in_flight) { return !*in_flight; }, &in_flight_));
    return !broken_;
  }

  void OnWriteDone(bool ok) {
    absl::MutexLock lock(&mu_);
    in_flight_ = false;
    broken_ = broken_ || !ok;
  }

 private:
  Reactor* const reactor_;
  absl::Mutex mu_;
  Message message_;  // owned by the write in flight
  bool in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
};

// One Logs call: SandboxLogs::Logs on a worker thread; OnCancel stops it. Refused at once
// when there is no descriptor for its cancel latch or over the stream cap.
class LogsReactor final : public grpc::ServerWriteReactor<v1::LogChunk> {
 public:
  LogsReactor(SandboxLogs* logs, StreamLimiter* limiter, v1::LogsRequest request) : writer_(this) {
    if (absl::Status s = EventFdStatus(cancelled_); !s.ok()) {
      Finish(ToGrpcStatus(s));
      return;
    }
    absl::StatusOr<StreamLimiter::Slot> slot = limiter->Acquire(StreamKind::kLogs);
    if (!slot.ok()) {
      Finish(ToGrpcStatus(slot.status()));
      return;
    }
    slot_.emplace(*std::move(slot));
    absl::StatusOr<std::unique_ptr<Worker>> worker =
        Worker::Start([this, logs, request = std::move(request)] {
          absl::Status status = logs->Logs(request, cancelled_, [this](v1::LogChunk chunk) {
            return writer_.Write(std::move(chunk));
          });
          Finish(ToGrpcStatus(status));
        });
    if (!worker.ok()) {
      Finish(ToGrpcStatus(worker.status()));
      return;
    }
    worker_ = *std::move(worker);
  }

  void OnWriteDone(bool ok) override { writer_.OnWriteDone(ok); }
  void OnCancel() override { cancelled_.Notify(); }
  // Finish() is the worker's last act, so the join is immediate. (gRPC calls OnDone only
  // after the constructor returned.)
  void OnDone() override {
    if (worker_ != nullptr) worker_->Join();
    delete this;
  }

 private:
  logger::EventFd cancelled_;
  BlockingWriter<LogsReactor, v1::LogChunk> writer_;
  std::optional<StreamLimiter::Slot> slot_;  // held until the call is done
  std::unique_ptr<Worker> worker_;           // null: refused
};

// One Exec call, refused at once over the stream cap. The first message (start) is checked and the
// session prepared and run on a worker thread; the following messages are read one at a time, each
// only after the session consumed the previous one (flow control for stdin). A client that
// half-closes closes the command's stdin; one that goes away gets its command killed.
class ExecReactor final : public grpc::ServerBidiReactor<v1::ExecInput, v1::ExecOutput> {
 public:
  ExecReactor(SandboxExec* exec, StreamLimiter* limiter) : exec_(exec), writer_(this) {
    absl::StatusOr<StreamLimiter::Slot> slot = limiter->Acquire(StreamKind::kExec);
    if (!slot.ok()) {
      Finish(ToGrpcStatus(slot.status()));
      return;
    }
    slot_.emplace(*std::move(slot));
    StartRead(&input_);
  }

  void OnReadDone(bool ok) override {
    if (!started_) {
      started_ = true;
      if (!ok || !input_.has_start()) {
        Finish(ToGrpcStatus(
            absl::InvalidArgumentError("the first message of an exec must be `start`")));
        return;
      }
      absl::StatusOr<std::unique_ptr<Worker>> worker =
          Worker::Start([this, start = input_.start()] { Work(start); });
      if (!worker.ok()) {
        Finish(ToGrpcStatus(worker.status()));
        return;
      }
      worker_ = *std::move(worker);
      return;
    }
    ExecSession* session = Session();
    if (!ok) {
      v1::ExecInput close;
      close.set_close_stdin(true);
      session->Push(std::move(close), [] {});
      return;
    }
    session->Push(std::move(input_), [this] { StartRead(&input_); });
  }

  void OnWriteDone(bool ok) override { writer_.OnWriteDone(ok); }

  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
    if (session_ != nullptr) session_->Cancel();
  }

  void OnDone() override {
    if (worker_ != nullptr) worker_->Join();
    delete this;
  }

 private:
  void Work(const v1::ExecStart& start) {
    absl::StatusOr<std::unique_ptr<ExecSession>> prepared = exec_->Prepare(start);
    if (!prepared.ok()) {
      Finish(ToGrpcStatus(prepared.status()));
      return;
    }
    ExecSession* session;
    {
      absl::MutexLock lock(&mu_);
      session_ = *std::move(prepared);
      session = session_.get();
      if (cancelled_) session->Cancel();
    }
    StartRead(&input_);
    absl::Status status =
        session->Run([this](v1::ExecOutput output) { return writer_.Write(std::move(output)); });
    Finish(ToGrpcStatus(status));
  }

  ExecSession* Session() {
    absl::MutexLock lock(&mu_);
    return session_.get();
  }

  SandboxExec* const exec_;
  BlockingWriter<ExecReactor, v1::ExecOutput> writer_;
  v1::ExecInput input_;   // the read in flight
  bool started_ = false;  // only touched by OnReadDone, which never runs concurrently
  std::optional<StreamLimiter::Slot> slot_;  // held until the call is done
  // Set by the first OnReadDone; null when the start was refused. gRPC runs OnDone only
  // after that reaction returned.
  std::unique_ptr<Worker> worker_;
  absl::Mutex mu_;
  // Set once by the worker before the second read starts; lives until OnDone.
  std::unique_ptr<ExecSession> session_ ABSL_GUARDED_BY(mu_);
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

grpc::ServerWriteReactor<v1::LogChunk>* SandboxIOService::Logs(grpc::CallbackServerContext*,
                                                               const v1::LogsRequest* request) {
  return new LogsReactor(logs_, limiter_, *request);
}

grpc::ServerBidiReactor<v1::ExecInput, v1::ExecOutput>* SandboxIOService::Exec(
    grpc::CallbackServerContext*) {
  return new ExecReactor(exec_, limiter_);
}

}  // namespace fsb::agent
