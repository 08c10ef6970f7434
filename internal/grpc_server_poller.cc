#include "internal/grpc_server_poller.h"

#include "glog/logging.h"

namespace fsb {

GrpcServerPoller::GrpcServerPoller(grpc::ServerBuilder& builder)
    : queue_(builder.AddCompletionQueue(/*is_frequently_polled=*/true)),
      thread_([queue = queue_.get()] {
        void* tag;
        bool ok;
        while (queue->Next(&tag, &ok)) {
          LOG(DFATAL) << "GrpcServerPoller: unexpected event on its queue";
        }
      }) {}

GrpcServerPoller::~GrpcServerPoller() {
  queue_->Shutdown();
  thread_.join();
}

}  // namespace fsb
