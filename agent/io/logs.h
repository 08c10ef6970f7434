#ifndef FSB_AGENT_IO_LOGS_H_
#define FSB_AGENT_IO_LOGS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/containerd/client.h"
#include "agent/containerd/task_wait.h"
#include "agent/io/log_watcher.h"
#include "agent/logger/fd.h"
#include "agent/sandbox_manager.h"
#include "fsb/agent/v1/agent.pb.h"

namespace fsb::agent {

// ---- Where a task's stdout and stderr go ----

// fsb-logger (agent/logger) as the runc shim starts it.
struct TaskLoggerOptions {
  std::string binary;     // absolute path of fsb-logger as the shim (on the host) sees it
  int64_t max_bytes = 0;  // size cap of each log generation; 0: the log is never rotated
};

// The stdio URI that makes the runc shim run fsb-logger writing `log_path`:
// binary://<binary>?path=<log_path>&max-size=<max_bytes>, percent-encoded so that the
// shim (Go's url package) decodes every byte back.
std::string LoggerStdioUri(const TaskLoggerOptions& options, std::string_view log_path);

// Copies a binary the shim runs (fsb-logger) or containers bind-mount (fsb-init) to
// `<dir>/<its file name>` (mode 0755, through a temporary file and a rename, so processes
// running or mounting the previous copy are unaffected) and returns that path. The
// agent's state dir is on the host even when the agent runs in a container, so the shim
// and runc can use the copy.
absl::StatusOr<std::string> InstallBinary(const std::string& source, const std::string& dir);

// ---- Reading a log ----

struct LogQuery {
  int64_t tail_lines = -1;       // only the last N entries of what is kept; < 0: all
  int64_t since_unix_nanos = 0;  // only entries read by the logger at or after this time
  bool follow = false;
};

// Receives entries in file order, batched; returns false when the receiver is gone.
using LogSink = std::function<bool(fsb::agent::v1::LogChunk chunk)>;

// Streams the log at `path` (log_format.h), its rotated generation first, as `query`
// asks. A missing file is an empty log. Malformed lines are skipped; a last line without
// its newline yet is held back until the newline is written.
//
// With `query.follow`, keeps sending new entries as they are written — watching the file
// through `watcher` (the agent's one inotify instance), never polling — and follows it across
// rotations (a reader slower than two rotations loses the generation in between). The follow ends:
//  * when `exited` is notified: after everything written so far has been sent (the
//    task's output reached fsb-logger's pipes before the task exited, so the logger has
//    written it by the time anyone learns of the exit) -> OK;
//  * when the log is deleted (the sandbox was) -> OK;
//  * when `cancelled` is notified -> CANCELLED, or `sink` returns false -> CANCELLED.
// Without follow, `exited` is not used; with it, `exited` and `cancelled` must be ok()
// (EventFdStatus). INTERNAL for an I/O error; RESOURCE_EXHAUSTED when no descriptor is
// left (to open the log, or for a follow's doorbell). Without follow, `watcher` is not
// used (may be null).
absl::Status StreamLog(const std::string& path, const LogQuery& query, LogWatcher* watcher,
                       const logger::EventFd& exited, const logger::EventFd& cancelled,
                       const LogSink& sink);

// ---- SandboxIO.Logs ----

// A sandbox's log as the node keeps it: `LogsRequest` -> StreamLog, following until the
// sandbox's task exits (containerd's Tasks.Wait; a sandbox the manager no longer counts
// as running is not followed). NOT_FOUND for a sandbox the manager does not know;
// INVALID_ARGUMENT for a request without a sandbox id or with a negative since;
// RESOURCE_EXHAUSTED when the agent has no descriptor left for a follow. `cancelled`
// must be ok() (EventFdStatus).
// Thread-safe; each call blocks its caller's thread until the stream ends.
class SandboxLogs {
 public:
  // All must outlive this object.
  SandboxLogs(SandboxManager* manager, Containerd* containerd, LogWatcher* watcher)
      : manager_(manager), containerd_(containerd), watcher_(watcher) {}

  absl::Status Logs(const fsb::agent::v1::LogsRequest& request, const logger::EventFd& cancelled,
                    const LogSink& sink);

 private:
  SandboxManager* const manager_;
  Containerd* const containerd_;
  LogWatcher* const watcher_;
};

}  // namespace fsb::agent

#endif  // FSB_AGENT_IO_LOGS_H_
