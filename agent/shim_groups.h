#ifndef FSB_AGENT_SHIM_GROUPS_H_
#define FSB_AGENT_SHIM_GROUPS_H_

#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

namespace fsb::agent {

// The runc v2 shim groups of this agent's containers (sandboxes and prepared instances):
// tasks whose OCI annotation io.containerd.runc.v2.group names the same group share one
// shim. A shim serializes its task creates, so each group has at most one create in
// flight and at most `group_size` members; a new group is opened rather than queueing
// behind a busy one. With group_size <= 1 nothing is grouped (every name is "").
// Thread-safe.
class ShimGroups {
 public:
  explicit ShimGroups(int group_size) : group_size_(group_size) {}

  // Joins the fullest group with room and no create in flight, or a new one, as a member
  // whose create is in flight; returns its name ("" without grouping).
  std::string Join();
  // The in-flight create of a member of `group` ended (whether it succeeded or not).
  void CreateDone(const std::string& group);
  // A member leaves `group` (its container is gone); the group is forgotten when empty.
  void Leave(const std::string& group);
  // Counts an existing container (re-adopted after a restart) as a member of `group`.
  void Adopt(const std::string& group);

 private:
  struct Group {
    int members = 0;
    int creating = 0;  // members whose create is in flight
  };
  const int group_size_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Group> groups_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fsb::agent

#endif  // FSB_AGENT_SHIM_GROUPS_H_
