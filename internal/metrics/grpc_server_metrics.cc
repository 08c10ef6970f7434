#include "internal/metrics/grpc_server_metrics.h"

#include <chrono>
#include <string>

#include "absl/status/status.h"
#include "internal/stopwatch.h"

namespace fsb::metrics {
namespace {

class Factory;

// One RPC: remembers its start, records its end when the status is sent.
class Interceptor final : public grpc::experimental::Interceptor {
 public:
  Interceptor(const Factory* factory, const char* method) : factory_(factory), method_(method) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override;

 private:
  const Factory* const factory_;
  const char* const method_;
  const Stopwatch watch_;
};

class Factory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit Factory(Registry* registry)
      : handled_(registry->AddCounter("fsb_grpc_server_handled_total",
                                      "gRPC calls completed by the server, by method and code.")),
        seconds_(registry->AddHistogram("fsb_grpc_server_handling_seconds",
                                        "Time the server took to handle a gRPC call, by method.",
                                        LatencyBuckets())) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new Interceptor(this, info->method());
  }

  void Record(const char* method, grpc::StatusCode code, double seconds) const {
    const std::string code_name =
        absl::StatusCodeToString(static_cast<absl::StatusCode>(static_cast<int>(code)));
    handled_.Add({{"method", method}, {"code", code_name}}).Increment();
    seconds_.Add({{"method", method}}).Observe(seconds);
  }

 private:
  Family<Counter>& handled_;
  Family<Histogram>& seconds_;
};

void Interceptor::Intercept(grpc::experimental::InterceptorBatchMethods* methods) {
  if (methods->QueryInterceptionHookPoint(
          grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
    factory_->Record(method_, methods->GetSendStatus().error_code(),
                     absl::ToDoubleSeconds(watch_.Elapsed()));
  }
  methods->Proceed();
}

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewGrpcServerMetrics(
    Registry* registry) {
  return std::make_unique<Factory>(registry);
}

}  // namespace fsb::metrics
