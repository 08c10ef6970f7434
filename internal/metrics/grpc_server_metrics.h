#ifndef FSB_INTERNAL_METRICS_GRPC_SERVER_METRICS_H_
#define FSB_INTERNAL_METRICS_GRPC_SERVER_METRICS_H_

#include <memory>

#include "grpcpp/support/server_interceptor.h"
#include "internal/metrics/metrics.h"

namespace fsb::metrics {

// A gRPC server interceptor factory that counts and times every RPC the server handles:
//   fsb_grpc_server_handled_total{method,code}   RPCs completed, by status code
//   fsb_grpc_server_handling_seconds{method}     time from arrival to the status
// `method` is the full gRPC name ("/fastpath.v1.FastPathService/CreateSandbox"), `code`
// the canonical code name ("OK", "NOT_FOUND"). Register the factory with
// ServerBuilder::experimental().SetInterceptorCreators. The families are registered in
// `registry`, which must outlive the server. Thread-safe.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewGrpcServerMetrics(
    Registry* registry);

}  // namespace fsb::metrics

#endif  // FSB_INTERNAL_METRICS_GRPC_SERVER_METRICS_H_
