#include "agent/containerd/client.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "google/protobuf/empty.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "internal/status.h"
#include "internal/strings.h"
#include "internal/stopwatch.h"

namespace fsb::agent {

namespace cimages = containerd::services::images::v1;
namespace ccontent = containerd::services::content::v1;
namespace csnap = containerd::services::snapshots::v1;
namespace cctr = containerd::services::containers::v1;
namespace ctasks = containerd::services::tasks::v1;

Containerd::Containerd(Options options)
    : options_(std::move(options)),
      channel_(grpc::CreateChannel(absl::StrCat("unix:", options_.socket),
                                   grpc::InsecureChannelCredentials())),
      version_(containerd::services::version::v1::Version::NewStub(channel_)),
      images_(cimages::Images::NewStub(channel_)),
      content_(ccontent::Content::NewStub(channel_)),
      snapshots_(csnap::Snapshots::NewStub(channel_)),
      containers_(cctr::Containers::NewStub(channel_)),
      tasks_(ctasks::Tasks::NewStub(channel_)) {}

class Containerd::RpcTimer {
 public:
  RpcTimer(const Containerd* containerd, std::string_view rpc)
      : containerd_(containerd), rpc_(rpc) {}
  ~RpcTimer() {
    if (containerd_->options_.observe_rpc) containerd_->options_.observe_rpc(rpc_, watch_.Elapsed());
  }

 private:
  const Containerd* const containerd_;
  const std::string_view rpc_;
  const Stopwatch watch_;
};

void Containerd::Prepare(grpc::ClientContext* ctx, absl::Duration timeout) const {
  ctx->AddMetadata("containerd-namespace", options_.ns);
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
}

absl::StatusOr<std::string> Containerd::Version() {
  const RpcTimer timer(this, "Version.Version");
  grpc::ClientContext ctx;
  Prepare(&ctx);
  google::protobuf::Empty req;
  containerd::services::version::v1::VersionResponse resp;
  if (auto s = version_->Version(&ctx, req, &resp); !s.ok()) return FromGrpcStatus(s);
  return resp.version();
}

absl::StatusOr<cimages::Image> Containerd::GetImage(std::string_view name) {
  const RpcTimer timer(this, "Images.Get");
  grpc::ClientContext ctx;
  Prepare(&ctx);
  cimages::GetImageRequest req;
  req.set_name(std::string(name));
  cimages::GetImageResponse resp;
  if (auto s = images_->Get(&ctx, req, &resp); !s.ok()) return FromGrpcStatus(s);
  return resp.image();
}

absl::StatusOr<std::vector<cimages::Image>> Containerd::ListImages() {
  const RpcTimer timer(this, "Images.List");
  grpc::ClientContext ctx;
  Prepare(&ctx);
  cimages::ListImagesRequest req;
  cimages::ListImagesResponse resp;
  if (auto s = images_->List(&ctx, req, &resp); !s.ok()) return FromGrpcStatus(s);
  return std::vector<cimages::Image>(resp.images().begin(), resp.images().end());
}

absl::StatusOr<ccontent::Info> Containerd::ContentInfo(std::string_view digest) {
  const RpcTimer timer(this, "Content.Info");
  grpc::ClientContext ctx;
  Prepare(&ctx);
  ccontent::InfoRequest req;
  req.set_digest(std::string(digest));
  ccontent::InfoResponse resp;
  if (auto s = content_->Info(&ctx, req, &resp); !s.ok()) return FromGrpcStatus(s);
  return resp.info();
}

absl::StatusOr<std::string> Containerd::ReadContent(std::string_view digest) {
  const RpcTimer timer(this, "Content.Read");
  grpc::ClientContext ctx;
  Prepare(&ctx);
  ccontent::ReadContentRequest req;
  req.set_digest(std::string(digest));
  std::unique_ptr<grpc::ClientReader<ccontent::ReadContentResponse>> reader =
      content_->Read(&ctx, req);
  std::string data;
  ccontent::ReadContentResponse chunk;
  while (reader->Read(&chunk)) data += chunk.data();
  if (auto s = reader->Finish(); !s.ok()) return FromGrpcStatus(s);
  return data;
}

absl::StatusOr<std::vector<containerd::types::Mount>> Containerd::PrepareSnapshot(
    std::string_view key, std::string_view parent,
    const std::map<std::string, std::string>& labels) {
  const RpcTimer timer(this, "Snapshots.Prepare");
  grpc::ClientContext ctx;
  Prepare(&ctx);
  csnap::PrepareSnapshotRequest req;
  req.set_snapshotter(options_.snapshotter);
  req.set_key(std::string(key));
  req.set_parent(std::string(parent));
  req.mutable_labels()->insert(labels.begin(), labels.end());
  csnap::PrepareSnapshotResponse resp;
  if (auto s = snapshots_->Prepare(&ctx, req, &resp); !s.ok()) return FromGrpcStatus(s);
  return std::vector<containerd::types::Mount>(resp.mounts().begin(), resp.mounts().end());
}

absl::StatusOr<std::vector<containerd::types::Mount>> Containerd::ViewSnapshot(
    std::string_view key, std::string_view parent,
    const std::map<std::string, std::string>& labels) {
  const RpcTimer timer(this, "Snapshots.View");
  grpc::ClientContext ctx;
  Prepare(&ctx);
  csnap::ViewSnapshotRequest req;
  req.set_snapshotter(options_.snapshotter);
  req.set_key(std::string(key));
  req.set_parent(std::string(parent));
  req.mutable_labels()->insert(labels.begin(), labels.end());
  csnap::ViewSnapshotResponse resp;
  if (auto s = snapshots_->View(&ctx, req, &resp); !s.ok()) return FromGrpcStatus(s);
  return std::vector<containerd::types::Mount>(resp.mounts().begin(), resp.mounts().end());
}

absl::StatusOr<std::vector<csnap::Info>> Containerd::ListSnapshots(std::string_view filter) {
  const RpcTimer timer(this, "Snapshots.List");
  grpc::ClientContext ctx;
  Prepare(&ctx);
  csnap::ListSnapshotsRequest req;
  req.set_snapshotter(options_.snapshotter);
  if (!filter.empty()) req.add_filters(std::string(filter));
  std::unique_ptr<grpc::ClientReader<csnap::ListSnapshotsResponse>> reader =
      snapshots_->List(&ctx, req);
  std::vector<csnap::Info> out;
  csnap::ListSnapshotsResponse page;
  while (reader->Read(&page)) out.insert(out.end(), page.info().begin(), page.info().end());
  if (auto s = reader->Finish(); !s.ok()) return FromGrpcStatus(s);
  return out;
}

absl::Status Containerd::RemoveSnapshot(std::string_view key) {
  const RpcTimer timer(this, "Snapshots.Remove");
  grpc::ClientContext ctx;
  Prepare(&ctx);
  csnap::RemoveSnapshotRequest req;
  req.set_snapshotter(options_.snapshotter);
  req.set_key(std::string(key));
  google::protobuf::Empty resp;
  return FromGrpcStatus(snapshots_->Remove(&ctx, req, &resp));
}

absl::StatusOr<csnap::Info> Containerd::StatSnapshot(std::string_view key) {
  const RpcTimer timer(this, "Snapshots.Stat");
  grpc::ClientContext ctx;
  Prepare(&ctx);
  csnap::StatSnapshotRequest req;
  req.set_snapshotter(options_.snapshotter);
  req.set_key(std::string(key));
  csnap::StatSnapshotResponse resp;
  if (auto s = snapshots_->Stat(&ctx, req, &resp); !s.ok()) return FromGrpcStatus(s);
  return resp.info();
}

absl::Status Containerd::CreateContainer(const cctr::Container& container) {
  const RpcTimer timer(this, "Containers.Create");
  grpc::ClientContext ctx;
  Prepare(&ctx);
  cctr::CreateContainerRequest req;
  *req.mutable_container() = container;
  cctr::CreateContainerResponse resp;
  return FromGrpcStatus(containers_->Create(&ctx, req, &resp));
}

absl::StatusOr<cctr::Container> Containerd::GetContainer(std::string_view id) {
  const RpcTimer timer(this, "Containers.Get");
  grpc::ClientContext ctx;
  Prepare(&ctx);
  cctr::GetContainerRequest req;
  req.set_id(std::string(id));
  cctr::GetContainerResponse resp;
  if (auto s = containers_->Get(&ctx, req, &resp); !s.ok()) return FromGrpcStatus(s);
  return resp.container();
}

absl::StatusOr<std::vector<cctr::Container>> Containerd::ListContainers(std::string_view filter) {
  const RpcTimer timer(this, "Containers.List");
  grpc::ClientContext ctx;
  Prepare(&ctx);
  cctr::ListContainersRequest req;
  if (!filter.empty()) req.add_filters(std::string(filter));
  cctr::ListContainersResponse resp;
  if (auto s = containers_->List(&ctx, req, &resp); !s.ok()) return FromGrpcStatus(s);
  return std::vector<cctr::Container>(resp.containers().begin(), resp.containers().end());
}

absl::Status Containerd::UpdateContainer(const cctr::Container& container,
                                         const std::vector<std::string>& field_paths) {
  const RpcTimer timer(this, "Containers.Update");
  grpc::ClientContext ctx;
  Prepare(&ctx);
  cctr::UpdateContainerRequest req;
  *req.mutable_container() = container;
  for (const std::string& path : field_paths) req.mutable_update_mask()->add_paths(path);
  cctr::UpdateContainerResponse resp;
  return FromGrpcStatus(containers_->Update(&ctx, req, &resp));
}

absl::Status Containerd::DeleteContainer(std::string_view id) {
  const RpcTimer timer(this, "Containers.Delete");
  grpc::ClientContext ctx;
  Prepare(&ctx);
  cctr::DeleteContainerRequest req;
  req.set_id(std::string(id));
  google::protobuf::Empty resp;
  return FromGrpcStatus(containers_->Delete(&ctx, req, &resp));
}

absl::StatusOr<uint32_t> Containerd::CreateTask(const ctasks::CreateTaskRequest& req) {
  const RpcTimer timer(this, "Tasks.Create");
  grpc::ClientContext ctx;
  Prepare(&ctx);
  ctasks::CreateTaskResponse resp;
  if (auto s = tasks_->Create(&ctx, req, &resp); !s.ok()) return FromGrpcStatus(s);
  return resp.pid();
}

absl::StatusOr<uint32_t> Containerd::StartTask(std::string_view id) {
  const RpcTimer timer(this, "Tasks.Start");
  grpc::ClientContext ctx;
  Prepare(&ctx);
  ctasks::StartRequest req;
  req.set_container_id(std::string(id));
  ctasks::StartResponse resp;
  if (auto s = tasks_->Start(&ctx, req, &resp); !s.ok()) return FromGrpcStatus(s);
  return resp.pid();
}

absl::StatusOr<containerd::v1::types::Process> Containerd::GetTask(std::string_view id) {
  const RpcTimer timer(this, "Tasks.Get");
  grpc::ClientContext ctx;
  Prepare(&ctx);
  ctasks::GetRequest req;
  req.set_container_id(std::string(id));
  ctasks::GetResponse resp;
  if (auto s = tasks_->Get(&ctx, req, &resp); !s.ok()) return FromGrpcStatus(s);
  return resp.process();
}

absl::StatusOr<std::vector<containerd::v1::types::Process>> Containerd::ListTasks() {
  const RpcTimer timer(this, "Tasks.List");
  grpc::ClientContext ctx;
  Prepare(&ctx);
  ctasks::ListTasksRequest req;
  ctasks::ListTasksResponse resp;
  if (auto s = tasks_->List(&ctx, req, &resp); !s.ok()) return FromGrpcStatus(s);
  return std::vector<containerd::v1::types::Process>(resp.tasks().begin(), resp.tasks().end());
}

absl::Status Containerd::KillTask(std::string_view id, uint32_t signal, bool all) {
  const RpcTimer timer(this, "Tasks.Kill");
  grpc::ClientContext ctx;
  Prepare(&ctx);
  ctasks::KillRequest req;
  req.set_container_id(std::string(id));
  req.set_signal(signal);
  req.set_all(all);
  google::protobuf::Empty resp;
  return FromGrpcStatus(tasks_->Kill(&ctx, req, &resp));
}

absl::StatusOr<uint32_t> Containerd::WaitTask(std::string_view id, absl::Duration timeout) {
  const RpcTimer timer(this, "Tasks.Wait");
  grpc::ClientContext ctx;
  Prepare(&ctx, timeout);
  ctasks::WaitRequest req;
  req.set_container_id(std::string(id));
  ctasks::WaitResponse resp;
  if (auto s = tasks_->Wait(&ctx, req, &resp); !s.ok()) return FromGrpcStatus(s);
  return resp.exit_status();
}

absl::StatusOr<ctasks::DeleteResponse> Containerd::DeleteTask(std::string_view id) {
  const RpcTimer timer(this, "Tasks.Delete");
  grpc::ClientContext ctx;
  Prepare(&ctx);
  ctasks::DeleteTaskRequest req;
  req.set_container_id(std::string(id));
  ctasks::DeleteResponse resp;
  if (auto s = tasks_->Delete(&ctx, req, &resp); !s.ok()) return FromGrpcStatus(s);
  return resp;
}

}  // namespace fsb::agent
