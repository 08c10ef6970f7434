#ifndef FSB_TESTS_TESTING_LOCAL_STACK_H_
#define FSB_TESTS_TESTING_LOCAL_STACK_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/containerd/client.h"
#include "fastpath/v1/fastpath.grpc.pb.h"
#include "tests/testing/stack.h"

namespace fsb::testing {

// A whole fsb on one machine, as real processes: a private containerd (with the test
// image), fsb-controller on a free loopback port with its store in the stack's folder,
// and `agents` fsb-agents, agent i in its own containerd namespace ("fsb", "fsb-2", ...)
// so that each sees only its own containers. Processes can be killed and restarted on
// the same state, to test crashes. Each agent isolates its sandboxes on a bridge and
// range of its own, which the destructor removes (fsb-agent --remove-sandbox-network). Logs:
// <dir>/controller.log, <dir>/<agent id>.log. Agent arguments default to agent 0.
//
// Secure as a deployment is: the controller serves clients over TLS and takes only the
// bearer tokens of <dir>/tokens.yaml, which holds an admin's (admin_token(), used by
// fastpath(), Create/Delete/List and Fsb) and those a test adds (WriteTokens). The
// stack sets FSB_CONFIG (to a file of its folder that does not exist, so that no
// user's config is read), FSB_CA and FSB_TOKEN in the test's environment for the CLIs
// it runs. Not thread-safe.
// A create of `sleep 600` in the test image, named `name` in the default namespace.
fastpath::v1::CreateRequest SleeperRequest(const std::string& name);

// The sum of the samples of metric `name` whose labels include each of `labels`
// (`key="value"` strings) on the /metrics page at `host_port`; 0 when none matches.
// UNAVAILABLE when the page cannot be fetched.
absl::StatusOr<double> ScrapeMetric(const std::string& host_port, const std::string& name,
                                    const std::vector<std::string>& labels = {});

class LocalStack {
 public:
  struct Options {
    std::vector<std::string> controller_flags;  // added to the defaults
    std::vector<std::string> agent_flags;
    int agent_capacity = 8;
    int agents = 1;
  };

  static constexpr char kAgentId[] = "it-agent";

  // A client token of the tokens file (the format of internal/auth/tokens.h).
  struct ClientToken {
    std::string subject;
    std::string token;
    std::string role;                     // admin, user, viewer
    std::vector<std::string> namespaces;  // user and viewer only; {"*"} for all
  };

  // Starts containerd, the controller and the agents, and waits until every agent is
  // registered and Ready.
  static absl::StatusOr<std::unique_ptr<LocalStack>> Start(Options options);
  ~LocalStack();

  absl::Status StartController();
  void KillController();  // SIGKILL
  void StopController();  // SIGTERM
  absl::Status StartAgent(int i = 0);
  void KillAgent(int i = 0);
  // SIGKILLs the private containerd daemon, as a crash does (shims and containers keep
  // running), and waits until it is gone; StartContainerd starts it again on the same
  // state and waits until it answers.
  absl::Status KillContainerd();
  absl::Status StartContainerd();
  // Waits until the controller lists agent `i` as Ready.
  absl::Status WaitForAgent(absl::Duration timeout, int i = 0);

  const std::string& dir() const { return containerd_->dir(); }
  const std::string& endpoint() const { return endpoint_; }
  // The controller's agent registration address (mutual TLS).
  const std::string& agent_endpoint() const { return agent_endpoint_; }
  // The stack's PKI (scripts/gen-certs.sh): ca.crt, controller.{crt,key},
  // agent-<id>.{crt,key} for each agent id.
  std::string pki_dir() const { return dir() + "/pki"; }
  // A channel to agent i's API as the controller dials it (the controller's certificate,
  // the agent's id pinned).
  std::shared_ptr<grpc::Channel> AgentChannel(int i = 0) const;
  // host:port of the controller's and agent i's /metrics (and /healthz, /readyz) and
  // /debug/pprof listeners.
  const std::string& controller_metrics() const { return controller_metrics_; }
  const std::string& controller_pprof() const { return controller_pprof_; }
  const std::string& agent_metrics(int i = 0) const { return agents_[i].metrics; }
  // The process id of agent i, or 0 when it is not running (killed, never started).
  pid_t agent_pid(int i = 0) const;
  // The controller's process id, or 0 when it is not running.
  pid_t controller_pid() const;
  std::string agent_id(int i = 0) const;
  std::string agent_namespace(int i = 0) const;
  std::string agent_state_dir(int i = 0) const { return dir() + "/" + agent_id(i); }
  // Agent i's sandbox bridge and range: the stack's own (fsbt<hex>, a /24 of
  // 10.200.0.0-10.249.255.0), removed with the stack.
  const std::string& agent_bridge(int i = 0) const { return agents_[i].bridge; }
  const std::string& agent_subnet(int i = 0) const { return agents_[i].subnet; }
  std::string controller_data_dir() const { return dir() + "/controller"; }
  // The admin's stub.
  fastpath::v1::FastPathService::Stub& fastpath() { return *fastpath_; }
  // The admin's bearer token, random per stack.
  const std::string& admin_token() const { return admin_token_; }
  // A TLS channel to the client API (verifying the controller against the stack's CA)
  // whose calls carry `token` as their bearer token (none when empty).
  std::shared_ptr<grpc::Channel> ClientChannel(const std::string& token) const;
  // Rewrites the tokens file with the admin's token and `tokens`; the controller reloads
  // it within a second or so (a test polls for the effect).
  absl::Status WriteTokens(const std::vector<ClientToken>& tokens) const;
  std::string tokens_file() const { return dir() + "/tokens.yaml"; }
  // containerd's API in agent i's namespace.
  fsb::agent::Containerd& containerd(int i = 0) { return *agents_[i].client; }
  // The private containerd daemon (to kill and restart it).
  const PrivateContainerd& containerd_daemon() const { return *containerd_; }

  // Runs the fsb CLI against the controller; returns its exit code.
  int Fsb(const std::vector<std::string>& args, std::string* out, std::string* err) const;

  // FastPath calls with a 60 s deadline.
  grpc::Status Create(const fastpath::v1::CreateRequest& req, fastpath::v1::CreateResponse* resp);
  grpc::Status Delete(const std::string& name);
  absl::StatusOr<fastpath::v1::ListResponse> List();

  // fsb-managed container ids in agent i's containerd namespace.
  absl::StatusOr<std::vector<std::string>> ManagedContainers(int i = 0);

  // Gives the test image another name in agent i's namespace (same manifest and
  // snapshot). An agent keeps no warm pool for that name, so its creates are cold even
  // where the test image's are warm.
  absl::Status TagTestImage(const std::string& name, int i = 0);

 private:
  struct Agent {
    int port = 0;
    std::string metrics;
    std::string pprof;
    std::string bridge;
    std::string subnet;
    std::unique_ptr<ChildProcess> process;
    std::unique_ptr<fsb::agent::Containerd> client;
  };

  LocalStack(Options options, std::unique_ptr<PrivateContainerd> containerd);

  const Options options_;
  std::unique_ptr<PrivateContainerd> containerd_;
  std::string endpoint_;
  std::string agent_endpoint_;
  std::string controller_metrics_;
  std::string controller_pprof_;
  std::string admin_token_;
  std::unique_ptr<ChildProcess> controller_;
  std::vector<Agent> agents_;
  std::unique_ptr<fastpath::v1::FastPathService::Stub> fastpath_;
};

}  // namespace fsb::testing

#endif  // FSB_TESTS_TESTING_LOCAL_STACK_H_
