#include "controller/sandbox/record_rules.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "internal/strings.h"

namespace fsb::controller {

using ::fsb::v1alpha1::Sandbox;
using ::fsb::v1alpha1::SandboxStatus;

namespace {

// An IP address as the host part of a host:port address: an IPv6 literal bracketed.
std::string HostOfIp(const std::string& ip) {
  return ip.find(':') == std::string::npos ? ip : absl::StrCat("[", ip, "]");
}

}  // namespace

std::string Qualified(std::string_view ns, std::string_view name) {
  return absl::StrCat(Sv(ns), "/", Sv(name));
}

std::string Qualified(const Sandbox& sandbox) {
  return Qualified(sandbox.metadata().namespace_(), sandbox.metadata().name());
}

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime(absl::RFC3339_sec, t, absl::UTCTimeZone());
}

std::string_view HostOf(std::string_view address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos) return address;
  if (address.front() == '[' && address[colon - 1] != ']') return address;  // bare "[::1]"
  return address.substr(0, colon);
}

void ClearPlacement(SandboxStatus* status) {
  status->clear_agent();
  status->clear_node();
  status->clear_ip();
  status->clear_endpoints();
}

void SetEndpoints(std::string_view agent_host, Sandbox* sandbox) {
  SandboxStatus* status = sandbox->mutable_status();
  const std::string& ip = status->ip();
  const std::string sandbox_host = ip.empty() ? std::string(agent_host) : HostOfIp(ip);
  status->clear_endpoints();
  for (int port : sandbox->spec().exposed_ports()) {
    status->add_endpoints(absl::StrCat(sandbox_host, ":", port));
  }
  for (const v1alpha1::PortPublish& p : sandbox->spec().publish()) {
    status->add_endpoints(absl::StrCat(Sv(agent_host), ":", p.host_port()));
  }
}

bool ApplyReportedIp(const ReportedSandbox& state, std::string_view agent_host, Sandbox* sandbox) {
  if (state.ip.empty() || state.ip == sandbox->status().ip()) return false;
  sandbox->mutable_status()->set_ip(state.ip);
  SetEndpoints(agent_host, sandbox);
  return true;
}

void ClearLoss(SandboxStatus* status) {
  status->clear_lost_at();
  status->clear_recovery_deadline();
}

void MarkLost(const v1alpha1::SandboxSpec& spec, absl::Time now, std::string message,
              SandboxStatus* status) {
  status->set_phase(SandboxStatus::Lost);
  SetTimestamp(now, status->mutable_lost_at());
  SetTimestamp(now + absl::Seconds(spec.recovery_timeout_seconds()),
               status->mutable_recovery_deadline());
  status->set_message(std::move(message));
}

bool ApplyAgentState(const ReportedSandbox& state, SandboxStatus* status) {
  switch (state.phase) {
    case ReportedSandbox::Phase::kRunning:
      if (status->phase() == SandboxStatus::Running) return false;
      if (status->phase() != SandboxStatus::Pending &&
          status->phase() != SandboxStatus::Scheduled && status->phase() != SandboxStatus::Lost) {
        return false;
      }
      status->set_phase(SandboxStatus::Running);
      ClearLoss(status);
      status->clear_message();
      return true;
    case ReportedSandbox::Phase::kExited: {
      const SandboxStatus::Phase phase =
          state.exit_code == 0 ? SandboxStatus::Succeeded : SandboxStatus::Failed;
      if (status->phase() == phase && status->exit_code() == state.exit_code) return false;
      status->set_phase(phase);
      status->set_exit_code(state.exit_code);
      ClearLoss(status);
      status->set_message(state.message);
      return true;
    }
    case ReportedSandbox::Phase::kOther:
    case ReportedSandbox::Phase::kUnknown:  // AgentReports turns a lasting one into Lost
      return false;
  }
  return false;
}

void ApplyCreated(const ReportedSandbox& state, std::string_view agent_host, Sandbox* sandbox) {
  SandboxStatus* status = sandbox->mutable_status();
  if (!state.container_id.empty()) status->set_container_id(state.container_id);
  status->set_ip(state.ip);
  SetEndpoints(agent_host, sandbox);
  status->set_phase(SandboxStatus::Running);
  ApplyAgentState(state, status);
}

bool StartConfirmed(const Sandbox& sandbox) {
  const SandboxStatus::Phase phase = sandbox.status().phase();
  return phase != SandboxStatus::Pending && phase != SandboxStatus::Scheduled;
}

bool Describes(const ReportedSandbox& state, const std::string& container_id) {
  return state.container_id == container_id ||
         (!state.requested_id.empty() && state.requested_id == container_id);
}

bool ResetRequested(const Sandbox& sandbox) {
  const std::string& wanted = sandbox.spec().reset_revision();
  if (wanted.empty()) return false;
  absl::StatusOr<absl::Time> w = ParseResetRevision(wanted);
  if (!w.ok()) return false;
  const std::string& accepted = sandbox.status().accepted_reset_revision();
  if (accepted.empty()) return true;
  absl::StatusOr<absl::Time> a = ParseResetRevision(accepted);
  return !a.ok() || *w > *a;
}

Ports::Ports(const Sandbox& sandbox) {
  for (const v1alpha1::PortPublish& p : sandbox.spec().publish()) {
    if (size_ == ports_.size()) break;
    ports_[size_++] = {static_cast<uint16_t>(p.host_port()), p.protocol() == kProtocolUdp
                                                                 ? HostPort::Protocol::kUdp
                                                                 : HostPort::Protocol::kTcp};
  }
}

}  // namespace fsb::controller
