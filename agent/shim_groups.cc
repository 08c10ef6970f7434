#include "agent/shim_groups.h"

#include "absl/strings/str_cat.h"
#include "internal/ids.h"

namespace fsb::agent {

std::string ShimGroups::Join() {
  if (group_size_ <= 1) return "";
  absl::MutexLock lock(&mu_);
  const std::string* best = nullptr;
  int best_members = -1;
  for (const auto& [name, g] : groups_) {
    if (g.creating == 0 && g.members < group_size_ && g.members > best_members) {
      best = &name;
      best_members = g.members;
    }
  }
  std::string name = best != nullptr ? *best : absl::StrCat("fsb-", RandomHex(6));
  Group& g = groups_[name];
  ++g.members;
  ++g.creating;
  return name;
}

void ShimGroups::CreateDone(const std::string& group) {
  if (group.empty()) return;
  absl::MutexLock lock(&mu_);
  if (auto it = groups_.find(group); it != groups_.end()) --it->second.creating;
}

void ShimGroups::Leave(const std::string& group) {
  if (group.empty()) return;
  absl::MutexLock lock(&mu_);
  auto it = groups_.find(group);
  if (it != groups_.end() && --it->second.members <= 0) groups_.erase(it);
}

void ShimGroups::Adopt(const std::string& group) {
  if (group.empty()) return;
  absl::MutexLock lock(&mu_);
  ++groups_[group].members;
}

}  // namespace fsb::agent
