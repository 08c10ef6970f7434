#include "agent/warm/warm_pool.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "agent/init/protocol.h"
#include "agent/init/seccomp_filter.h"
#include "agent/labels.h"
#include "glog/logging.h"
#include "internal/deadline.h"
#include "internal/ids.h"
#include "internal/stopwatch.h"
#include "internal/strings.h"

namespace fsb::agent {
namespace {

// How often Prepare retries connecting to a just-started init (it binds its socket a
// moment after the task starts).
constexpr absl::Duration kConnectRetry = absl::Milliseconds(1);

std::string ClaimPath(const std::string& state_dir, std::string_view id) {
  return absl::StrCat(state_dir, "/", Sv(id), ".claim");
}

void PutU32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

}  // namespace

WarmPool::WarmPool(Runtime* runtime, ShimGroups* shim_groups, const Clock* clock,
                   AgentMetrics* metrics, Options options, NetworkSlots* network)
    : runtime_(runtime),
      shim_groups_(shim_groups),
      clock_(clock),
      metrics_(metrics),
      options_([&] {
        if (!options.connect) options.connect = &InitConnection::Connect;
        return std::move(options);
      }()),
      network_(network),
      housekeeper_({.name = "fsb-warm-keeper", .first_delay = options_.maintenance_interval},
                   [this] { return Housekeep(); }) {
  absl::MutexLock lock(&mu_);
  ApplyTargets();
}

WarmPool::~WarmPool() { Stop(); }

void WarmPool::Start() {
  absl::MutexLock lock(&mu_);
  if (started_) return;
  started_ = true;
  for (int i = 0; i < std::max(1, options_.refill_concurrency); ++i) {
    threads_.emplace_back([this] { RunRefill(); });
  }
  next_maintenance_ = Deadline::In(options_.maintenance_interval);
  housekeeper_.Start();
}

void WarmPool::Stop() {
  std::vector<std::thread> threads;
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    threads.swap(threads_);
  }
  housekeeper_.Stop();  // first: no pass starts while the refill workers finish
  for (std::thread& t : threads) t.join();
}

std::string WarmPool::ControlDir(std::string_view id) const {
  return absl::StrCat(options_.state_dir, "/", Sv(id));
}

std::string WarmPool::SocketPath(std::string_view id) const {
  return absl::StrCat(ControlDir(id), "/", init::kSocketName);
}

void WarmPool::SetControllerTargets(std::optional<std::vector<WarmTarget>> targets) {
  absl::MutexLock lock(&mu_);
  controller_targets_ = std::move(targets);
  ApplyTargets();
  retargeted_ = true;  // the housekeeper trims what is no longer wanted
  housekeeper_.Wake();
}

void WarmPool::ApplyTargets() {
  const std::vector<WarmTarget>& targets =
      controller_targets_.has_value() ? *controller_targets_ : options_.default_targets;
  for (auto& [image, p] : images_) p.desired = 0;
  for (const WarmTarget& t : targets) images_[t.image].desired = std::max(0, t.count);
  for (auto& [image, p] : images_) UpdateGauges(image);
}

void WarmPool::UpdateGauges(const std::string& image) {
  const PerImage& p = images_[image];
  metrics_->WarmInstances(image, "ready").Set(static_cast<double>(p.ready.size()));
  metrics_->WarmInstances(image, "preparing").Set(p.preparing);
}

std::optional<WarmInstance> WarmPool::Claim(std::string_view image, std::string* miss_reason) {
  absl::MutexLock lock(&mu_);
  auto it = images_.find(std::string(image));
  if (it == images_.end() || (it->second.desired == 0 && it->second.ready.empty())) {
    *miss_reason = "no_pool";
    return std::nullopt;
  }
  PerImage& p = it->second;
  // Newest first: the oldest are the next to age out.
  while (!p.ready.empty()) {
    WarmInstance instance = std::move(p.ready.back());
    p.ready.pop_back();
    if (instance.init.Alive()) {
      claimed_.insert(instance.id);
      UpdateGauges(it->first);
      return instance;
    }
    LOG(WARNING) << "warm instance " << instance.id << " lost its init; removing it";
    DoomLocked(std::move(instance));
  }
  UpdateGauges(it->first);
  *miss_reason = "empty";
  return std::nullopt;
}

void WarmPool::Return(WarmInstance instance) {
  absl::MutexLock lock(&mu_);
  claimed_.erase(instance.id);
  const std::string image = instance.image;
  images_[image].ready.push_back(std::move(instance));
  UpdateGauges(image);
}

void WarmPool::Discard(WarmInstance instance) {
  absl::MutexLock lock(&mu_);
  claimed_.erase(instance.id);
  DoomLocked(std::move(instance));
}

void WarmPool::DoomLocked(WarmInstance instance) {
  doomed_ids_.insert(instance.id);
  doomed_.push_back({instance.id, instance.shim_group, instance.network.id});
  housekeeper_.Wake();
}

absl::Status WarmPool::WriteClaim(std::string_view id, const WarmClaim& claim) {
  std::string data;
  const std::string spec = claim.spec.SerializeAsString();
  PutU32(data, static_cast<uint32_t>(spec.size()));
  data += spec;
  data += claim.spec_json;
  const std::string path = ClaimPath(options_.state_dir, id);
  const std::string tmp = path + ".tmp";
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("cannot write ", tmp, ": ", strerror(errno)));
  }
  const ssize_t n = write(fd, data.data(), data.size());
  const int err = errno;
  close(fd);
  if (n != static_cast<ssize_t>(data.size()) || rename(tmp.c_str(), path.c_str()) != 0) {
    unlink(tmp.c_str());
    return absl::InternalError(absl::StrCat("cannot write ", path, ": ", strerror(err)));
  }
  return absl::OkStatus();
}

std::optional<WarmClaim> WarmPool::ReadClaim(std::string_view id) const {
  std::ifstream in(ClaimPath(options_.state_dir, id), std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string data = ss.str();
  if (data.size() < 4) return std::nullopt;
  uint32_t len = 0;
  for (int i = 0; i < 4; ++i)
    len |= static_cast<uint32_t>(static_cast<unsigned char>(data[i])) << (8 * i);
  if (data.size() - 4 < len) return std::nullopt;
  WarmClaim claim;
  if (!claim.spec.ParseFromArray(data.data() + 4, static_cast<int>(len))) return std::nullopt;
  claim.spec_json = data.substr(4 + len);
  return claim;
}

void WarmPool::RemoveClaim(std::string_view id) {
  const std::string path = ClaimPath(options_.state_dir, id);
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    LOG(WARNING) << "cannot remove " << path << ": " << strerror(errno);
  }
}

void WarmPool::Bind(std::string id, WarmClaim claim) {
  absl::MutexLock lock(&mu_);
  binds_.push_back({std::move(id), std::move(claim)});
  housekeeper_.Wake();
}

void WarmPool::Commit(WarmInstance instance, WarmClaim claim) {
  absl::MutexLock lock(&mu_);
  claimed_.erase(instance.id);
  binds_.push_back({std::move(instance.id), std::move(claim)});
  housekeeper_.Wake();
}

void WarmPool::Forget(std::string_view id) {
  RemoveClaim(id);
  std::error_code ec;
  std::filesystem::remove_all(ControlDir(id), ec);
  absl::MutexLock lock(&mu_);
  binds_.erase(std::remove_if(binds_.begin(), binds_.end(),
                              [&](const PendingBind& b) { return b.id == id; }),
               binds_.end());
}

void WarmPool::Adopt(const ContainerState& container, InitConnection init) {
  WarmInstance instance;
  instance.id = container.id;
  instance.image =
      container.labels.count(kWarmImageLabel) ? container.labels.at(kWarmImageLabel) : "";
  if (auto g = container.labels.find(kShimGroupLabel); g != container.labels.end()) {
    instance.shim_group = g->second;
  }
  shim_groups_->Adopt(instance.shim_group);
  instance.pid = container.pid;
  instance.created_at = container.created_at;
  instance.init = std::move(init);
  absl::StatusOr<ResolvedImage> resolved = runtime_->ResolveImage(instance.image);
  const bool fresh = clock_->Now() - instance.created_at < options_.max_age;
  auto chain = container.labels.find(kWarmChainLabel);
  const bool same_image =
      resolved.ok() && chain != container.labels.end() && chain->second == resolved->chain_id;
  auto defaults = container.labels.find(kWarmDefaultsLabel);
  const bool same_defaults = defaults != container.labels.end() &&
                             defaults->second == SandboxDefaultsKey(options_.defaults);
  bool same_network = network_ == nullptr;
  if (auto slot = container.labels.find(kNetworkSlotLabel); slot != container.labels.end()) {
    if (network_ != nullptr) {
      absl::StatusOr<NetworkSlot> assigned = network_->Get(slot->second);
      same_network = assigned.ok();
      if (assigned.ok()) instance.network = *std::move(assigned);
    } else {
      same_network = false;
      instance.network.id = slot->second;  // nothing to release: no pool manages it
    }
  }
  if (same_image) {
    instance.resolved = *resolved;
    if (NeedsUserDatabase(resolved->config.config().user())) {
      absl::StatusOr<std::string> passwd =
          runtime_->ReadImageFile(resolved->chain_id, "/etc/passwd");
      absl::StatusOr<std::string> group = runtime_->ReadImageFile(resolved->chain_id, "/etc/group");
      instance.users = std::make_shared<const UserDatabase>(
          ParseUserDatabase(passwd.value_or(""), group.value_or("")));
    }
  }
  absl::MutexLock lock(&mu_);
  if (!same_image || !same_defaults || !same_network || !fresh || instance.image.empty()) {
    LOG(INFO) << "warm instance " << instance.id << " of " << instance.image
              << " is not re-adopted ("
              << (!fresh           ? "too old"
                  : !same_defaults ? "made with other sandbox defaults"
                  : !same_network  ? "made with another sandbox network"
                                   : "its image changed or is gone")
              << "); removing it";
    DoomLocked(std::move(instance));
    return;
  }
  const std::string image = instance.image;
  images_[image].ready.push_back(std::move(instance));
  std::sort(
      images_[image].ready.begin(), images_[image].ready.end(),
      [](const WarmInstance& a, const WarmInstance& b) { return a.created_at < b.created_at; });
  UpdateGauges(image);
}

void WarmPool::ImageChanged(std::string_view image) {
  absl::MutexLock lock(&mu_);
  auto it = images_.find(std::string(image));
  if (it == images_.end()) return;
  for (WarmInstance& w : it->second.ready) DoomLocked(std::move(w));
  if (!it->second.ready.empty()) {
    LOG(INFO) << "image " << image << " was imported again: replacing its "
              << it->second.ready.size() << " warm instances";
  }
  it->second.ready.clear();
  UpdateGauges(it->first);
}

bool WarmPool::OnExit(std::string_view id) {
  absl::MutexLock lock(&mu_);
  if (doomed_ids_.contains(Sv(id)) || preparing_ids_.contains(Sv(id))) return true;
  for (auto& [image, p] : images_) {
    auto it = std::find_if(p.ready.begin(), p.ready.end(),
                           [&](const WarmInstance& w) { return w.id == id; });
    if (it == p.ready.end()) continue;
    LOG(WARNING) << "warm instance " << id << " of " << image << " exited; removing it";
    WarmInstance instance = std::move(*it);
    p.ready.erase(it);
    DoomLocked(std::move(instance));
    UpdateGauges(image);
    return true;
  }
  return false;
}

bool WarmPool::Owns(std::string_view id) const {
  absl::MutexLock lock(&mu_);
  if (doomed_ids_.contains(Sv(id)) || preparing_ids_.contains(Sv(id)) ||
      claimed_.contains(Sv(id))) {
    return true;
  }
  for (const auto& [image, p] : images_) {
    for (const WarmInstance& w : p.ready) {
      if (w.id == id) return true;
    }
  }
  return false;
}

std::vector<fsb::agent::v1::WarmCount> WarmPool::Counts() const {
  absl::MutexLock lock(&mu_);
  std::vector<fsb::agent::v1::WarmCount> out;
  for (const auto& [image, p] : images_) {
    if (p.desired == 0 && p.ready.empty() && p.preparing == 0) continue;
    fsb::agent::v1::WarmCount& c = out.emplace_back();
    c.set_image(image);
    c.set_ready(static_cast<int32_t>(p.ready.size()));
    c.set_preparing(p.preparing);
    c.set_desired(p.desired);
  }
  return out;
}

void WarmPool::ColdCreateStarted() {
  absl::MutexLock lock(&mu_);
  ++cold_in_flight_;
}

void WarmPool::ColdCreateDone() {
  absl::MutexLock lock(&mu_);
  --cold_in_flight_;
}

bool WarmPool::Refillable(const PerImage& p, absl::Time now) const {
  const int ready = static_cast<int>(p.ready.size());
  if (p.desired - ready - p.preparing <= 0 || p.retry_after > now || cold_in_flight_ > 0) {
    return false;
  }
  return claimed_.empty() || 2 * ready < p.desired;
}

std::string WarmPool::NextToPrepare(absl::Time now) {
  std::string best;
  int best_deficit = 0;
  for (const auto& [image, p] : images_) {
    const int deficit = p.desired - static_cast<int>(p.ready.size()) - p.preparing;
    if (deficit > best_deficit && Refillable(p, now)) {
      best = image;
      best_deficit = deficit;
    }
  }
  return best;
}

bool WarmPool::WorkAvailable() const {
  if (stop_) return true;
  const absl::Time now = clock_->Now();
  for (const auto& [image, p] : images_) {
    if (Refillable(p, now)) return true;
  }
  return false;
}

bool WarmPool::RefillOnce() {
  std::string image;
  {
    absl::MutexLock lock(&mu_);
    image = NextToPrepare(clock_->Now());
    if (image.empty()) return false;
    ++images_[image].preparing;
    UpdateGauges(image);
  }
  const Stopwatch took;
  absl::StatusOr<WarmInstance> made = Prepare(image);
  metrics_->RecordWarmRefill(made.status(), took.Elapsed());
  absl::MutexLock lock(&mu_);
  PerImage& p = images_[image];
  --p.preparing;
  if (!made.ok()) {
    p.backoff = p.backoff == absl::ZeroDuration() ? options_.backoff_initial
                                                  : std::min(p.backoff * 2, options_.backoff_max);
    p.retry_after = clock_->Now() + p.backoff;
    LOG(WARNING) << "cannot prepare a warm instance of " << image << " (retrying in " << p.backoff
                 << "): " << made.status();
  } else {
    p.backoff = absl::ZeroDuration();
    p.retry_after = absl::InfinitePast();
    VLOG(2) << "warm instance " << made->id << " of " << image << " ready in " << took.Elapsed();
    p.ready.push_back(*std::move(made));
    if (static_cast<int>(p.ready.size()) > p.desired) {
      retargeted_ = true;
      housekeeper_.Wake();
    }
  }
  UpdateGauges(image);
  return true;
}

absl::StatusOr<WarmInstance> WarmPool::Prepare(const std::string& image) {
  absl::StatusOr<ResolvedImage> resolved = runtime_->ResolveImage(image);
  if (!resolved.ok()) return resolved.status();
  WarmInstance instance;
  if (NeedsUserDatabase(resolved->config.config().user())) {
    absl::StatusOr<std::string> passwd = runtime_->ReadImageFile(resolved->chain_id, "/etc/passwd");
    absl::StatusOr<std::string> group = runtime_->ReadImageFile(resolved->chain_id, "/etc/group");
    if (!passwd.ok() && !absl::IsNotFound(passwd.status())) return passwd.status();
    if (!group.ok() && !absl::IsNotFound(group.status())) return group.status();
    instance.users = std::make_shared<const UserDatabase>(
        ParseUserDatabase(passwd.value_or(""), group.value_or("")));
  }
  instance.id = RandomHex(8);
  instance.image = image;
  instance.resolved = *std::move(resolved);
  const std::string dir = ControlDir(instance.id);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  {
    absl::MutexLock lock(&mu_);
    preparing_ids_[instance.id] = image;
  }
  auto forget = [&](absl::Status cause) {
    std::filesystem::remove_all(dir, ec);
    if (!instance.network.id.empty()) network_->Release(instance.network.id);
    absl::MutexLock lock(&mu_);
    preparing_ids_.erase(instance.id);
    return cause;
  };
  if (network_ != nullptr) {
    absl::StatusOr<NetworkSlot> slot = network_->Acquire();
    if (!slot.ok()) return forget(slot.status());
    instance.network = *std::move(slot);
  }

  ProcessSpec process;
  process.args = {init::kInitPath, init::kControlDir};
  process.cwd = "/";
  RuntimeSpecOptions spec_options;
  spec_options.cgroups_path = absl::StrCat(options_.cgroup_parent, "/", instance.id);
  ApplySandboxDefaults(options_.defaults, v1::ResourceLimits(), &spec_options);
  if (!instance.network.id.empty()) JoinSlot(instance.network, &spec_options);
  spec_options.extra_capabilities = {"CAP_SYS_ADMIN"};
  for (const auto& syscall : init::kInitOnlySyscalls) {
    spec_options.extra_syscalls.emplace_back(syscall.name);
  }
  spec_options.extra_mounts = {{options_.init_binary, init::kInitPath, /*readonly=*/true},
                               {dir, init::kControlDir, /*readonly=*/false}};
  instance.shim_group = shim_groups_->Join();
  if (!instance.shim_group.empty()) {
    spec_options.annotations[kShimGroupAnnotation] = instance.shim_group;
  }
  ContainerParams params;
  params.id = instance.id;
  params.image = instance.resolved.name;
  params.chain_id = instance.resolved.chain_id;
  params.spec_json = BuildRuntimeSpecJson(process, spec_options);
  params.labels = {{kWarmImageLabel, image},
                   {kWarmChainLabel, instance.resolved.chain_id},
                   {kWarmDefaultsLabel, SandboxDefaultsKey(options_.defaults)}};
  if (!instance.shim_group.empty()) params.labels[kShimGroupLabel] = instance.shim_group;
  if (!instance.network.id.empty()) params.labels[kNetworkSlotLabel] = instance.network.id;
  params.log_path = absl::StrCat(options_.log_dir, "/", instance.id, ".log");
  AgentTimings timings;
  absl::StatusOr<uint32_t> pid = runtime_->CreateAndStart(params, timings);
  shim_groups_->CreateDone(instance.shim_group);
  if (!pid.ok()) {
    shim_groups_->Leave(instance.shim_group);
    return forget(pid.status());
  }
  instance.pid = *pid;
  instance.created_at = clock_->Now();

  const Stopwatch waited;
  absl::StatusOr<InitConnection> conn = absl::UnavailableError("not tried");
  while (true) {
    conn = options_.connect(SocketPath(instance.id), options_.init_timeout);
    if (conn.ok() || !absl::IsUnavailable(conn.status()) ||
        waited.Elapsed() > options_.init_timeout) {
      break;
    }
    absl::SleepFor(kConnectRetry);
  }
  if (!conn.ok()) {
    Destroy({instance.id, instance.shim_group, instance.network.id});
    return forget(absl::Status(conn.status().code(),
                               absl::StrCat("fsb-init of instance ", instance.id,
                                            " did not answer: ", conn.status().message())));
  }
  instance.init = *std::move(conn);
  absl::MutexLock lock(&mu_);
  preparing_ids_.erase(instance.id);
  return instance;
}

void WarmPool::Destroy(const Doomed& instance) {
  const std::string& id = instance.id;
  if (absl::Status s = runtime_->Stop(id, absl::ZeroDuration()); !s.ok()) {
    LOG(WARNING) << "stopping warm instance " << id << ": " << s;
  }
  absl::Status removed = runtime_->Remove(id);
  if (!removed.ok() && !absl::IsNotFound(removed)) {
    LOG(WARNING) << "removing warm instance " << id << ": " << removed;
    return;  // the janitor finds it later, and then its slot
  }
  shim_groups_->Leave(instance.shim_group);
  if (!instance.network_slot.empty() && network_ != nullptr) {
    network_->Release(instance.network_slot);
  }
  std::error_code ec;
  std::filesystem::remove_all(ControlDir(id), ec);
  const std::string log = absl::StrCat(options_.log_dir, "/", id, ".log");
  unlink(log.c_str());
}

absl::StatusOr<InitConnection> WarmPool::Probe(std::string_view id, absl::Duration timeout) const {
  return options_.connect(SocketPath(id), timeout);
}

void WarmPool::Maintain() {
  std::vector<std::pair<std::string, ResolvedImage>> resolved;
  std::vector<std::string> images;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [image, p] : images_) {
      if (!p.ready.empty()) images.push_back(image);
    }
  }
  // Image changes (a re-import re-points the name): compare with what instances hold.
  for (const std::string& image : images) {
    absl::StatusOr<ResolvedImage> now = runtime_->ResolveImage(image);
    if (now.ok()) resolved.emplace_back(image, *std::move(now));
  }
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  for (auto& [image, p] : images_) {
    const ResolvedImage* current = nullptr;
    for (const auto& [name, r] : resolved) {
      if (name == image) current = &r;
    }
    std::deque<WarmInstance> keep;
    for (WarmInstance& w : p.ready) {
      const char* why = nullptr;
      if (now - w.created_at >= options_.max_age) {
        why = "it reached --warm-max-age";
      } else if (current != nullptr &&
                 (current->chain_id != w.resolved.chain_id ||
                  current->config.SerializeAsString() != w.resolved.config.SerializeAsString())) {
        why = "its image changed";
      } else if (!w.init.Alive()) {
        why = "its init went away";
      }
      if (why != nullptr) {
        LOG(INFO) << "recycling warm instance " << w.id << " of " << image << ": " << why;
        DoomLocked(std::move(w));
      } else {
        keep.push_back(std::move(w));
      }
    }
    p.ready.swap(keep);
  }
  TrimLocked();
}

void WarmPool::TrimLocked() {
  for (auto& [image, p] : images_) {
    // Beyond the desired count: the oldest go first.
    while (static_cast<int>(p.ready.size()) > p.desired) {
      DoomLocked(std::move(p.ready.front()));
      p.ready.pop_front();
    }
    UpdateGauges(image);
  }
}

void WarmPool::Reap() {
  std::vector<Doomed> doomed;
  std::vector<PendingBind> binds;
  {
    absl::MutexLock lock(&mu_);
    doomed.swap(doomed_);
    binds.swap(binds_);
  }
  for (const Doomed& d : doomed) {
    Destroy(d);
    absl::MutexLock lock(&mu_);
    doomed_ids_.erase(d.id);
  }
  std::vector<PendingBind> failed;
  for (PendingBind& b : binds) {
    std::map<std::string, std::string> labels = {
        {kSandboxIdLabel, b.claim.spec.sandbox_id()},
        {kSandboxNameLabel, b.claim.spec.name()},
        {kSandboxNamespaceLabel, b.claim.spec.namespace_()}};
    absl::Status s = runtime_->UpdateContainer(b.id, labels, b.claim.spec.SerializeAsString(),
                                               b.claim.spec_json);
    if (s.ok() || absl::IsNotFound(s)) {
      RemoveClaim(b.id);
    } else {
      LOG(WARNING) << "recording warm sandbox " << b.id << " in containerd (will retry): " << s;
      failed.push_back(std::move(b));
    }
  }
  if (!failed.empty()) {
    absl::MutexLock lock(&mu_);
    for (PendingBind& b : failed) binds_.push_back(std::move(b));
  }
}

void WarmPool::RunRefill() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      // Backoffs expire without any event: look again at least every 100 ms.
      mu_.AwaitWithTimeout(absl::Condition(this, &WarmPool::WorkAvailable),
                           absl::Milliseconds(100));
      if (stop_) return;
    }
    RefillOnce();
  }
}

absl::Duration WarmPool::Housekeep() {
  if (next_maintenance_.Expired()) {
    Maintain();
    next_maintenance_ = Deadline::In(options_.maintenance_interval);
  } else {
    // Trimming after a target change needs no containerd call.
    absl::MutexLock lock(&mu_);
    if (retargeted_) TrimLocked();
  }
  {
    absl::MutexLock lock(&mu_);
    retargeted_ = false;
  }
  Reap();
  return next_maintenance_.Left();
}

}  // namespace fsb::agent
