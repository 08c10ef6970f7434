// fsb-controller: the control plane. Composition root: flags -> Options -> wiring.
#include <signal.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "controller/fastpath_server.h"
#include "controller/grpc_agent_client.h"
#include "controller/registration_server.h"
#include "controller/registry.h"
#include "controller/sandbox_service.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "internal/clock.h"
#include "internal/strings.h"

DEFINE_string(fastpath_bind_address, "0.0.0.0:9090",
              "host:port serving the FastPath API and agent registration.");
DEFINE_string(agent_heartbeat_timeout, "15s",
              "An agent whose last heartbeat is older than this gets no new sandboxes.");
DEFINE_string(agent_create_timeout, "30s", "Deadline of the agent's CreateSandbox call.");

namespace {

struct Options {
  std::string bind_address;
  absl::Duration heartbeat_timeout;
  absl::Duration agent_create_timeout;
};

absl::StatusOr<absl::Duration> PositiveDuration(std::string_view flag, const std::string& value) {
  absl::Duration d;
  if (!absl::ParseDuration(value, &d) || d <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", fsb::Sv(flag), "=", value, ": expected a positive duration such as 15s or 500ms"));
  }
  return d;
}

absl::StatusOr<Options> OptionsFromFlags() {
  Options options{.bind_address = FLAGS_fastpath_bind_address};
  absl::StatusOr<absl::Duration> heartbeat =
      PositiveDuration("agent-heartbeat-timeout", FLAGS_agent_heartbeat_timeout);
  if (!heartbeat.ok()) return heartbeat.status();
  options.heartbeat_timeout = *heartbeat;
  absl::StatusOr<absl::Duration> create =
      PositiveDuration("agent-create-timeout", FLAGS_agent_create_timeout);
  if (!create.ok()) return create.status();
  options.agent_create_timeout = *create;
  return options;
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

  gflags::SetUsageMessage("fsb controller: the FastPath API and the agents' registry");
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  google::InitGoogleLogging(argv[0]);
  FLAGS_logtostderr = FLAGS_logtostderr || FLAGS_log_dir.empty();

  absl::StatusOr<Options> options = OptionsFromFlags();
  if (!options.ok()) {
    LOG(ERROR) << options.status().message();
    return 2;
  }

  fsb::Clock* clock = fsb::Clock::Real();
  fsb::controller::Registry registry(clock, {.heartbeat_timeout = options->heartbeat_timeout});
  fsb::controller::GrpcAgentClient agents({.create_timeout = options->agent_create_timeout});
  fsb::controller::SandboxService sandboxes(&registry, &agents, clock);
  fsb::controller::FastPathServer fastpath(&sandboxes);
  // Asking for three heartbeats per timeout lets an agent miss two before it is unhealthy.
  fsb::controller::RegistrationServer registration(&sandboxes, options->heartbeat_timeout / 3);

  grpc::ServerBuilder builder;
  builder.AddListeningPort(options->bind_address, grpc::InsecureServerCredentials());
  builder.RegisterService(&fastpath);
  builder.RegisterService(&registration);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr) {
    LOG(ERROR) << "cannot listen on " << options->bind_address;
    return 1;
  }
  LOG(INFO) << "fsb-controller serving FastPath and agent registration on " << options->bind_address
            << " (agent heartbeat timeout " << absl::FormatDuration(options->heartbeat_timeout)
            << ")";

  // Wait for SIGTERM/SIGINT, then finish in-flight calls for up to 5s.
  int sig = 0;
  sigwait(&signals, &sig);
  LOG(INFO) << "signal " << sig << ": shutting down";
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  return 0;
}
