#ifndef FSB_AGENT_CONTAINERD_FAKE_CONTAINERD_TESTING_H_
#define FSB_AGENT_CONTAINERD_FAKE_CONTAINERD_TESTING_H_

// An in-process containerd for unit tests of code on the Containerd client. For tests only.

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "github.com/containerd/containerd/api/services/containers/v1/containers.grpc.pb.h"
#include "github.com/containerd/containerd/api/services/snapshots/v1/snapshots.grpc.pb.h"
#include "github.com/containerd/containerd/api/services/tasks/v1/tasks.grpc.pb.h"
#include "grpcpp/server.h"

namespace fsb::agent {

// A containerd gRPC server on a unix socket in a fresh temporary folder (the folder is
// removed on destruction), holding the containers, tasks and snapshots of one namespace in
// memory. Point a Containerd client at socket().
//
// What it models, as containerd 1.6 with the runc v2 shim answers:
//  * the `containerd-namespace` header: a call in another namespace, or without one, finds
//    nothing (NOT_FOUND; containerd refuses a call without one as FAILED_PRECONDITION);
//  * Tasks.Delete: NOT_FOUND without a task; a running task is refused with
//    Options::running_delete_error; a stopped one is deleted, answering its pid and exit
//    status;
//  * Tasks.Kill: NOT_FOUND without a task or when it has stopped already; otherwise the
//    task stops at once, with exit status 128 + signal;
//  * Tasks.Wait: a stopped task's exit status; for a running one it blocks until the task
//    stops or goes, the call's deadline passes (DEADLINE_EXCEEDED) or the fake is
//    destroyed (UNAVAILABLE);
//  * Containers.Delete, Snapshots.Remove: NOT_FOUND unless the record exists.
// What it does not model: every other RPC (UNIMPLEMENTED); exec processes; processes
// themselves (a kill takes effect at once, whatever the signal); that a container keeps
// its task; snapshotters and parents (the snapshotter named is recorded, not checked);
// leases, garbage collection and events.
//
// Scripting: FailNext() makes the next call of an RPC answer a given status without
// touching state. Every call is recorded, in order (Calls()). Thread-safe.
class FakeContainerd {
 public:
  struct Options {
    std::string ns = "fsb";
    // What Tasks.Delete answers for a task that still runs: FAILED_PRECONDITION by
    // default; for a task containerd restored after its restart, the shim's UNKNOWN
    // "cannot delete a running process" comes through instead.
    absl::Status running_delete_error = absl::FailedPreconditionError("task is running");
  };

  // Listens on <fresh folder>/containerd.sock; UNAVAILABLE if it cannot.
  static absl::StatusOr<std::unique_ptr<FakeContainerd>> Start(Options options);
  // Wakes blocked Tasks.Wait calls, stops the server and removes the folder.
  ~FakeContainerd();
  FakeContainerd(const FakeContainerd&) = delete;
  FakeContainerd& operator=(const FakeContainerd&) = delete;

  // The path for Containerd::Options::socket.
  const std::string& socket() const { return socket_; }

  // Adds records, replacing any of the same id.
  void AddContainer(std::string_view id) ABSL_LOCKS_EXCLUDED(mu_);
  void AddTask(std::string_view id, bool running) ABSL_LOCKS_EXCLUDED(mu_);
  void AddSnapshot(std::string_view key) ABSL_LOCKS_EXCLUDED(mu_);

  // The next call of `rpc` ("Tasks.Kill") answers `status` (queued per RPC, in order).
  void FailNext(std::string_view rpc, absl::Status status) ABSL_LOCKS_EXCLUDED(mu_);

  // The calls received, in order, each "<rpc> <request in short text format>", e.g.
  // `Tasks.Kill container_id: "c1" signal: 9 all: true`.
  std::vector<std::string> Calls() const ABSL_LOCKS_EXCLUDED(mu_);
  // What exists, sorted: "container <id>", "snapshot <key>", "task <id> running|stopped".
  std::vector<std::string> Objects() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  class TasksService;
  class ContainersService;
  class SnapshotsService;
  struct Task {
    uint32_t pid = 0;
    bool running = true;
    uint32_t exit_status = 0;  // once stopped
  };

  FakeContainerd(Options options, std::string dir);

  // The start of every handler: records the call, then answers a scripted failure, or
  // NOT_FOUND outside Options::ns; OK to go on.
  absl::Status Begin(std::string_view rpc, const grpc::ServerContext& ctx,
                     const google::protobuf::Message& request) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  grpc::Status DeleteTask(const grpc::ServerContext& ctx,
                          const containerd::services::tasks::v1::DeleteTaskRequest& request,
                          containerd::services::tasks::v1::DeleteResponse* response)
      ABSL_LOCKS_EXCLUDED(mu_);
  grpc::Status KillTask(const grpc::ServerContext& ctx,
                        const containerd::services::tasks::v1::KillRequest& request)
      ABSL_LOCKS_EXCLUDED(mu_);
  grpc::Status WaitTask(const grpc::ServerContext& ctx,
                        const containerd::services::tasks::v1::WaitRequest& request,
                        containerd::services::tasks::v1::WaitResponse* response)
      ABSL_LOCKS_EXCLUDED(mu_);
  grpc::Status DeleteContainer(
      const grpc::ServerContext& ctx,
      const containerd::services::containers::v1::DeleteContainerRequest& request)
      ABSL_LOCKS_EXCLUDED(mu_);
  grpc::Status RemoveSnapshot(
      const grpc::ServerContext& ctx,
      const containerd::services::snapshots::v1::RemoveSnapshotRequest& request)
      ABSL_LOCKS_EXCLUDED(mu_);

  const Options options_;
  const std::string dir_;
  const std::string socket_;
  // Declared before server_: the server must stop before its services go.
  std::unique_ptr<TasksService> tasks_service_;
  std::unique_ptr<ContainersService> containers_service_;
  std::unique_ptr<SnapshotsService> snapshots_service_;
  std::unique_ptr<grpc::Server> server_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, Task> tasks_ ABSL_GUARDED_BY(mu_);
  uint32_t next_pid_ ABSL_GUARDED_BY(mu_) = 1000;
  std::set<std::string> containers_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> snapshots_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::deque<absl::Status>, std::less<>> failures_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> calls_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fsb::agent

#endif  // FSB_AGENT_CONTAINERD_FAKE_CONTAINERD_TESTING_H_
