#ifndef FSB_TESTS_TESTING_LOCAL_STACK_H_
#define FSB_TESTS_TESTING_LOCAL_STACK_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/containerd.h"
#include "fastpath/v1/fastpath.grpc.pb.h"
#include "tests/testing/stack.h"

namespace fsb::testing {

// A whole fsb on one machine, as real processes: a private containerd (with the test
// image), fsb-controller on a free loopback port with its store in the stack's folder,
// and one fsb-agent. Processes can be killed and restarted on the same state, to test
// crashes. Logs: <dir>/controller.log, <dir>/agent.log. Not thread-safe.
class LocalStack {
 public:
  struct Options {
    std::vector<std::string> controller_flags;  // added to the defaults
    std::vector<std::string> agent_flags;
    int agent_capacity = 8;
  };

  static constexpr char kAgentId[] = "it-agent";

  // Starts containerd, the controller and the agent, and waits until the agent is
  // registered and Ready.
  static absl::StatusOr<std::unique_ptr<LocalStack>> Start(Options options);
  ~LocalStack();

  absl::Status StartController();
  void KillController();  // SIGKILL
  void StopController();  // SIGTERM
  absl::Status StartAgent();
  void KillAgent();
  // Waits until the controller lists the agent as Ready.
  absl::Status WaitForAgent(absl::Duration timeout);

  const std::string& dir() const { return containerd_->dir(); }
  const std::string& endpoint() const { return endpoint_; }
  std::string agent_state_dir() const { return dir() + "/agent"; }
  std::string controller_data_dir() const { return dir() + "/controller"; }
  fastpath::v1::FastPathService::Stub& fastpath() { return *fastpath_; }
  fsb::agent::Containerd& containerd() { return *client_; }

  // Runs the fsb CLI against the controller; returns its exit code.
  int Fsb(const std::vector<std::string>& args, std::string* out, std::string* err) const;

  // FastPath calls with a 60 s deadline.
  grpc::Status Create(const fastpath::v1::CreateRequest& req, fastpath::v1::CreateResponse* resp);
  grpc::Status Delete(const std::string& name);
  absl::StatusOr<fastpath::v1::ListResponse> List();

  // fsb-managed container ids in containerd's fsb namespace.
  absl::StatusOr<std::vector<std::string>> ManagedContainers();

 private:
  LocalStack(Options options, std::unique_ptr<PrivateContainerd> containerd);

  const Options options_;
  std::unique_ptr<PrivateContainerd> containerd_;
  std::string endpoint_;
  int agent_port_ = 0;
  std::unique_ptr<ChildProcess> controller_;
  std::unique_ptr<ChildProcess> agent_;
  std::unique_ptr<fsb::agent::Containerd> client_;
  std::unique_ptr<fastpath::v1::FastPathService::Stub> fastpath_;
};

}  // namespace fsb::testing

#endif  // FSB_TESTS_TESTING_LOCAL_STACK_H_
