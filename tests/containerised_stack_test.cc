// fsb's images run the way the Helm chart runs them. The test builds the fsb-controller
// and fsb-agent images (scripts/build-images.sh), imports them into a private containerd
// (namespace fsb-system) and starts each as a container with the command, args, env,
// mounts and privileges of the rendered manifests (deploy/kubernetes/fsb.yaml: the
// Deployment fsb-controller, container controller; the DaemonSet fsb-agent, container
// agent) — the kubelet's part, played with ctr. Then, through the containerised
// controller (TLS, an admin token, the fsb CLI), it creates a sandbox, which the
// containerised agent runs on the containerd whose socket it mounts; checks its task,
// logs and exec; kills and restarts the agent container and checks that the sandbox
// survives (same task, same pid); and deletes it.
//
// What the test changes, as a kubelet on a test machine must:
//  * Every pod runs on the host's network (the agent's pod does in the chart) on free
//    loopback ports: the values of the flags that bind or dial a port are replaced
//    (--fastpath-bind-address, --agent-bind-address, --metrics-bind-address,
//    --pprof-bind-address, --agent-port, --controller), and the sandbox bridge and range
//    (--sandbox-bridge, --sandbox-cidr) are the test's own.
//  * hostPath volumes are folders of the test's node (<dir>/node<path>), never the real
//    ones, except: the containerd socket's folder is the private containerd's, and the
//    cgroup file system and the CNI plugins are the host's (read-only if the manifest
//    says so). A hostPath mounted at its own path is a path the agent shares with the
//    node's containerd (logs, helpers, network namespaces): it stays shared, mounted at
//    <dir>/node<path>, and the args naming it are rewritten to match.
//  * Secrets are folders of files the test made (scripts/gen-certs.sh for the node
//    "ct-node", scripts/add-token.sh), owned by the pod's fsGroup with the defaultMode;
//    emptyDir and persistentVolumeClaim volumes are empty folders of the test owned by
//    the container's user; spec.nodeName is "ct-node" and status.podIP 127.0.0.1.
//  * The user: ctr cannot set one, so the test checks that the image's user is the
//    runAsUser the manifest asks for.
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "agent/containerd/client.h"
#include "agent/labels.h"
#include "glog/logging.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "gtest/gtest.h"
#include "internal/yaml.h"
#include "tests/testing/pod_spec.h"
#include "tests/testing/stack.h"

namespace fsb {
namespace {

using ::fsb::testing::FreePort;
using ::fsb::testing::PodContainer;
using ::fsb::testing::PrivateContainerd;
using ::fsb::testing::RunCommand;
using ::fsb::testing::SourcePath;
using ::fsb::testing::WaitFor;
using ::testing::HasSubstr;

constexpr char kManifest[] = "deploy/kubernetes/fsb.yaml";
constexpr char kSystemNamespace[] = "fsb-system";  // the fsb images' containers
constexpr char kNode[] = "ct-node";
constexpr char kPodIp[] = "127.0.0.1";

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The value of `--name=value` in `args` ("" when absent).
std::string FlagValue(const std::vector<std::string>& args, const std::string& name) {
  const std::string prefix = "--" + name + "=";
  for (const std::string& a : args) {
    if (absl::StartsWith(a, prefix)) return a.substr(prefix.size());
  }
  return "";
}

// A JSON value's member, or null.
const google::protobuf::Value* Member(const google::protobuf::Value& v, const std::string& key) {
  auto it = v.struct_value().fields().find(key);
  return it == v.struct_value().fields().end() ? nullptr : &it->second;
}

class ContainerisedStackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string why = testing::MissingPrerequisite(); !why.empty()) GTEST_SKIP() << why;
    if (access("/usr/bin/umoci", X_OK) != 0) {
      GTEST_SKIP() << "needs umoci to build the images (scripts/install-deps.sh)";
    }
    const std::string manifest_path = SourcePath(kManifest);
    ASSERT_TRUE(std::filesystem::exists(manifest_path))
        << manifest_path << " is missing: it is the Helm chart rendered with default values "
        << "(deploy/helm/fsb), which this test runs";
    const std::string manifest = ReadFile(manifest_path);
    absl::StatusOr<PodContainer> controller =
        testing::ReadPodContainer(manifest, "Deployment", "fsb-controller", "controller");
    ASSERT_TRUE(controller.ok()) << kManifest << ": " << controller.status();
    controller_spec_ = *std::move(controller);
    absl::StatusOr<PodContainer> agent =
        testing::ReadPodContainer(manifest, "DaemonSet", "fsb-agent", "agent");
    ASSERT_TRUE(agent.ok()) << kManifest << ": " << agent.status();
    agent_spec_ = *std::move(agent);

    absl::StatusOr<std::unique_ptr<PrivateContainerd>> containerd = PrivateContainerd::Start();
    ASSERT_TRUE(containerd.ok()) << containerd.status();
    containerd_ = *std::move(containerd);
    system_ = std::make_unique<agent::Containerd>(
        agent::Containerd::Options{.socket = containerd_->socket(), .ns = kSystemNamespace});

    ASSERT_NO_FATAL_FAILURE(BuildAndImportImages());
    ASSERT_NO_FATAL_FAILURE(MakeSecrets());
    ASSERT_NO_FATAL_FAILURE(MakeNode());

    client_port_ = FreePort();
    agent_registration_port_ = FreePort();
    controller_flags_ = {
        {"fastpath-bind-address", absl::StrCat("127.0.0.1:", client_port_)},
        {"agent-bind-address", absl::StrCat("127.0.0.1:", agent_registration_port_)},
        {"metrics-bind-address", absl::StrCat("127.0.0.1:", FreePort())},
        {"pprof-bind-address", absl::StrCat("127.0.0.1:", FreePort())},
    };
    const std::string tag = absl::StrCat(getpid() % 0x10000);
    bridge_ = absl::StrCat("fsbc", tag);
    subnet_ = absl::StrCat("10.251.", getpid() % 250, ".0/24");
    agent_flags_ = {
        {"agent-port", absl::StrCat(FreePort())},
        {"metrics-bind-address", absl::StrCat("127.0.0.1:", FreePort())},
        {"pprof-bind-address", absl::StrCat("127.0.0.1:", FreePort())},
        {"controller", absl::StrCat("127.0.0.1:", agent_registration_port_)},
        {"sandbox-bridge", bridge_},
        {"sandbox-cidr", subnet_},
    };
    ASSERT_NO_FATAL_FAILURE(Run("controller", controller_spec_, controller_flags_));
    ASSERT_NO_FATAL_FAILURE(Run("agent", agent_spec_, agent_flags_));
    ASSERT_NO_FATAL_FAILURE(WaitForAgentReady());
  }

  void TearDown() override {
    if (containerd_ == nullptr) return;
    if (HasFailure()) {
      for (const char* log : {"controller.log", "agent.log", "agent-restarted.log"}) {
        LOG(INFO) << log << ":\n" << ReadFile(absl::StrCat(dir(), "/", log));
      }
    }
    for (const char* id : {"agent", "controller"}) {
      Ctr({"task", "kill", "-s", "SIGKILL", id});
      system_->WaitTask(id, absl::Seconds(10)).IgnoreError();
      Ctr({"task", "delete", id});
    }
    if (!agent_state_dir_.empty()) {
      RunCommand({FSB_AGENT_BIN, "--remove-sandbox-network", "--state-dir=" + agent_state_dir_,
                  "--sandbox-bridge=" + bridge_, "--sandbox-cidr=" + subnet_, "--logtostderr"});
    }
    if (node_mounted_) umount2(node_dir().c_str(), MNT_DETACH);
    containerd_.reset();
  }

  const std::string& dir() const { return containerd_->dir(); }
  std::string node_dir() const { return dir() + "/node"; }
  std::string pki_dir() const { return dir() + "/pki"; }

  // ctr on the private containerd, in the fsb images' namespace.
  int Ctr(std::vector<std::string> args, std::string* out = nullptr) {
    args.insert(args.begin(),
                {"ctr", "--address", containerd_->socket(), "--namespace", kSystemNamespace});
    std::string err;
    const int rc = RunCommand(args, out, &err);
    if (rc != 0) LOG(WARNING) << absl::StrJoin(args, " ") << ": " << err;
    return rc;
  }

  void BuildAndImportImages() {
    // The images of this build: FSB_BUILD_DIR is the folder of the binaries under test.
    setenv("FSB_BUILD_DIR", FSB_BUILD_DIR, 1);
    std::string out, err;
    ASSERT_EQ(RunCommand({SourcePath("scripts/build-images.sh"), "--image", "fsb-controller",
                          "--image", "fsb-agent", "--output-dir", dir() + "/images"},
                         &out, &err),
              0)
        << out << err;
    for (const char* image : {"fsb-controller", "fsb-agent"}) {
      ASSERT_EQ(Ctr({"images", "import", absl::StrCat(dir(), "/images/", image, ".tar")}), 0);
    }
  }

  // The files the Secrets hold, by key: the cluster PKI with the node's agent
  // certificate, and a tokens file with an admin.
  void MakeSecrets() {
    std::string out;
    ASSERT_EQ(RunCommand({SourcePath("scripts/gen-certs.sh"), "--dir", pki_dir(), "--agent", kNode},
                         &out, &out),
              0)
        << out;
    ASSERT_EQ(RunCommand({SourcePath("scripts/add-token.sh"), "--file", dir() + "/tokens.yaml",
                          "--subject", "ct-admin", "--role", "admin", "--token-out",
                          dir() + "/admin.token"},
                         &out, &out),
              0)
        << out;
    admin_token_ = std::string(absl::StripAsciiWhitespace(ReadFile(dir() + "/admin.token")));
    ASSERT_FALSE(admin_token_.empty());
    const std::vector<std::string> pki = {"ca.crt", "controller.crt", "controller.key",
                                          absl::StrCat("agent-", kNode, ".crt"),
                                          absl::StrCat("agent-", kNode, ".key")};
    for (const std::string& name : pki) {
      secret_keys_[name] = pki_dir() + "/" + name;
    }
    secret_keys_["tokens.yaml"] = dir() + "/tokens.yaml";
  }

  // The test's node folder, a shared mount so that what a container mounts under a
  // Bidirectional volume (the agent's network namespaces) reaches the node.
  void MakeNode() {
    std::filesystem::create_directories(node_dir());
    ASSERT_EQ(mount(node_dir().c_str(), node_dir().c_str(), nullptr, MS_BIND, nullptr), 0)
        << strerror(errno);
    node_mounted_ = true;
    ASSERT_EQ(mount(nullptr, node_dir().c_str(), nullptr, MS_SHARED | MS_REC, nullptr), 0)
        << strerror(errno);
  }

  // The image config of `image` in the fsb images' namespace.
  google::protobuf::Value ImageConfig(const std::string& image) {
    absl::StatusOr<containerd::services::images::v1::Image> img = system_->GetImage(image);
    EXPECT_TRUE(img.ok()) << image << ": " << img.status();
    if (!img.ok()) return {};
    absl::StatusOr<containerd::services::content::v1::Info> info =
        system_->ContentInfo(img->target().digest());
    EXPECT_TRUE(info.ok()) << info.status();
    if (!info.ok()) return {};
    absl::StatusOr<std::string> config =
        system_->ReadContent(info->labels().at(agent::kGcConfigLabel));
    EXPECT_TRUE(config.ok()) << config.status();
    if (!config.ok()) return {};
    absl::StatusOr<std::vector<YamlDocument>> doc = ParseYamlStream(*config);
    EXPECT_TRUE(doc.ok() && doc->size() == 1) << doc.status();
    if (!doc.ok() || doc->size() != 1) return {};
    const google::protobuf::Value* c = Member((*doc)[0].value, "config");
    return c == nullptr ? google::protobuf::Value() : *c;
  }

  // A folder of the test for a volume of container `id`, owned by `uid`:`gid`.
  std::string VolumeDir(const std::string& id, const std::string& volume, uid_t uid, gid_t gid,
                        mode_t mode) {
    const std::string path = absl::StrCat(dir(), "/volumes/", id, "/", volume);
    std::filesystem::create_directories(path);
    EXPECT_EQ(chown(path.c_str(), uid, gid), 0) << path;
    EXPECT_EQ(chmod(path.c_str(), mode), 0) << path;
    return path;
  }

  // Starts `spec` as container `id`, as a kubelet would (see the file comment for what
  // the test changes); `flags` replace the values of those flags, or are added.
  void Run(const std::string& id, const PodContainer& spec,
           const std::map<std::string, std::string>& flags) {
    // Env, with the downward API's values of this node.
    std::map<std::string, std::string> env;
    std::vector<std::string> ctr = {"run", "--detach", "--net-host", "--log-uri",
                                    absl::StrCat("file://", dir(), "/", id, ".log")};
    for (const PodContainer::Env& e : spec.env) {
      std::string value = e.value;
      if (e.field_path == "spec.nodeName") {
        value = kNode;
      } else if (e.field_path == "status.podIP") {
        value = kPodIp;
      } else {
        ASSERT_TRUE(e.field_path.empty()) << id << ": env " << e.name << " from " << e.field_path
                                          << ", which this test does not provide";
      }
      env[e.name] = value;
      ctr.insert(ctr.end(), {"--env", e.name + "=" + value});
    }

    // The process: command (else the image's entrypoint) and args, $(VAR) expanded.
    const google::protobuf::Value config = ImageConfig(spec.image);
    ASSERT_EQ(config.kind_case(), google::protobuf::Value::kStructValue)
        << id << ": no image " << spec.image << " (the manifest's) among the built images";
    std::vector<std::string> argv;
    std::vector<std::string> args;
    if (spec.command.empty()) {
      const google::protobuf::Value* entrypoint = Member(config, "Entrypoint");
      ASSERT_NE(entrypoint, nullptr) << spec.image << " has no entrypoint";
      for (const auto& v : entrypoint->list_value().values()) argv.push_back(v.string_value());
    }
    for (const std::string& c : spec.command) argv.push_back(testing::ExpandVars(c, env));
    for (const std::string& a : spec.args) args.push_back(testing::ExpandVars(a, env));
    if (spec.command.empty() && spec.args.empty()) {
      if (const google::protobuf::Value* cmd = Member(config, "Cmd"); cmd != nullptr) {
        for (const auto& v : cmd->list_value().values()) args.push_back(v.string_value());
      }
    }

    // The user is the image's (ctr has no --user): it must be what the manifest asks.
    const google::protobuf::Value* user = Member(config, "User");
    const std::string image_user = user == nullptr ? "" : user->string_value();
    const std::string image_uid =
        image_user.empty() ? "0" : image_user.substr(0, image_user.find(':'));
    const uid_t uid = static_cast<uid_t>(std::stoul(image_uid));
    if (spec.run_as_user.has_value()) {
      ASSERT_EQ(absl::StrCat(*spec.run_as_user), image_uid)
          << id << ": runAsUser " << *spec.run_as_user << " but " << spec.image << " runs as "
          << image_user;
    }
    const gid_t gid = static_cast<gid_t>(spec.fs_group.value_or(spec.run_as_group.value_or(uid)));

    // Mounts.
    const std::string socket = [&] {
      std::string s = FlagValue(args, "containerd-socket");
      return s.empty() ? std::string("/run/containerd/containerd.sock") : s;
    }();
    std::map<std::string, std::string> rewrites;  // a shared path -> the test node's
    bool bidirectional = false;
    for (const PodContainer::Mount& m : spec.mounts) {
      std::string source;
      std::string destination = m.path;
      const PodContainer::Volume& v = m.volume;
      switch (v.kind) {
        case PodContainer::Volume::Kind::kHostPath:
          if (v.host_path == socket) {
            source = containerd_->socket();
          } else if (absl::StartsWith(socket, v.host_path + "/")) {
            const std::string rest = socket.substr(v.host_path.size());
            ASSERT_TRUE(absl::EndsWith(containerd_->socket(), rest)) << rest;
            source = containerd_->socket().substr(0, containerd_->socket().size() - rest.size());
          } else if (v.host_path == "/sys/fs/cgroup" || v.host_path == "/usr/lib/cni" ||
                     v.host_path == "/opt/cni/bin") {
            source = v.host_path;
          } else {
            source = node_dir() + v.host_path;
            std::filesystem::create_directories(source);
            if (m.path == v.host_path) {
              destination = source;
              rewrites[m.path] = source;
            }
          }
          break;
        case PodContainer::Volume::Kind::kSecret: {
          source = VolumeDir(id, v.name, 0, gid, 0755);
          std::map<std::string, std::string> items = v.items;
          if (items.empty()) {
            for (const auto& [key, file] : secret_keys_) items[key] = key;
          }
          for (const auto& [key, path] : items) {
            auto file = secret_keys_.find(key);
            ASSERT_NE(file, secret_keys_.end())
                << id << ": Secret " << v.secret_name << " key " << key << " is not one the test "
                << "makes (the chart's Secrets: the PKI of scripts/gen-certs.sh, tokens.yaml)";
            const std::string target = source + "/" + path;
            std::filesystem::create_directories(std::filesystem::path(target).parent_path());
            std::filesystem::copy_file(file->second, target,
                                       std::filesystem::copy_options::overwrite_existing);
            ASSERT_EQ(chown(target.c_str(), 0, gid), 0);
            ASSERT_EQ(chmod(target.c_str(), v.default_mode.value_or(0644)), 0);
          }
          break;
        }
        case PodContainer::Volume::Kind::kEmptyDir:
        case PodContainer::Volume::Kind::kPersistentVolumeClaim:
          source = VolumeDir(id, v.name, uid, gid, 0770);
          break;
      }
      std::string options = absl::StrCat("rbind:", m.read_only ? "ro" : "rw");
      if (m.propagation == "Bidirectional") {
        absl::StrAppend(&options, ":rshared");
        bidirectional = true;
      } else if (m.propagation == "HostToContainer") {
        absl::StrAppend(&options, ":rslave");
      }
      ctr.insert(ctr.end(), {"--mount", absl::StrCat("type=bind,src=", source, ",dst=", destination,
                                                     ",options=", options)});
    }

    // Args: the shared paths rewritten, the test's flag values.
    std::map<std::string, std::string> missing = flags;
    for (std::string& a : args) {
      for (const auto& [from, to] : rewrites) {
        const size_t eq = a.find('=');
        if (eq == std::string::npos) continue;
        const std::string value = a.substr(eq + 1);
        if (value == from || absl::StartsWith(value, from + "/")) {
          a = absl::StrCat(a.substr(0, eq + 1), to, value.substr(from.size()));
        }
      }
      for (const auto& [name, value] : flags) {
        if (absl::StartsWith(a, "--" + name + "=")) {
          a = absl::StrCat("--", name, "=", value);
          missing.erase(name);
        }
      }
    }
    for (const auto& [name, value] : missing) args.push_back(absl::StrCat("--", name, "=", value));
    if (id == "agent") agent_state_dir_ = FlagValue(args, "state-dir");

    if (spec.privileged) ctr.push_back("--privileged");
    if (spec.read_only_root) ctr.push_back("--read-only");
    if (bidirectional) ctr.insert(ctr.end(), {"--rootfs-propagation", "rshared"});
    ctr.insert(ctr.end(), {spec.image, id});
    ctr.insert(ctr.end(), argv.begin(), argv.end());
    ctr.insert(ctr.end(), args.begin(), args.end());
    LOG(INFO) << "starting " << id << ": ctr " << absl::StrJoin(ctr, " ");
    ASSERT_EQ(Ctr(ctr), 0);
  }

  // Runs the fsb CLI against the containerised controller; returns its exit code.
  int Fsb(const std::vector<std::string>& args, std::string* out, std::string* err = nullptr) {
    std::vector<std::string> argv = {
        FSB_CLI_BIN, "--endpoint",          absl::StrCat("127.0.0.1:", client_port_),
        "--ca",      pki_dir() + "/ca.crt", "--token",
        admin_token_};
    argv.insert(argv.end(), args.begin(), args.end());
    setenv("FSB_CONFIG", (dir() + "/no-fsb-config.yaml").c_str(), 1);
    std::string ignored;
    return RunCommand(argv, out, err != nullptr ? err : &ignored);
  }

  void WaitForAgentReady() {
    std::string out;
    EXPECT_TRUE(WaitFor(
        [&] {
          out.clear();
          if (Fsb({"agents"}, &out) != 0) return false;
          // The table's row of the node: NAME POOL NODE CAPACITY USED READY ...
          for (absl::string_view line : absl::StrSplit(out, '\n')) {
            std::vector<absl::string_view> cells = absl::StrSplit(line, ' ', absl::SkipEmpty());
            if (cells.size() >= 6 && cells[0] == kNode) return cells[5] == "True";
          }
          return false;
        },
        absl::Seconds(60)))
        << "the agent did not become Ready: " << out;
  }

  // The task of the sandbox named `name`, in the agent's containerd namespace.
  absl::StatusOr<containerd::v1::types::Process> SandboxTask(const std::string& name) {
    const std::string ns = FlagValue(agent_spec_.args, "containerd-namespace");
    agent::Containerd sandboxes({.socket = containerd_->socket(), .ns = ns.empty() ? "fsb" : ns});
    auto containers =
        sandboxes.ListContainers(absl::StrCat("labels.\"", agent::kSandboxNameLabel, "\"==", name));
    if (!containers.ok()) return containers.status();
    if (containers->size() != 1) {
      return absl::NotFoundError(absl::StrCat(containers->size(), " containers of ", name));
    }
    return sandboxes.GetTask((*containers)[0].id());
  }

  std::unique_ptr<PrivateContainerd> containerd_;
  std::unique_ptr<agent::Containerd> system_;
  PodContainer controller_spec_;
  PodContainer agent_spec_;
  std::map<std::string, std::string> controller_flags_;
  std::map<std::string, std::string> agent_flags_;
  std::map<std::string, std::string> secret_keys_;  // key -> file
  std::string admin_token_;
  std::string bridge_;
  std::string subnet_;
  std::string agent_state_dir_;
  int client_port_ = 0;
  int agent_registration_port_ = 0;
  bool node_mounted_ = false;
};

TEST_F(ContainerisedStackTest, SandboxRunsThroughTheContainerisedStackAndSurvivesAnAgentRestart) {
  // The daemons run from the images, as the manifests say.
  for (const char* id : {"controller", "agent"}) {
    absl::StatusOr<containerd::v1::types::Process> task = system_->GetTask(id);
    ASSERT_TRUE(task.ok()) << id << ": " << task.status();
    EXPECT_EQ(task->status(), containerd::v1::types::RUNNING) << id;
  }

  std::string out, err;
  ASSERT_EQ(Fsb({"run", "--image", PrivateContainerd::kTestImage, "--name", "boxed", "--", "sh",
                 "-c", "echo hello from the containerised stack; sleep 600"},
                &out, &err),
            0)
      << err;
  EXPECT_THAT(out, HasSubstr(kNode));

  absl::StatusOr<containerd::v1::types::Process> task = SandboxTask("boxed");
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->status(), containerd::v1::types::RUNNING);
  const uint32_t pid = task->pid();
  ASSERT_GT(pid, 0u);

  EXPECT_TRUE(WaitFor(
      [&] {
        out.clear();
        return Fsb({"logs", "boxed"}, &out) == 0 &&
               absl::StrContains(out, "hello from the containerised stack");
      },
      absl::Seconds(30)))
      << out;
  out.clear();
  EXPECT_EQ(Fsb({"exec", "boxed", "--", "sh", "-c", "echo exec in $(hostname); exit 3"}, &out), 3);
  EXPECT_THAT(out, HasSubstr("exec in"));

  // The agent's container is killed (a crash or an upgrade of its pod) and started again.
  ASSERT_EQ(Ctr({"task", "kill", "-s", "SIGKILL", "agent"}), 0);
  ASSERT_TRUE(system_->WaitTask("agent", absl::Seconds(30)).ok());
  ASSERT_EQ(Ctr({"task", "delete", "agent"}), 0);
  absl::StatusOr<containerd::v1::types::Process> during = SandboxTask("boxed");
  ASSERT_TRUE(during.ok()) << during.status();
  EXPECT_EQ(during->status(), containerd::v1::types::RUNNING) << "the sandbox died with the agent";
  ASSERT_EQ(Ctr({"task", "start", "--detach", "--log-uri",
                 absl::StrCat("file://", dir(), "/agent-restarted.log"), "agent"}),
            0);
  EXPECT_TRUE(WaitFor(
      [&] {
        return absl::StrContains(ReadFile(dir() + "/agent-restarted.log"),
                                 "registered with the controller");
      },
      absl::Seconds(60)))
      << ReadFile(dir() + "/agent-restarted.log");

  task = SandboxTask("boxed");
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->status(), containerd::v1::types::RUNNING);
  EXPECT_EQ(task->pid(), pid) << "the sandbox was restarted, not kept";
  EXPECT_THAT(ReadFile(dir() + "/agent-restarted.log"), HasSubstr("recovered 1 sandboxes"));
  out.clear();
  EXPECT_TRUE(WaitFor(
      [&] {
        return Fsb({"exec", "boxed", "--", "echo", "still here"}, &out) == 0;
      },
      absl::Seconds(30)))
      << out;
  EXPECT_THAT(out, HasSubstr("still here"));

  out.clear();
  ASSERT_EQ(Fsb({"rm", "boxed"}, &out, &err), 0) << err;
  EXPECT_TRUE(
      WaitFor([&] { return absl::IsNotFound(SandboxTask("boxed").status()); }, absl::Seconds(30)));
  EXPECT_EQ(Fsb({"get", "boxed"}, &out), 1);
}

}  // namespace
}  // namespace fsb
