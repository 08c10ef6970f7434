// `fsb image import` against an in-process fake of the controller's Images service.
#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "cli/commands.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"

namespace fsb::cli {
namespace {

namespace fp = fastpath::v1;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Records every message of an import and its deadline, then answers `response`, or
// `status` when that is an error.
class FakeImages final : public fp::Images::Service {
 public:
  grpc::Status ImportImage(grpc::ServerContext* context,
                           grpc::ServerReader<fp::ImportImageRequest>* reader,
                           fp::ImportImageResponse* response) override {
    fp::ImportImageRequest request;
    std::vector<fp::ImportImageRequest> received;
    while (reader->Read(&request)) received.push_back(request);
    absl::MutexLock lock(&mu);
    requests = std::move(received);
    deadline = context->deadline();
    if (!status.ok()) return status;
    *response = this->response;
    return grpc::Status::OK;
  }

  fp::ImportImageResponse response;
  grpc::Status status;

  absl::Mutex mu;
  std::vector<fp::ImportImageRequest> requests ABSL_GUARDED_BY(mu);
  std::chrono::system_clock::time_point deadline ABSL_GUARDED_BY(mu);
};

fp::ImportImageResponse::Result Result(std::string agent, std::vector<std::string> images,
                                       std::string error = "") {
  fp::ImportImageResponse::Result result;
  result.set_agent(std::move(agent));
  for (std::string& image : images) result.add_images(std::move(image));
  result.set_error(std::move(error));
  return result;
}

class ImageCommandsTest : public ::testing::Test {
 protected:
  ImageCommandsTest() {
    grpc::ServerBuilder builder;
    builder.RegisterService(&fake_);
    server_ = builder.BuildAndStart();
  }
  ~ImageCommandsTest() override { server_->Shutdown(); }

  int Fsb(const std::vector<std::string>& args) {
    CliContext context;
    context.env = [](std::string_view) { return std::nullopt; };
    context.connect = [](const Connection&) {
      ADD_FAILURE() << "image import uses the Images stub only";
      return nullptr;
    };
    context.connect_images = [this](const Connection& connection) {
      ++connects_;
      EXPECT_EQ(connection.endpoint, "127.0.0.1:9090");
      return fp::Images::NewStub(server_->InProcessChannel(grpc::ChannelArguments()));
    };
    context.in = &in_;
    context.out = &out_;
    context.err = &err_;
    context.now = absl::FromUnixSeconds(1'800'000'000);
    return fsb::cli::Run(args, context);
  }

  // A file of `size` bytes with varying content; its path.
  std::string WriteArchive(size_t size) {
    const std::string path = ::testing::TempDir() + "/image-commands-test.tar";
    archive_.clear();
    for (size_t i = 0; i < size; ++i) archive_.push_back(static_cast<char>(i * 7 % 251));
    std::ofstream(path, std::ios::binary) << archive_;
    return path;
  }

  std::vector<fp::ImportImageRequest> Requests() {
    absl::MutexLock lock(&fake_.mu);
    return fake_.requests;
  }

  FakeImages fake_;
  std::unique_ptr<grpc::Server> server_;
  int connects_ = 0;
  std::string archive_;
  std::istringstream in_;
  std::ostringstream out_, err_;
};

TEST_F(ImageCommandsTest, StreamsTheTargetThenTheFileInChunksOfAtMostOneMebibyte) {
  *fake_.response.add_results() =
      Result("node-1", {"docker.io/fsb/busybox:latest", "docker.io/fsb/tools:1"});
  const std::string path = WriteArchive(kImportChunkBytes * 2 + kImportChunkBytes / 2);
  EXPECT_EQ(Fsb({"image", "import", path, "--agent", "node-1"}), kExitOk) << err_.str();

  const std::vector<fp::ImportImageRequest> sent = Requests();
  ASSERT_EQ(sent.size(), 4u);
  ASSERT_TRUE(sent[0].has_target());
  EXPECT_EQ(sent[0].target().agent(), "node-1");
  EXPECT_FALSE(sent[0].target().force());
  std::string received;
  for (size_t i = 1; i < sent.size(); ++i) {
    ASSERT_TRUE(sent[i].has_data());
    EXPECT_LE(sent[i].data().size(), kImportChunkBytes);
    received += sent[i].data();
  }
  EXPECT_EQ(received, archive_);
  EXPECT_EQ(out_.str(), "node-1: imported docker.io/fsb/busybox:latest, docker.io/fsb/tools:1\n");
  EXPECT_EQ(err_.str(), "");
}

TEST_F(ImageCommandsTest, WithoutAgentTargetsEveryAgentWithALongDeadline) {
  *fake_.response.add_results() = Result("node-1", {"docker.io/fsb/busybox:latest"});
  *fake_.response.add_results() = Result("node-2", {"docker.io/fsb/busybox:latest"});
  const auto before = std::chrono::system_clock::now();
  EXPECT_EQ(Fsb({"--timeout", "5s", "image", "import", WriteArchive(10)}), kExitOk);
  const std::vector<fp::ImportImageRequest> sent = Requests();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].target().agent(), "");
  EXPECT_EQ(sent[1].data(), archive_);
  EXPECT_EQ(out_.str(),
            "node-1: imported docker.io/fsb/busybox:latest\n"
            "node-2: imported docker.io/fsb/busybox:latest\n");
  absl::MutexLock lock(&fake_.mu);
  EXPECT_GE(fake_.deadline, before + std::chrono::minutes(29));
}

TEST_F(ImageCommandsTest, AnEmptyFileSendsOnlyTheTarget) {
  *fake_.response.add_results() = Result("node-1", {});
  EXPECT_EQ(Fsb({"image", "import", WriteArchive(0)}), kExitOk);
  EXPECT_EQ(Requests().size(), 1u);
  EXPECT_EQ(out_.str(), "node-1: imported no named image\n");
}

TEST_F(ImageCommandsTest, AnAgentThatFailedGoesToStderrAndExitsOne) {
  *fake_.response.add_results() = Result("node-1", {"docker.io/fsb/busybox:latest"});
  *fake_.response.add_results() =
      Result("node-2", {}, "INVALID_ARGUMENT: not an OCI archive: index.json missing");
  EXPECT_EQ(Fsb({"image", "import", WriteArchive(100)}), kExitServerError);
  EXPECT_EQ(out_.str(), "node-1: imported docker.io/fsb/busybox:latest\n");
  EXPECT_EQ(err_.str(),
            "node-2: error: INVALID_ARGUMENT: not an OCI archive: index.json missing\n");
}

TEST_F(ImageCommandsTest, JsonPrintsTheResponse) {
  *fake_.response.add_results() = Result("node-1", {"docker.io/fsb/busybox:latest"});
  EXPECT_EQ(Fsb({"image", "import", WriteArchive(100), "-o", "json"}), kExitOk);
  fp::ImportImageResponse printed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(out_.str(), &printed).ok()) << out_.str();
  ASSERT_EQ(printed.results_size(), 1);
  EXPECT_EQ(printed.results(0).agent(), "node-1");
  EXPECT_EQ(printed.results(0).images(0), "docker.io/fsb/busybox:latest");
}

TEST_F(ImageCommandsTest, AServerErrorExitsOneWithItsCode) {
  fake_.status = grpc::Status(grpc::StatusCode::NOT_FOUND, "agent \"node-9\" is not registered");
  EXPECT_EQ(Fsb({"image", "import", WriteArchive(100), "--agent", "node-9"}), kExitServerError);
  EXPECT_THAT(err_.str(), HasSubstr("fsb: error: NOT_FOUND: agent \"node-9\" is not registered"));
  EXPECT_EQ(out_.str(), "");
}

TEST_F(ImageCommandsTest, ForceGoesInTheTargetAndARefusalReachesTheUser) {
  fake_.status = grpc::Status(grpc::StatusCode::ALREADY_EXISTS,
                              "image docker.io/fsb/app:1 already exists with digest sha256:a; "
                              "the archive's is sha256:b: use --force to re-point it");
  EXPECT_EQ(Fsb({"image", "import", WriteArchive(10), "--agent", "node-1"}), kExitServerError);
  EXPECT_THAT(err_.str(), HasSubstr("fsb: error: ALREADY_EXISTS: image docker.io/fsb/app:1 "
                                    "already exists with digest sha256:a; the archive's is "
                                    "sha256:b: use --force to re-point it"));
  EXPECT_FALSE(Requests().at(0).target().force());

  fake_.status = grpc::Status::OK;
  *fake_.response.add_results() = Result("node-1", {"docker.io/fsb/app:1"});
  EXPECT_EQ(Fsb({"image", "import", WriteArchive(10), "--agent", "node-1", "--force"}), kExitOk);
  const std::vector<fp::ImportImageRequest> sent = Requests();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_TRUE(sent[0].target().force());
  EXPECT_EQ(sent[0].target().agent(), "node-1");
}

TEST_F(ImageCommandsTest, AFileThatCannotBeReadExitsOneBeforeConnecting) {
  EXPECT_EQ(Fsb({"image", "import", ::testing::TempDir() + "/no-such-archive.tar"}),
            kExitServerError);
  EXPECT_THAT(err_.str(), HasSubstr("fsb: error: cannot read "));
  EXPECT_THAT(err_.str(), HasSubstr("no-such-archive.tar"));
  err_.str("");
  EXPECT_EQ(Fsb({"image", "import", ::testing::TempDir()}), kExitServerError);
  EXPECT_THAT(err_.str(), HasSubstr("not a regular file"));
  EXPECT_EQ(connects_, 0);
  EXPECT_THAT(Requests(), IsEmpty());
}

TEST_F(ImageCommandsTest, UsageErrorsComeBeforeAnyCall) {
  const std::string path = WriteArchive(1);
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"image"},
           {"image", "import"},
           {"image", "import", path, "extra"},
           {"image", "pull", path},
           {"image", "import", path, "-o", "yaml"},
           {"image", "import", path, "--agent", ""},
           {"image", "import", path, "--", "x"},
       }) {
    err_.str("");
    EXPECT_EQ(Fsb(args), kExitUsage) << ::testing::PrintToString(args);
    EXPECT_THAT(err_.str(), HasSubstr("fsb: error: "));
  }
  EXPECT_EQ(connects_, 0);
}

}  // namespace
}  // namespace fsb::cli
