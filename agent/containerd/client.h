#ifndef FSB_AGENT_CONTAINERD_CLIENT_H_
#define FSB_AGENT_CONTAINERD_CLIENT_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "github.com/containerd/containerd/api/services/containers/v1/containers.grpc.pb.h"
#include "github.com/containerd/containerd/api/services/content/v1/content.grpc.pb.h"
#include "github.com/containerd/containerd/api/services/images/v1/images.grpc.pb.h"
#include "github.com/containerd/containerd/api/services/snapshots/v1/snapshots.grpc.pb.h"
#include "github.com/containerd/containerd/api/services/tasks/v1/tasks.grpc.pb.h"
#include "github.com/containerd/containerd/api/services/version/v1/version.grpc.pb.h"

namespace fsb::agent {

// A typed client of containerd's gRPC API: one method per RPC fsb uses. Every call
// carries the `containerd-namespace` header and a deadline (`rpc_timeout` unless the
// method takes its own). Errors are containerd's gRPC status, converted to
// absl::Status with code and message kept. Thread-safe: gRPC stubs are.
class Containerd {
 public:
  struct Options {
    std::string socket = "/run/containerd/containerd.sock";
    std::string ns = "fsb";
    std::string snapshotter = "overlayfs";
    absl::Duration rpc_timeout = absl::Seconds(10);
    // Called after every unary call with its name ("Tasks.Create") and duration; may be
    // empty. Must be thread-safe.
    std::function<void(std::string_view rpc, absl::Duration took)> observe_rpc;
  };

  explicit Containerd(Options options);

  const Options& options() const { return options_; }

  absl::StatusOr<std::string> Version();

  // Images and content.
  absl::StatusOr<containerd::services::images::v1::Image> GetImage(std::string_view name);
  absl::StatusOr<std::vector<containerd::services::images::v1::Image>> ListImages();
  absl::StatusOr<containerd::services::content::v1::Info> ContentInfo(std::string_view digest);
  absl::StatusOr<std::string> ReadContent(std::string_view digest);

  // Snapshots of the configured snapshotter.
  absl::StatusOr<std::vector<containerd::types::Mount>> PrepareSnapshot(
      std::string_view key, std::string_view parent,
      const std::map<std::string, std::string>& labels);
  // A read-only view of `parent` under `key` (remove it when done); returns its mounts.
  absl::StatusOr<std::vector<containerd::types::Mount>> ViewSnapshot(
      std::string_view key, std::string_view parent,
      const std::map<std::string, std::string>& labels);
  absl::Status RemoveSnapshot(std::string_view key);
  // Snapshots matching `filter` (containerd's filter syntax; empty = all).
  absl::StatusOr<std::vector<containerd::services::snapshots::v1::Info>> ListSnapshots(
      std::string_view filter);
  absl::StatusOr<containerd::services::snapshots::v1::Info> StatSnapshot(std::string_view key);

  // Containers (metadata records).
  absl::Status CreateContainer(const containerd::services::containers::v1::Container& container);
  absl::StatusOr<containerd::services::containers::v1::Container> GetContainer(std::string_view id);
  // `filter` uses containerd's filter syntax, e.g. `labels."fsb.io/managed"==true`.
  absl::StatusOr<std::vector<containerd::services::containers::v1::Container>> ListContainers(
      std::string_view filter);
  // Updates the fields of `container` named by `field_paths` (containerd's update mask,
  // e.g. "spec", "labels.KEY", "extensions.KEY").
  absl::Status UpdateContainer(const containerd::services::containers::v1::Container& container,
                               const std::vector<std::string>& field_paths);
  absl::Status DeleteContainer(std::string_view id);

  // Tasks (the running process of a container). Task ids are container ids.
  absl::StatusOr<uint32_t> CreateTask(const containerd::services::tasks::v1::CreateTaskRequest& req);
  absl::StatusOr<uint32_t> StartTask(std::string_view id);
  absl::StatusOr<containerd::v1::types::Process> GetTask(std::string_view id);
  absl::StatusOr<std::vector<containerd::v1::types::Process>> ListTasks();
  absl::Status KillTask(std::string_view id, uint32_t signal, bool all);
  // Blocks until the task exits or `timeout` passes (DEADLINE_EXCEEDED); returns the
  // exit status.
  absl::StatusOr<uint32_t> WaitTask(std::string_view id, absl::Duration timeout);
  absl::StatusOr<containerd::services::tasks::v1::DeleteResponse> DeleteTask(std::string_view id);

  // For components that call more of containerd's API than this class wraps (their own
  // stubs on the same channel): the channel, and the per-call setup every call needs
  // (the namespace header and a deadline `timeout` from now).
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  void Prepare(grpc::ClientContext* ctx, absl::Duration timeout) const;
  void Prepare(grpc::ClientContext* ctx) const { Prepare(ctx, options_.rpc_timeout); }

 private:
  // Times one call for Options::observe_rpc, from construction to destruction.
  class RpcTimer;

  const Options options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<containerd::services::version::v1::Version::Stub> version_;
  std::unique_ptr<containerd::services::images::v1::Images::Stub> images_;
  std::unique_ptr<containerd::services::content::v1::Content::Stub> content_;
  std::unique_ptr<containerd::services::snapshots::v1::Snapshots::Stub> snapshots_;
  std::unique_ptr<containerd::services::containers::v1::Containers::Stub> containers_;
  std::unique_ptr<containerd::services::tasks::v1::Tasks::Stub> tasks_;
};

}  // namespace fsb::agent

#endif  // FSB_AGENT_CONTAINERD_CLIENT_H_
