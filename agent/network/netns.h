#ifndef FSB_AGENT_NETWORK_NETNS_H_
#define FSB_AGENT_NETWORK_NETNS_H_

#include <string>

#include "absl/status/status.h"

namespace fsb::agent {

// Named network namespaces: a new namespace kept alive by a bind mount of its nsfs
// file onto `path` (as `ip netns add` does), so that runc and the CNI plugins can join
// it by path. Each runs on a short-lived thread of its own (unshare and setns of a
// network namespace change only the calling thread), so the caller's namespace never
// changes. Thread-safe. Need CAP_SYS_ADMIN.

// Makes a namespace at `path` (a file is created; its folder must exist). INTERNAL
// naming the step and errno on failure, with nothing left behind.
absl::Status CreateNetns(const std::string& path);

// Unmounts and removes `path`. OK when it does not exist.
absl::Status RemoveNetns(const std::string& path);

// Whether `path` holds a namespace (is a mounted nsfs file).
bool IsNetns(const std::string& path);

// Deletes the IPv4 default route of the namespace at `path`: its sandbox can then reach
// only its own subnet (where the node's firewall admits nothing but the node's
// connections to it). OK when there is no default route.
absl::Status RemoveDefaultRoute(const std::string& path);

}  // namespace fsb::agent

#endif  // FSB_AGENT_NETWORK_NETNS_H_
