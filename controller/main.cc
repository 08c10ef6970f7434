// fsb-controller: the control plane. Composition root: flags -> Options -> wiring.

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "controller/client_auth.h"
#include "controller/fastpath_server.h"
#include "controller/grpc_agent_client.h"
#include "controller/image_proxy.h"
#include "controller/pool_service.h"
#include "controller/registration_server.h"
#include "controller/sandbox/sandbox_service.h"
#include "controller/sandbox_io_proxy.h"
#include "controller/scheduler/scheduler.h"
#include "controller/store/sqlite_store.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "internal/admin/endpoints.h"
#include "internal/auth/token_store.h"
#include "internal/background_loop.h"
#include "internal/clock.h"
#include "internal/daemon.h"
#include "internal/deadline.h"
#include "internal/grpc_server_poller.h"
#include "internal/metrics/grpc_server_metrics.h"
#include "internal/metrics/metrics.h"
#include "internal/strings.h"
#include "internal/tls/tls.h"

DEFINE_string(fastpath_bind_address, "0.0.0.0:9090",
              "host:port serving the client API (FastPath, SandboxIO, Images) over TLS with "
              "--tls-cert; clients authenticate with bearer tokens of --tokens-file.");
DEFINE_string(data_dir, "/var/lib/fsb-controller",
              "Folder of the embedded store (SQLite file fsb.db); created if missing.");
DEFINE_string(store_synchronous, "full",
              "What an acknowledged store write survives: full (SQLite fsyncs every commit: "
              "a controller crash and a power loss) or normal (no fsync per commit: a "
              "controller crash, but the last writes before a power loss may be lost).");
DEFINE_string(fastpath_consistency_mode, "fast",
              "Default consistency of creates that do not ask for strong: fast (agent first, "
              "persist right after) or strong (persist first, then the agent).");
DEFINE_string(fastpath_orphan_timeout, "10s",
              "How long a sandbox an agent runs may stay unknown to the store before it is "
              "deleted as an orphan.");
DEFINE_string(agent_heartbeat_timeout, "15s",
              "An agent whose last heartbeat is older than this gets no new sandboxes and "
              "its sandboxes become Lost.");
DEFINE_string(agent_create_timeout, "30s", "Deadline of the agent's CreateSandbox call.");
DEFINE_string(delete_wait_timeout, "10s",
              "How long a delete its agent cannot confirm at once (not registered again yet, "
              "unreachable) waits for the reconciler's retry; then it is UNAVAILABLE and the "
              "sandbox stays Terminating until the agent confirms.");
DEFINE_string(agent_pull_timeout, "10m",
              "Deadline of the agent's CreateSandbox call when the agent does not report the "
              "image, so that the create may include a registry pull.");
DEFINE_string(metrics_bind_address, ":9091",
              "host:port serving /metrics, /healthz and /readyz (empty host: every interface).");
DEFINE_string(pprof_bind_address, "localhost:6060",
              "host:port serving /debug/pprof CPU and heap profiles; loopback by default "
              "because profiles expose internals. Empty: no profiling listener.");
DEFINE_string(reconcile_interval, "500ms", "Period of the reconcilers (expiry, loss, reset, ...).");
DEFINE_string(agent_logs_timeout, "5m",
              "Deadline of a Logs call relayed to an agent without follow (a follow has none "
              "but the client's: it ends when the sandbox exits or the client leaves).");
DEFINE_string(agent_exec_timeout, "24h", "Deadline of an Exec session relayed to an agent.");
DEFINE_string(agent_bind_address, "0.0.0.0:9092",
              "host:port of the agents' registration API (agents' --controller), served over "
              "mutual TLS: an agent registers only as the agent id its certificate names.");
DEFINE_string(tls_cert, "",
              "PEM certificate of the controller (scripts/gen-certs.sh: controller.crt), "
              "presented to agents and clients; re-read when the file changes.");
DEFINE_string(tls_key, "", "PEM private key of --tls-cert.");
DEFINE_string(tls_ca, "",
              "PEM certificate of the cluster CA: agents' certificates must chain to it.");
DEFINE_string(tokens_file, "",
              "YAML file of the clients' bearer tokens (SHA-256 hashes) with their subject, "
              "role (admin|user|viewer) and namespaces; re-read when it changes and on "
              "SIGHUP (a bad version keeps the tokens of the last good one). Required unless "
              "--insecure.");
DEFINE_bool(insecure, false,
            "INSECURE: no TLS and no authentication, for clients and agents alike: anyone "
            "who reaches the API may do anything, and anyone who reaches "
            "--agent-bind-address can register as any agent and receive its sandboxes. "
            "For local experiments only.");

namespace {

struct Options {
  std::string bind_address;
  std::string data_dir;
  fsb::v1alpha1::SandboxSpec::ConsistencyMode mode;
  fsb::store::SqliteStore::Synchronous synchronous;
  absl::Duration orphan_timeout;
  absl::Duration heartbeat_timeout;
  absl::Duration agent_create_timeout;
  absl::Duration agent_pull_timeout;
  absl::Duration reconcile_interval;
  absl::Duration agent_logs_timeout;
  absl::Duration agent_exec_timeout;
  absl::Duration delete_wait_timeout;
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
  Options options{.bind_address = FLAGS_fastpath_bind_address, .data_dir = FLAGS_data_dir};
  if (FLAGS_fastpath_consistency_mode == "fast") {
    options.mode = fsb::v1alpha1::SandboxSpec::fast;
  } else if (FLAGS_fastpath_consistency_mode == "strong") {
    options.mode = fsb::v1alpha1::SandboxSpec::strong;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--fastpath-consistency-mode=", FLAGS_fastpath_consistency_mode,
                     ": expected fast or strong"));
  }
  if (FLAGS_store_synchronous == "full") {
    options.synchronous = fsb::store::SqliteStore::Synchronous::kFull;
  } else if (FLAGS_store_synchronous == "normal") {
    options.synchronous = fsb::store::SqliteStore::Synchronous::kNormal;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--store-synchronous=", FLAGS_store_synchronous, ": expected full or normal"));
  }
  struct {
    std::string_view flag;
    const std::string& value;
    absl::Duration* out;
  } durations[] = {
      {"fastpath-orphan-timeout", FLAGS_fastpath_orphan_timeout, &options.orphan_timeout},
      {"agent-heartbeat-timeout", FLAGS_agent_heartbeat_timeout, &options.heartbeat_timeout},
      {"agent-create-timeout", FLAGS_agent_create_timeout, &options.agent_create_timeout},
      {"agent-pull-timeout", FLAGS_agent_pull_timeout, &options.agent_pull_timeout},
      {"reconcile-interval", FLAGS_reconcile_interval, &options.reconcile_interval},
      {"agent-logs-timeout", FLAGS_agent_logs_timeout, &options.agent_logs_timeout},
      {"agent-exec-timeout", FLAGS_agent_exec_timeout, &options.agent_exec_timeout},
      {"delete-wait-timeout", FLAGS_delete_wait_timeout, &options.delete_wait_timeout},
  };
  for (auto& d : durations) {
    absl::StatusOr<absl::Duration> parsed = PositiveDuration(d.flag, d.value);
    if (!parsed.ok()) return parsed.status();
    *d.out = *parsed;
  }
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  fsb::Daemon daemon(
      "fsb controller: the FastPath API, the agents' registry and the sandboxes' durable state",
      &argc, &argv);

  absl::StatusOr<Options> options = OptionsFromFlags();
  if (!options.ok()) {
    LOG(ERROR) << options.status().message();
    return 2;
  }
  const fsb::TlsFiles tls{.cert = FLAGS_tls_cert, .key = FLAGS_tls_key, .ca = FLAGS_tls_ca};
  fsb::Clock* clock = fsb::Clock::Real();
  std::unique_ptr<fsb::auth::TokenStore> tokens;
  if (FLAGS_insecure) {
    LOG(WARNING) << "INSECURE (--insecure): no TLS and no authentication. Every client of "
                 << FLAGS_fastpath_bind_address
                 << " is an admin, and agents register and are called over plaintext "
                    "without certificates: anyone who reaches "
                 << FLAGS_agent_bind_address << " can pose as an agent";
  } else {
    if (absl::Status s = fsb::CheckTlsFiles(tls, "--tls-"); !s.ok()) {
      LOG(ERROR) << s.message() << "; TLS is on unless --insecure";
      return 2;
    }
    if (FLAGS_tokens_file.empty()) {
      LOG(ERROR) << "--tokens-file is required (clients authenticate with its bearer tokens; "
                    "README: Clients: TLS, tokens, namespaces and roles) unless --insecure";
      return 2;
    }
    absl::StatusOr<std::unique_ptr<fsb::auth::TokenStore>> loaded =
        fsb::auth::TokenStore::Load(FLAGS_tokens_file, clock);
    if (!loaded.ok()) {
      LOG(ERROR) << "--tokens-file: " << loaded.status().message();
      return 2;
    }
    tokens = *std::move(loaded);
    LOG(INFO) << "loaded " << tokens->size() << " client tokens from " << FLAGS_tokens_file;
  }
  std::error_code ec;
  std::filesystem::create_directories(options->data_dir, ec);
  if (ec) {
    LOG(ERROR) << "cannot create --data-dir " << options->data_dir << ": " << ec.message();
    return 1;
  }
  fsb::metrics::Registry registry;
  const std::string db = options->data_dir + "/" + fsb::store::SqliteStore::kDefaultFileName;
  absl::StatusOr<std::unique_ptr<fsb::store::SqliteStore>> store = fsb::store::SqliteStore::Open(
      db, {.synchronous = options->synchronous, .registry = &registry});
  if (!store.ok()) {
    LOG(ERROR) << "cannot open the store " << db << ": " << store.status();
    return 1;
  }
  // Read back from SQLite: the log states what an acknowledged write survives.
  absl::StatusOr<fsb::store::SqliteStore::Synchronous> synchronous = (*store)->ReadSynchronous();
  if (!synchronous.ok()) {
    LOG(ERROR) << "store " << db << ": " << synchronous.status();
    return 1;
  }
  const bool full = *synchronous == fsb::store::SqliteStore::Synchronous::kFull;
  LOG(INFO) << "store " << db << ": synchronous=" << (full ? "FULL" : "NORMAL")
            << (full ? ": every acknowledged write is fsynced (survives a power loss)"
                     : ": acknowledged writes survive a controller crash, the last ones may "
                       "not survive a power loss");
  const fsb::controller::ClientAuth client_auth =
      FLAGS_insecure ? fsb::controller::ClientAuth::AllowAll(&registry)
                     : fsb::controller::ClientAuth(tokens.get(), &registry);
  fsb::controller::Scheduler scheduler(clock, {.heartbeat_timeout = options->heartbeat_timeout});
  fsb::controller::GrpcAgentClient agents(
      {.create_timeout = options->agent_create_timeout,
       .pull_timeout = options->agent_pull_timeout,
       .credentials = FLAGS_insecure ? nullptr : fsb::TlsChannelCredentials(tls)});
  absl::StatusOr<std::unique_ptr<fsb::controller::PoolService>> pools =
      fsb::controller::PoolService::Create(&scheduler, store->get(), clock);
  if (!pools.ok()) {
    LOG(ERROR) << "cannot load the sandbox pools from " << db << ": " << pools.status();
    return 1;
  }
  absl::StatusOr<std::unique_ptr<fsb::controller::SandboxService>> sandboxes =
      fsb::controller::SandboxService::Create(&scheduler, pools->get(), &agents, store->get(),
                                              clock, &registry,
                                              {.default_mode = options->mode,
                                               .orphan_timeout = options->orphan_timeout,
                                               .agent_lost_timeout = options->heartbeat_timeout,
                                               .delete_wait_timeout = options->delete_wait_timeout,
                                               .reconcile_interval = options->reconcile_interval});
  if (!sandboxes.ok()) {
    LOG(ERROR) << "cannot load the sandboxes from " << db << ": " << sandboxes.status();
    return 1;
  }
  fsb::controller::FastPathServer fastpath(sandboxes->get(), pools->get(), &client_auth);
  // Asking for three heartbeats per timeout lets an agent miss two before it is lost.
  fsb::controller::RegistrationServer registration(sandboxes->get(), options->heartbeat_timeout / 3,
                                                   /*verify_agents=*/!FLAGS_insecure);
  grpc::ServerBuilder agent_builder;
  agent_builder.AddListeningPort(
      FLAGS_agent_bind_address,
      FLAGS_insecure ? grpc::InsecureServerCredentials()
                     : fsb::TlsServerCredentials(tls, fsb::ClientCertificates::kRequire));
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      agent_interceptors;
  const fsb::metrics::GrpcServerMetrics grpc_metrics(&registry);
  agent_interceptors.push_back(grpc_metrics.NewFactory());
  agent_builder.experimental().SetInterceptorCreators(std::move(agent_interceptors));
  agent_builder.RegisterService(&registration);
  fsb::controller::AcceptAgentMessages(agent_builder);
  std::unique_ptr<grpc::Server> agent_server = agent_builder.BuildAndStart();
  if (agent_server == nullptr) {
    LOG(ERROR) << "cannot listen on --agent-bind-address " << FLAGS_agent_bind_address;
    return 1;
  }

  grpc::ServerBuilder builder;
  builder.AddListeningPort(options->bind_address,
                           FLAGS_insecure
                               ? grpc::InsecureServerCredentials()
                               : fsb::TlsServerCredentials(tls, fsb::ClientCertificates::kNone));
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(grpc_metrics.NewFactory());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  builder.RegisterService(&fastpath);
  // Logs and exec, relayed to the sandbox's agent.
  fsb::controller::SandboxIOProxy io(
      sandboxes->get(), &agents, &client_auth,
      {.logs_timeout = options->agent_logs_timeout, .exec_timeout = options->agent_exec_timeout});
  builder.RegisterService(&io);
  // Image archives relayed to the agents (`fsb image import`).
  fsb::controller::ImageProxy images(
      &scheduler, [&agents](std::string_view address) { return agents.Channel(address); },
      &client_auth, {});
  builder.RegisterService(&images);
  // Logs and exec are callback services: without a poller of its own the server would
  // read requests only when gRPC's callback threads poll (see GrpcServerPoller).
  fsb::GrpcServerPoller poller(builder);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr) {
    LOG(ERROR) << "cannot listen on " << options->bind_address;
    return 1;
  }
  (*sandboxes)->Start();
  // Ready once the store is loaded (above) and the API serves.
  absl::StatusOr<fsb::admin::Endpoints> admin = fsb::admin::StartEndpoints(
      FLAGS_metrics_bind_address, FLAGS_pprof_bind_address, &registry, nullptr,
      FLAGS_insecure ? "INSECURE (--insecure): no TLS and no authentication" : "");
  if (!admin.ok()) {
    LOG(ERROR) << admin.status();
    return 1;
  }
  LOG(INFO) << "fsb-controller serving FastPath on " << options->bind_address
            << ", agent registration on " << FLAGS_agent_bind_address
            << (FLAGS_insecure ? " (INSECURE: plaintext, no authentication)"
                               : " (TLS; clients with bearer tokens, agents with certificates)")
            << "; store " << db << "; default consistency " << FLAGS_fastpath_consistency_mode
            << "; agent heartbeat timeout " << absl::FormatDuration(options->heartbeat_timeout);

  // The tokens file is re-read when it changes (checked every second) and on SIGHUP.
  fsb::metrics::Family<fsb::metrics::Counter>& reloads = registry.AddCounter(
      "fsb_controller_tokens_file_reloads_total",
      "Reloads of --tokens-file by result (ok; error: the tokens of the last good file stay).");
  auto log_reload = [&reloads](const absl::Status& status) {
    if (status.ok()) {
      LOG(INFO) << "reloaded --tokens-file " << FLAGS_tokens_file;
    } else {
      LOG(ERROR) << "--tokens-file not reloaded, the previous tokens stay: " << status.message();
    }
    reloads.Add({{"result", status.ok() ? "ok" : "error"}}).Increment();
  };
  fsb::BackgroundLoop token_watcher({.name = "tokens-watch"}, [&] {
    absl::StatusOr<bool> reloaded = tokens->ReloadIfChanged();
    if (!reloaded.ok() || *reloaded) log_reload(reloaded.status());
    return absl::Seconds(1);
  });
  if (tokens != nullptr) token_watcher.Start();

  // Wait for SIGTERM/SIGINT, then finish in-flight calls for up to 5s; the service's
  // destructor flushes pending store writes.
  const int sig = daemon.WaitForShutdown([&] {
    if (tokens == nullptr) {
      LOG(INFO) << "SIGHUP: no --tokens-file to reload (--insecure)";
      return;
    }
    log_reload(tokens->Reload());
  });
  token_watcher.Stop();
  LOG(INFO) << "signal " << sig << ": shutting down";
  admin->Stop();
  server->Shutdown(fsb::Deadline::In(absl::Seconds(5)).ToChrono());
  agent_server->Shutdown(fsb::Deadline::In(absl::Seconds(1)).ToChrono());
  return 0;
}
