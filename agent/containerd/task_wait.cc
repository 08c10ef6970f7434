#include "agent/containerd/task_wait.h"

#include <utility>

#include "glog/logging.h"
#include "grpcpp/client_context.h"

namespace fsb::agent {

namespace ctasks = containerd::services::tasks::v1;
using logger::EventFd;

TaskWait::TaskWait(Containerd* containerd, std::string container_id, std::string exec_id,
                   absl::Duration timeout, EventFd* done)
    : containerd_(containerd), deadline_(Deadline::In(timeout)), done_(done) {
  request_.set_container_id(std::move(container_id));
  request_.set_exec_id(std::move(exec_id));
  Issue();
}

TaskWait::~TaskWait() {
  absl::MutexLock lock(&mu_);
  stopping_ = true;
  if (in_flight_) context_->TryCancel();
  mu_.Await(absl::Condition(
      +[](bool* in_flight) { return !*in_flight; }, &in_flight_));
}

void TaskWait::Issue() {
  grpc::ClientContext* context;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      in_flight_ = false;
      return;
    }
    context_ = std::make_unique<grpc::ClientContext>();
    context_->set_wait_for_ready(true);
    in_flight_ = true;
    context = context_.get();
  }
  // Outside the lock: the callback takes it. A TryCancel() that comes before the call
  // starts cancels it as it starts.
  containerd_->WaitAsync(context, deadline_.Left(), &request_, &response_,
                         [this](const absl::Status& status) { OnAnswer(status); });
}

void TaskWait::OnAnswer(const absl::Status& status) {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_ || !absl::IsUnavailable(status)) {
      result_ = status.ok() ? absl::StatusOr<uint32_t>(response_.exit_status())
                            : absl::StatusOr<uint32_t>(status);
      in_flight_ = false;
      done_->Notify();
      return;
    }
  }
  LOG(INFO) << "containerd unavailable while waiting for task " << request_.container_id() << " "
            << request_.exec_id() << ": " << status.message() << "; waiting again";
  Issue();
}

absl::StatusOr<uint32_t> TaskWait::result() const {
  absl::MutexLock lock(&mu_);
  return result_;
}

}  // namespace fsb::agent
