#include "internal/metrics/grpc_server_metrics.h"

#include <memory>
#include <vector>

#include "fastpath/v1/fastpath.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"

namespace fsb::metrics {
namespace {

using ::testing::HasSubstr;

// Answers GetSandbox with NOT_FOUND and ListSandboxes with OK.
class Service final : public fastpath::v1::FastPathService::Service {
  grpc::Status GetSandbox(grpc::ServerContext*, const fastpath::v1::GetRequest*,
                          fastpath::v1::SandboxInfo*) override {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such sandbox");
  }
  grpc::Status ListSandboxes(grpc::ServerContext*, const fastpath::v1::ListRequest*,
                             fastpath::v1::ListResponse*) override {
    return grpc::Status::OK;
  }
};

TEST(GrpcServerMetricsTest, CountsAndTimesEveryCallByMethodAndCode) {
  Registry registry;
  Service service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
  GrpcServerMetrics metrics(&registry);
  creators.push_back(metrics.NewFactory());
  builder.experimental().SetInterceptorCreators(std::move(creators));
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);

  auto stub = fastpath::v1::FastPathService::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  for (int i = 0; i < 3; ++i) {
    grpc::ClientContext ctx;
    fastpath::v1::SandboxInfo info;
    EXPECT_EQ(stub->GetSandbox(&ctx, {}, &info).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  grpc::ClientContext ctx;
  fastpath::v1::ListResponse list;
  ASSERT_TRUE(stub->ListSandboxes(&ctx, {}, &list).ok());
  server->Shutdown();

  const std::string text = registry.Serialize();
  EXPECT_THAT(text, HasSubstr("fsb_grpc_server_handled_total{code=\"NOT_FOUND\",method=\"/"
                              "fastpath.v1.FastPathService/GetSandbox\"} 3"));
  EXPECT_THAT(text, HasSubstr("fsb_grpc_server_handled_total{code=\"OK\",method=\"/"
                              "fastpath.v1.FastPathService/ListSandboxes\"} 1"));
  EXPECT_THAT(text, HasSubstr("fsb_grpc_server_handling_seconds_count{method=\"/"
                              "fastpath.v1.FastPathService/GetSandbox\"} 3"));
}

}  // namespace
}  // namespace fsb::metrics
