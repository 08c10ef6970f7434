// fsb-agent: the node agent. Composition root: flags -> options -> wiring.
#include <signal.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "agent/agent_service.h"
#include "agent/containerd.h"
#include "agent/containerd_runtime.h"
#include "agent/registration_loop.h"
#include "agent/sandbox_manager.h"
#include "absl/synchronization/mutex.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "internal/clock.h"

DEFINE_int32(agent_port, 5758, "Port of the agent's gRPC API (all interfaces).");
DEFINE_string(controller, "127.0.0.1:9090", "Controller address (host:port) to register with.");
DEFINE_string(containerd_socket, "/run/containerd/containerd.sock", "containerd's gRPC socket.");
DEFINE_string(containerd_namespace, "fsb", "containerd namespace of fsb's containers and images.");
DEFINE_string(snapshotter, "overlayfs", "containerd snapshotter.");
DEFINE_string(runtime, "io.containerd.runc.v2", "containerd runtime (shim) name.");
DEFINE_int32(capacity, 0, "Max sandboxes on this node; 0 = $AGENT_CAPACITY, else 5.");
DEFINE_string(node_name, "", "Node name; default: the host name.");
DEFINE_string(agent_id, "", "Agent name, unique among agents; default: the node name.");
DEFINE_string(pool, "default", "Pool this agent serves.");
DEFINE_string(advertise_address, "127.0.0.1",
              "Address the controller uses to reach this agent (the port is --agent-port).");
DEFINE_string(state_dir, "/var/lib/fsb-agent", "Folder for sandbox logs and agent state.");
DEFINE_int32(heartbeat_interval_ms, 2000, "Heartbeat period.");
DEFINE_int32(delete_grace_ms, 10000, "Default SIGTERM -> SIGKILL grace period on delete.");

namespace {

int Capacity() {
  if (FLAGS_capacity > 0) return FLAGS_capacity;
  if (const char* env = std::getenv("AGENT_CAPACITY"); env != nullptr) {
    int v = 0;
    if (absl::SimpleAtoi(env, &v) && v > 0) return v;
    LOG(WARNING) << "ignoring AGENT_CAPACITY=\"" << env << "\": not a positive integer";
  }
  return 5;
}

std::string HostName() {
  char buf[HOST_NAME_MAX + 1] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "localhost";
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  // Block the shutdown signals before any thread starts so that every thread inherits
  // the mask and sigwait() below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  gflags::SetUsageMessage("fsb node agent: runs sandboxes on containerd");
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  // Debian's Abseil is built without NDEBUG and checks every mutex acquisition for lock
  // cycles, about a third of a scheduler Allocate (bench/README.md); the unit tests keep
  // the check, production does what an NDEBUG build does.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  google::InitGoogleLogging(argv[0]);
  FLAGS_logtostderr = FLAGS_logtostderr || FLAGS_log_dir.empty();

  const std::string node = FLAGS_node_name.empty() ? HostName() : FLAGS_node_name;
  const std::string log_dir = FLAGS_state_dir + "/logs";
  std::error_code ec;
  std::filesystem::create_directories(log_dir, ec);
  if (ec) {
    LOG(ERROR) << "cannot create " << log_dir << ": " << ec.message();
    return 1;
  }

  fsb::agent::Containerd containerd({.socket = FLAGS_containerd_socket,
                                     .ns = FLAGS_containerd_namespace,
                                     .snapshotter = FLAGS_snapshotter});
  if (auto v = containerd.Version(); v.ok()) {
    LOG(INFO) << "containerd " << *v << " at " << FLAGS_containerd_socket;
  } else {
    LOG(WARNING) << "containerd at " << FLAGS_containerd_socket << " not reachable yet: "
                 << v.status();
  }
  fsb::agent::ContainerdRuntime runtime(&containerd, {.runtime_name = FLAGS_runtime});
  fsb::agent::SandboxManager manager(
      &runtime, fsb::Clock::Real(),
      {.capacity = Capacity(),
       .log_dir = log_dir,
       .default_grace = absl::Milliseconds(FLAGS_delete_grace_ms)});
  fsb::agent::AgentServiceImpl service(&manager);

  const std::string listen = absl::StrCat("0.0.0.0:", FLAGS_agent_port);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials());
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr) {
    LOG(ERROR) << "cannot listen on " << listen;
    return 1;
  }
  LOG(INFO) << "fsb-agent " << node << " serving on " << listen << ", capacity "
            << manager.capacity();

  fsb::agent::v1::AgentInfo info;
  info.set_agent_id(FLAGS_agent_id.empty() ? node : FLAGS_agent_id);
  info.set_node_name(node);
  info.set_address(absl::StrCat(FLAGS_advertise_address, ":", FLAGS_agent_port));
  info.set_pool(FLAGS_pool);
  info.set_capacity(manager.capacity());
  fsb::agent::RegistrationLoop registration(
      grpc::CreateChannel(FLAGS_controller, grpc::InsecureChannelCredentials()), &manager,
      &runtime, {.agent = info, .interval = absl::Milliseconds(FLAGS_heartbeat_interval_ms)});
  registration.Start();

  // Wait for SIGTERM/SIGINT, then stop taking requests. Sandboxes keep running.
  int sig = 0;
  sigwait(&signals, &sig);
  LOG(INFO) << "signal " << sig << ": shutting down";
  registration.Stop();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  return 0;
}
