#ifndef FSB_INTERNAL_REQUEST_LIMITS_H_
#define FSB_INTERNAL_REQUEST_LIMITS_H_

#include <cstddef>
#include <cstdint>

namespace fsb {

// The limits of what a client may ask for: every check of a client request (the
// controller's, which is the authority, and the CLI's, which fails before any RPC) uses
// these constants and no other copy of them. A value outside its limit is
// INVALID_ARGUMENT naming the field, the value and the limit. For the resource
// limits, 0 means "unset" (the agent's default) and is always accepted.

// ---- Counts and sizes of a sandbox's process ----

// Entries of command + args together.
inline constexpr int kMaxArgs = 1024;
// Bytes of command + args, each entry counted with its terminating NUL. Below Linux's
// MAX_ARG_STRLEN (32 pages), the largest single argv string execve takes.
inline constexpr size_t kMaxArgvBytes = 128 << 10;
// Environment variables.
inline constexpr int kMaxEnv = 256;
// Bytes of an environment variable's name.
inline constexpr size_t kMaxEnvNameBytes = 256;
// Bytes of the environment, each variable counted as "NAME=VALUE" and its NUL.
inline constexpr size_t kMaxEnvBytes = 128 << 10;
// Bytes of a path (working dir): Linux's PATH_MAX.
inline constexpr size_t kMaxPathBytes = 4096;
// Exposed ports, and published ports, per sandbox.
inline constexpr int kMaxPorts = 64;

// Bytes of an image reference (registry/repository:tag@digest).
inline constexpr size_t kMaxImageReferenceBytes = 512;

// ---- Metadata ----

// Labels per object.
inline constexpr int kMaxLabels = 64;
// Bytes of a label value, and of a label (or annotation) key's name part, as in
// Kubernetes.
inline constexpr size_t kMaxLabelValueBytes = 63;
// Bytes of a DNS subdomain (a label key's prefix), RFC 1123.
inline constexpr size_t kMaxDnsSubdomainBytes = 253;
// Bytes of a DNS label (names, namespaces, pools), RFC 1123.
inline constexpr size_t kMaxDnsLabelBytes = 63;
// Annotations per object.
inline constexpr int kMaxAnnotations = 64;
// Bytes of an object's annotations, keys and values together.
inline constexpr size_t kMaxAnnotationBytes = 64 << 10;
// Bytes of a create's request id (idempotency key).
inline constexpr size_t kMaxRequestIdBytes = 253;
// Bytes of a reset revision: an RFC 3339 timestamp with nanoseconds and an offset
// ("2026-12-04T18:51:03.123456789+01:00") is 35.
inline constexpr size_t kMaxResetRevisionBytes = 64;
// Label changes (labels set plus labels removed) in one update.
inline constexpr int kMaxLabelChanges = 2 * kMaxLabels;

// ---- Resources ----

// CPU: the CFS quota is millicores * 100 us per 100 ms period, and the kernel refuses a
// quota below 1 ms, so 10 millicores is the least. The most, 1,000,000 (1000 CPUs), is
// more than any node has and keeps the quota arithmetic far from overflowing.
inline constexpr int64_t kMinCpuMillicores = 10;
inline constexpr int64_t kMaxCpuMillicores = 1'000'000;
// Memory: Docker's minimum, 6 MiB; with less, runc's setup inside the sandbox's cgroup
// or the start of its process can be OOM-killed. The most is 16 TiB, past any node.
inline constexpr int64_t kMinMemoryBytes = int64_t{6} << 20;
inline constexpr int64_t kMaxMemoryBytes = int64_t{16} << 40;
// Processes (threads included): runc's init runs as up to three processes inside the
// sandbox's cgroup before the sandbox's own process starts; the most is Linux's
// PID_MAX_LIMIT on 64-bit machines.
inline constexpr int64_t kMinPids = 4;
inline constexpr int64_t kMaxPids = 4 << 20;

// ---- Times and durations ----

// Timestamps in Unix seconds must lie in RFC 3339's range of years, 0001-01-01T00:00:00Z
// to 9999-12-31T23:59:59Z (the last nanosecond of 9999 for timestamps with nanos).
inline constexpr int64_t kMinUnixSeconds = -62'135'596'800;
inline constexpr int64_t kMaxUnixSeconds = 253'402'300'799;
// How long a lost AutoRecreate sandbox waits before it is recreated: at most a day.
inline constexpr int kMaxRecoveryTimeoutSeconds = 86400;
// SIGTERM -> SIGKILL grace of a delete: at most 10 minutes, the longest deadline the
// controller gives an agent call; the sandbox stays Terminating (no other operation on
// it) for as long.
inline constexpr int kMaxDeleteGracePeriodSeconds = 600;

// ---- Logs and exec ----

// Lines a logs request may ask for from the end (tail); negative means every line.
inline constexpr int64_t kMaxLogsTailLines = 1'000'000;
// Rows and columns of an exec's terminal: a struct winsize holds unsigned shorts.
inline constexpr uint32_t kMaxTerminalSide = 65535;

// ---- SandboxPool ----

// maxSandboxesPerAgent (0: no limit).
inline constexpr int kMaxSandboxesPerAgentLimit = 100000;
// Warm images a pool lists, and instances kept per image and agent.
inline constexpr int kMaxWarmImages = 64;
inline constexpr int kMaxWarmCount = 1000;

// ---- Lists ----

// Items per page of a List* request (page_size, 1 to this; 0 asks for no paging).
inline constexpr int32_t kMaxListPageSize = 1000;

}  // namespace fsb

#endif  // FSB_INTERNAL_REQUEST_LIMITS_H_
