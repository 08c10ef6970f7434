#include "agent/io/service.h"

#include <memory>
#include <thread>
#include <utility>

#include "absl/synchronization/mutex.h"
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

// One Logs call: SandboxLogs::Logs on a worker thread; OnCancel stops it.
class LogsReactor final : public grpc::ServerWriteReactor<v1::LogChunk> {
 public:
  LogsReactor(SandboxLogs* logs, v1::LogsRequest request) : writer_(this) {
    worker_ = std::thread([this, logs, request = std::move(request)] {
      absl::Status status = logs->Logs(request, cancelled_, [this](v1::LogChunk chunk) {
        return writer_.Write(std::move(chunk));
      });
      Finish(ToGrpcStatus(status));
    });
  }

  void OnWriteDone(bool ok) override { writer_.OnWriteDone(ok); }
  void OnCancel() override { cancelled_.Notify(); }
  // Finish() is the worker's last act, so the join is immediate.
  void OnDone() override {
    worker_.join();
    delete this;
  }

 private:
  logger::EventFd cancelled_;
  BlockingWriter<LogsReactor, v1::LogChunk> writer_;
  std::thread worker_;
};

// One Exec call. The first message (start) is checked and the session prepared and run
// on a worker thread; the following messages are read one at a time, each only after the
// session consumed the previous one (flow control for stdin). A client that half-closes
// closes the command's stdin; one that goes away gets its command killed.
class ExecReactor final : public grpc::ServerBidiReactor<v1::ExecInput, v1::ExecOutput> {
 public:
  explicit ExecReactor(SandboxExec* exec) : exec_(exec), writer_(this) { StartRead(&input_); }

  void OnReadDone(bool ok) override {
    if (!started_) {
      started_ = true;
      if (!ok || !input_.has_start()) {
        Finish(ToGrpcStatus(
            absl::InvalidArgumentError("the first message of an exec must be `start`")));
        return;
      }
      worker_ = std::thread([this, start = input_.start()] { Work(start); });
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
    if (worker_.joinable()) worker_.join();
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
  std::thread worker_;
  absl::Mutex mu_;
  // Set once by the worker before the second read starts; lives until OnDone.
  std::unique_ptr<ExecSession> session_ ABSL_GUARDED_BY(mu_);
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

grpc::ServerWriteReactor<v1::LogChunk>* SandboxIOService::Logs(grpc::CallbackServerContext*,
                                                               const v1::LogsRequest* request) {
  return new LogsReactor(logs_, *request);
}

grpc::ServerBidiReactor<v1::ExecInput, v1::ExecOutput>* SandboxIOService::Exec(
    grpc::CallbackServerContext*) {
  return new ExecReactor(exec_);
}

}  // namespace fsb::agent
