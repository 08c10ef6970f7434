#ifndef FSB_AGENT_LABELS_H_
#define FSB_AGENT_LABELS_H_

namespace fsb::agent {

// Labels fsb puts on each container so the node's state can be read back from
// containerd alone (besides the runtime's fsb.io/managed and fsb.io/agent).
inline constexpr char kSandboxIdLabel[] = "fsb.io/sandbox-id";
inline constexpr char kSandboxNameLabel[] = "fsb.io/sandbox-name";
inline constexpr char kSandboxNamespaceLabel[] = "fsb.io/sandbox-namespace";
inline constexpr char kShimGroupLabel[] = "fsb.io/shim-group";
// A prepared (warm) instance of this image; it stays on the container once the instance
// is claimed (the sandbox's own labels and spec are added then).
inline constexpr char kWarmImageLabel[] = "fsb.io/warm-image";
// The chain id of the image's snapshot the instance was made from (a re-imported image
// has another: its instances are recycled).
inline constexpr char kWarmChainLabel[] = "fsb.io/warm-chain";
// The SandboxDefaultsKey of the defaults the instance was made with (an agent restarted
// with other defaults recycles it).
inline constexpr char kWarmDefaultsLabel[] = "fsb.io/warm-defaults";
// The network slot (agent/network/slots.h) whose namespace the container joins; the slot
// is torn down once no container names it.
inline constexpr char kNetworkSlotLabel[] = "fsb.io/network-slot";
// A read-only view of an image's snapshot the agent reads a file from (ReadImageFile),
// valued with the agent's id: views live only for one read, so a labelled view that no
// read uses was left by a crash mid-read, and the janitor removes it. Not
// fsb.io/managed, so a view is never mistaken for a sandbox's snapshot.
inline constexpr char kSnapshotViewLabel[] = "fsb.io/view-of-agent";
// The OCI annotation by which the runc v2 shim runs the tasks of one group in one shim.
inline constexpr char kShimGroupAnnotation[] = "io.containerd.runc.v2.group";

}  // namespace fsb::agent

#endif  // FSB_AGENT_LABELS_H_
