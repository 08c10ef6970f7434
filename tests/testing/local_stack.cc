#include "tests/testing/local_stack.h"

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "internal/auth/tokens.h"
#include "internal/ids.h"
#include "internal/status.h"
#include "internal/tls/tls.h"

namespace fsb::testing {

fastpath::v1::CreateRequest SleeperRequest(const std::string& name) {
  fastpath::v1::CreateRequest req;
  req.set_name(name);
  req.set_image(PrivateContainerd::kTestImage);
  req.add_command("sleep");
  req.add_command("600");
  return req;
}
absl::StatusOr<double> ScrapeMetric(const std::string& host_port, const std::string& name,
                                    const std::vector<std::string>& labels) {
  std::string page;
  if (RunCommand({"curl", "-sf", "--max-time", "10", "http://" + host_port + "/metrics"}, &page) !=
      0) {
    return absl::UnavailableError("cannot fetch http://" + host_port + "/metrics");
  }
  double sum = 0;
  for (absl::string_view line : absl::StrSplit(page, '\n')) {
    if (!absl::StartsWith(line, name)) continue;
    const absl::string_view rest = line.substr(name.size());
    if (rest.empty() || (rest[0] != '{' && rest[0] != ' ')) continue;  // another metric
    const absl::string_view series = rest.substr(0, rest.rfind(' '));
    if (!std::all_of(labels.begin(), labels.end(),
                     [&](const std::string& l) { return absl::StrContains(series, l); })) {
      continue;
    }
    double value = 0;
    if (absl::SimpleAtod(rest.substr(rest.rfind(' ') + 1), &value)) sum += value;
  }
  return sum;
}

namespace {

void SetDeadline(grpc::ClientContext& ctx, absl::Duration timeout = absl::Seconds(60)) {
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
}

}  // namespace

LocalStack::LocalStack(Options options, std::unique_ptr<PrivateContainerd> containerd)
    : options_(std::move(options)), containerd_(std::move(containerd)) {}

absl::StatusOr<std::unique_ptr<LocalStack>> LocalStack::Start(Options options) {
  absl::StatusOr<std::unique_ptr<PrivateContainerd>> containerd = PrivateContainerd::Start();
  if (!containerd.ok()) return containerd.status();
  auto stack =
      std::unique_ptr<LocalStack>(new LocalStack(std::move(options), *std::move(containerd)));
  stack->endpoint_ = absl::StrCat("127.0.0.1:", FreePort());
  stack->agent_endpoint_ = absl::StrCat("127.0.0.1:", FreePort());
  stack->controller_metrics_ = absl::StrCat("127.0.0.1:", FreePort());
  stack->controller_pprof_ = absl::StrCat("127.0.0.1:", FreePort());
  stack->admin_token_ = "fsb-admin-" + RandomHex(16);
  stack->agents_.resize(stack->options_.agents);
  for (int i = 0; i < stack->options_.agents; ++i) {
    Agent& agent = stack->agents_[i];
    agent.port = FreePort();
    agent.metrics = absl::StrCat("127.0.0.1:", FreePort());
    agent.pprof = absl::StrCat("127.0.0.1:", FreePort());
    const std::string tag = RandomHex(3);
    agent.bridge = "fsbt" + tag;
    const int second =
        200 + static_cast<int>(std::strtol(tag.substr(0, 2).c_str(), nullptr, 16)) % 50;
    const int third = static_cast<int>(std::strtol(tag.substr(2, 2).c_str(), nullptr, 16));
    agent.subnet = absl::StrCat("10.", second, ".", third, ".0/24");
    agent.client = std::make_unique<fsb::agent::Containerd>(fsb::agent::Containerd::Options{
        .socket = stack->containerd_->socket(), .ns = stack->agent_namespace(i)});
    if (i > 0) {
      if (absl::Status s = stack->containerd_->ImportTestImage(stack->agent_namespace(i));
          !s.ok()) {
        return s;
      }
    }
  }
  std::vector<std::string> gen_certs = {SourcePath("scripts/gen-certs.sh"), "--dir",
                                        stack->pki_dir()};
  for (int i = 0; i < stack->options_.agents; ++i) {
    gen_certs.insert(gen_certs.end(), {"--agent", stack->agent_id(i)});
  }
  std::string gen_out;
  if (RunCommand(gen_certs, &gen_out) != 0) {
    return absl::InternalError(absl::StrCat("scripts/gen-certs.sh failed: ", gen_out));
  }
  if (absl::Status s = stack->WriteTokens({}); !s.ok()) return s;
  stack->fastpath_ =
      fastpath::v1::FastPathService::NewStub(stack->ClientChannel(stack->admin_token_));
  // For the CLIs the test runs: the stack's CA and admin, and no user's config file.
  setenv("FSB_CONFIG", (stack->dir() + "/fsb-config.yaml").c_str(), 1);
  setenv("FSB_CA", (stack->pki_dir() + "/ca.crt").c_str(), 1);
  setenv("FSB_TOKEN", stack->admin_token_.c_str(), 1);
  if (absl::Status s = stack->StartController(); !s.ok()) return s;
  for (int i = 0; i < stack->options_.agents; ++i) {
    if (absl::Status s = stack->StartAgent(i); !s.ok()) return s;
  }
  for (int i = 0; i < stack->options_.agents; ++i) {
    if (absl::Status s = stack->WaitForAgent(absl::Seconds(30), i); !s.ok()) return s;
  }
  return stack;
}

LocalStack::~LocalStack() {
  for (int i = 0; i < static_cast<int>(agents_.size()); ++i) {
    agents_[i].process.reset();
    RunCommand({FSB_AGENT_BIN, "--remove-sandbox-network", "--state-dir=" + agent_state_dir(i),
                "--sandbox-bridge=" + agents_[i].bridge, "--sandbox-cidr=" + agents_[i].subnet,
                "--logtostderr"});
  }
  agents_.clear();
  controller_.reset();
  containerd_.reset();  // stops containerd and its shims, removes the folder
}

absl::Status LocalStack::StartController() {
  std::vector<std::string> argv = {FSB_CONTROLLER_BIN,
                                   "--fastpath-bind-address=" + endpoint_,
                                   "--agent-bind-address=" + agent_endpoint_,
                                   "--tls-cert=" + pki_dir() + "/controller.crt",
                                   "--tls-key=" + pki_dir() + "/controller.key",
                                   "--tls-ca=" + pki_dir() + "/ca.crt",
                                   "--tokens-file=" + tokens_file(),
                                   "--data-dir=" + controller_data_dir(),
                                   "--metrics-bind-address=" + controller_metrics_,
                                   "--pprof-bind-address=" + controller_pprof_,
                                   "--logtostderr"};
  argv.insert(argv.end(), options_.controller_flags.begin(), options_.controller_flags.end());
  absl::StatusOr<std::unique_ptr<ChildProcess>> child =
      ChildProcess::Start(argv, dir() + "/controller.log");
  if (!child.ok()) return child.status();
  controller_ = *std::move(child);
  return absl::OkStatus();
}

void LocalStack::KillController() {
  if (controller_ != nullptr) controller_->Kill();
  controller_.reset();
}

void LocalStack::StopController() { controller_.reset(); }

std::string LocalStack::agent_id(int i) const {
  return i == 0 ? kAgentId : absl::StrCat(kAgentId, "-", i + 1);
}

std::string LocalStack::agent_namespace(int i) const {
  return i == 0 ? "fsb" : absl::StrCat("fsb-", i + 1);
}

absl::Status LocalStack::StartAgent(int i) {
  std::vector<std::string> argv = {
      FSB_AGENT_BIN,
      absl::StrCat("--agent-port=", agents_[i].port),
      "--controller=" + agent_endpoint_,
      absl::StrCat("--tls-cert=", pki_dir(), "/agent-", agent_id(i), ".crt"),
      absl::StrCat("--tls-key=", pki_dir(), "/agent-", agent_id(i), ".key"),
      "--tls-ca=" + pki_dir() + "/ca.crt",
      "--containerd-socket=" + containerd_->socket(),
      "--containerd-namespace=" + agent_namespace(i),
      "--state-dir=" + agent_state_dir(i),
      "--agent-id=" + agent_id(i),
      "--node-name=it-node",
      absl::StrCat("--capacity=", options_.agent_capacity),
      "--heartbeat_interval_ms=200",
      "--delete_grace_ms=1000",
      "--metrics-bind-address=" + agents_[i].metrics,
      "--pprof-bind-address=" + agents_[i].pprof,
      "--sandbox-bridge=" + agents_[i].bridge,
      "--sandbox-cidr=" + agents_[i].subnet,
      "--logtostderr"};
  argv.insert(argv.end(), options_.agent_flags.begin(), options_.agent_flags.end());
  absl::StatusOr<std::unique_ptr<ChildProcess>> child =
      ChildProcess::Start(argv, absl::StrCat(dir(), "/", agent_id(i), ".log"));
  if (!child.ok()) return child.status();
  agents_[i].process = *std::move(child);
  return absl::OkStatus();
}

std::shared_ptr<grpc::Channel> LocalStack::AgentChannel(int i) const {
  const TlsFiles controller{.cert = pki_dir() + "/controller.crt",
                            .key = pki_dir() + "/controller.key",
                            .ca = pki_dir() + "/ca.crt"};
  return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", agents_[i].port),
                                   TlsChannelCredentials(controller),
                                   TlsChannelArguments(agent_id(i)));
}

std::shared_ptr<grpc::Channel> LocalStack::ClientChannel(const std::string& token) const {
  grpc::SslCredentialsOptions tls;
  std::ifstream ca(pki_dir() + "/ca.crt");
  tls.pem_root_certs.assign(std::istreambuf_iterator<char>(ca), {});
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::SslCredentials(tls);
  if (!token.empty()) {
    credentials =
        grpc::CompositeChannelCredentials(credentials, grpc::AccessTokenCredentials(token));
  }
  return grpc::CreateChannel(endpoint_, credentials);
}

absl::Status LocalStack::WriteTokens(const std::vector<ClientToken>& tokens) const {
  std::vector<ClientToken> all = {{.subject = "it-admin", .token = admin_token_, .role = "admin"}};
  all.insert(all.end(), tokens.begin(), tokens.end());
  std::string yaml = "tokens:\n";
  for (const ClientToken& t : all) {
    absl::StatusOr<auth::TokenHash> hash = auth::HashToken(t.token);
    if (!hash.ok()) return hash.status();
    absl::StrAppend(&yaml, "  - subject: ", t.subject, "\n    sha256: ",
                    absl::BytesToHexString(absl::string_view(
                        reinterpret_cast<const char*>(hash->data()), hash->size())),
                    "\n    role: ", t.role, "\n");
    if (!t.namespaces.empty()) {
      absl::StrAppend(&yaml, "    namespaces: [\"", absl::StrJoin(t.namespaces, "\", \""), "\"]\n");
    }
  }
  // Replaced by a rename, so that the controller never reads half a file.
  const std::string tmp = tokens_file() + ".tmp";
  {
    std::ofstream out(tmp);
    out << yaml;
    if (!out.good()) return absl::InternalError("cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), tokens_file().c_str()) != 0) {
    return absl::InternalError("cannot rename " + tmp + " to " + tokens_file());
  }
  return absl::OkStatus();
}

pid_t LocalStack::controller_pid() const { return controller_ != nullptr ? controller_->pid() : 0; }

absl::Status LocalStack::KillContainerd() {
  // scripts/containerd.sh's pid file.
  const std::string pid_file = dir() + "/containerd/containerd.pid";
  std::ifstream in(pid_file);
  pid_t pid = 0;
  if (!(in >> pid) || pid <= 0) return absl::FailedPreconditionError("no pid in " + pid_file);
  if (kill(pid, SIGKILL) != 0) {
    return absl::FailedPreconditionError(absl::StrCat("containerd (pid ", pid, ") is not running"));
  }
  // Gone, or a zombie nobody reaps yet (it was started detached, by a script).
  const bool dead = WaitFor(
      [&] {
        std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
        std::string pid_field, comm, state;
        return !(stat >> pid_field >> comm >> state) || state == "Z";
      },
      absl::Seconds(10));
  if (!dead)
    return absl::InternalError(absl::StrCat("containerd (pid ", pid, ") survived SIGKILL"));
  // So that the script does not take a zombie's pid for a running daemon.
  std::remove(pid_file.c_str());
  return absl::OkStatus();
}

absl::Status LocalStack::StartContainerd() { return containerd_->StartDaemon(); }

pid_t LocalStack::agent_pid(int i) const {
  return agents_[i].process != nullptr ? agents_[i].process->pid() : 0;
}

void LocalStack::KillAgent(int i) {
  if (agents_[i].process != nullptr) agents_[i].process->Kill();
  agents_[i].process.reset();
}

absl::Status LocalStack::WaitForAgent(absl::Duration timeout, int i) {
  const std::string id = agent_id(i);
  bool ready = WaitFor(
      [&] {
        fastpath::v1::ListAgentsRequest req;
        fastpath::v1::ListAgentsResponse resp;
        grpc::ClientContext ctx;
        SetDeadline(ctx, absl::Seconds(2));
        if (!fastpath_->ListAgents(&ctx, req, &resp).ok()) return false;
        for (const auto& agent : resp.items()) {
          if (agent.metadata().name() == id && agent.status().conditions_size() > 0 &&
              agent.status().conditions(0).status() == "True") {
            return true;
          }
        }
        return false;
      },
      timeout);
  if (ready) return absl::OkStatus();
  return absl::DeadlineExceededError(absl::StrCat("agent ", id, " not Ready within ",
                                                  absl::FormatDuration(timeout), "; see ", dir(),
                                                  "/", id, ".log and controller.log"));
}

int LocalStack::Fsb(const std::vector<std::string>& args, std::string* out,
                    std::string* err) const {
  std::vector<std::string> argv = {FSB_CLI_BIN, "--endpoint", endpoint_};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, out, err);
}

grpc::Status LocalStack::Create(const fastpath::v1::CreateRequest& req,
                                fastpath::v1::CreateResponse* resp) {
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  return fastpath_->CreateSandbox(&ctx, req, resp);
}

grpc::Status LocalStack::Delete(const std::string& name) {
  fastpath::v1::DeleteRequest req;
  req.set_sandbox_name(name);
  fastpath::v1::DeleteResponse resp;
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  return fastpath_->DeleteSandbox(&ctx, req, &resp);
}

absl::StatusOr<fastpath::v1::ListResponse> LocalStack::List() {
  fastpath::v1::ListRequest req;
  fastpath::v1::ListResponse resp;
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  if (grpc::Status s = fastpath_->ListSandboxes(&ctx, req, &resp); !s.ok()) {
    return FromGrpcStatus(s);
  }
  return resp;
}

absl::StatusOr<std::vector<std::string>> LocalStack::ManagedContainers(int i) {
  auto containers = agents_[i].client->ListContainers("labels.\"fsb.io/managed\"==true");
  if (!containers.ok()) return containers.status();
  std::vector<std::string> ids;
  for (const auto& c : *containers) ids.push_back(c.id());
  return ids;
}

absl::Status LocalStack::TagTestImage(const std::string& name, int i) {
  absl::StatusOr<containerd::services::images::v1::Image> image =
      agents_[i].client->GetImage(PrivateContainerd::kTestImage);
  if (!image.ok()) return image.status();
  image->set_name(name);
  image->clear_created_at();
  image->clear_updated_at();
  return agents_[i].client->CreateImage(*image);
}

}  // namespace fsb::testing
