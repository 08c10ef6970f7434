#ifndef FSB_AGENT_INIT_PROTOCOL_H_
#define FSB_AGENT_INIT_PROTOCOL_H_

// The wire protocol between fsb-agent and fsb-init, the process a prepared (warm)
// instance runs while it waits to become a sandbox.
//
// Transport: a unix stream socket that fsb-init listens on in its instance's control
// folder (a host folder bind-mounted into the container). Every message is a frame:
// a little-endian uint32 payload length (at most kMaxPayload), then the payload, whose
// first uint32 is its MessageKind.
//
//   init -> agent   kHello      on every accepted connection: magic, version
//   agent -> init   kOrder      the process to become (Order)
//   init -> agent   kExecuting  every step before execve succeeded; execve follows
//   init -> agent   kFailure    a step failed (FailureReason, errno, message); init exits
//
// After kExecuting the connection closes when execve succeeds (the socket is
// close-on-exec): EOF after kExecuting means the sandbox's process runs; a kFailure
// after it means execve itself failed. A connection that closes before an order
// arrives leaves init waiting for the next one (the agent restarted).
//
// Strings are a uint32 length, the bytes and a NUL (not counted), so init can use them
// in place. The decoder (init's side) never allocates: it fills an OrderView whose
// pointers point into the payload buffer.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fsb::init {

inline constexpr uint32_t kMagic = 0x49425346;  // "FSBI"
inline constexpr uint32_t kVersion = 1;
inline constexpr size_t kMaxPayload = 4u << 20;
inline constexpr size_t kMaxStrings = 16384;  // argv entries, and env entries
inline constexpr size_t kMaxGroups = 1024;
inline constexpr size_t kMaxRlimits = 16;

// Where an instance sees fsb-init and its control folder. Both live on the /dev tmpfs
// runc makes for every container, so once init has unmounted them and removed their
// mount points nothing of them is left in the sandbox (a read-only root filesystem
// included).
inline constexpr char kInitPath[] = "/dev/.fsb-init";
inline constexpr char kControlDir[] = "/dev/.fsb-control";
inline constexpr char kSocketName[] = "init.sock";

enum class MessageKind : uint32_t {
  kHello = 1,
  kOrder = 2,
  kExecuting = 3,
  kFailure = 4,
};

enum class FailureReason : uint32_t {
  kBadOrder = 1,    // the order could not be decoded
  kSetup = 2,       // hostname, mounts, rlimits or capabilities could not be applied
  kUser = 3,        // setgroups/setgid/setuid failed
  kCwd = 4,         // the working directory cannot be created or entered
  kExecutable = 5,  // argv[0] not found, not executable, or execve failed
};

struct Rlimit {
  uint32_t resource = 0;  // RLIMIT_*
  uint64_t soft = 0;
  uint64_t hard = 0;
};

// Capability sets as bit masks (bit n = capability n).
struct Capabilities {
  uint64_t bounding = 0;
  uint64_t effective = 0;
  uint64_t permitted = 0;
  uint64_t inheritable = 0;
  uint64_t ambient = 0;
};

// The process an instance becomes, in the order runc applies a process spec: hostname,
// read-only root, rlimits, bounding set, groups/gid/uid, working directory (created if
// missing, as runc does), capabilities, no_new_privs, the filter that denies init's own
// syscalls (seccomp_filter.h), then execve of argv[0] looked up in the env's PATH. HOME
// is added from the image's /etc/passwd when env lacks it.
struct Order {
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::vector<uint32_t> groups;  // supplementary; set exactly (empty clears them)
  std::string hostname;
  std::string cwd;
  std::vector<std::string> argv;
  std::vector<std::string> env;  // "KEY=VALUE"
  std::vector<Rlimit> rlimits;
  Capabilities capabilities;
  bool readonly_rootfs = false;
  bool no_new_privileges = true;
};

// The agent's side (allocates). Each returns a whole frame, length prefix included.
std::string EncodeOrder(const Order& order);
// Init's side, for its replies.
std::string EncodeHello();

// A decoded order; pointers point into the payload it was decoded from.
struct OrderView {
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t group_count = 0;
  uint32_t groups[kMaxGroups];
  const char* hostname = nullptr;
  uint32_t hostname_len = 0;
  const char* cwd = nullptr;
  uint32_t argc = 0;
  char* argv[kMaxStrings + 1];  // NULL-terminated
  uint32_t envc = 0;
  char* envp[kMaxStrings + 2];  // NULL-terminated; one spare slot for HOME
  uint32_t rlimit_count = 0;
  Rlimit rlimits[kMaxRlimits];
  Capabilities capabilities;
  bool readonly_rootfs = false;
  bool no_new_privileges = true;
};

// Decodes an order payload (its kind included) in place. Returns nullptr on success, or a
// static description of what is malformed. Never allocates.
const char* DecodeOrder(char* payload, size_t size, OrderView* out);

// Writes a kFailure or kExecuting payload's frame into `buf` (no allocation); returns its
// size, truncating `message` to fit.
size_t EncodeFailure(FailureReason reason, int err, std::string_view message, char* buf,
                     size_t capacity);
size_t EncodeExecuting(char* buf, size_t capacity);

// The agent's view of init's replies.
struct Failure {
  FailureReason reason = FailureReason::kBadOrder;
  int err = 0;
  std::string message;
};
// The kind of a payload; false if it is too short to have one.
bool PayloadKind(std::string_view payload, MessageKind* kind);
// false for a malformed hello or failure payload.
bool DecodeHello(std::string_view payload, uint32_t* version);
bool DecodeFailure(std::string_view payload, Failure* out);

}  // namespace fsb::init

#endif  // FSB_AGENT_INIT_PROTOCOL_H_
