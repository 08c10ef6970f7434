#include "controller/sandbox/agent_report.h"

namespace fsb::controller {
namespace {

uint32_t NonNegative(int32_t n) { return n > 0 ? static_cast<uint32_t>(n) : 0; }

}  // namespace

ReportedSandbox ReportedSandboxOf(const fsb::agent::v1::SandboxStatus& state) {
  ReportedSandbox reported;
  reported.container_id = state.sandbox_id();
  reported.requested_id = state.requested_id();
  switch (state.phase()) {
    case fsb::agent::v1::SANDBOX_PHASE_RUNNING:
      reported.phase = ReportedSandbox::Phase::kRunning;
      break;
    case fsb::agent::v1::SANDBOX_PHASE_EXITED:
      reported.phase = ReportedSandbox::Phase::kExited;
      break;
    case fsb::agent::v1::SANDBOX_PHASE_UNKNOWN:
      reported.phase = ReportedSandbox::Phase::kUnknown;
      break;
    default:
      reported.phase = ReportedSandbox::Phase::kOther;
      break;
  }
  reported.exit_code = state.exit_code();
  reported.message = state.message();
  reported.ip = state.ip();
  return reported;
}

std::vector<ReportedSandbox> ReportedSandboxesOf(
    const google::protobuf::RepeatedPtrField<fsb::agent::v1::SandboxStatus>& states) {
  std::vector<ReportedSandbox> out;
  out.reserve(states.size());
  for (const fsb::agent::v1::SandboxStatus& state : states) out.push_back(ReportedSandboxOf(state));
  return out;
}

std::vector<NamedWarmImage> WarmCountsOf(
    const google::protobuf::RepeatedPtrField<fsb::agent::v1::WarmCount>& counts) {
  std::vector<NamedWarmImage> out;
  out.reserve(counts.size());
  for (const fsb::agent::v1::WarmCount& count : counts) {
    out.push_back({count.image(), NonNegative(count.ready()), NonNegative(count.preparing()),
                   NonNegative(count.desired())});
  }
  return out;
}

InternedWarm InternWarm(Scheduler& scheduler, std::span<const NamedWarmImage> counts) {
  InternedWarm warm;
  for (const NamedWarmImage& count : counts) {
    absl::StatusOr<ImageId> image = scheduler.InternImage(count.image);
    if (!image.ok()) continue;
    warm.push_back({*image, count.ready, count.preparing, count.desired});
  }
  return warm;
}

}  // namespace fsb::controller
