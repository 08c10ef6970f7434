#ifndef FSB_INTERNAL_MESSAGE_LIMITS_H_
#define FSB_INTERNAL_MESSAGE_LIMITS_H_

namespace fsb {

// The largest message between an agent and the controller: a registration or
// heartbeat (the node's images, every sandbox's state) and an agent's answers to the
// controller, e.g. its ListSandboxes. 16 MiB instead of gRPC's default 4 MiB receive
// limit: both sides set it (the controller's agent listener and agent channels, the
// agent's registration loop, which trims image names, then refuses to send, past it).
inline constexpr int kMaxAgentMessageBytes = 16 << 20;

}  // namespace fsb

#endif  // FSB_INTERNAL_MESSAGE_LIMITS_H_
