#ifndef FSB_AGENT_IO_EXEC_H_
#define FSB_AGENT_IO_EXEC_H_

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/containerd/client.h"
#include "agent/logger/fd.h"
#include "agent/sandbox_manager.h"
#include "fsb/agent/v1/agent.pb.h"

namespace fsb::agent {

// INVALID_ARGUMENT naming the field unless: args has at least one element, every env name
// is a valid variable name, working_dir is empty or absolute, and a terminal size (both
// rows and cols set, each at most 65535) comes only with tty.
absl::Status ValidateExecStart(const fsb::agent::v1::ExecStart& start);

// The OCI runtime-spec `process` (JSON) of an exec in a sandbox whose runtime spec is
// `sandbox_spec_json`: the sandbox's own process — user, capabilities, rlimits,
// no-new-privileges — with `start`'s args, its env merged over the sandbox's (a key
// already there is replaced in place, new keys are appended in name order), its
// working_dir (else the sandbox's cwd) and terminal = tty. FAILED_PRECONDITION when the
// spec cannot be read or has no process.
absl::StatusOr<std::string> ExecProcessJson(std::string_view sandbox_spec_json,
                                            const fsb::agent::v1::ExecStart& start);

// One command run in a sandbox (containerd's Tasks.Exec), from start to exit code.
//
// The command's stdio are FIFOs in a folder of its own, created before Tasks.Exec and
// removed when Run() returns: the agent opens the stdout/stderr FIFOs for reading before
// the shim opens them for writing (so neither side blocks), and the stdin FIFO read-write
// until the shim holds its reading end, then write-only (so a process that stops reading
// makes writes fail instead of block forever). Closing stdin is closing the agent's end
// plus Tasks.CloseIO, which drops the shim's own writer.
//
// Thread-safety: Push() and Cancel() may be called from any thread at any time; Run() is
// called once, and everything else happens on its thread.
class ExecSession {
 public:
  using Sink = std::function<bool(fsb::agent::v1::ExecOutput output)>;

  struct Params {
    std::string container_id;
    std::string exec_id;
    std::string process_json;  // ExecProcessJson()
    std::string fifo_dir;      // created by Run(), removed when it returns
    bool tty = false;
    bool stdin = false;
    fsb::agent::v1::TerminalSize size;  // initial size with tty; 0x0: the shim's default
    absl::Duration max_duration;
  };

  // `on_destroyed` (may be empty) is called last by the destructor.
  ExecSession(Containerd* containerd, Params params, std::function<void()> on_destroyed = {});
  ~ExecSession();
  ExecSession(const ExecSession&) = delete;
  ExecSession& operator=(const ExecSession&) = delete;

  // Queues an input from the caller (stdin bytes, stdin close, terminal resize; a
  // `start` is ignored); never blocks. Inputs are applied in order on Run()'s thread,
  // which then calls `consumed` — for stdin bytes, once they are in the FIFO (or dropped:
  // stdin closed or not asked for) — so a caller that reads its next input only then
  // never buffers more than one message. Inputs that come after Run() returned are
  // dropped and `consumed` is not called.
  void Push(fsb::agent::v1::ExecInput input, std::function<void()> consumed);

  // The caller went away: the process is killed, Run() cleans up and returns CANCELLED.
  void Cancel();

  // Runs the command: FIFOs, Tasks.Exec, Tasks.Start, then stdout/stderr to `sink` (a
  // blocking send; false means the caller is gone, which cancels) until the process
  // exited and its output is drained; then Tasks.DeleteProcess, FIFOs removed, and last
  // the exit code (128+N for a signal) to `sink`. Errors: containerd's, mapped as they
  // come (the sandbox stopped meanwhile: FAILED_PRECONDITION); DEADLINE_EXCEEDED when it
  // ran past `max_duration` (then it was killed); CANCELLED; INTERNAL when the agent
  // cannot wait on the FIFOs (poll fails: the process is killed, its exec record is left
  // to containerd); RESOURCE_EXHAUSTED when the agent has no descriptor left, for the
  // session's events (then nothing is created) or its FIFOs (then Tasks.Exec is not
  // called). The process never outlives Run().
  absl::Status Run(const Sink& sink);

 private:
  struct Input {
    fsb::agent::v1::ExecInput input;
    std::function<void()> consumed;
  };
  class Io;

  Containerd* const containerd_;
  const Params params_;
  const std::function<void()> on_destroyed_;
  logger::EventFd doorbell_;   // rung when `inputs_` grows
  logger::EventFd cancelled_;  // a latch
  absl::Mutex mu_;
  std::deque<Input> inputs_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

// SandboxIO.Exec without the transport: checks the request and the sandbox, then hands
// out a session; and cleans up after the sessions of an agent that died.
//
// Each exec's FIFO folder, <fifo_dir>/<container id>.<exec id>/ (exec ids have no '.'),
// exists from before its process is created in containerd until after it was deleted, so
// a folder that no live session owns names an exec whose stream is gone: the agent was
// killed mid-exec. Thread-safe.
class SandboxExec {
 public:
  struct Options {
    std::string fifo_dir;
    absl::Duration max_duration = absl::Hours(24);
  };

  // `manager` and `containerd` must outlive this object and its sessions.
  SandboxExec(SandboxManager* manager, Containerd* containerd, Options options)
      : manager_(manager), containerd_(containerd), options_(std::move(options)) {}
  SandboxExec(const SandboxExec&) = delete;
  SandboxExec& operator=(const SandboxExec&) = delete;

  // INVALID_ARGUMENT (ValidateExecStart); NOT_FOUND for an unknown sandbox;
  // FAILED_PRECONDITION when it is not running (the manager's phase, or its task in
  // containerd). Nothing exists in containerd until the session runs.
  absl::StatusOr<std::unique_ptr<ExecSession>> Prepare(const fsb::agent::v1::ExecStart& start);

  // For every exec folder no session of this object owns: SIGKILLs its process, waits
  // for its exit (bounded), deletes it from containerd and removes the folder. Returns
  // how many it removed. An exec containerd cannot kill or delete now (other than
  // NOT_FOUND: already gone) keeps its folder for the next pass. INTERNAL when the
  // folder cannot be listed.
  absl::StatusOr<int> CollectOrphans();

 private:
  // Removes one orphan; false when it must be tried again.
  bool RemoveOrphan(const std::string& container_id, const std::string& exec_id,
                    const std::string& folder);

  SandboxManager* const manager_;
  Containerd* const containerd_;
  const Options options_;
  absl::Mutex mu_;
  // The exec ids of the sessions handed out and not destroyed yet.
  absl::flat_hash_set<std::string> live_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fsb::agent

#endif  // FSB_AGENT_IO_EXEC_H_
