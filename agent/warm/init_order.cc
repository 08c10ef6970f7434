#include "agent/warm/init_order.h"

namespace fsb::agent {

init::Order InitOrderFor(const ProcessSpec& process, const RuntimeSpecOptions& options) {
  init::Order order;
  order.uid = process.uid;
  order.gid = process.gid;
  order.groups = process.additional_gids;
  order.hostname = options.hostname;
  order.cwd = process.cwd;
  order.argv = process.args;
  order.env = process.env;
  for (const ProcessRlimit& l : ProcessRlimits(options)) {
    order.rlimits.push_back({static_cast<uint32_t>(l.resource), l.soft, l.hard});
  }
  std::vector<std::string> capabilities = DefaultCapabilities();
  capabilities.insert(capabilities.end(), options.extra_capabilities.begin(),
                      options.extra_capabilities.end());
  const uint64_t mask = CapabilityMask(capabilities);
  // runc's sets for a spec listing bounding, effective and permitted (inheritable and
  // ambient absent).
  order.capabilities = {.bounding = mask, .effective = mask, .permitted = mask};
  order.readonly_rootfs = options.readonly_rootfs;
  order.no_new_privileges = true;
  return order;
}

}  // namespace fsb::agent
