#include "internal/metrics/grpc_server_metrics.h"

#include <chrono>
#include <string>

#include "absl/status/status.h"
#include "internal/stopwatch.h"

namespace fsb::metrics {
namespace {

// One RPC: remembers its start, records its end when the status is sent.
class Interceptor final : public grpc::experimental::Interceptor {
 public:
  Interceptor(const GrpcServerMetrics* metrics, const char* method)
      : metrics_(metrics), method_(method) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      metrics_->Record(method_, methods->GetSendStatus().error_code(),
                       absl::ToDoubleSeconds(watch_.Elapsed()));
    }
    methods->Proceed();
  }

 private:
  const GrpcServerMetrics* const metrics_;
  const char* const method_;
  const Stopwatch watch_;
};

class Factory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit Factory(const GrpcServerMetrics* metrics) : metrics_(metrics) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new Interceptor(metrics_, info->method());
  }

 private:
  const GrpcServerMetrics* const metrics_;
};

}  // namespace

GrpcServerMetrics::GrpcServerMetrics(Registry* registry)
    : handled_(registry->AddCounter("fsb_grpc_server_handled_total",
                                    "gRPC calls completed by the server, by method and code.")),
      seconds_(registry->AddHistogram("fsb_grpc_server_handling_seconds",
                                      "Time the server took to handle a gRPC call, by method.",
                                      LatencyBuckets())) {}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
GrpcServerMetrics::NewFactory() const {
  return std::make_unique<Factory>(this);
}

void GrpcServerMetrics::Record(const char* method, grpc::StatusCode code, double seconds) const {
  const std::string code_name =
      absl::StatusCodeToString(static_cast<absl::StatusCode>(static_cast<int>(code)));
  handled_.Add({{"method", method}, {"code", code_name}}).Increment();
  seconds_.Add({{"method", method}}).Observe(seconds);
}

}  // namespace fsb::metrics
