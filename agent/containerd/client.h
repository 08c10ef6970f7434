#ifndef FSB_AGENT_CONTAINERD_CLIENT_H_
#define FSB_AGENT_CONTAINERD_CLIENT_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "github.com/containerd/containerd/api/services/containers/v1/containers.grpc.pb.h"
#include "github.com/containerd/containerd/api/services/content/v1/content.grpc.pb.h"
#include "github.com/containerd/containerd/api/services/diff/v1/diff.grpc.pb.h"
#include "github.com/containerd/containerd/api/services/events/v1/events.grpc.pb.h"
#include "github.com/containerd/containerd/api/services/images/v1/images.grpc.pb.h"
#include "github.com/containerd/containerd/api/services/leases/v1/leases.grpc.pb.h"
#include "github.com/containerd/containerd/api/services/snapshots/v1/snapshots.grpc.pb.h"
#include "github.com/containerd/containerd/api/services/tasks/v1/tasks.grpc.pb.h"
#include "github.com/containerd/containerd/api/services/version/v1/version.grpc.pb.h"
#include "google/protobuf/message.h"

namespace fsb::agent {

// Labels by which containerd's garbage collector follows references between content
// and snapshots: an image's index to its manifests (prefix + index), a manifest to its
// config and layers (prefix + index), and a config to its unpacked top snapshot
// (Containerd::SnapshotRefLabel()).
inline constexpr char kGcManifestLabelPrefix[] = "containerd.io/gc.ref.content.m.";
inline constexpr char kGcConfigLabel[] = "containerd.io/gc.ref.content.config";
inline constexpr char kGcLayerLabelPrefix[] = "containerd.io/gc.ref.content.l.";

// The largest message the client accepts from containerd: 16 MiB, the most containerd's
// server sends (its default `grpc.max_send_message_size`), instead of gRPC's default
// 4 MiB. Lists that can outgrow it stream (Containers.ListStream, Snapshots.List,
// Content.Read); the unary Images.List and Tasks.List carry small records per item.
inline constexpr int kMaxContainerdMessageBytes = 16 << 20;

// A typed client of containerd's gRPC API: one method per RPC fsb uses, and the only
// code that creates containerd stubs. Every call carries the `containerd-namespace`
// header and a deadline (`rpc_timeout` unless the method takes its own); calls that
// create resources under a lease take its id (empty: none). Errors are containerd's
// gRPC status, converted to absl::Status with code and message kept. Unary calls (and
// the reading streams) are timed for `observe_rpc`. Thread-safe: gRPC stubs are.
class Containerd {
 public:
  struct Options {
    std::string socket = "/run/containerd/containerd.sock";
    std::string ns = "fsb";
    std::string snapshotter = "overlayfs";
    absl::Duration rpc_timeout = absl::Seconds(10);
    // Called after every timed call with its name ("Tasks.Create") and duration; may be
    // empty. Must be thread-safe.
    std::function<void(std::string_view rpc, absl::Duration took)> observe_rpc;
  };

  using ContentWriteStream =
      grpc::ClientReaderWriter<containerd::services::content::v1::WriteContentRequest,
                               containerd::services::content::v1::WriteContentResponse>;
  using EventStream = grpc::ClientReader<containerd::services::events::v1::Envelope>;
  // Called once with the outcome of an asynchronous call, on a gRPC thread.
  using Done = std::function<void(const absl::Status& status)>;

  explicit Containerd(Options options);

  const Options& options() const { return options_; }

  // The content label by which an image config references its unpacked top snapshot
  // in the configured snapshotter (the value is the snapshot's name, its chain id).
  std::string SnapshotRefLabel() const;

  absl::StatusOr<std::string> Version();

  // Leases: what is created under one is safe from garbage collection until it is
  // deleted or `expires` passes.
  absl::Status CreateLease(std::string_view id, absl::Time expires);
  absl::Status DeleteLease(std::string_view id);
  // Adds the resource `resource_id` of `type` ("content", "snapshots/<snapshotter>").
  absl::Status AddLeaseResource(std::string_view lease_id, std::string_view resource_id,
                                std::string_view type);

  // Images and content.
  absl::StatusOr<containerd::services::images::v1::Image> GetImage(std::string_view name);
  absl::StatusOr<std::vector<containerd::services::images::v1::Image>> ListImages();
  absl::Status CreateImage(const containerd::services::images::v1::Image& image);
  // Updates the fields of `image` named by `field_paths` (e.g. "target").
  absl::Status UpdateImage(const containerd::services::images::v1::Image& image,
                           const std::vector<std::string>& field_paths);
  absl::StatusOr<containerd::services::content::v1::Info> ContentInfo(std::string_view digest);
  absl::StatusOr<std::string> ReadContent(std::string_view digest);
  // Merges `labels` into the labels of the blob `digest`.
  absl::Status SetContentLabels(std::string_view digest,
                                const std::map<std::string, std::string>& labels);
  // Opens a Content.Write stream on `ctx`, which must outlive it, with deadline `timeout`
  // and the lease `lease_id`. The caller drives the stream and converts its status.
  std::unique_ptr<ContentWriteStream> WriteContent(grpc::ClientContext* ctx, absl::Duration timeout,
                                                   std::string_view lease_id);
  // Drops the ingest `ref` (a write left unfinished).
  absl::Status AbortContentWrite(std::string_view ref);

  // Snapshots of the configured snapshotter.
  absl::StatusOr<std::vector<containerd::types::Mount>> PrepareSnapshot(
      std::string_view key, std::string_view parent,
      const std::map<std::string, std::string>& labels, std::string_view lease_id = {});
  // A read-only view of `parent` under `key` (remove it when done); returns its mounts.
  absl::StatusOr<std::vector<containerd::types::Mount>> ViewSnapshot(
      std::string_view key, std::string_view parent,
      const std::map<std::string, std::string>& labels, std::string_view lease_id = {});
  // Commits the active snapshot `key` as `name`.
  absl::Status CommitSnapshot(std::string_view name, std::string_view key,
                              std::string_view lease_id);
  absl::Status RemoveSnapshot(std::string_view key);
  // Snapshots matching `filter` (containerd's filter syntax; empty = all).
  absl::StatusOr<std::vector<containerd::services::snapshots::v1::Info>> ListSnapshots(
      std::string_view filter);
  absl::StatusOr<containerd::services::snapshots::v1::Info> StatSnapshot(std::string_view key);
  // Applies the layer `diff` onto `mounts` (Diff.Apply) within `timeout`; returns the
  // descriptor of what was applied (its digest is the layer's diff id).
  absl::StatusOr<containerd::types::Descriptor> ApplyDiff(
      const containerd::types::Descriptor& diff,
      const std::vector<containerd::types::Mount>& mounts, absl::Duration timeout,
      std::string_view lease_id);

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
  absl::StatusOr<uint32_t> CreateTask(
      const containerd::services::tasks::v1::CreateTaskRequest& req);
  absl::StatusOr<uint32_t> StartTask(std::string_view id);
  // The task of container `id`, or its exec process `exec_id`.
  absl::StatusOr<containerd::v1::types::Process> GetTask(std::string_view id,
                                                         std::string_view exec_id = {});
  absl::StatusOr<std::vector<containerd::v1::types::Process>> ListTasks();
  absl::Status KillTask(std::string_view id, uint32_t signal, bool all);
  // Blocks until the task exits or `timeout` passes (DEADLINE_EXCEEDED); returns the
  // exit status.
  absl::StatusOr<uint32_t> WaitTask(std::string_view id, absl::Duration timeout);
  // Tasks.Wait without blocking, on `ctx` (which must outlive the call; the caller may
  // set wait-for-ready on it, and cancel it) with deadline `timeout` (InfiniteDuration:
  // none). `request` and `response` must outlive the call too; `done` is called once.
  // Not timed.
  void WaitAsync(grpc::ClientContext* ctx, absl::Duration timeout,
                 const containerd::services::tasks::v1::WaitRequest* request,
                 containerd::services::tasks::v1::WaitResponse* response, Done done);
  absl::StatusOr<containerd::services::tasks::v1::DeleteResponse> DeleteTask(std::string_view id);

  // Processes exec'd in a task (`exec_id` names one within its task `id`).
  absl::Status ExecProcess(const containerd::services::tasks::v1::ExecProcessRequest& req);
  absl::StatusOr<uint32_t> StartProcess(std::string_view id, std::string_view exec_id);
  // Closes the shim's writer of the process's stdin.
  absl::Status CloseProcessStdin(std::string_view id, std::string_view exec_id);
  absl::Status ResizeProcessPty(std::string_view id, std::string_view exec_id, uint32_t width,
                                uint32_t height);
  absl::Status KillProcess(std::string_view id, std::string_view exec_id, uint32_t signal);
  absl::Status DeleteProcess(std::string_view id, std::string_view exec_id);
  // The state of an asynchronous Tasks.DeleteProcess, owned by its caller.
  struct DeleteProcessCall {
    grpc::ClientContext ctx;
    containerd::services::tasks::v1::DeleteProcessRequest request;
    containerd::services::tasks::v1::DeleteResponse response;
  };
  // Tasks.DeleteProcess without blocking (the shim answers once its copy of the output
  // is done); `call` must outlive the call, until `done` has returned. Not timed.
  void DeleteProcessAsync(std::string_view id, std::string_view exec_id, DeleteProcessCall* call,
                          Done done);

  // Events of this namespace matching any of `filters`, on `ctx` (which must outlive the
  // stream; cancel it to end the stream): no deadline. The caller reads the stream and
  // converts its status.
  std::unique_ptr<EventStream> SubscribeEvents(grpc::ClientContext* ctx,
                                               const std::vector<std::string>& filters);
  // Publishes `event` on `topic` within `timeout`.
  absl::Status PublishEvent(std::string_view topic, const google::protobuf::Message& event,
                            absl::Duration timeout);

 private:
  // Times one call for Options::observe_rpc, from construction to destruction.
  class RpcTimer;

  // What a call sets beyond the defaults.
  struct CallOptions {
    std::optional<absl::Duration> timeout;  // unset: Options::rpc_timeout
    std::string_view lease_id;              // empty: none
  };

  // Sets up a call: the namespace header, a deadline `timeout` from now, the lease.
  void Prepare(grpc::ClientContext* ctx, absl::Duration timeout,
               std::string_view lease_id = {}) const;

  // One timed unary call `method` of `stub` named `rpc` ("Tasks.Create"), prepared as
  // `call` says; containerd's status converted.
  template <typename Stub, typename Request, typename Response>
  absl::StatusOr<Response> Call(std::string_view rpc, Stub& stub,
                                grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&,
                                                             Response*),
                                const Request& request, CallOptions call = {}) const;

  const Options options_;
  const std::shared_ptr<grpc::Channel> channel_;
  const std::unique_ptr<containerd::services::version::v1::Version::Stub> version_;
  const std::unique_ptr<containerd::services::leases::v1::Leases::Stub> leases_;
  const std::unique_ptr<containerd::services::images::v1::Images::Stub> images_;
  const std::unique_ptr<containerd::services::content::v1::Content::Stub> content_;
  const std::unique_ptr<containerd::services::snapshots::v1::Snapshots::Stub> snapshots_;
  const std::unique_ptr<containerd::services::diff::v1::Diff::Stub> diff_;
  const std::unique_ptr<containerd::services::containers::v1::Containers::Stub> containers_;
  const std::unique_ptr<containerd::services::tasks::v1::Tasks::Stub> tasks_;
  const std::unique_ptr<containerd::services::events::v1::Events::Stub> events_;
};

}  // namespace fsb::agent

#endif  // FSB_AGENT_CONTAINERD_CLIENT_H_
