#include "agent/containerd/fake_containerd_testing.h"

#include <stdlib.h>

#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "internal/status.h"
#include "internal/strings.h"

namespace fsb::agent {
namespace {

namespace cctr = containerd::services::containers::v1;
namespace csnap = containerd::services::snapshots::v1;
namespace ctasks = containerd::services::tasks::v1;
using google::protobuf::Empty;

grpc::Status TaskNotFound(const std::string& id) {
  return ToGrpcStatus(absl::NotFoundError(absl::StrCat("task ", id, " not found")));
}

}  // namespace

// The generated services, each handler forwarding to the fake.
class FakeContainerd::TasksService : public ctasks::Tasks::Service {
 public:
  explicit TasksService(FakeContainerd* fake) : fake_(fake) {}
  grpc::Status Delete(grpc::ServerContext* ctx, const ctasks::DeleteTaskRequest* request,
                      ctasks::DeleteResponse* response) override {
    return fake_->DeleteTask(*ctx, *request, response);
  }
  grpc::Status Kill(grpc::ServerContext* ctx, const ctasks::KillRequest* request, Empty*) override {
    return fake_->KillTask(*ctx, *request);
  }
  grpc::Status Wait(grpc::ServerContext* ctx, const ctasks::WaitRequest* request,
                    ctasks::WaitResponse* response) override {
    return fake_->WaitTask(*ctx, *request, response);
  }

 private:
  FakeContainerd* const fake_;
};

class FakeContainerd::ContainersService : public cctr::Containers::Service {
 public:
  explicit ContainersService(FakeContainerd* fake) : fake_(fake) {}
  grpc::Status Delete(grpc::ServerContext* ctx, const cctr::DeleteContainerRequest* request,
                      Empty*) override {
    return fake_->DeleteContainer(*ctx, *request);
  }

 private:
  FakeContainerd* const fake_;
};

class FakeContainerd::SnapshotsService : public csnap::Snapshots::Service {
 public:
  explicit SnapshotsService(FakeContainerd* fake) : fake_(fake) {}
  grpc::Status Remove(grpc::ServerContext* ctx, const csnap::RemoveSnapshotRequest* request,
                      Empty*) override {
    return fake_->RemoveSnapshot(*ctx, *request);
  }

 private:
  FakeContainerd* const fake_;
};

absl::StatusOr<std::unique_ptr<FakeContainerd>> FakeContainerd::Start(Options options) {
  char tmpl[] = "/tmp/fsb-fake-containerd-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    return absl::UnavailableError("cannot make a folder for the fake containerd's socket");
  }
  std::unique_ptr<FakeContainerd> fake(new FakeContainerd(std::move(options), tmpl));
  grpc::ServerBuilder builder;
  builder.AddListeningPort(absl::StrCat("unix:", fake->socket_), grpc::InsecureServerCredentials());
  builder.RegisterService(fake->tasks_service_.get());
  builder.RegisterService(fake->containers_service_.get());
  builder.RegisterService(fake->snapshots_service_.get());
  fake->server_ = builder.BuildAndStart();
  if (fake->server_ == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("the fake containerd cannot listen on ", fake->socket_));
  }
  return fake;
}

FakeContainerd::FakeContainerd(Options options, std::string dir)
    : options_(std::move(options)),
      dir_(std::move(dir)),
      socket_(absl::StrCat(dir_, "/containerd.sock")),
      tasks_service_(std::make_unique<TasksService>(this)),
      containers_service_(std::make_unique<ContainersService>(this)),
      snapshots_service_(std::make_unique<SnapshotsService>(this)) {}

FakeContainerd::~FakeContainerd() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;  // wakes the waits, so that Shutdown() need not cancel them
  }
  if (server_ != nullptr) server_->Shutdown();
  server_.reset();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

void FakeContainerd::AddContainer(std::string_view id) {
  absl::MutexLock lock(&mu_);
  containers_.emplace(id);
}

void FakeContainerd::AddTask(std::string_view id, bool running) {
  absl::MutexLock lock(&mu_);
  tasks_[std::string(id)] = Task{.pid = next_pid_++, .running = running};
}

void FakeContainerd::AddSnapshot(std::string_view key) {
  absl::MutexLock lock(&mu_);
  snapshots_.emplace(key);
}

void FakeContainerd::FailNext(std::string_view rpc, absl::Status status) {
  absl::MutexLock lock(&mu_);
  failures_[std::string(rpc)].push_back(std::move(status));
}

std::vector<std::string> FakeContainerd::Calls() const {
  absl::MutexLock lock(&mu_);
  return calls_;
}

std::vector<std::string> FakeContainerd::Objects() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> out;
  for (const std::string& id : containers_) out.push_back(absl::StrCat("container ", id));
  for (const std::string& key : snapshots_) out.push_back(absl::StrCat("snapshot ", key));
  for (const auto& [id, task] : tasks_) {
    out.push_back(absl::StrCat("task ", id, task.running ? " running" : " stopped"));
  }
  return out;
}

absl::Status FakeContainerd::Begin(std::string_view rpc, const grpc::ServerContext& ctx,
                                   const google::protobuf::Message& request) {
  calls_.push_back(absl::StrCat(Sv(rpc), " ", request.ShortDebugString()));
  if (auto queued = failures_.find(rpc); queued != failures_.end() && !queued->second.empty()) {
    absl::Status status = std::move(queued->second.front());
    queued->second.pop_front();
    return status;
  }
  const auto ns = ctx.client_metadata().find("containerd-namespace");
  const std::string_view got = ns == ctx.client_metadata().end()
                                   ? std::string_view()
                                   : std::string_view(ns->second.data(), ns->second.size());
  if (got != options_.ns) {
    return absl::NotFoundError(absl::StrCat("nothing in namespace \"", Sv(got), "\""));
  }
  return absl::OkStatus();
}

grpc::Status FakeContainerd::DeleteTask(const grpc::ServerContext& ctx,
                                        const ctasks::DeleteTaskRequest& request,
                                        ctasks::DeleteResponse* response) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Begin("Tasks.Delete", ctx, request); !s.ok()) return ToGrpcStatus(s);
  const auto task = tasks_.find(request.container_id());
  if (task == tasks_.end()) {
    return TaskNotFound(request.container_id());
  }
  if (task->second.running) return ToGrpcStatus(options_.running_delete_error);
  response->set_id(request.container_id());
  response->set_pid(task->second.pid);
  response->set_exit_status(task->second.exit_status);
  tasks_.erase(task);
  return grpc::Status::OK;
}

grpc::Status FakeContainerd::KillTask(const grpc::ServerContext& ctx,
                                      const ctasks::KillRequest& request) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Begin("Tasks.Kill", ctx, request); !s.ok()) return ToGrpcStatus(s);
  const auto task = tasks_.find(request.container_id());
  if (task == tasks_.end()) {
    return TaskNotFound(request.container_id());
  }
  if (!task->second.running) {
    return ToGrpcStatus(absl::NotFoundError("process already finished"));
  }
  task->second.running = false;
  task->second.exit_status = 128 + request.signal();
  return grpc::Status::OK;
}

grpc::Status FakeContainerd::WaitTask(const grpc::ServerContext& ctx,
                                      const ctasks::WaitRequest& request,
                                      ctasks::WaitResponse* response) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Begin("Tasks.Wait", ctx, request); !s.ok()) return ToGrpcStatus(s);
  const std::string& id = request.container_id();
  auto settled = [this, &id]() {  // under mu_
    const auto task = tasks_.find(id);
    return stopping_ || task == tasks_.end() || !task->second.running;
  };
  mu_.AwaitWithDeadline(absl::Condition(&settled), absl::FromChrono(ctx.deadline()));
  const auto task = tasks_.find(id);
  if (stopping_) return ToGrpcStatus(absl::UnavailableError("the fake containerd is stopping"));
  if (task == tasks_.end()) {
    return TaskNotFound(id);
  }
  if (task->second.running) {
    return ToGrpcStatus(absl::DeadlineExceededError("the task still runs"));
  }
  response->set_exit_status(task->second.exit_status);
  return grpc::Status::OK;
}

grpc::Status FakeContainerd::DeleteContainer(const grpc::ServerContext& ctx,
                                             const cctr::DeleteContainerRequest& request) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Begin("Containers.Delete", ctx, request); !s.ok()) return ToGrpcStatus(s);
  if (containers_.erase(request.id()) == 0) {
    return ToGrpcStatus(absl::NotFoundError(absl::StrCat(
        "container \"", request.id(), "\" in namespace \"", options_.ns, "\": not found")));
  }
  return grpc::Status::OK;
}

grpc::Status FakeContainerd::RemoveSnapshot(const grpc::ServerContext& ctx,
                                            const csnap::RemoveSnapshotRequest& request) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Begin("Snapshots.Remove", ctx, request); !s.ok()) return ToGrpcStatus(s);
  if (snapshots_.erase(request.key()) == 0) {
    return ToGrpcStatus(
        absl::NotFoundError(absl::StrCat("snapshot ", request.key(), " does not exist")));
  }
  return grpc::Status::OK;
}

}  // namespace fsb::agent
