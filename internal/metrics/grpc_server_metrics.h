#ifndef FSB_INTERNAL_METRICS_GRPC_SERVER_METRICS_H_
#define FSB_INTERNAL_METRICS_GRPC_SERVER_METRICS_H_

#include <memory>

#include "grpcpp/support/server_interceptor.h"
#include "internal/metrics/metrics.h"

namespace fsb::metrics {

// Counts and times every RPC the gRPC servers it is attached to handle:
//   fsb_grpc_server_handled_total{method,code}   RPCs completed, by status code
//   fsb_grpc_server_handling_seconds{method}     time from arrival to the status
// `method` is the full gRPC name ("/fastpath.v1.FastPathService/CreateSandbox"), `code`
// the canonical code name ("OK", "NOT_FOUND"). The families are registered in
// `registry`, which must outlive this; attach it to each server with NewFactory (the
// servers of a process share one). Thread-safe.
class GrpcServerMetrics {
 public:
  explicit GrpcServerMetrics(Registry* registry);

  // An interceptor factory for ServerBuilder::experimental().SetInterceptorCreators.
  // `this` must outlive the server.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewFactory() const;

  void Record(const char* method, grpc::StatusCode code, double seconds) const;

 private:
  Family<Counter>& handled_;
  Family<Histogram>& seconds_;
};

}  // namespace fsb::metrics

#endif  // FSB_INTERNAL_METRICS_GRPC_SERVER_METRICS_H_
