#include "agent/io/exec.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/io/descriptors.h"
#include "agent/io/logs.h"
#include "agent/oci_spec.h"
#include "glog/logging.h"
#include "google/protobuf/struct.pb.h"
#include "internal/deadline.h"
#include "internal/directory.h"
#include "internal/ids.h"
#include "internal/proto_json.h"
#include "internal/strings.h"
#include "internal/validation.h"

namespace fsb::agent {
namespace {

namespace ctasks = containerd::services::tasks::v1;
using google::protobuf::ListValue;
using google::protobuf::Struct;
using google::protobuf::Value;
using logger::UniqueFd;

constexpr char kProcessTypeUrl[] = "types.containerd.io/opencontainers/runtime-spec/1/Process";
constexpr size_t kReadBytes = 32 * 1024;
constexpr uint32_t kMaxTerminalSide = 65535;
// The exec's Tasks.Wait deadline lies this far past its own, which the agent enforces by
// killing the process: the wait then still learns the exit.
constexpr absl::Duration kWaitMargin = absl::Minutes(1);
// How long the janitor waits for a SIGKILLed orphan exec to exit.
constexpr absl::Duration kOrphanExitWait = absl::Seconds(10);

// Blocks SIGPIPE on the calling thread while it lives, so that writing to a FIFO whose
// reader is gone fails with EPIPE instead of killing the agent; a SIGPIPE raised
// meanwhile is consumed before the mask is restored.
class SigpipeBlock {
 public:
  SigpipeBlock() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~SigpipeBlock() {
    const timespec zero{};
    while (sigtimedwait(&pipe_, nullptr, &zero) > 0) {
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }

 private:
  sigset_t pipe_;
  sigset_t old_;
};

// The exec's FIFO folder; removed with everything in it on destruction.
class FifoDir {
 public:
  static absl::StatusOr<std::unique_ptr<FifoDir>> Create(const std::string& dir) {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(dir).parent_path(), ec);
    if (ec || mkdir(dir.c_str(), 0700) != 0) return ErrnoStatus("cannot create", dir);
    return std::unique_ptr<FifoDir>(new FifoDir(dir));
  }
  ~FifoDir() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    if (ec) LOG(WARNING) << "cannot remove " << dir_ << ": " << ec.message();
  }

  // Makes the FIFO `name` and returns its path.
  absl::StatusOr<std::string> Make(std::string_view name) {
    std::string path = absl::StrCat(dir_, "/", Sv(name));
    if (mkfifo(path.c_str(), 0600) != 0) return ErrnoStatus("cannot make FIFO", path);
    return path;
  }

 private:
  explicit FifoDir(std::string dir) : dir_(std::move(dir)) {}
  const std::string dir_;
};

absl::StatusOr<UniqueFd> OpenFifo(const std::string& path, int flags) {
  UniqueFd fd(open(path.c_str(), flags | O_NONBLOCK | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus("cannot open", path);
  return fd;
}

// containerd's error `s` for `what` on exec `exec_id`, with the code kept.
absl::Status ContainerdError(std::string_view what, const ExecSession::Params& params,
                             const absl::Status& s) {
  return absl::Status(s.code(), absl::StrCat(Sv(what), " of exec ", params.exec_id, " in sandbox ",
                                             params.container_id, ": ", s.message()));
}

Value StringList(const std::vector<std::string>& items) {
  Value value;
  ListValue* list = value.mutable_list_value();
  for (const std::string& item : items) list->add_values()->set_string_value(item);
  return value;
}

}  // namespace

absl::Status ValidateExecStart(const v1::ExecStart& start) {
  if (start.args().empty() || start.args(0).empty()) {
    return absl::InvalidArgumentError("args: a command is required");
  }
  for (const auto& [name, value] : start.env()) {
    if (absl::Status s = ValidateEnvName("env", name); !s.ok()) return s;
  }
  if (!start.working_dir().empty() && start.working_dir().front() != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("working_dir \"", start.working_dir(), "\" must be an absolute path"));
  }
  if (start.has_size()) {
    if (!start.tty()) return absl::InvalidArgumentError("size is only valid with tty");
    const v1::TerminalSize& size = start.size();
    if (size.rows() > kMaxTerminalSide || size.cols() > kMaxTerminalSide ||
        (size.rows() == 0) != (size.cols() == 0)) {
      return absl::InvalidArgumentError(absl::StrCat("size ", size.rows(), "x", size.cols(),
                                                     ": rows and cols must both be 1-65535"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ExecProcessJson(std::string_view sandbox_spec_json,
                                            const v1::ExecStart& start) {
  Struct spec;
  if (!ProtoFromJson(sandbox_spec_json, &spec).ok() || !spec.fields().contains("process") ||
      !spec.fields().at("process").has_struct_value()) {
    return absl::FailedPreconditionError("the sandbox's runtime spec has no process");
  }
  Struct process = spec.fields().at("process").struct_value();
  auto& fields = *process.mutable_fields();

  std::vector<std::string> env;
  if (auto it = fields.find("env"); it != fields.end()) {
    for (const Value& v : it->second.list_value().values()) env.push_back(v.string_value());
  }
  env = MergeEnv(env, {start.env().begin(), start.env().end()});

  fields["args"] = StringList({start.args().begin(), start.args().end()});
  fields["env"] = StringList(env);
  if (!start.working_dir().empty()) fields["cwd"].set_string_value(start.working_dir());
  fields["terminal"].set_bool_value(start.tty());
  fields.erase("consoleSize");
  return ProtoToJson(process);
}

// The state of one Run(): the process's FIFOs, the containerd calls in flight, and the
// event loop that moves bytes between them and the caller. Lives on Run()'s stack.
class ExecSession::Io {
 public:
  Io(ExecSession* session, const Sink& sink)
      : session_(session),
        params_(session->params_),
        sink_(sink),
        containerd_(session->containerd_) {}

  // The DeleteProcess callback refers to this object.
  ~Io() {
    if (!delete_started_) return;
    pollfd p{deleted_.fd(), POLLIN, 0};
    while (!deleted_.Notified()) poll(&p, 1, -1);
  }

  absl::Status Run() {
    for (const logger::EventFd* event :
         {&session_->doorbell_, &session_->cancelled_, &exited_, &deleted_}) {
      if (absl::Status s = EventFdStatus(*event); !s.ok()) return s;
    }
    SigpipeBlock no_sigpipe;
    absl::StatusOr<std::unique_ptr<FifoDir>> dir = FifoDir::Create(params_.fifo_dir);
    if (!dir.ok()) return dir.status();
    ctasks::ExecProcessRequest exec;
    exec.set_container_id(params_.container_id);
    exec.set_exec_id(params_.exec_id);
    exec.set_terminal(params_.tty);
    exec.mutable_spec()->set_type_url(kProcessTypeUrl);
    exec.mutable_spec()->set_value(params_.process_json);
    // Read ends first, so the shim's opening for writing never blocks.
    absl::StatusOr<std::string> out_path = (*dir)->Make("stdout");
    if (!out_path.ok()) return out_path.status();
    if (absl::Status s = Assign(OpenFifo(*out_path, O_RDONLY), out_); !s.ok()) return s;
    exec.set_stdout(*out_path);
    if (!params_.tty) {
      absl::StatusOr<std::string> err_path = (*dir)->Make("stderr");
      if (!err_path.ok()) return err_path.status();
      if (absl::Status s = Assign(OpenFifo(*err_path, O_RDONLY), err_); !s.ok()) return s;
      exec.set_stderr(*err_path);
    }
    UniqueFd stdin_bootstrap;
    if (params_.stdin) {
      absl::StatusOr<std::string> in_path = (*dir)->Make("stdin");
      if (!in_path.ok()) return in_path.status();
      // Read-write: a reader exists until the shim's, so no open blocks.
      if (absl::Status s = Assign(OpenFifo(*in_path, O_RDWR), stdin_bootstrap); !s.ok()) {
        return s;
      }
      exec.set_stdin(*in_path);
    }

    if (absl::Status s = containerd_->ExecProcess(exec); !s.ok()) {
      return ContainerdError("create", params_, s);
    }
    TaskWait wait(containerd_, params_.container_id, params_.exec_id,
                  params_.max_duration + kWaitMargin, &exited_);
    if (absl::StatusOr<uint32_t> pid =
            containerd_->StartProcess(params_.container_id, params_.exec_id);
        !pid.ok()) {
      // For a process that never started.
      if (absl::Status s = containerd_->DeleteProcess(params_.container_id, params_.exec_id);
          !s.ok()) {
        LOG(WARNING) << ContainerdError("delete", params_, s);
      }
      return ContainerdError("start", params_, pid.status());
    }
    if (params_.stdin) {
      // The shim reads the FIFO now: from here on the agent only writes.
      if (absl::Status s = Assign(OpenFifo(exec.stdin(), O_WRONLY), stdin_); !s.ok()) {
        LOG(WARNING) << s << "; the exec's stdin is closed";
      }
      stdin_bootstrap.Reset();
    }
    if (params_.tty && params_.size.rows() > 0) Resize(params_.size);

    if (absl::Status s = Loop(); !s.ok()) return s;

    if (caller_gone_) return absl::CancelledError("the exec's caller went away");
    if (timed_out_) {
      return absl::DeadlineExceededError(absl::StrCat("exec ", params_.exec_id, " ran longer than ",
                                                      absl::FormatDuration(params_.max_duration),
                                                      " and was killed"));
    }
    absl::StatusOr<uint32_t> exit_status = wait.result();
    if (!exit_status.ok()) return exit_status.status();
    v1::ExecOutput last;
    last.set_exit_code(static_cast<int32_t>(*exit_status));
    if (!sink_(std::move(last))) return absl::CancelledError("the exec's caller went away");
    return absl::OkStatus();
  }

 private:
  template <typename T>
  static absl::Status Assign(absl::StatusOr<T> value, T& into) {
    if (!value.ok()) return value.status();
    into = *std::move(value);
    return absl::OkStatus();
  }

  // Until the process has exited, has been deleted and its output is drained (or, before
  // its exit, it could not be killed: then it is left to containerd). INTERNAL when the
  // loop cannot wait (poll fails): the process is killed and the session ends.
  absl::Status Loop() {
    const Deadline deadline = Deadline::In(params_.max_duration);
    for (;;) {
      ApplyInputs();
      if (!killed_ && (session_->cancelled_.Notified() || sink_gone_)) {
        caller_gone_ = true;
        if (!Kill() && !delete_started_) return absl::OkStatus();  // containerd cannot stop it
      }
      if (exited_.Notified() && !delete_started_) StartDelete();
      if (deleted_.Notified() && !out_.valid() && !err_.valid()) return absl::OkStatus();

      std::vector<pollfd> fds;
      auto add = [&fds](int fd, short events) {
        fds.push_back({fd, events, 0});
        return fds.size() - 1;
      };
      const size_t out_i = out_.valid() ? add(out_.get(), POLLIN) : SIZE_MAX;
      const size_t err_i = err_.valid() ? add(err_.get(), POLLIN) : SIZE_MAX;
      const size_t in_i =
          stdin_.valid() && !stdin_buffer_.empty() ? add(stdin_.get(), POLLOUT) : SIZE_MAX;
      add(session_->doorbell_.fd(), POLLIN);
      // Latches wake the loop only until they have been acted on.
      if (!killed_) add(session_->cancelled_.fd(), POLLIN);
      if (!delete_started_) add(exited_.fd(), POLLIN);
      if (delete_started_) add(deleted_.fd(), POLLIN);
      int timeout_ms = -1;
      if (!killed_) {
        timeout_ms = static_cast<int>(
            std::clamp<int64_t>(absl::ToInt64Milliseconds(deadline.Left()) + 1, 0, INT32_MAX));
      }
      const int ready = poll(fds.data(), fds.size(), timeout_ms);
      if (ready < 0 && errno != EINTR) {
        const absl::Status failed = absl::InternalError(
            absl::StrCat("exec ", params_.exec_id, " in sandbox ", params_.container_id,
                         ": poll: ", std::strerror(errno), "; the process is killed"));
        LOG(ERROR) << failed;
        if (!killed_) Kill();
        return failed;  // ~Io waits for a delete in flight
      }
      if (ready == 0 && !killed_) {
        timed_out_ = true;
        if (!Kill() && !delete_started_) return absl::OkStatus();
        continue;
      }
      session_->doorbell_.Consume();
      if (out_i != SIZE_MAX && fds[out_i].revents != 0) Pump(out_, /*is_stdout=*/true);
      if (err_i != SIZE_MAX && fds[err_i].revents != 0) Pump(err_, /*is_stdout=*/false);
      if (in_i != SIZE_MAX && fds[in_i].revents != 0) WriteStdin();
    }
  }

  // Reads what `fd` has and sends it; closes `fd` at EOF.
  void Pump(UniqueFd& fd, bool is_stdout) {
    char buf[kReadBytes];
    const ssize_t n = read(fd.get(), buf, sizeof(buf));
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {
      fd.Reset();  // EOF: the shim closed its end
      return;
    }
    if (sink_gone_) return;  // drained, so the shim never blocks
    v1::ExecOutput output;
    if (is_stdout) {
      output.set_stdout(buf, n);
    } else {
      output.set_stderr(buf, n);
    }
    sink_gone_ = !sink_(std::move(output));
  }

  // Applies queued inputs in order; stops at stdin bytes not yet written.
  void ApplyInputs() {
    {
      absl::MutexLock lock(&session_->mu_);
      while (!session_->inputs_.empty()) {
        pending_.push_back(std::move(session_->inputs_.front()));
        session_->inputs_.pop_front();
      }
    }
    while (!pending_.empty() && stdin_buffer_.empty()) {
      Input input = std::move(pending_.front());
      pending_.pop_front();
      switch (input.input.input_case()) {
        case v1::ExecInput::kStdin:
          if (stdin_.valid() && !input.input.stdin().empty()) {
            stdin_buffer_ = input.input.stdin();
            stdin_consumed_ = std::move(input.consumed);
            WriteStdin();
            continue;
          }
          break;
        case v1::ExecInput::kCloseStdin:
          if (input.input.close_stdin()) CloseStdin();
          break;
        case v1::ExecInput::kResize:
          if (params_.tty) Resize(input.input.resize());
          break;
        default:
          break;
      }
      input.consumed();
    }
  }

  // Writes what it can of `stdin_buffer_`; when it is all written (or cannot be: the
  // process no longer reads stdin) the input is consumed.
  void WriteStdin() {
    while (!stdin_buffer_.empty()) {
      const ssize_t n = write(stdin_.get(), stdin_buffer_.data(), stdin_buffer_.size());
      if (n > 0) {
        stdin_buffer_.erase(0, n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return;  // POLLOUT tells when to go on
      stdin_.Reset();                        // EPIPE: nobody reads it any more
      stdin_buffer_.clear();
    }
    if (stdin_consumed_) std::exchange(stdin_consumed_, nullptr)();
  }

  void CloseStdin() {
    if (!stdin_.valid()) return;
    stdin_.Reset();
    // The shim holds a writer of its own; the process sees EOF once it is closed too.
    if (absl::Status s = containerd_->CloseProcessStdin(params_.container_id, params_.exec_id);
        !s.ok()) {
      LOG(WARNING) << ContainerdError("close stdin", params_, s);
    }
  }

  void Resize(const v1::TerminalSize& size) {
    if (absl::Status s = containerd_->ResizeProcessPty(params_.container_id, params_.exec_id,
                                                       std::min(size.cols(), kMaxTerminalSide),
                                                       std::min(size.rows(), kMaxTerminalSide));
        !s.ok()) {
      LOG(WARNING) << ContainerdError("resize", params_, s);
    }
  }

  // SIGKILL to the process. False when containerd could not deliver it (and the process
  // may still run, so its exit cannot be awaited).
  bool Kill() {
    killed_ = true;
    const absl::Status s = containerd_->KillProcess(params_.container_id, params_.exec_id, SIGKILL);
    // NOT_FOUND: it has already exited.
    if (s.ok() || absl::IsNotFound(s)) return true;
    LOG(WARNING) << ContainerdError("kill", params_, s);
    return false;
  }

  // Tasks.DeleteProcess, asynchronously: the shim waits for its copy of the output to
  // finish first, which needs this loop to keep reading. Once it answers, the shim has
  // closed (or is closing) the FIFOs' writers, so the output ends.
  void StartDelete() {
    delete_started_ = true;
    containerd_->DeleteProcessAsync(params_.container_id, params_.exec_id, &delete_call_,
                                    [this](const absl::Status& s) {
                                      if (!s.ok()) {
                                        LOG(WARNING) << ContainerdError("delete", params_, s);
                                      }
                                      deleted_.Notify();
                                    });
  }

  ExecSession* const session_;
  const Params& params_;
  const Sink& sink_;
  Containerd* const containerd_;
  UniqueFd out_, err_, stdin_;
  std::deque<Input> pending_;  // taken from the session's queue, not yet applied
  std::string stdin_buffer_;   // bytes of the current stdin input not yet written
  std::function<void()> stdin_consumed_;
  logger::EventFd exited_;   // the TaskWait answered
  logger::EventFd deleted_;  // DeleteProcess answered
  bool killed_ = false;
  bool caller_gone_ = false;
  bool timed_out_ = false;
  bool sink_gone_ = false;
  bool delete_started_ = false;
  // The DeleteProcess call in flight; the loop ends only after it answered.
  Containerd::DeleteProcessCall delete_call_;
};

ExecSession::ExecSession(Containerd* containerd, Params params, std::function<void()> on_destroyed)
    : containerd_(containerd), params_(std::move(params)), on_destroyed_(std::move(on_destroyed)) {}

ExecSession::~ExecSession() {
  if (on_destroyed_) on_destroyed_();
}

void ExecSession::Push(v1::ExecInput input, std::function<void()> consumed) {
  {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    inputs_.push_back({std::move(input), std::move(consumed)});
  }
  doorbell_.Notify();
}

void ExecSession::Cancel() { cancelled_.Notify(); }

absl::Status ExecSession::Run(const Sink& sink) {
  absl::Status status = Io(this, sink).Run();
  std::deque<Input> dropped;
  absl::MutexLock lock(&mu_);
  finished_ = true;
  dropped.swap(inputs_);
  return status;
}

absl::StatusOr<std::unique_ptr<ExecSession>> SandboxExec::Prepare(const v1::ExecStart& start) {
  if (absl::Status s = ValidateExecStart(start); !s.ok()) return s;
  const std::string& id = start.sandbox_id();
  if (id.empty()) return absl::InvalidArgumentError("sandbox_id is required");
  absl::StatusOr<v1::SandboxStatus> sandbox = manager_->Get(id);
  if (!sandbox.ok()) return sandbox.status();
  if (sandbox->phase() != v1::SANDBOX_PHASE_RUNNING) {
    return absl::FailedPreconditionError(absl::StrCat(
        "sandbox ", id, " is not running (", v1::SandboxPhase_Name(sandbox->phase()), ")"));
  }
  // The manager may not have noticed an exit yet; containerd knows. (A warm sandbox's
  // container id is not the id the controller proposed.)
  const std::string& container_id = sandbox->sandbox_id();
  absl::StatusOr<containerd::v1::types::Process> task = containerd_->GetTask(container_id);
  if (!task.ok() && absl::IsNotFound(task.status())) {
    return absl::FailedPreconditionError(absl::StrCat("sandbox ", id, " has no task"));
  }
  if (!task.ok()) return task.status();
  if (task->status() != containerd::v1::types::RUNNING) {
    return absl::FailedPreconditionError(
        absl::StrCat("sandbox ", id, " is not running (its task is ",
                     containerd::v1::types::Status_Name(task->status()), ")"));
  }
  // The spec as a cold create made it: a warm sandbox's container record may still
  // describe the prepared instance for a moment after its create.
  absl::StatusOr<std::string> spec_json = manager_->RuntimeSpec(container_id);
  if (!spec_json.ok()) return spec_json.status();
  absl::StatusOr<std::string> process = ExecProcessJson(*spec_json, start);
  if (!process.ok()) return process.status();

  ExecSession::Params params;
  params.container_id = container_id;
  params.exec_id = absl::StrCat("exec-", RandomHex(8));
  params.process_json = *std::move(process);
  params.fifo_dir = absl::StrCat(options_.fifo_dir, "/", container_id, ".", params.exec_id);
  params.tty = start.tty();
  params.stdin = start.stdin();
  params.size = start.size();
  params.max_duration = options_.max_duration;
  {
    absl::MutexLock lock(&mu_);
    live_.insert(params.exec_id);
  }
  return std::make_unique<ExecSession>(containerd_, std::move(params),
                                       [this, exec_id = params.exec_id] {
                                         absl::MutexLock lock(&mu_);
                                         live_.erase(exec_id);
                                       });
}

absl::StatusOr<int> SandboxExec::CollectOrphans() {
  // Listed before the live sessions are looked at: a folder made after the listing is
  // not seen, and one listed whose session has ended since is already gone.
  absl::StatusOr<std::vector<std::string>> names = ListDirectory(options_.fifo_dir);
  if (absl::IsNotFound(names.status())) return 0;
  if (!names.ok()) return names.status();
  int removed = 0;
  for (const std::string& name : *names) {
    const size_t dot = name.rfind('.');
    if (dot == std::string::npos || dot == 0) continue;  // not an exec's folder
    const std::string container_id = name.substr(0, dot);
    const std::string exec_id = name.substr(dot + 1);
    {
      absl::MutexLock lock(&mu_);
      if (live_.contains(exec_id)) continue;
    }
    if (RemoveOrphan(container_id, exec_id, absl::StrCat(options_.fifo_dir, "/", name))) {
      ++removed;
    }
  }
  return removed;
}

bool SandboxExec::RemoveOrphan(const std::string& container_id, const std::string& exec_id,
                               const std::string& folder) {
  const ExecSession::Params ids{.container_id = container_id, .exec_id = exec_id};
  if (absl::Status s = containerd_->KillProcess(container_id, exec_id, SIGKILL);
      !s.ok() && !absl::IsNotFound(s)) {
    LOG(WARNING) << ContainerdError("kill", ids, s) << "; tried again later";
    return false;
  }
  {
    logger::EventFd exited;
    if (absl::Status s = EventFdStatus(exited); !s.ok()) {
      LOG(WARNING) << "cannot wait for exec " << exec_id << " of sandbox " << container_id << ": "
                   << s << "; tried again later";
      return false;
    }
    TaskWait wait(containerd_, container_id, exec_id, kOrphanExitWait, &exited);
    pollfd p{exited.fd(), POLLIN, 0};
    while (!exited.Notified()) poll(&p, 1, -1);  // bounded by the wait's deadline
    if (absl::StatusOr<uint32_t> status = wait.result();
        !status.ok() && !absl::IsNotFound(status.status())) {
      LOG(WARNING) << ContainerdError("wait", ids, status.status()) << "; tried again later";
      return false;
    }
  }
  if (absl::Status s = containerd_->DeleteProcess(container_id, exec_id);
      !s.ok() && !absl::IsNotFound(s)) {
    LOG(WARNING) << ContainerdError("delete", ids, s) << "; tried again later";
    return false;
  }
  std::error_code ec;
  std::filesystem::remove_all(folder, ec);
  if (ec) {
    LOG(WARNING) << "cannot remove " << folder << ": " << ec.message();
    return false;
  }
  LOG(INFO) << "removed exec " << exec_id << " of sandbox " << container_id
            << ", left by an agent that stopped mid-exec";
  return true;
}

}  // namespace fsb::agent
