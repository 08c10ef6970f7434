// Images on a real containerd: an OCI archive imported through the controller's
// fastpath.v1.Images into the agent runs as a sandbox, and re-points an existing name to
// another digest only with force; an image only a registry has (Debian's docker-registry
// on loopback, Basic auth, pushed with skopeo) is pulled when a sandbox asks for it;
// missing images, refused credentials and unreachable registries fail with errors that
// name the image and the registry; an image's user is looked up in its own /etc/passwd
// without the agent following anything out of the image.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "fsb/agent/v1/agent.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "tests/testing/local_stack.h"

namespace fsb {
namespace {

using fsb::testing::FreePort;
using fsb::testing::LocalStack;
using fsb::testing::RunCommand;
using fsb::testing::SourcePath;
using fsb::testing::WaitFor;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kUser[] = "fsbuser";
constexpr char kPassword[] = "fsb-pass";

// A temp folder removed at the end.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/fsb-img-XXXXXX";
    path_ = mkdtemp(tmpl) != nullptr ? tmpl : "";
  }
  ~TempDir() {
    if (!path_.empty()) std::filesystem::remove_all(path_);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Writes the test image (busybox) as an OCI archive naming it `name`, with the script's
// `options` (--user, --passwd); returns the manifest's digest.
absl::StatusOr<std::string> BuildArchive(const std::string& name, const std::string& path,
                                         const std::vector<std::string>& options = {}) {
  std::string out;
  std::vector<std::string> argv = {
      SourcePath("scripts/build-test-image.sh"), "--name", name, "--output", path, "--no-import"};
  argv.insert(argv.end(), options.begin(), options.end());
  if (RunCommand(argv, &out, &out) != 0) {
    return absl::InternalError("scripts/build-test-image.sh failed: " + out);
  }
  // "... (NAME, manifest sha256:HEX)"
  const size_t at = out.find("manifest sha256:");
  if (at == std::string::npos) return absl::InternalError("unexpected output: " + out);
  return out.substr(at + 9, 7 + 64);
}

// One stack per suite (starting one takes seconds); tests use distinct names.
class ImageTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    skip_ = fsb::testing::MissingPrerequisite();
    if (!skip_.empty()) return;
    tmp_ = std::make_unique<TempDir>();
    auto stack = LocalStack::Start({});
    setup_ = stack.status();
    if (stack.ok()) stack_ = *std::move(stack);
  }
  static void TearDownTestSuite() {
    stack_.reset();
    tmp_.reset();
  }

  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << "integration test skipped: " << skip_;
    ASSERT_TRUE(setup_.ok()) << setup_;
  }

  // Streams the file at `path` to fastpath.v1.Images/ImportImage for `agent` ("" = all)
  // in 1 MiB chunks, as the CLI does (`force`: --force).
  grpc::Status Import(const std::string& agent, const std::string& path,
                      fastpath::v1::ImportImageResponse* resp, bool force = false) {
    auto stub = fastpath::v1::Images::NewStub(stack_->ClientChannel(stack_->admin_token()));
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(120)));
    auto writer = stub->ImportImage(&ctx, resp);
    fastpath::v1::ImportImageRequest req;
    req.mutable_target()->set_agent(agent);
    req.mutable_target()->set_force(force);
    bool open = writer->Write(req);
    std::ifstream in(path, std::ios::binary);
    std::string buf(1 << 20, '\0');
    while (open && in) {
      in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
      if (in.gcount() == 0) break;
      req.set_data(buf.data(), static_cast<size_t>(in.gcount()));
      open = writer->Write(req);
    }
    writer->WritesDone();
    return writer->Finish();
  }

  // The agent's own ImageService, called as the controller calls it.
  std::unique_ptr<fsb::agent::v1::ImageService::Stub> AgentImages() {
    return fsb::agent::v1::ImageService::NewStub(stack_->AgentChannel());
  }

  grpc::Status Pull(const std::string& image, fsb::agent::v1::PullImageResponse* resp) {
    fsb::agent::v1::PullImageRequest req;
    req.set_image(image);
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
    return AgentImages()->PullImage(&ctx, req, resp);
  }

  // Images the controller lists for the agent (from its heartbeats).
  std::vector<std::string> ReportedImages() {
    fastpath::v1::ListAgentsRequest req;
    fastpath::v1::ListAgentsResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    if (!stack_->fastpath().ListAgents(&ctx, req, &resp).ok() || resp.items().empty()) return {};
    const auto& images = resp.items(0).status().images();
    return {images.begin(), images.end()};
  }

  // Creates a sandbox running `sleep 600` from `image`.
  grpc::Status Run(const std::string& name, const std::string& image,
                   fastpath::v1::CreateResponse* resp) {
    fastpath::v1::CreateRequest req;
    req.set_name(name);
    req.set_image(image);
    req.add_command("sleep");
    req.add_command("600");
    return stack_->Create(req, resp);
  }

  void ExpectRunning(const std::string& sandbox_id) {
    auto task = stack_->containerd().GetTask(sandbox_id);
    ASSERT_TRUE(task.ok()) << task.status();
    EXPECT_EQ(task->status(), containerd::v1::types::RUNNING);
  }

  static inline std::string skip_;  // why the suite cannot run here
  static inline absl::Status setup_;
  static inline std::unique_ptr<TempDir> tmp_;
  static inline std::unique_ptr<LocalStack> stack_;
};

// The image's user is resolved in the image's own /etc/passwd, read from its snapshot on
// the host without following anything out of it: a link to the host's /etc/shadow (which
// has a "nobody" line) resolves inside the image, which has no such file; a FIFO is
// refused at once instead of blocking the create.
TEST_F(ImageTest, TheImagesUserIsLookedUpInsideTheImageOnly) {
  struct Case {
    std::string name;
    std::string passwd;
    std::string error;  // "": the create succeeds as nobody
  };
  for (const Case& c : {
           Case{"user-file", "file", ""},
           Case{"user-link", "symlink:/etc/shadow",
                "user \"nobody\" is not in the image's /etc/passwd"},
           Case{"user-dotdot", "symlink:../../../../../../../../../../etc/shadow",
                "user \"nobody\" is not in the image's /etc/passwd"},
           Case{"user-fifo", "fifo", "image file /etc/passwd: it is a FIFO, not a regular file"},
       }) {
    const std::string image = "docker.io/fsb/" + c.name + ":1";
    const std::string archive = tmp_->path() + "/" + c.name + ".tar";
    absl::StatusOr<std::string> manifest =
        BuildArchive(image, archive, {"--user", "nobody", "--passwd", c.passwd});
    ASSERT_TRUE(manifest.ok()) << manifest.status();
    fastpath::v1::ImportImageResponse imported;
    grpc::Status s = Import(stack_->agent_id(), archive, &imported);
    ASSERT_TRUE(s.ok()) << s.error_message();
    fastpath::v1::CreateResponse created;
    s = Run(c.name, image, &created);
    if (!c.error.empty()) {
      EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << c.name;
      EXPECT_THAT(s.error_message(), HasSubstr(c.error)) << c.name;
      continue;
    }
    ASSERT_TRUE(s.ok()) << s.error_message();
    auto task = stack_->containerd().GetTask(created.sandbox_id());
    ASSERT_TRUE(task.ok()) << task.status();
    std::ifstream status(absl::StrCat("/proc/", task->pid(), "/status"));
    std::string uid;
    for (std::string line; std::getline(status, line);) {
      if (absl::StartsWith(line, "Uid:")) uid = line;
    }
    EXPECT_THAT(uid, ::testing::StartsWith("Uid:\t65534\t")) << c.name;
  }
}

TEST_F(ImageTest, ImportedArchiveRunsAsASandbox) {
  const std::string archive = tmp_->path() + "/imported.tar";
  absl::StatusOr<std::string> manifest = BuildArchive("docker.io/fsb/imported:1", archive);
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  ASSERT_TRUE(absl::IsNotFound(stack_->containerd().GetImage("docker.io/fsb/imported:1").status()));
  // The stack imported the same busybox as its test image; without it containerd's
  // garbage collector drops the blobs, so the import below streams every one.
  ASSERT_EQ(RunCommand({"ctr", "--address", stack_->dir() + "/containerd/containerd.sock", "-n",
                        stack_->agent_namespace(), "images", "rm", "--sync",
                        fsb::testing::PrivateContainerd::kTestImage}),
            0);
  ASSERT_TRUE(absl::IsNotFound(stack_->containerd().ContentInfo(*manifest).status()));

  // To every agent (the one there is).
  fastpath::v1::ImportImageResponse resp;
  grpc::Status s = Import("", archive, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(resp.results_size(), 1);
  EXPECT_EQ(resp.results(0).agent(), stack_->agent_id());
  EXPECT_EQ(resp.results(0).error(), "");
  EXPECT_THAT(resp.results(0).images(), ElementsAre("docker.io/fsb/imported:1"));
  EXPECT_TRUE(stack_->containerd().GetImage("docker.io/fsb/imported:1").ok());
  EXPECT_TRUE(stack_->containerd().ContentInfo(*manifest).ok());

  // Importing again, to the agent by name, succeeds and changes nothing.
  resp.Clear();
  s = Import(stack_->agent_id(), archive, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_THAT(resp.results(0).images(), ElementsAre("docker.io/fsb/imported:1"));

  fastpath::v1::CreateResponse created;
  s = Run("from-import", "fsb/imported:1", &created);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ExpectRunning(created.sandbox_id());
  EXPECT_TRUE(WaitFor(
      [&] {
        std::vector<std::string> images = ReportedImages();
        return std::find(images.begin(), images.end(), "docker.io/fsb/imported:1") != images.end();
      },
      absl::Seconds(10)));
}

// The digest containerd's image record `name` points to ("" when it cannot be read).
std::string ImageDigest(LocalStack& stack, const std::string& name) {
  auto image = stack.containerd().GetImage(name);
  return image.ok() ? image->target().digest() : "";
}

// An archive naming an existing image with another digest re-points it only with force;
// refused, it leaves the name where it was.
TEST_F(ImageTest, ImportThatWouldRepointANameNeedsForce) {
  const std::string image = "docker.io/fsb/repointed:1";
  const std::string a = tmp_->path() + "/repoint-a.tar";
  const std::string b = tmp_->path() + "/repoint-b.tar";
  absl::StatusOr<std::string> digest_a = BuildArchive(image, a);
  ASSERT_TRUE(digest_a.ok()) << digest_a.status();
  absl::StatusOr<std::string> digest_b = BuildArchive(image, b, {"--user", "nobody"});
  ASSERT_TRUE(digest_b.ok()) << digest_b.status();
  ASSERT_NE(*digest_a, *digest_b);

  fastpath::v1::ImportImageResponse resp;
  grpc::Status s = Import(stack_->agent_id(), a, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(ImageDigest(*stack_, image), *digest_a);

  // Without force: refused, through the named agent and through every agent.
  s = Import(stack_->agent_id(), b, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS) << s.error_message();
  EXPECT_THAT(
      s.error_message(),
      HasSubstr(absl::StrCat("image ", image, " already exists with digest ", *digest_a,
                             "; the archive's is ", *digest_b, ": use --force to re-point it")));
  EXPECT_EQ(ImageDigest(*stack_, image), *digest_a);
  resp.Clear();
  s = Import("", b, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("use --force to re-point it"));
  EXPECT_EQ(ImageDigest(*stack_, image), *digest_a);

  // The same digest again needs no force.
  resp.Clear();
  s = Import(stack_->agent_id(), a, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(ImageDigest(*stack_, image), *digest_a);

  // With force: re-pointed.
  resp.Clear();
  s = Import(stack_->agent_id(), b, &resp, /*force=*/true);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(resp.results_size(), 1);
  EXPECT_THAT(resp.results(0).images(), ElementsAre(image));
  EXPECT_EQ(ImageDigest(*stack_, image), *digest_b);

  // Straight to the agent, `force` in a first chunk of its own that carries no data.
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(120)));
  fsb::agent::v1::ImportImageResponse agent_resp;
  auto writer = AgentImages()->ImportImage(&ctx, &agent_resp);
  fsb::agent::v1::ImportImageChunk chunk;
  chunk.set_force(true);
  ASSERT_TRUE(writer->Write(chunk));
  chunk.set_force(false);
  std::ifstream in(a, std::ios::binary);
  chunk.set_data(std::string(std::istreambuf_iterator<char>(in), {}));
  ASSERT_TRUE(writer->Write(chunk));
  writer->WritesDone();
  s = writer->Finish();
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_THAT(agent_resp.images(), ElementsAre(image));
  EXPECT_EQ(ImageDigest(*stack_, image), *digest_a);
}

TEST_F(ImageTest, ImportRejectsWhatIsNotAnImageArchive) {
  const std::string junk = tmp_->path() + "/junk.tar";
  std::ofstream(junk) << std::string(4096, 'j');
  fastpath::v1::ImportImageResponse resp;
  grpc::Status s = Import(stack_->agent_id(), junk, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("tar"));

  // A tar that is no OCI layout.
  const std::string plain = tmp_->path() + "/plain.tar";
  ASSERT_EQ(RunCommand({"tar", "-C", SourcePath("scripts"), "-cf", plain, "registry.sh"}), 0);
  s = Import(stack_->agent_id(), plain, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("no index.json"));

  // A blob whose content does not match its name.
  const std::string forged = tmp_->path() + "/forged";
  std::filesystem::create_directories(forged + "/blobs/sha256");
  std::ofstream(forged + "/blobs/sha256/" + std::string(64, '0')) << "not what the digest says";
  const std::string forged_tar = tmp_->path() + "/forged.tar";
  ASSERT_EQ(RunCommand({"tar", "-C", forged, "-cf", forged_tar, "blobs"}), 0);
  s = Import(stack_->agent_id(), forged_tar, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("does not match its digest"));

  s = Import("no-such-agent", junk, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
}

// A registry with Basic auth holding fsb/pulled:1, which no node has.
class RegistryPullTest : public ImageTest {
 protected:
  static void SetUpTestSuite() {
    skip_ = fsb::testing::MissingPrerequisite();
    for (const char* bin : {"/usr/bin/docker-registry", "/usr/bin/skopeo", "/usr/bin/htpasswd"}) {
      if (skip_.empty() && access(bin, X_OK) != 0) {
        skip_ = absl::StrCat("needs ", bin,
                             " (scripts/install-deps.sh installs docker-registry, skopeo, "
                             "apache2-utils)");
      }
    }
    if (skip_.empty()) setup_ = StartRegistryAndStack();
  }
  static void TearDownTestSuite() {
    if (registry_started_) {
      RunCommand({SourcePath("scripts/registry.sh"), "stop", tmp_->path() + "/registry"});
      registry_started_ = false;
    }
    ImageTest::TearDownTestSuite();
  }

  static absl::Status StartRegistryAndStack() {
    tmp_ = std::make_unique<TempDir>();
    port_ = FreePort();
    registry_ = absl::StrCat("127.0.0.1:", port_);
    std::string out;
    if (RunCommand({SourcePath("scripts/registry.sh"), "start", tmp_->path() + "/registry",
                    absl::StrCat(port_), absl::StrCat(kUser, ":", kPassword)},
                   &out, &out) != 0) {
      return absl::InternalError("scripts/registry.sh start failed: " + out);
    }
    registry_started_ = true;
    const std::string archive = tmp_->path() + "/image.tar";
    if (absl::StatusOr<std::string> built = BuildArchive("docker.io/fsb/source:1", archive);
        !built.ok()) {
      return built.status();
    }
    if (RunCommand({"skopeo", "copy", "--insecure-policy", "--dest-tls-verify=false",
                    "--dest-creds", absl::StrCat(kUser, ":", kPassword), "oci-archive:" + archive,
                    absl::StrCat("docker://", registry_, "/fsb/pulled:1")},
                   &out, &out) != 0) {
      return absl::InternalError("skopeo copy failed: " + out);
    }
    // The agent's credentials: right for 127.0.0.1:PORT, wrong for localhost:PORT (the
    // same registry under another name). Both are listed as insecure: credentials go over
    // plain HTTP only to such registries.
    const std::string config = tmp_->path() + "/registry.json";
    std::ofstream(config) << absl::StrCat(
        R"({"auths": {")", registry_, R"(": {"auth": ")",
        absl::Base64Escape(absl::StrCat(kUser, ":", kPassword)), R"("}, "localhost:)", port_,
        R"(": {"auth": ")", absl::Base64Escape(absl::StrCat(kUser, ":wrong")),
        R"("}}, "insecure-registries": [")", registry_, R"(", "localhost:)", port_, R"("]})");
    auto stack = LocalStack::Start({.agent_flags = {"--registry-config=" + config}});
    if (!stack.ok()) return stack.status();
    stack_ = *std::move(stack);
    return absl::OkStatus();
  }

  static inline int port_ = 0;
  static inline std::string registry_;  // 127.0.0.1:PORT
  static inline bool registry_started_ = false;
};

TEST_F(RegistryPullTest, SandboxFromAnImageNoNodeHadIsPulled) {
  const std::string image = registry_ + "/fsb/pulled:1";
  ASSERT_TRUE(absl::IsNotFound(stack_->containerd().GetImage(image).status()));
  fastpath::v1::CreateResponse created;
  grpc::Status s = Run("pulled", image, &created);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ExpectRunning(created.sandbox_id());
  EXPECT_TRUE(stack_->containerd().GetImage(image).ok());
  EXPECT_TRUE(WaitFor(
      [&] {
        std::vector<std::string> images = ReportedImages();
        return std::find(images.begin(), images.end(), image) != images.end();
      },
      absl::Seconds(10)))
      << "the agent's heartbeats do not list " << image;

  // Asking the agent to pull it again finds it there.
  fsb::agent::v1::PullImageResponse pulled;
  s = Pull(image, &pulled);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(pulled.image(), image);
  EXPECT_FALSE(pulled.pulled());
}

TEST_F(RegistryPullTest, MissingTagIsNotFoundNamingImageAndRegistry) {
  const std::string image = registry_ + "/fsb/pulled:nope";
  fastpath::v1::CreateResponse created;
  grpc::Status s = Run("nope", image, &created);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("\"" + image + "\""));
  EXPECT_THAT(s.error_message(), HasSubstr("not found in registry " + registry_));
  EXPECT_TRUE(absl::IsNotFound(stack_->containerd().GetImage(image).status()));
}

TEST_F(RegistryPullTest, RejectedCredentialsAreUnauthenticated) {
  fsb::agent::v1::PullImageResponse resp;
  grpc::Status s = Pull(absl::StrCat("localhost:", port_, "/fsb/pulled:1"), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr(absl::StrCat("registry localhost:", port_)));
  EXPECT_THAT(s.error_message(), HasSubstr(absl::StrCat("user \"", kUser, "\"")));
}

TEST_F(RegistryPullTest, UnreachableRegistryIsUnavailableNamingIt) {
  const std::string dead = absl::StrCat("127.0.0.1:", FreePort());
  fsb::agent::v1::PullImageResponse resp;
  grpc::Status s = Pull(dead + "/fsb/pulled:1", &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("registry " + dead));
  EXPECT_THAT(s.error_message(), HasSubstr("cannot be reached"));
  // Through the controller the create fails too, naming the registry. (The controller
  // tries other agents on UNAVAILABLE and reports what the last one said.)
  fastpath::v1::CreateResponse created;
  s = Run("unreachable", dead + "/fsb/pulled:1", &created);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.error_message(), HasSubstr("registry " + dead));
}

}  // namespace
}  // namespace fsb
