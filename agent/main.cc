// fsb-agent: the node agent. Composition root: flags -> options -> wiring.
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/agent_metrics.h"
#include "agent/agent_service.h"
#include "agent/containerd/client.h"
#include "agent/containerd/exit_watcher.h"
#include "agent/containerd/runtime.h"
#include "agent/image/credentials.h"
#include "agent/image/importer.h"
#include "agent/image/registry_puller.h"
#include "agent/image/service.h"
#include "agent/image/store.h"
#include "agent/io/exec.h"
#include "agent/io/log_watcher.h"
#include "agent/io/logs.h"
#include "agent/io/service.h"
#include "agent/janitor.h"
#include "agent/kernel_file.h"
#include "agent/network/node.h"
#include "agent/registration_loop.h"
#include "agent/sandbox_defaults.h"
#include "agent/sandbox_manager.h"
#include "agent/shim_groups.h"
#include "agent/warm/cgroup_limits.h"
#include "agent/warm/warm_pool.h"
#include "agent/warm/warm_targets.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "internal/admin/endpoints.h"
#include "internal/clock.h"
#include "internal/daemon.h"
#include "internal/deadline.h"
#include "internal/grpc_server_poller.h"
#include "internal/metrics/grpc_server_metrics.h"
#include "internal/metrics/metrics.h"
#include "internal/tls/tls.h"
#include "internal/validation.h"

DEFINE_int32(agent_port, 5758,
             "Port of the agent's gRPC API; with --advertise-address, what the controller "
             "dials.");
DEFINE_string(listen_address, "",
              "host:port the agent's gRPC API listens on; default 0.0.0.0:<agent-port>. Only "
              "the controller's certificate is accepted there (mutual TLS).");
DEFINE_string(controller, "127.0.0.1:9092",
              "The controller's agent registration address (its --agent-bind-address).");
DEFINE_string(tls_cert, "",
              "PEM certificate of this agent (scripts/gen-certs.sh --agent ID: agent-ID.crt), "
              "naming its --agent-id; re-read when the file changes.");
DEFINE_string(tls_key, "", "PEM private key of --tls-cert.");
DEFINE_string(tls_ca, "", "PEM certificate of the cluster CA that signed the controller's.");
DEFINE_bool(insecure, false,
            "INSECURE: plaintext to and from the controller, without certificates: anyone "
            "who reaches the agent's port can create, exec into and delete its sandboxes. "
            "For local experiments only.");
DEFINE_string(containerd_socket, "/run/containerd/containerd.sock", "containerd's gRPC socket.");
DEFINE_string(containerd_namespace, "fsb", "containerd namespace of fsb's containers and images.");
DEFINE_string(snapshotter, "overlayfs", "containerd snapshotter.");
DEFINE_string(runtime, "io.containerd.runc.v2", "containerd runtime (shim) name.");
DEFINE_int32(capacity, 0, "Max sandboxes on this node; 0 = $AGENT_CAPACITY, else 5.");
DEFINE_string(node_name, "", "Node name; default: the host name, lowercased.");
DEFINE_string(agent_id, "", "Agent name, unique among agents; default: the node name.");
DEFINE_string(pool, "default", "Pool this agent serves.");
DEFINE_string(advertise_address, "127.0.0.1",
              "Address the controller uses to reach this agent (the port is --agent-port).");
DEFINE_string(state_dir, "/var/lib/fsb-agent", "Folder for sandbox logs and agent state.");
DEFINE_int32(heartbeat_interval_ms, 2000, "Heartbeat period.");
DEFINE_int32(delete_grace_ms, 10000, "Default SIGTERM -> SIGKILL grace period on delete.");
DEFINE_string(registry_config, "",
              "Registry credentials for image pulls: a docker config.json-style file "
              "({\"auths\": {\"HOST[:PORT]\": {\"auth\": base64(user:password)}}, "
              "\"insecure-registries\": [\"HOST[:PORT]\"]}). Loopback registries and insecure "
              "ones are reached over HTTP, others over HTTPS; credentials go over HTTP only "
              "to registries listed as insecure.");
DEFINE_int64(registry_min_rate, 10240,
             "Minimum transfer rate of a registry request (bytes/s): a manifest, blob or "
             "token request that receives fewer than this times --registry-min-rate-window "
             "bytes in a window is abandoned (UNAVAILABLE). 0: no minimum.");
DEFINE_string(registry_min_rate_window, "60s",
              "The window over which --registry-min-rate is measured (consecutive windows "
              "from each request's start).");
DEFINE_string(registry_request_timeout, "30m",
              "Upper bound of one registry request (a manifest, a blob, a token), redirects "
              "included, however fast it progresses.");
DEFINE_int32(shim_group_size, 8,
             "Sandboxes sharing one runc shim (io.containerd.runc.v2.group); 1 = a shim each.");
DEFINE_string(logger_binary, "",
              "fsb-logger, which the runc shim runs for each sandbox to write its log; "
              "default: fsb-logger next to fsb-agent. Copied to <state-dir>/bin, where the "
              "shim can run it even when the agent runs in a container.");
DEFINE_int64(log_max_bytes, 10 << 20,
             "Size cap of a sandbox's log <id>.log; at the cap it becomes <id>.log.1 (one "
             "older generation is kept). 0: never rotated.");
DEFINE_int32(exec_max_duration_s, 86400, "An exec running longer is killed.");
DEFINE_int32(max_io_streams, 256,
             "Log follows and execs served at once (each holds a thread and a few file "
             "descriptors while open); more are refused with RESOURCE_EXHAUSTED.");
DEFINE_int32(janitor_interval_s, 30, "Period of the janitor's cleanup pass.");
DEFINE_string(metrics_bind_address, ":5759",
              "host:port serving /metrics, /healthz and /readyz (empty host: every interface).");
DEFINE_string(pprof_bind_address, "localhost:6061",
              "host:port serving /debug/pprof CPU and heap profiles; loopback by default "
              "because profiles expose internals. Empty: no profiling listener.");
DEFINE_string(warm, "",
              "IMAGE=N: keep N prepared (warm) instances of IMAGE ready, so that a create "
              "for it takes milliseconds. Repeatable, or comma-separated. When the "
              "controller's SandboxPool for this agent's pool lists warmImages, those "
              "replace these.");
DEFINE_string(warm_max_age, "1h", "Prepared instances older than this are replaced.");
DEFINE_int32(warm_refill_concurrency, 2, "Prepared instances made at once.");
DEFINE_string(init_binary, "",
              "fsb-init, the first process of prepared instances; default: fsb-init next to "
              "fsb-agent. Copied to <state-dir>/bin and bind-mounted read-only into them.");
DEFINE_int32(janitor_grace_s, 60,
             "The janitor removes unowned containers, snapshots and logs only once older.");
DEFINE_int64(default_pids, 1024,
             "Processes (threads included) a sandbox may have when its request sets no pids "
             "limit. 0: no limit.");
DEFINE_int64(default_memory_bytes, int64_t{1} << 30,
             "Memory limit of a sandbox whose request sets none; above it the kernel's OOM "
             "killer ends processes inside the sandbox. 0: no limit.");
DEFINE_uint64(default_cpu_shares, 1024,
              "Relative CPU weight of every sandbox (cgroup v1 cpu.shares, cpu.weight on v2), "
              "2-262144; a request's cpu limit is a CFS quota on top. 0: the runtime's default.");
DEFINE_int32(sandbox_oom_score_adj, 500,
             "oom_score_adj of sandbox processes (-1000..1000): positive, so that under "
             "memory pressure the kernel kills a sandbox's process before the node's own.");
DEFINE_int32(agent_oom_score_adj, -900,
             "oom_score_adj the agent sets on itself at startup (-1000..1000); lowering it "
             "needs CAP_SYS_RESOURCE.");
DEFINE_uint64(sandbox_nofile, 1024, "RLIMIT_NOFILE (soft and hard) of sandbox processes.");
DEFINE_string(sandbox_network, "isolated",
              "isolated: each sandbox in a network namespace of its own on the node's "
              "sandbox bridge, the node's addresses and other sandboxes out of its reach, "
              "egress through NAT unless its request says no-egress. host (INSECURE): "
              "sandboxes share the agent's network namespace and reach everything the node "
              "reaches, the agent's own API included.");
DEFINE_string(sandbox_bridge, "fsb0", "The node's bridge for sandboxes (made on first use).");
DEFINE_string(sandbox_cidr, "10.88.0.0/16",
              "The node's IPv4 range for sandboxes (the bridge takes its first address). "
              "Must not overlap any network the node reaches.");
DEFINE_string(cni_plugin_dir, "/usr/lib/cni",
              "Folder of the CNI plugins (bridge, host-local, loopback, tuning, firewall, "
              "portmap; Debian's containernetworking-plugins).");
DEFINE_int32(network_slots, 4,
             "Network namespaces kept ready (attached and addressed) ahead of creates.");
DEFINE_bool(remove_sandbox_network, false,
            "Remove what this agent made on the node for its sandboxes' network (every "
            "network slot under --state-dir, the firewall tables, the bridge) and exit. For "
            "uninstalling; running sandboxes lose their network.");

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

// Every value given to --NAME (gflags keeps only the last of a repeated flag).
std::vector<std::string> RepeatedFlag(int argc, char** argv, std::string_view name) {
  std::vector<std::string> values;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--") break;
    if (arg.substr(0, 2) == "--") {
      arg.remove_prefix(2);
    } else if (arg.substr(0, 1) == "-") {
      arg.remove_prefix(1);
    } else {
      continue;
    }
    if (arg == name && i + 1 < argc) {
      values.emplace_back(argv[++i]);
    } else if (arg.size() > name.size() && arg.substr(0, name.size()) == name &&
               arg[name.size()] == '=') {
      values.emplace_back(arg.substr(name.size() + 1));
    }
  }
  return values;
}

// The host name, lowercased (host names are case-insensitive; the controller takes
// agent ids that are DNS subdomains, like Kubernetes node names).
std::string HostName() {
  char buf[HOST_NAME_MAX + 1] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "localhost";
  return absl::AsciiStrToLower(buf);
}

// What /readyz says besides readiness: the insecure modes in force, "" when none.
std::string InsecureWarning(bool isolated) {
  std::vector<std::string> modes;
  if (FLAGS_insecure) {
    modes.push_back("INSECURE (--insecure): plaintext to and from the controller, no certificates");
  }
  if (!isolated) {
    modes.push_back("INSECURE (--sandbox-network=host): sandboxes share the node's network");
  }
  return absl::StrJoin(modes, "; ");
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> warm_flags = RepeatedFlag(argc, argv, "warm");
  fsb::Daemon daemon("fsb node agent: runs sandboxes on containerd", &argc, &argv);
  absl::StatusOr<std::vector<fsb::agent::WarmTarget>> warm_targets =
      fsb::agent::ParseWarmTargets(warm_flags);
  if (!warm_targets.ok()) {
    LOG(ERROR) << warm_targets.status().message();
    return 2;
  }
  absl::Duration warm_max_age;
  if (!absl::ParseDuration(FLAGS_warm_max_age, &warm_max_age) ||
      warm_max_age <= absl::ZeroDuration()) {
    LOG(ERROR) << "--warm-max-age \"" << FLAGS_warm_max_age << "\": not a positive duration";
    return 2;
  }
  absl::StatusOr<fsb::agent::RegistryPuller::Options> puller_options =
      fsb::agent::RegistryPuller::Options::FromFlags(
          FLAGS_registry_min_rate, FLAGS_registry_min_rate_window, FLAGS_registry_request_timeout);
  if (!puller_options.ok()) {
    LOG(ERROR) << puller_options.status().message();
    return 2;
  }
  if (FLAGS_max_io_streams < 1) {
    LOG(ERROR) << "--max-io-streams must be at least 1, not " << FLAGS_max_io_streams;
    return 2;
  }

  const fsb::agent::SandboxDefaults sandbox_defaults{.pids = FLAGS_default_pids,
                                                     .memory_bytes = FLAGS_default_memory_bytes,
                                                     .cpu_shares = FLAGS_default_cpu_shares,
                                                     .oom_score_adj = FLAGS_sandbox_oom_score_adj,
                                                     .nofile = FLAGS_sandbox_nofile};
  if (absl::Status s = fsb::agent::ValidateSandboxDefaults(sandbox_defaults); !s.ok()) {
    LOG(ERROR) << "sandbox defaults (--default-*, --sandbox-*): " << s.message();
    return 2;
  }
  if (FLAGS_agent_oom_score_adj < -1000 || FLAGS_agent_oom_score_adj > 1000) {
    LOG(ERROR) << "--agent-oom-score-adj " << FLAGS_agent_oom_score_adj
               << " is outside -1000..1000";
    return 2;
  }
  // A sandbox that exhausts the node's memory must not take the agent with it.
  if (absl::Status s = fsb::agent::WriteKernelFile("/proc/self/oom_score_adj",
                                                   absl::StrCat(FLAGS_agent_oom_score_adj));
      !s.ok()) {
    LOG(WARNING) << "the agent keeps its OOM score adjustment: " << s.message();
  }

  const bool isolated = FLAGS_sandbox_network == "isolated";
  if (!isolated && FLAGS_sandbox_network != "host") {
    LOG(ERROR) << "--sandbox-network \"" << FLAGS_sandbox_network << "\": must be isolated or host";
    return 2;
  }
  const fsb::agent::NodeNetwork::Options network_options{.state_dir = FLAGS_state_dir,
                                                         .bridge = FLAGS_sandbox_bridge,
                                                         .subnet = FLAGS_sandbox_cidr,
                                                         .plugin_dir = FLAGS_cni_plugin_dir,
                                                         .free_slots = FLAGS_network_slots};
  if (absl::Status s = fsb::agent::NodeNetwork::Validate(network_options); !s.ok()) {
    LOG(ERROR) << s.message();
    return 2;
  }
  if (FLAGS_network_slots < 0) {
    LOG(ERROR) << "--network-slots " << FLAGS_network_slots << " is negative";
    return 2;
  }
  const fsb::TlsFiles tls{.cert = FLAGS_tls_cert, .key = FLAGS_tls_key, .ca = FLAGS_tls_ca};
  if (!FLAGS_remove_sandbox_network) {
    if (FLAGS_insecure) {
      LOG(WARNING) << "INSECURE (--insecure): the agent's API takes plaintext calls from "
                      "anyone who reaches it, and the agent registers without a certificate";
    } else if (absl::Status s = fsb::CheckTlsFiles(tls, "--tls-"); !s.ok()) {
      LOG(ERROR) << s.message() << "; mutual TLS with the controller is on unless --insecure";
      return 2;
    }
  }
  fsb::metrics::Registry registry;
  fsb::agent::AgentMetrics metrics(&registry);
  fsb::agent::NodeNetwork node_network(network_options, fsb::Clock::Real(), &metrics);
  if (FLAGS_remove_sandbox_network) {
    absl::Status removed = node_network.Remove();
    if (!removed.ok()) LOG(ERROR) << "removing the sandbox network: " << removed;
    return removed.ok() ? 0 : 1;
  }
  if (isolated) {
    if (absl::Status s = node_network.SetUp(); !s.ok()) {
      LOG(ERROR) << "cannot set up the sandbox network (--sandbox-network=isolated): " << s;
      return 1;
    }
    LOG(INFO) << "sandbox network: isolated, bridge " << FLAGS_sandbox_bridge << ", range "
              << FLAGS_sandbox_cidr;
  } else {
    LOG(WARNING) << "INSECURE: --sandbox-network=host: sandboxes share the node's network "
                    "namespace; code in a sandbox reaches this agent's API, the controller "
                    "and everything the node reaches";
  }
  fsb::agent::NetworkSlots* const network_slots = isolated ? node_network.slots() : nullptr;

  const std::string node = FLAGS_node_name.empty() ? HostName() : FLAGS_node_name;
  const std::string log_dir = FLAGS_state_dir + "/logs";
  std::error_code ec;
  std::filesystem::create_directories(log_dir, ec);
  if (ec) {
    LOG(ERROR) << "cannot create " << log_dir << ": " << ec.message();
    return 1;
  }
  const std::filesystem::path self_dir =
      std::filesystem::read_symlink("/proc/self/exe", ec).parent_path();
  if (ec) {
    LOG(ERROR) << "cannot read /proc/self/exe: " << ec.message();
    return 1;
  }
  absl::StatusOr<std::string> logger = fsb::agent::InstallBinary(
      FLAGS_logger_binary.empty() ? (self_dir / "fsb-logger").string() : FLAGS_logger_binary,
      FLAGS_state_dir + "/bin");
  if (!logger.ok()) {
    LOG(ERROR) << logger.status();
    return 1;
  }
  absl::StatusOr<std::string> init_binary = fsb::agent::InstallBinary(
      FLAGS_init_binary.empty() ? (self_dir / "fsb-init").string() : FLAGS_init_binary,
      FLAGS_state_dir + "/bin");
  if (!init_binary.ok()) {
    LOG(ERROR) << init_binary.status();
    return 1;
  }

  fsb::agent::Containerd containerd(
      {.socket = FLAGS_containerd_socket,
       .ns = FLAGS_containerd_namespace,
       .snapshotter = FLAGS_snapshotter,
       .observe_rpc = [&metrics](std::string_view rpc, absl::Duration took) {
         metrics.RecordContainerdRpc(rpc, took);
       }});
  if (auto v = containerd.Version(); v.ok()) {
    LOG(INFO) << "containerd " << *v << " at " << FLAGS_containerd_socket;
  } else {
    LOG(WARNING) << "containerd at " << FLAGS_containerd_socket
                 << " not reachable yet: " << v.status();
  }
  fsb::agent::RegistryCredentials credentials;
  if (!FLAGS_registry_config.empty()) {
    absl::StatusOr<fsb::agent::RegistryCredentials> loaded =
        fsb::agent::RegistryCredentials::Load(FLAGS_registry_config);
    if (!loaded.ok()) {
      LOG(ERROR) << "--registry-config: " << loaded.status();
      return 2;
    }
    credentials = *std::move(loaded);
  }
  fsb::agent::ImageStore images(&containerd, {});
  fsb::agent::RegistryPuller puller(&images, std::move(credentials), *std::move(puller_options));
  fsb::agent::ImageImporter importer(&images);
  const std::string agent_id = FLAGS_agent_id.empty() ? node : FLAGS_agent_id;
  if (absl::Status s = fsb::ValidateDnsSubdomain("--agent-id", agent_id); !s.ok()) {
    LOG(ERROR) << s.message() << " (it defaults to --node-name, else the host name)";
    return 2;
  }
  const fsb::agent::TaskLoggerOptions task_logger{.binary = *logger,
                                                  .max_bytes = FLAGS_log_max_bytes};
  fsb::agent::ContainerdRuntime runtime(
      &containerd, {.runtime_name = FLAGS_runtime,
                    .owner = agent_id,
                    .stdio_uri =
                        [&task_logger](std::string_view log_path) {
                          return fsb::agent::LoggerStdioUri(task_logger, log_path);
                        },
                    .puller = &puller});
  absl::StatusOr<fsb::agent::CgroupLimits> cgroup_limits = fsb::agent::CgroupLimits::Detect();
  if (!cgroup_limits.ok()) {
    LOG(WARNING) << "warm creates with limits go cold: " << cgroup_limits.status();
  }
  fsb::agent::ShimGroups shim_groups(FLAGS_shim_group_size);
  fsb::agent::WarmPool warm(&runtime, &shim_groups, fsb::Clock::Real(), &metrics,
                            {.state_dir = FLAGS_state_dir + "/warm",
                             .init_binary = *init_binary,
                             .log_dir = log_dir,
                             .defaults = sandbox_defaults,
                             .default_targets = *warm_targets,
                             .refill_concurrency = FLAGS_warm_refill_concurrency,
                             .max_age = warm_max_age},
                            network_slots);
  fsb::agent::SandboxManager manager(
      &runtime, &shim_groups, fsb::Clock::Real(), &metrics,
      {.capacity = Capacity(),
       .log_dir = log_dir,
       .default_grace = absl::Milliseconds(FLAGS_delete_grace_ms),
       .janitor_grace = absl::Seconds(FLAGS_janitor_grace_s),
       .defaults = sandbox_defaults},
      {.pool = &warm, .limits = cgroup_limits.ok() ? &*cgroup_limits : nullptr}, network_slots);
  fsb::agent::AgentServiceImpl service(&manager);
  absl::StatusOr<std::unique_ptr<fsb::agent::LogWatcher>> log_watcher =
      fsb::agent::LogWatcher::Create();
  if (!log_watcher.ok()) {
    LOG(ERROR) << log_watcher.status();
    return 1;
  }
  fsb::agent::SandboxLogs logs(&manager, &containerd, log_watcher->get());
  fsb::agent::SandboxExec execs(&manager, &containerd,
                                {.fifo_dir = FLAGS_state_dir + "/exec",
                                 .max_duration = absl::Seconds(FLAGS_exec_max_duration_s)});
  fsb::agent::StreamLimiter io_streams(FLAGS_max_io_streams, &registry);
  fsb::agent::SandboxIOService io(&logs, &execs, &io_streams);
  fsb::agent::ImageServiceImpl image_service(&importer, &puller,
                                             [&warm](const std::vector<std::string>& images) {
                                               for (const std::string& image : images)
                                                 warm.ImageChanged(image);
                                             });

  const std::string listen = FLAGS_listen_address.empty()
                                 ? absl::StrCat("0.0.0.0:", FLAGS_agent_port)
                                 : FLAGS_listen_address;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(
      listen, FLAGS_insecure ? grpc::InsecureServerCredentials()
                             : fsb::TlsServerCredentials(tls, fsb::ClientCertificates::kRequire,
                                                         fsb::kControllerName));
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  const fsb::metrics::GrpcServerMetrics grpc_metrics(&registry);
  interceptors.push_back(grpc_metrics.NewFactory());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  builder.RegisterService(&service);
  builder.RegisterService(&io);
  builder.RegisterService(&image_service);
  // Logs and exec are callback services: without a poller of its own the server would
  // read requests only when gRPC's callback threads poll (see GrpcServerPoller).
  fsb::GrpcServerPoller poller(builder);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr) {
    LOG(ERROR) << "cannot listen on " << listen;
    return 1;
  }
  LOG(INFO) << "fsb-agent " << node << " serving on " << listen << ", capacity "
            << manager.capacity();

  fsb::agent::v1::AgentInfo info;
  info.set_agent_id(agent_id);
  info.set_node_name(node);
  info.set_address(absl::StrCat(FLAGS_advertise_address, ":", FLAGS_agent_port));
  info.set_pool(FLAGS_pool);
  info.set_capacity(manager.capacity());
  fsb::agent::RegistrationLoop registration(
      FLAGS_insecure
          ? grpc::CreateCustomChannel(FLAGS_controller, grpc::InsecureChannelCredentials(),
                                      fsb::agent::ControllerChannelArguments())
          : grpc::CreateCustomChannel(FLAGS_controller, fsb::TlsChannelCredentials(tls),
                                      fsb::agent::ControllerChannelArguments(
                                          fsb::TlsChannelArguments(fsb::kControllerName))),
      &manager, &runtime,
      {.agent = info, .interval = absl::Milliseconds(FLAGS_heartbeat_interval_ms), .warm = &warm});
  // Exits reach the controller at once, not on the next heartbeat.
  // Once a (new) event stream is live, the next push re-reads every task's state from
  // containerd, so exits while no stream was live (containerd restarting) are not lost.
  fsb::agent::ExitWatcher exits(
      &containerd,
      [&](const std::string& id, uint32_t status) {
        if (!manager.OnExit(id, status)) return;
        LOG(INFO) << "sandbox " << id << " exited with status " << status;
        registration.PushNow();
      },
      [&registration] { registration.PushNow(); });
  fsb::agent::Janitor janitor(
      &manager, &metrics, absl::Seconds(FLAGS_janitor_interval_s),
      {{.kind = "exec", .sweep = [&execs] { return execs.CollectOrphans(); }},
       {.kind = "snapshot_view", .sweep = [&runtime] { return runtime.RemoveLeftoverViews(); }}});
  absl::StatusOr<fsb::admin::Endpoints> admin = fsb::admin::StartEndpoints(
      FLAGS_metrics_bind_address, FLAGS_pprof_bind_address, &registry,
      [&registration] { return registration.Ready(); }, InsecureWarning(isolated));
  if (!admin.ok()) {
    LOG(ERROR) << admin.status();
    return 1;
  }
  exits.Start();
  registration.Start();
  janitor.Start();

  // Wait for SIGTERM/SIGINT, then stop taking requests. Sandboxes keep running.
  const int sig = daemon.WaitForShutdown();
  LOG(INFO) << "signal " << sig << ": shutting down";
  admin->Stop();
  janitor.Stop();
  registration.Stop();
  exits.Stop();
  warm.Stop();
  node_network.slots()->Stop();
  server->Shutdown(fsb::Deadline::In(absl::Seconds(5)).ToChrono());
  return 0;
}
