#ifndef FSB_INTERNAL_GRPC_SERVER_POLLER_H_
#define FSB_INTERNAL_GRPC_SERVER_POLLER_H_

#include <memory>
#include <thread>

#include "grpcpp/server_builder.h"

namespace fsb {

// Keeps the network I/O of a gRPC server that mixes sync and callback services moving,
// from a thread of its own.
//
// gRPC (1.51, Debian 12) makes such a server "hybrid": its sync completion queues stop
// polling the network and rely on the threads that poll a frequently polled queue. With
// nothing else, those are the process's two callback threads ("nexting_thread"), each of
// which sleeps 100 ms after every second without a callback event of its own. A request
// that arrives while neither of them polls, and no sync call of the process happens to be
// waiting, is read only when one wakes up: in fsb-controller 14 creates in 200 waited
// 6-89 ms before the server read them (docs/PERFORMANCE.md).
//
// A GrpcServerPoller adds a frequently polled completion queue to the server and waits on
// it on its own thread until the queue shuts down, so that a thread is always ready to
// poll. No RPC is ever requested on the queue; the tags gRPC itself puts there (requests
// for unimplemented methods) complete inside CompletionQueue::Next.
//
// Construct it with the builder before BuildAndStart; destroy it after the server has
// shut down (declare it before the std::unique_ptr<grpc::Server>, which then goes first).
// The destructor shuts the queue down and joins the thread. Not copyable or movable.
class GrpcServerPoller {
 public:
  explicit GrpcServerPoller(grpc::ServerBuilder& builder);
  ~GrpcServerPoller();

  GrpcServerPoller(const GrpcServerPoller&) = delete;
  GrpcServerPoller& operator=(const GrpcServerPoller&) = delete;

 private:
  std::unique_ptr<grpc::ServerCompletionQueue> queue_;
  std::thread thread_;
};

}  // namespace fsb

#endif  // FSB_INTERNAL_GRPC_SERVER_POLLER_H_
