#ifndef FSB_AGENT_WARM_INIT_ORDER_H_
#define FSB_AGENT_WARM_INIT_ORDER_H_

#include "agent/init/protocol.h"
#include "agent/oci_spec.h"

namespace fsb::agent {

// The order that makes a prepared instance's init the process that
// BuildRuntimeSpecJson(process, options) describes for a cold create: the same argv,
// env, cwd, user and groups, hostname, rlimits, capability sets, no_new_privileges and
// read-only root. (Limits are the cgroup's, written separately.)
init::Order InitOrderFor(const ProcessSpec& process, const RuntimeSpecOptions& options);

}  // namespace fsb::agent

#endif  // FSB_AGENT_WARM_INIT_ORDER_H_
