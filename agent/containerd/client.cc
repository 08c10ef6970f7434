#include "agent/containerd/client.h"

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/empty.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "internal/deadline.h"
#include "internal/status.h"
#include "internal/stopwatch.h"

namespace fsb::agent {
namespace {

namespace cimages = containerd::services::images::v1;
namespace ccontent = containerd::services::content::v1;
namespace cdiff = containerd::services::diff::v1;
namespace cevents = containerd::services::events::v1;
namespace cleases = containerd::services::leases::v1;
namespace csnap = containerd::services::snapshots::v1;
namespace cctr = containerd::services::containers::v1;
namespace ctasks = containerd::services::tasks::v1;
using google::protobuf::Empty;

// The headers by which containerd scopes a call to a namespace and a lease.
constexpr char kNamespaceHeader[] = "containerd-namespace";
constexpr char kLeaseHeader[] = "containerd-lease";
// The label that makes containerd's garbage collector delete a lease once it is past.
constexpr char kLeaseExpireLabel[] = "containerd.io/gc.expire";
constexpr char kSnapshotRefLabelPrefix[] = "containerd.io/gc.ref.snapshot.";

grpc::ChannelArguments ChannelArguments() {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxContainerdMessageBytes);
  return args;
}

}  // namespace

Containerd::Containerd(Options options)
    : options_(std::move(options)),
      channel_(grpc::CreateCustomChannel(absl::StrCat("unix:", options_.socket),
                                         grpc::InsecureChannelCredentials(), ChannelArguments())),
      version_(containerd::services::version::v1::Version::NewStub(channel_)),
      leases_(cleases::Leases::NewStub(channel_)),
      images_(cimages::Images::NewStub(channel_)),
      content_(ccontent::Content::NewStub(channel_)),
      snapshots_(csnap::Snapshots::NewStub(channel_)),
      diff_(cdiff::Diff::NewStub(channel_)),
      containers_(cctr::Containers::NewStub(channel_)),
      tasks_(ctasks::Tasks::NewStub(channel_)),
      events_(cevents::Events::NewStub(channel_)) {}

class Containerd::RpcTimer {
 public:
  RpcTimer(const Containerd* containerd, std::string_view rpc)
      : containerd_(containerd), rpc_(rpc) {}
  ~RpcTimer() {
    const auto& observe = containerd_->options_.observe_rpc;
    if (observe) observe(rpc_, watch_.Elapsed());
  }

 private:
  const Containerd* const containerd_;
  const std::string_view rpc_;
  const Stopwatch watch_;
};

void Containerd::Prepare(grpc::ClientContext* ctx, absl::Duration timeout,
                         std::string_view lease_id) const {
  ctx->AddMetadata(kNamespaceHeader, options_.ns);
  if (!lease_id.empty()) ctx->AddMetadata(kLeaseHeader, std::string(lease_id));
  // An infinite timeout makes the time point's maximum, which gRPC takes as no deadline.
  ctx->set_deadline(Deadline::In(timeout).ToChrono());
}

template <typename Stub, typename Request, typename Response>
absl::StatusOr<Response> Containerd::Call(std::string_view rpc, Stub& stub,
                                          grpc::Status (Stub::*method)(grpc::ClientContext*,
                                                                       const Request&, Response*),
                                          const Request& request, CallOptions call) const {
  const RpcTimer timer(this, rpc);
  grpc::ClientContext ctx;
  Prepare(&ctx, call.timeout.value_or(options_.rpc_timeout), call.lease_id);
  Response response;
  if (grpc::Status s = (stub.*method)(&ctx, request, &response); !s.ok()) {
    return FromGrpcStatus(s);
  }
  return response;
}

std::string Containerd::SnapshotRefLabel() const {
  return absl::StrCat(kSnapshotRefLabelPrefix, options_.snapshotter);
}

absl::StatusOr<std::string> Containerd::Version() {
  auto resp = Call("Version.Version", *version_,
                   &containerd::services::version::v1::Version::Stub::Version, Empty());
  if (!resp.ok()) return resp.status();
  return resp->version();
}

// ---- Leases ----

absl::Status Containerd::CreateLease(std::string_view id, absl::Time expires) {
  cleases::CreateRequest req;
  req.set_id(std::string(id));
  (*req.mutable_labels())[kLeaseExpireLabel] =
      absl::FormatTime(absl::RFC3339_sec, expires, absl::UTCTimeZone());
  return Call("Leases.Create", *leases_, &cleases::Leases::Stub::Create, req).status();
}

absl::Status Containerd::DeleteLease(std::string_view id) {
  cleases::DeleteRequest req;
  req.set_id(std::string(id));
  return Call("Leases.Delete", *leases_, &cleases::Leases::Stub::Delete, req).status();
}

absl::Status Containerd::AddLeaseResource(std::string_view lease_id, std::string_view resource_id,
                                          std::string_view type) {
  cleases::AddResourceRequest req;
  req.set_id(std::string(lease_id));
  req.mutable_resource()->set_id(std::string(resource_id));
  req.mutable_resource()->set_type(std::string(type));
  return Call("Leases.AddResource", *leases_, &cleases::Leases::Stub::AddResource, req).status();
}

// ---- Images and content ----

absl::StatusOr<cimages::Image> Containerd::GetImage(std::string_view name) {
  cimages::GetImageRequest req;
  req.set_name(std::string(name));
  auto resp = Call("Images.Get", *images_, &cimages::Images::Stub::Get, req);
  if (!resp.ok()) return resp.status();
  return resp->image();
}

absl::StatusOr<std::vector<cimages::Image>> Containerd::ListImages() {
  auto resp =
      Call("Images.List", *images_, &cimages::Images::Stub::List, cimages::ListImagesRequest());
  if (!resp.ok()) return resp.status();
  return std::vector<cimages::Image>(resp->images().begin(), resp->images().end());
}

absl::Status Containerd::CreateImage(const cimages::Image& image) {
  cimages::CreateImageRequest req;
  *req.mutable_image() = image;
  return Call("Images.Create", *images_, &cimages::Images::Stub::Create, req).status();
}

absl::Status Containerd::UpdateImage(const cimages::Image& image,
                                     const std::vector<std::string>& field_paths) {
  cimages::UpdateImageRequest req;
  *req.mutable_image() = image;
  for (const std::string& path : field_paths) req.mutable_update_mask()->add_paths(path);
  return Call("Images.Update", *images_, &cimages::Images::Stub::Update, req).status();
}

absl::StatusOr<ccontent::Info> Containerd::ContentInfo(std::string_view digest) {
  ccontent::InfoRequest req;
  req.set_digest(std::string(digest));
  auto resp = Call("Content.Info", *content_, &ccontent::Content::Stub::Info, req);
  if (!resp.ok()) return resp.status();
  return resp->info();
}

absl::StatusOr<std::string> Containerd::ReadContent(std::string_view digest) {
  const RpcTimer timer(this, "Content.Read");
  grpc::ClientContext ctx;
  Prepare(&ctx, options_.rpc_timeout);
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

absl::Status Containerd::SetContentLabels(std::string_view digest,
                                          const std::map<std::string, std::string>& labels) {
  ccontent::UpdateRequest req;
  req.mutable_info()->set_digest(std::string(digest));
  for (const auto& [key, value] : labels) {
    (*req.mutable_info()->mutable_labels())[key] = value;
    req.mutable_update_mask()->add_paths(absl::StrCat("labels.", key));
  }
  return Call("Content.Update", *content_, &ccontent::Content::Stub::Update, req).status();
}

std::unique_ptr<Containerd::ContentWriteStream> Containerd::WriteContent(
    grpc::ClientContext* ctx, absl::Duration timeout, std::string_view lease_id) {
  Prepare(ctx, timeout, lease_id);
  return content_->Write(ctx);
}

absl::Status Containerd::AbortContentWrite(std::string_view ref) {
  ccontent::AbortRequest req;
  req.set_ref(std::string(ref));
  return Call("Content.Abort", *content_, &ccontent::Content::Stub::Abort, req).status();
}

// ---- Snapshots ----

absl::StatusOr<std::vector<containerd::types::Mount>> Containerd::PrepareSnapshot(
    std::string_view key, std::string_view parent, const std::map<std::string, std::string>& labels,
    std::string_view lease_id) {
  csnap::PrepareSnapshotRequest req;
  req.set_snapshotter(options_.snapshotter);
  req.set_key(std::string(key));
  req.set_parent(std::string(parent));
  req.mutable_labels()->insert(labels.begin(), labels.end());
  auto resp = Call("Snapshots.Prepare", *snapshots_, &csnap::Snapshots::Stub::Prepare, req,
                   {.lease_id = lease_id});
  if (!resp.ok()) return resp.status();
  return std::vector<containerd::types::Mount>(resp->mounts().begin(), resp->mounts().end());
}

absl::StatusOr<std::vector<containerd::types::Mount>> Containerd::ViewSnapshot(
    std::string_view key, std::string_view parent, const std::map<std::string, std::string>& labels,
    std::string_view lease_id) {
  csnap::ViewSnapshotRequest req;
  req.set_snapshotter(options_.snapshotter);
  req.set_key(std::string(key));
  req.set_parent(std::string(parent));
  req.mutable_labels()->insert(labels.begin(), labels.end());
  auto resp = Call("Snapshots.View", *snapshots_, &csnap::Snapshots::Stub::View, req,
                   {.lease_id = lease_id});
  if (!resp.ok()) return resp.status();
  return std::vector<containerd::types::Mount>(resp->mounts().begin(), resp->mounts().end());
}

absl::Status Containerd::CommitSnapshot(std::string_view name, std::string_view key,
                                        std::string_view lease_id) {
  csnap::CommitSnapshotRequest req;
  req.set_snapshotter(options_.snapshotter);
  req.set_name(std::string(name));
  req.set_key(std::string(key));
  return Call("Snapshots.Commit", *snapshots_, &csnap::Snapshots::Stub::Commit, req,
              {.lease_id = lease_id})
      .status();
}

absl::StatusOr<std::vector<csnap::Info>> Containerd::ListSnapshots(std::string_view filter) {
  const RpcTimer timer(this, "Snapshots.List");
  grpc::ClientContext ctx;
  Prepare(&ctx, options_.rpc_timeout);
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
  csnap::RemoveSnapshotRequest req;
  req.set_snapshotter(options_.snapshotter);
  req.set_key(std::string(key));
  return Call("Snapshots.Remove", *snapshots_, &csnap::Snapshots::Stub::Remove, req).status();
}

absl::StatusOr<csnap::Info> Containerd::StatSnapshot(std::string_view key) {
  csnap::StatSnapshotRequest req;
  req.set_snapshotter(options_.snapshotter);
  req.set_key(std::string(key));
  auto resp = Call("Snapshots.Stat", *snapshots_, &csnap::Snapshots::Stub::Stat, req);
  if (!resp.ok()) return resp.status();
  return resp->info();
}

absl::StatusOr<containerd::types::Descriptor> Containerd::ApplyDiff(
    const containerd::types::Descriptor& diff, const std::vector<containerd::types::Mount>& mounts,
    absl::Duration timeout, std::string_view lease_id) {
  cdiff::ApplyRequest req;
  *req.mutable_diff() = diff;
  req.mutable_mounts()->Add(mounts.begin(), mounts.end());
  auto resp = Call("Diff.Apply", *diff_, &cdiff::Diff::Stub::Apply, req,
                   {.timeout = timeout, .lease_id = lease_id});
  if (!resp.ok()) return resp.status();
  return resp->applied();
}

// ---- Containers ----

absl::Status Containerd::CreateContainer(const cctr::Container& container) {
  cctr::CreateContainerRequest req;
  *req.mutable_container() = container;
  return Call("Containers.Create", *containers_, &cctr::Containers::Stub::Create, req).status();
}

absl::StatusOr<cctr::Container> Containerd::GetContainer(std::string_view id) {
  cctr::GetContainerRequest req;
  req.set_id(std::string(id));
  auto resp = Call("Containers.Get", *containers_, &cctr::Containers::Stub::Get, req);
  if (!resp.ok()) return resp.status();
  return resp->container();
}

absl::StatusOr<std::vector<cctr::Container>> Containerd::ListContainers(std::string_view filter) {
  // Containers.ListStream sends one container per message, so the list is not bounded by
  // the message size limit the way Containers.List's single response is.
  const RpcTimer timer(this, "Containers.ListStream");
  grpc::ClientContext ctx;
  Prepare(&ctx, options_.rpc_timeout);
  cctr::ListContainersRequest req;
  if (!filter.empty()) req.add_filters(std::string(filter));
  std::unique_ptr<grpc::ClientReader<cctr::ListContainerMessage>> reader =
      containers_->ListStream(&ctx, req);
  std::vector<cctr::Container> out;
  cctr::ListContainerMessage message;
  while (reader->Read(&message)) out.push_back(std::move(*message.mutable_container()));
  if (auto s = reader->Finish(); !s.ok()) return FromGrpcStatus(s);
  return out;
}

absl::Status Containerd::UpdateContainer(const cctr::Container& container,
                                         const std::vector<std::string>& field_paths) {
  cctr::UpdateContainerRequest req;
  *req.mutable_container() = container;
  for (const std::string& path : field_paths) req.mutable_update_mask()->add_paths(path);
  return Call("Containers.Update", *containers_, &cctr::Containers::Stub::Update, req).status();
}

absl::Status Containerd::DeleteContainer(std::string_view id) {
  cctr::DeleteContainerRequest req;
  req.set_id(std::string(id));
  return Call("Containers.Delete", *containers_, &cctr::Containers::Stub::Delete, req).status();
}

// ---- Tasks ----

absl::StatusOr<uint32_t> Containerd::CreateTask(const ctasks::CreateTaskRequest& req) {
  auto resp = Call("Tasks.Create", *tasks_, &ctasks::Tasks::Stub::Create, req);
  if (!resp.ok()) return resp.status();
  return resp->pid();
}

absl::StatusOr<uint32_t> Containerd::StartTask(std::string_view id) { return StartProcess(id, ""); }

absl::StatusOr<containerd::v1::types::Process> Containerd::GetTask(std::string_view id,
                                                                   std::string_view exec_id) {
  ctasks::GetRequest req;
  req.set_container_id(std::string(id));
  req.set_exec_id(std::string(exec_id));
  auto resp = Call("Tasks.Get", *tasks_, &ctasks::Tasks::Stub::Get, req);
  if (!resp.ok()) return resp.status();
  return resp->process();
}

absl::StatusOr<std::vector<containerd::v1::types::Process>> Containerd::ListTasks() {
  auto resp = Call("Tasks.List", *tasks_, &ctasks::Tasks::Stub::List, ctasks::ListTasksRequest());
  if (!resp.ok()) return resp.status();
  return std::vector<containerd::v1::types::Process>(resp->tasks().begin(), resp->tasks().end());
}

absl::Status Containerd::KillTask(std::string_view id, uint32_t signal, bool all) {
  ctasks::KillRequest req;
  req.set_container_id(std::string(id));
  req.set_signal(signal);
  req.set_all(all);
  return Call("Tasks.Kill", *tasks_, &ctasks::Tasks::Stub::Kill, req).status();
}

absl::StatusOr<uint32_t> Containerd::WaitTask(std::string_view id, absl::Duration timeout) {
  ctasks::WaitRequest req;
  req.set_container_id(std::string(id));
  auto resp = Call("Tasks.Wait", *tasks_, &ctasks::Tasks::Stub::Wait, req, {.timeout = timeout});
  if (!resp.ok()) return resp.status();
  return resp->exit_status();
}

void Containerd::WaitAsync(grpc::ClientContext* ctx, absl::Duration timeout,
                           const ctasks::WaitRequest* request, ctasks::WaitResponse* response,
                           Done done) {
  Prepare(ctx, timeout);
  tasks_->async()->Wait(ctx, request, response,
                        [done = std::move(done)](grpc::Status s) { done(FromGrpcStatus(s)); });
}

absl::StatusOr<ctasks::DeleteResponse> Containerd::DeleteTask(std::string_view id) {
  ctasks::DeleteTaskRequest req;
  req.set_container_id(std::string(id));
  return Call("Tasks.Delete", *tasks_, &ctasks::Tasks::Stub::Delete, req);
}

// ---- Exec'd processes ----

absl::Status Containerd::ExecProcess(const ctasks::ExecProcessRequest& req) {
  return Call("Tasks.Exec", *tasks_, &ctasks::Tasks::Stub::Exec, req).status();
}

absl::StatusOr<uint32_t> Containerd::StartProcess(std::string_view id, std::string_view exec_id) {
  ctasks::StartRequest req;
  req.set_container_id(std::string(id));
  req.set_exec_id(std::string(exec_id));
  auto resp = Call("Tasks.Start", *tasks_, &ctasks::Tasks::Stub::Start, req);
  if (!resp.ok()) return resp.status();
  return resp->pid();
}

absl::Status Containerd::CloseProcessStdin(std::string_view id, std::string_view exec_id) {
  ctasks::CloseIORequest req;
  req.set_container_id(std::string(id));
  req.set_exec_id(std::string(exec_id));
  req.set_stdin(true);
  return Call("Tasks.CloseIO", *tasks_, &ctasks::Tasks::Stub::CloseIO, req).status();
}

absl::Status Containerd::ResizeProcessPty(std::string_view id, std::string_view exec_id,
                                          uint32_t width, uint32_t height) {
  ctasks::ResizePtyRequest req;
  req.set_container_id(std::string(id));
  req.set_exec_id(std::string(exec_id));
  req.set_width(width);
  req.set_height(height);
  return Call("Tasks.ResizePty", *tasks_, &ctasks::Tasks::Stub::ResizePty, req).status();
}

absl::Status Containerd::KillProcess(std::string_view id, std::string_view exec_id,
                                     uint32_t signal) {
  ctasks::KillRequest req;
  req.set_container_id(std::string(id));
  req.set_exec_id(std::string(exec_id));
  req.set_signal(signal);
  return Call("Tasks.Kill", *tasks_, &ctasks::Tasks::Stub::Kill, req).status();
}

absl::Status Containerd::DeleteProcess(std::string_view id, std::string_view exec_id) {
  ctasks::DeleteProcessRequest req;
  req.set_container_id(std::string(id));
  req.set_exec_id(std::string(exec_id));
  return Call("Tasks.DeleteProcess", *tasks_, &ctasks::Tasks::Stub::DeleteProcess, req).status();
}

void Containerd::DeleteProcessAsync(std::string_view id, std::string_view exec_id,
                                    DeleteProcessCall* call, Done done) {
  call->request.set_container_id(std::string(id));
  call->request.set_exec_id(std::string(exec_id));
  Prepare(&call->ctx, options_.rpc_timeout);
  tasks_->async()->DeleteProcess(
      &call->ctx, &call->request, &call->response,
      [done = std::move(done)](grpc::Status s) { done(FromGrpcStatus(s)); });
}

// ---- Events ----

std::unique_ptr<Containerd::EventStream> Containerd::SubscribeEvents(
    grpc::ClientContext* ctx, const std::vector<std::string>& filters) {
  Prepare(ctx, absl::InfiniteDuration());
  cevents::SubscribeRequest req;
  for (const std::string& filter : filters) req.add_filters(filter);
  return events_->Subscribe(ctx, req);
}

absl::Status Containerd::PublishEvent(std::string_view topic,
                                      const google::protobuf::Message& event,
                                      absl::Duration timeout) {
  cevents::PublishRequest req;
  req.set_topic(std::string(topic));
  req.mutable_event()->PackFrom(event);
  return Call("Events.Publish", *events_, &cevents::Events::Stub::Publish, req,
              {.timeout = timeout})
      .status();
}

}  // namespace fsb::agent
