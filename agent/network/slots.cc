#include "agent/network/slots.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "agent/network/netns.h"
#include "glog/logging.h"
#include "internal/directory.h"
#include "internal/ids.h"
#include "internal/stopwatch.h"
#include "internal/strings.h"

namespace fsb::agent {
namespace {

constexpr char kAttachmentFile[] = "attachment.json";
constexpr char kPortsFile[] = "ports";

// The `ports` file: one FormatPublishedPort line per forwarded port.
std::string FormatPorts(const std::vector<PublishedPort>& ports) {
  std::string out;
  for (const PublishedPort& p : ports) absl::StrAppend(&out, FormatPublishedPort(p), "\n");
  return out;
}

std::vector<PublishedPort> ParsePorts(std::string_view text) {
  std::vector<PublishedPort> ports;
  for (absl::string_view line : absl::StrSplit(Sv(text), '\n', absl::SkipEmpty())) {
    if (absl::StatusOr<PublishedPort> p =
            ParsePublishedPort("ports", std::string_view(line.data(), line.size()));
        p.ok()) {
      ports.push_back(*std::move(p));
    }
  }
  return ports;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Writes `content` into `path` in place (same inode: a bind mount of the file sees it).
absl::Status WriteInPlace(const std::string& path, std::string_view content) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return absl::InternalError(absl::StrCat("cannot write ", path, ": ", strerror(errno)));
  const ssize_t n = write(fd, content.data(), content.size());
  const int err = errno;
  close(fd);
  if (n != static_cast<ssize_t>(content.size())) {
    return absl::InternalError(absl::StrCat("cannot write ", path, ": ", strerror(err)));
  }
  return absl::OkStatus();
}

// Moves the calling thread to SCHED_IDLE, once: the programs it spawns (the plugins)
// inherit it, so that slots made ahead of creates take only CPU time that nothing else
// wants (creates, runc, the node's own work).
void RunAtIdlePriority() {
  thread_local bool done = false;
  if (done) return;
  done = true;
  sched_param param{};
  if (sched_setscheduler(0, SCHED_IDLE, &param) != 0) {
    LOG(WARNING) << "network slots are made at normal priority: sched_setscheduler: "
                 << strerror(errno);
  }
}

bool IsLoopbackNameserver(absl::string_view address) {
  return absl::StartsWith(address, "127.") || address == "::1";
}

}  // namespace

NetworkSlots::NetworkSlots(Options options, const CniNetwork* cni, Clock* clock,
                           AgentMetrics* metrics)
    : options_(std::move(options)),
      cni_(cni),
      clock_(clock),
      metrics_(metrics),
      loop_({.name = "fsb-netslots"}, [this] { return Step(); }) {}

NetworkSlots::~NetworkSlots() { Stop(); }

void NetworkSlots::Stop() { loop_.Stop(); }

std::string NetworkSlots::SandboxResolvConf(std::string_view node_resolv_conf) {
  std::string out;
  for (absl::string_view line : absl::StrSplit(Sv(node_resolv_conf), '\n')) {
    line = absl::StripAsciiWhitespace(line);
    std::vector<absl::string_view> f =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (f.size() < 2) continue;
    if (f[0] == "nameserver" && !IsLoopbackNameserver(f[1])) {
      absl::StrAppend(&out, "nameserver ", f[1], "\n");
    } else if (f[0] == "search" || f[0] == "options") {
      absl::StrAppend(&out, line, "\n");
    }
  }
  return out;
}

std::string NetworkSlots::SandboxHosts(std::string_view hostname, std::string_view ip) {
  return absl::StrCat("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n", Sv(ip),
                      "\t", Sv(hostname), "\n");
}

NetworkSlot NetworkSlots::SlotAt(const std::string& id) const {
  const std::string dir = absl::StrCat(options_.dir, "/", id);
  NetworkSlot slot;
  slot.id = id;
  slot.netns = dir + "/netns";
  slot.hosts = dir + "/hosts";
  slot.resolv_conf = dir + "/resolv.conf";
  return slot;
}

absl::StatusOr<NetworkSlot> NetworkSlots::Make() {
  NetworkSlot slot = SlotAt(absl::StrCat("fsbnet-", RandomHex(6)));
  const std::string dir = absl::StrCat(options_.dir, "/", slot.id);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  absl::Status made = CreateNetns(slot.netns);
  if (made.ok()) {
    absl::StatusOr<CniAttachment> attachment = cni_->Add(slot.id, slot.netns);
    if (attachment.ok()) {
      slot.attachment = *std::move(attachment);
    } else {
      made = attachment.status();
    }
  }
  if (made.ok()) {
    made = WriteInPlace(slot.resolv_conf, SandboxResolvConf(ReadFile(options_.node_resolv_conf)));
  }
  if (made.ok()) made = WriteInPlace(slot.hosts, SandboxHosts("localhost", slot.attachment.ip));
  // Written last: its presence says the slot is whole.
  if (made.ok()) made = WriteInPlace(dir + "/" + kAttachmentFile, slot.attachment.result_json);
  if (!made.ok()) {
    (void)TearDown(slot.id);
    return made;
  }
  return slot;
}

absl::Status NetworkSlots::TearDown(const std::string& id) {
  const NetworkSlot slot = SlotAt(id);
  const std::string dir = absl::StrCat(options_.dir, "/", id);
  const std::string result = ReadFile(dir + "/" + kAttachmentFile);
  const std::string netns = IsNetns(slot.netns) ? slot.netns : "";
  absl::Status first = absl::OkStatus();
  if (std::vector<PublishedPort> ports = ParsePorts(ReadFile(dir + "/" + kPortsFile));
      !ports.empty()) {
    first = cni_->Unpublish(id, netns, result, ports);
  }
  if (absl::Status s = cni_->Del(id, netns, result); first.ok()) first = s;
  if (!first.ok()) LOG(WARNING) << "network slot " << id << ": " << first;
  if (absl::Status s = RemoveNetns(slot.netns); !s.ok()) {
    LOG(WARNING) << "network slot " << id << ": " << s;
    if (first.ok()) first = s;
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (ec) {
    LOG(WARNING) << "network slot " << id << ": cannot remove " << dir << ": " << ec.message();
    if (first.ok()) first = absl::InternalError(absl::StrCat("cannot remove ", dir));
  }
  metrics_->RecordNetworkSlotTeardown(first);
  return first;
}

absl::Status NetworkSlots::Recover(const absl::flat_hash_set<std::string>& owned) {
  std::error_code ec;
  std::filesystem::create_directories(options_.dir, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("cannot create ", options_.dir, ": ", ec.message()));
  }
  absl::StatusOr<std::vector<std::string>> ids = ListDirectory(options_.dir);
  if (!ids.ok()) return ids.status();
  std::vector<std::string> stale;
  int kept = 0;
  for (const std::string& id : *ids) {
    NetworkSlot slot = SlotAt(id);
    absl::StatusOr<CniAttachment> attachment =
        ParseCniResult(ReadFile(absl::StrCat(options_.dir, "/", id, "/", kAttachmentFile)));
    if (!owned.contains(id) || !attachment.ok() || !IsNetns(slot.netns)) {
      stale.push_back(id);
      continue;
    }
    slot.attachment = *std::move(attachment);
    absl::MutexLock lock(&mu_);
    unchecked_.push_back(slot);
    assigned_[id] = {std::move(slot), clock_->Now()};
    ++kept;
  }
  for (const std::string& id : stale) (void)TearDown(id);
  LOG(INFO) << "network slots: " << kept << " owned by sandboxes kept, " << stale.size()
            << " others torn down";
  {
    absl::MutexLock lock(&mu_);
    UpdateGaugesLocked();
  }
  loop_.Start();
  return absl::OkStatus();
}

absl::StatusOr<NetworkSlot> NetworkSlots::Acquire(bool* made_inline) {
  if (made_inline != nullptr) *made_inline = false;
  {
    absl::MutexLock lock(&mu_);
    if (!free_.empty()) {
      NetworkSlot slot = std::move(free_.front());
      free_.pop_front();
      assigned_[slot.id] = {slot, clock_->Now()};
      UpdateGaugesLocked();
      loop_.Wake();
      return slot;
    }
  }
  if (made_inline != nullptr) *made_inline = true;
  const Stopwatch took;
  absl::StatusOr<NetworkSlot> slot = Make();
  // On a saturated node the idle loop may not have torn released slots down yet, and
  // their addresses can fill the range: this create tears them down at its own priority
  // and tries once more.
  if (!slot.ok() && TearDownReleased() > 0) slot = Make();
  metrics_->RecordNetworkSlotSetup(slot.status(), took.Elapsed(), /*on_demand=*/true);
  if (!slot.ok()) return slot.status();
  absl::MutexLock lock(&mu_);
  assigned_[slot->id] = {*slot, clock_->Now()};
  UpdateGaugesLocked();
  loop_.Wake();
  return slot;
}

absl::StatusOr<NetworkSlot> NetworkSlots::Get(std::string_view id) const {
  absl::MutexLock lock(&mu_);
  auto it = assigned_.find(Sv(id));
  if (it == assigned_.end()) {
    return absl::NotFoundError(absl::StrCat("network slot \"", Sv(id), "\" is not assigned"));
  }
  return it->second.slot;
}

absl::Status NetworkSlots::Configure(const NetworkSlot& slot, std::string_view hostname,
                                     fsb::agent::v1::SandboxNetwork network) const {
  if (absl::Status s = WriteInPlace(slot.hosts, SandboxHosts(hostname, slot.attachment.ip));
      !s.ok()) {
    return s;
  }
  if (network == fsb::agent::v1::SANDBOX_NETWORK_NO_EGRESS) return RemoveDefaultRoute(slot.netns);
  return absl::OkStatus();
}

absl::Status NetworkSlots::Publish(const NetworkSlot& slot,
                                   const std::vector<PublishedPort>& ports) const {
  if (ports.empty()) return absl::OkStatus();
  const std::string file = absl::StrCat(options_.dir, "/", slot.id, "/", kPortsFile);
  if (absl::Status s = WriteInPlace(file, FormatPorts(ports)); !s.ok()) return s;
  absl::Status published = cni_->Publish(slot.id, slot.netns, slot.attachment.result_json, ports);
  if (!published.ok()) unlink(file.c_str());  // Publish undid what it forwarded
  return published;
}

void NetworkSlots::Release(std::string_view id) {
  absl::MutexLock lock(&mu_);
  if (assigned_.erase(Sv(id)) == 0) return;
  doomed_.emplace_back(id);
  UpdateGaugesLocked();
  loop_.Wake();
}

int NetworkSlots::Sweep(const absl::flat_hash_set<std::string>& owned, absl::Duration grace) {
  const absl::Time cutoff = clock_->Now() - grace;
  absl::MutexLock lock(&mu_);
  int released = 0;
  for (auto it = assigned_.begin(); it != assigned_.end();) {
    if (it->second.since < cutoff && !owned.contains(it->first)) {
      LOG(INFO) << "network slot " << it->first << " is owned by no container: releasing it";
      doomed_.push_back(it->first);
      assigned_.erase(it++);
      ++released;
    } else {
      ++it;
    }
  }
  if (released > 0) {
    UpdateGaugesLocked();
    loop_.Wake();
  }
  return released;
}

int NetworkSlots::free_count() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(free_.size());
}

int NetworkSlots::TearDownReleased() {
  int torn_down = 0;
  while (true) {
    std::string id;
    {
      absl::MutexLock lock(&mu_);
      if (doomed_.empty()) return torn_down;
      id = std::move(doomed_.back());
      doomed_.pop_back();
    }
    (void)TearDown(id);
    ++torn_down;
  }
}

absl::Duration NetworkSlots::Step() {
  RunAtIdlePriority();
  // Teardowns first: they return addresses to the range.
  TearDownReleased();
  std::vector<NetworkSlot> unchecked;
  {
    absl::MutexLock lock(&mu_);
    unchecked.swap(unchecked_);
  }
  for (const NetworkSlot& slot : unchecked) {
    absl::Status checked = cni_->Check(slot.id, slot.netns, slot.attachment.result_json);
    if (!checked.ok()) {
      LOG(WARNING) << "network slot " << slot.id << " of a running sandbox (" << slot.attachment.ip
                   << ") is not as it was made: " << checked;
    }
    metrics_->RecordNetworkSlotCheck(checked);
  }
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (static_cast<int>(free_.size()) >= options_.free_target) break;
    }
    const Stopwatch took;
    absl::StatusOr<NetworkSlot> slot = Make();
    metrics_->RecordNetworkSlotSetup(slot.status(), took.Elapsed(), /*on_demand=*/false);
    absl::MutexLock lock(&mu_);
    if (!slot.ok()) {
      if (!failing_) LOG(WARNING) << "cannot make a network slot: " << slot.status();
      failing_ = true;
      return options_.retry_after_failure;
    }
    failing_ = false;
    free_.push_back(*std::move(slot));
    UpdateGaugesLocked();
    if (!doomed_.empty()) return absl::ZeroDuration();  // teardowns first
  }
  return absl::InfiniteDuration();
}

void NetworkSlots::UpdateGaugesLocked() {
  metrics_->NetworkSlots("free").Set(static_cast<double>(free_.size()));
  metrics_->NetworkSlots("assigned").Set(static_cast<double>(assigned_.size()));
}

}  // namespace fsb::agent
