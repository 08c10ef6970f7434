#include "internal/grpc_server_poller.h"

#include <chrono>
#include <memory>
#include <string>

#include "fastpath/v1/fastpath.grpc.pb.h"
#include "fsb/agent/v1/agent.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "gtest/gtest.h"

namespace fsb {
namespace {

// A sync method, as FastPath and the agent's API are.
class SyncService final : public fastpath::v1::FastPathService::Service {
  grpc::Status GetSandbox(grpc::ServerContext*, const fastpath::v1::GetRequest*,
                          fastpath::v1::SandboxInfo*) override {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such sandbox");
  }
};

// A callback method, as Logs and Exec are: writes one chunk and finishes.
class CallbackService final : public fastpath::v1::SandboxIO::CallbackService {
  grpc::ServerWriteReactor<fsb::agent::v1::LogChunk>* Logs(
      grpc::CallbackServerContext*, const fastpath::v1::LogsRequest*) override {
    class OneChunk final : public grpc::ServerWriteReactor<fsb::agent::v1::LogChunk> {
     public:
      OneChunk() {
        chunk_.add_entries();
        StartWriteAndFinish(&chunk_, grpc::WriteOptions(), grpc::Status::OK);
      }
      void OnDone() override { delete this; }

     private:
      fsb::agent::v1::LogChunk chunk_;
    };
    return new OneChunk;
  }
};

void SetDeadline(grpc::ClientContext& context) {
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
}

TEST(GrpcServerPollerTest, HybridServerAnswersSyncCallbackAndUnknownMethods) {
  SyncService sync_service;
  CallbackService callback_service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&sync_service);
  builder.RegisterService(&callback_service);
  GrpcServerPoller poller(builder);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());

  {
    auto stub = fastpath::v1::FastPathService::NewStub(channel);
    grpc::ClientContext context;
    SetDeadline(context);
    fastpath::v1::SandboxInfo info;
    EXPECT_EQ(stub->GetSandbox(&context, {}, &info).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  {
    auto stub = fastpath::v1::SandboxIO::NewStub(channel);
    grpc::ClientContext context;
    SetDeadline(context);
    std::unique_ptr<grpc::ClientReader<fsb::agent::v1::LogChunk>> reader = stub->Logs(&context, {});
    fsb::agent::v1::LogChunk chunk;
    EXPECT_TRUE(reader->Read(&chunk));
    EXPECT_EQ(chunk.entries_size(), 1);
    EXPECT_FALSE(reader->Read(&chunk));
    EXPECT_TRUE(reader->Finish().ok());
  }
  {
    // The server does not serve this service; gRPC answers it from the poller's queue.
    auto stub = agent::v1::AgentService::NewStub(channel);
    grpc::ClientContext context;
    SetDeadline(context);
    agent::v1::DeleteSandboxResponse response;
    EXPECT_EQ(stub->DeleteSandbox(&context, {}, &response).error_code(),
              grpc::StatusCode::UNIMPLEMENTED);
  }
  server->Shutdown();
}

TEST(GrpcServerPollerTest, StopsWhenNoServerWasBuilt) {
  grpc::ServerBuilder builder;
  GrpcServerPoller poller(builder);
}

}  // namespace
}  // namespace fsb
