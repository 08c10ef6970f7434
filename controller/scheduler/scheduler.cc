#include "controller/scheduler/scheduler.h"

#include <algorithm>
#include <bit>
#include <limits>
#include <utility>

#include "absl/base/attributes.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "internal/image_ref.h"
#include "internal/strings.h"

namespace fsb::controller {
namespace {

// Bounds the alias table: spellings of known images only, and at most this many.
constexpr size_t kMaxImageAliases = 1 << 16;
constexpr size_t kInitialPorts = 16;
constexpr size_t kInitialImages = 16;
constexpr size_t kInitialWarm = 8;

inline uint64_t Mix64(uint64_t x) {  // splitmix64 finalizer
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

inline bool TestBit(const std::vector<uint64_t>& bits, uint32_t i) {
  return (bits[i >> 6] >> (i & 63)) & 1;
}
// Sets bit i; returns true if it was clear.
inline bool SetBit(std::vector<uint64_t>& bits, uint32_t i) {
  uint64_t& w = bits[i >> 6];
  const uint64_t m = uint64_t{1} << (i & 63);
  const bool was_clear = (w & m) == 0;
  w |= m;
  return was_clear;
}
// Clears bit i; returns true if it was set.
inline bool ClearBit(std::vector<uint64_t>& bits, uint32_t i) {
  uint64_t& w = bits[i >> 6];
  const uint64_t m = uint64_t{1} << (i & 63);
  const bool was_set = (w & m) != 0;
  w &= ~m;
  return was_set;
}

// Maps a uniformly distributed x to [0, n), uniformly up to a bias below n / 2^64.
inline uint64_t ScaleToRange(uint64_t x, uint64_t n) {
  return static_cast<uint64_t>((static_cast<unsigned __int128>(x) * n) >> 64);
}

// The position of the r-th set bit (counting from 0) of the bitmap whose word w is
// word_at(w). The bitmap must have more than r bits set.
template <typename WordAt>
uint64_t NthSetBit(const WordAt& word_at, uint64_t r) {
  for (size_t w = 0;; ++w) {
    uint64_t bits = word_at(w);
    const uint64_t count = std::popcount(bits);
    if (r < count) {
      for (; r > 0; --r) bits &= bits - 1;  // clear the r lowest set bits
      return w * 64 + std::countr_zero(bits);
    }
    r -= count;
  }
}

absl::Status ValidatePorts(std::span<const HostPort> ports) {
  for (size_t a = 0; a < ports.size(); ++a) {
    if (ports[a].port == 0) {
      return absl::InvalidArgumentError("port 0 is not a valid port (1-65535)");
    }
    for (size_t b = 0; b < a; ++b) {
      if (ports[a] == ports[b]) {
        return absl::InvalidArgumentError(
            absl::StrCat("port ", HostPortName(ports[a]), " requested twice"));
      }
    }
  }
  return absl::OkStatus();
}

std::string PortList(std::span<const HostPort> ports) {
  return absl::StrJoin(ports, ", ",
                       [](std::string* out, HostPort p) { out->append(HostPortName(p)); });
}

// Element-wise equality of two short lists (an inline loop: cheaper than a call to memcmp).
template <typename T>
bool SameList(const std::vector<T>& a, const std::vector<T>& b) {
  if (a.size() != b.size()) return false;
  for (size_t k = 0; k < a.size(); ++k) {
    if (!(a[k] == b[k])) return false;
  }
  return true;
}

}  // namespace

std::string HostPortName(HostPort port) {
  return absl::StrCat(port.port, port.protocol == HostPort::Protocol::kUdp ? "/udp" : "/tcp");
}

uint64_t HashRequestId(std::string_view request_id) {
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a 64
  for (unsigned char c : request_id) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return Mix64(h);
}

struct Scheduler::Diagnosis {
  int members = 0;
  int stale = 0;
  int draining = 0;
  int full = 0;
  int runtime_down = 0;  // runtime down and no ready warm instance of the image
  int no_image = 0;
  int port_conflict = 0;
  // The first agent found holding a requested port, and that port.
  HostPort conflicting_port;
  std::string conflicting_agent;
  bool image_anywhere = false;
};

Scheduler::Scheduler(const Clock* clock, Options options) : clock_(clock), options_(options) {}

// ---------------------------------------------------------------------------- interning

PoolId Scheduler::InternPool(std::string_view pool) {
  FastMutexLock lock(&intern_mu_);
  if (auto it = pool_ids_.find(Sv(pool)); it != pool_ids_.end()) return it->second;
  const PoolId id = pool_names_.size();
  pool_ids_.emplace(std::string(pool), id);
  pool_names_.emplace_back(pool);
  return id;
}

PoolId Scheduler::LookupPool(std::string_view pool) const {
  FastMutexLock lock(&intern_mu_);
  auto it = pool_ids_.find(Sv(pool));
  return it == pool_ids_.end() ? kUnknownPool : it->second;
}

ImageId Scheduler::FindImageAlias(std::string_view ref) const {
  FastMutexLock lock(&intern_mu_);
  auto it = image_aliases_.find(Sv(ref));
  return it == image_aliases_.end() ? kUnknownImage : it->second;
}

absl::StatusOr<ImageId> Scheduler::InternImage(std::string_view ref) {
  if (ImageId id = FindImageAlias(ref); id != kUnknownImage) return id;
  absl::StatusOr<std::string> canonical = NormalizeImageReference(ref);
  if (!canonical.ok()) return canonical.status();
  FastMutexLock lock(&intern_mu_);
  auto [it, inserted] = image_aliases_.try_emplace(*canonical, image_names_.size());
  if (inserted) image_names_.push_back(*canonical);
  const ImageId id = it->second;
  if (image_aliases_.size() < kMaxImageAliases) image_aliases_.try_emplace(std::string(ref), id);
  return id;
}

ImageId Scheduler::LookupImage(std::string_view ref) {
  if (ImageId id = FindImageAlias(ref); id != kUnknownImage) return id;
  absl::StatusOr<std::string> canonical = NormalizeImageReference(ref);
  if (!canonical.ok()) return kUnknownImage;
  FastMutexLock lock(&intern_mu_);
  auto it = image_aliases_.find(Sv(*canonical));
  if (it == image_aliases_.end()) return kUnknownImage;
  const ImageId id = it->second;
  if (image_aliases_.size() < kMaxImageAliases) image_aliases_.try_emplace(std::string(ref), id);
  return id;
}

std::string Scheduler::PoolName(PoolId pool) const {
  FastMutexLock lock(&intern_mu_);
  return pool < pool_names_.size() ? pool_names_[pool] : std::string();
}

std::string Scheduler::ImageName(ImageId image) const {
  FastMutexLock lock(&intern_mu_);
  return image < image_names_.size() ? image_names_[image] : std::string();
}

// ------------------------------------------------------------------------ array upkeep

int64_t Scheduler::CutoffNs() const {
  return absl::ToUnixNanos(clock_->Now() - options_.heartbeat_timeout);
}

void Scheduler::GrowWords(size_t words) {
  words_ = words;
  for (Bitmap& b : pool_bits_) b.resize(words, 0);
  for (Bitmap& b : bucket_bits_) b.resize(words, 0);
  for (Bitmap& b : cached_bits_) b.resize(words, 0);
  for (Bitmap& b : warm_bits_) b.resize(words, 0);
  runtime_down_bits_.resize(words, 0);
}

uint32_t Scheduler::NewIndex() {
  if (!free_indices_.empty()) {
    const uint32_t i = free_indices_.back();
    free_indices_.pop_back();
    return i;
  }
  const uint32_t i = high_water_++;
  if (i >= generation_.size()) {
    const size_t n = std::max<size_t>(64, generation_.size() * 2);
    generation_.resize(n, kFirstGeneration);
    flags_.resize(n, 0);
    bucket_.resize(n, kNoBucket);
    heartbeat_ns_.resize(n, 0);
    pool_.resize(n, kUnknownPool);
    max_sandboxes_.resize(n, 0);
    reserved_.resize(n, 0);
    reported_.resize(n, 0);
    cold_.resize(n);
    published_.resize(n);
    GrowWords(n / 64);
  }
  return i;
}

void Scheduler::EnsurePool(PoolId pool) {
  if (pool < pool_bits_.size()) return;
  const size_t n = pool + 1;
  pool_bits_.resize(n, Bitmap(words_, 0));
  pool_members_.resize(n, 0);
  pool_bucket_count_.resize(n, std::array<uint32_t, kLoadBuckets>{});
  pool_bucket_mask_.resize(n, 0);
  pool_limit_.resize(n, 0);
}

void Scheduler::EnsureImage(ImageId image) {
  if (image < cached_bits_.size()) return;
  const size_t n = image + 1;
  cached_bits_.resize(n, Bitmap(words_, 0));
  warm_bits_.resize(n, Bitmap(words_, 0));
  cached_agents_.resize(n, 0);
  warm_agents_.resize(n, 0);
}

int32_t Scheduler::Capacity(uint32_t i) const {
  const PoolId p = pool_[i];
  const int32_t limit = p == kUnknownPool ? 0 : pool_limit_[p];
  return limit > 0 ? std::min(max_sandboxes_[i], limit) : max_sandboxes_[i];
}

void Scheduler::Rebucket(uint32_t i) {
  uint8_t nb = kNoBucket;
  if ((flags_[i] & (kLive | kDraining)) == kLive) {
    const int32_t used = std::max(reserved_[i], reported_[i]);
    const int32_t cap = Capacity(i);
    // used < cap, so the bucket is at most floor(64 * (cap - 1) / cap) <= 63. The
    // division is most of a Release: in 32 bits (used * 64 fits for any cap <= 2^25) it
    // takes about half the cycles of a 64-bit one on x86.
    if (used < cap) {
      nb = static_cast<uint8_t>(
          cap <= (1 << 25)
              ? static_cast<uint32_t>(used) * kLoadBuckets / static_cast<uint32_t>(cap)
              : static_cast<uint64_t>(used) * kLoadBuckets / static_cast<uint64_t>(cap));
    }
  }
  const uint8_t ob = bucket_[i];
  if (ob == nb) return;
  const PoolId p = pool_[i];
  if (ob != kNoBucket) {
    ClearBit(bucket_bits_[ob], i);
    if (--pool_bucket_count_[p][ob] == 0) pool_bucket_mask_[p] &= ~(uint64_t{1} << ob);
  }
  if (nb != kNoBucket) {
    SetBit(bucket_bits_[nb], i);
    if (pool_bucket_count_[p][nb]++ == 0) pool_bucket_mask_[p] |= uint64_t{1} << nb;
  }
  bucket_[i] = nb;
}

void Scheduler::SetPool(uint32_t i, PoolId pool) {
  const PoolId old = pool_[i];
  if (old == pool) return;
  // Take the agent out of the old pool's bucket counts first.
  const uint8_t saved_flags = flags_[i];
  flags_[i] = 0;
  Rebucket(i);
  if (old != kUnknownPool) {
    ClearBit(pool_bits_[old], i);
    --pool_members_[old];
  }
  EnsurePool(pool);
  pool_[i] = pool;
  SetBit(pool_bits_[pool], i);
  ++pool_members_[pool];
  flags_[i] = saved_flags;
  Rebucket(i);
}

void Scheduler::ApplyCached(uint32_t i, std::span<const ImageId> images) {
  Cold& c = cold_[i];
  for (ImageId m : c.images) {
    if (ClearBit(cached_bits_[m], i)) --cached_agents_[m];
  }
  c.images.clear();
  // Every bit of agent i is clear now, so SetBit fails only for a repeat within this
  // report: the list stays duplicate-free.
  for (ImageId m : images) {
    if (m == kUnknownImage) continue;
    EnsureImage(m);
    if (SetBit(cached_bits_[m], i)) {
      ++cached_agents_[m];
      c.images.push_back(m);
    }
  }
}

void Scheduler::ApplyWarm(uint32_t i, std::span<const WarmImage> warm) {
  Cold& c = cold_[i];
  for (const WarmImage& w : c.warm) {
    if (ClearBit(warm_bits_[w.image], i)) --warm_agents_[w.image];
  }
  c.warm.clear();
  // Repeated entries of one image add up (a report lists few images: linear search).
  for (const WarmImage& w : warm) {
    if (w.image == kUnknownImage || (w.ready | w.preparing | w.desired) == 0) continue;
    EnsureImage(w.image);
    auto same = std::find_if(c.warm.begin(), c.warm.end(),
                             [&](const WarmImage& e) { return e.image == w.image; });
    if (same == c.warm.end()) {
      c.warm.push_back(w);
    } else {
      same->ready += w.ready;
      same->preparing += w.preparing;
      same->desired += w.desired;
    }
  }
  for (const WarmImage& w : c.warm) {
    if (w.ready > 0 && SetBit(warm_bits_[w.image], i)) ++warm_agents_[w.image];
  }
}

void Scheduler::SetRuntimeDown(uint32_t i, bool down) {
  if (((flags_[i] & kRuntimeDown) != 0) == down) return;
  if (down) {
    flags_[i] |= kRuntimeDown;
    SetBit(runtime_down_bits_, i);
  } else {
    flags_[i] &= ~kRuntimeDown;
    ClearBit(runtime_down_bits_, i);
  }
}

size_t Scheduler::ByIdRank(std::string_view id) const {
  auto at = std::lower_bound(by_id_.begin(), by_id_.end(), id, [&](uint32_t a, std::string_view b) {
    return std::string_view(cold_[a].identity->id) < b;
  });
  return static_cast<size_t>(at - by_id_.begin());
}

void Scheduler::RemoveLocked(uint32_t i) {
  SetRuntimeDown(i, false);
  flags_[i] = 0;
  Rebucket(i);
  ApplyCached(i, {});
  ApplyWarm(i, {});
  ClearBit(pool_bits_[pool_[i]], i);
  --pool_members_[pool_[i]];
  pool_[i] = kUnknownPool;
  Cold& c = cold_[i];
  by_id_.erase(by_id_.begin() + ByIdRank(c.identity->id));
  index_by_id_.erase(Sv(c.identity->id));
  c.identity.reset();
  published_[i] = Published();
  c.ports.clear();
  ++generation_[i];
  reserved_[i] = 0;
  reported_[i] = 0;
  max_sandboxes_[i] = 0;
  free_indices_.push_back(i);
  --live_agents_;
}

// ------------------------------------------------------------------------------- pools

absl::Status Scheduler::SetPoolLimit(std::string_view pool, int max_sandboxes_per_agent) {
  if (pool.empty()) return absl::InvalidArgumentError("pool name is required");
  if (max_sandboxes_per_agent < 0) {
    return absl::InvalidArgumentError(absl::StrCat("pool ", Sv(pool), ": maxSandboxesPerAgent ",
                                                   max_sandboxes_per_agent, " is negative"));
  }
  const PoolId id = InternPool(pool);
  FastMutexLock lock(&mu_);
  EnsurePool(id);
  if (pool_limit_[id] == max_sandboxes_per_agent) return absl::OkStatus();
  pool_limit_[id] = max_sandboxes_per_agent;
  const Bitmap& members = pool_bits_[id];
  for (uint32_t i = 0; i < high_water_; ++i) {
    if (TestBit(members, i)) Rebucket(i);
  }
  return absl::OkStatus();
}

// --------------------------------------------------------------------- agent lifecycle

absl::StatusOr<AgentHandle> Scheduler::RegisterOrUpdate(const AgentDescriptor& agent) {
  if (agent.id.empty()) return absl::InvalidArgumentError("agent id is required");
  if (agent.pool.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("agent ", agent.id, ": pool is required"));
  }
  if (agent.max_sandboxes < 0 || agent.reported_sandboxes < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("agent ", agent.id, ": max_sandboxes and reported_sandboxes must be >= 0"));
  }
  // Interning before taking mu_ (intern_mu_ is a leaf lock). A re-registration names
  // known spellings: all are looked up under one acquisition of intern_mu_, and only those
  // not found are interned (one acquisition each). Inline buffers avoid allocating for a
  // typical agent.
  PoolId pool;
  absl::InlinedVector<ImageId, kInitialImages> images(agent.images.size());
  absl::InlinedVector<WarmImage, kInitialWarm> warm(agent.warm.size());
  {
    FastMutexLock lock(&intern_mu_);
    auto alias = [&](const std::string& ref) ABSL_EXCLUSIVE_LOCKS_REQUIRED(intern_mu_) {
      auto it = image_aliases_.find(Sv(ref));
      return it == image_aliases_.end() ? kUnknownImage : it->second;
    };
    auto known_pool = pool_ids_.find(Sv(agent.pool));
    pool = known_pool == pool_ids_.end() ? kUnknownPool : known_pool->second;
    for (size_t k = 0; k < images.size(); ++k) images[k] = alias(agent.images[k]);
    for (size_t k = 0; k < warm.size(); ++k) {
      const NamedWarmImage& w = agent.warm[k];
      warm[k] = {alias(w.image), w.ready, w.preparing, w.desired};
    }
  }
  if (pool == kUnknownPool) pool = InternPool(agent.pool);
  for (size_t k = 0; k < images.size(); ++k) {
    if (images[k] != kUnknownImage) continue;
    absl::StatusOr<ImageId> id = InternImage(agent.images[k]);
    if (!id.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("agent ", agent.id, ": image ", id.status().message()));
    }
    images[k] = *id;
  }
  for (size_t k = 0; k < warm.size(); ++k) {
    if (warm[k].image != kUnknownImage) continue;
    absl::StatusOr<ImageId> id = InternImage(agent.warm[k].image);
    if (!id.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("agent ", agent.id, ": warm image ", id.status().message()));
    }
    warm[k].image = *id;
  }
  const int64_t now_ns = absl::ToUnixNanos(clock_->Now());

  FastMutexLock lock(&mu_);
  uint32_t i;
  auto it = index_by_id_.find(Sv(agent.id));
  if (it == index_by_id_.end()) {
    i = NewIndex();
    flags_[i] = kLive;
    bucket_[i] = kNoBucket;
    pool_[i] = kUnknownPool;
    reserved_[i] = 0;
    Cold& c = cold_[i];
    c.images.reserve(std::max(kInitialImages, images.size()));
    c.warm.reserve(std::max(kInitialWarm, warm.size()));
    c.ports.reserve(kInitialPorts);
    index_by_id_.emplace(agent.id, i);
    by_id_.insert(by_id_.begin() + ByIdRank(agent.id), i);
    ++live_agents_;
  } else {
    i = it->second;
  }
  Cold& c = cold_[i];
  // Published identities are immutable: a changed one is replaced, an unchanged one kept.
  if (c.identity == nullptr || c.identity->address != agent.address ||
      c.identity->node != agent.node || c.identity->pool != agent.pool) {
    c.identity = std::make_shared<const AgentIdentity>(
        AgentIdentity{agent.id, agent.address, agent.node, agent.pool});
  }
  max_sandboxes_[i] = agent.max_sandboxes;
  reported_[i] = agent.reported_sandboxes;
  heartbeat_ns_[i] = now_ns;
  heartbeat_floor_ns_ = std::min(heartbeat_floor_ns_, now_ns);
  SetPool(i, pool);
  ApplyCached(i, images);
  ApplyWarm(i, warm);
  SetRuntimeDown(i, agent.runtime_down);
  Rebucket(i);
  return AgentHandle{i, generation_[i]};
}

absl::Status Scheduler::HeartbeatLocked(uint32_t i, const HeartbeatUpdate& update, int64_t now_ns) {
  if (update.reported_sandboxes < 0) {
    return absl::InvalidArgumentError("reported_sandboxes must be >= 0");
  }
  heartbeat_ns_[i] = now_ns;
  heartbeat_floor_ns_ = std::min(heartbeat_floor_ns_, now_ns);
  reported_[i] = update.reported_sandboxes;
  ApplyCached(i, update.images);
  ApplyWarm(i, update.warm);
  SetRuntimeDown(i, update.runtime_down);
  Rebucket(i);
  return absl::OkStatus();
}

absl::Status Scheduler::Heartbeat(AgentHandle agent, const HeartbeatUpdate& update) {
  const int64_t now_ns = absl::ToUnixNanos(clock_->Now());
  FastMutexLock lock(&mu_);
  if (!Valid(agent)) return absl::NotFoundError("agent is not registered; register again");
  return HeartbeatLocked(agent.index, update, now_ns);
}

absl::Status Scheduler::Heartbeat(std::string_view agent_id, const HeartbeatUpdate& update) {
  const int64_t now_ns = absl::ToUnixNanos(clock_->Now());
  FastMutexLock lock(&mu_);
  auto it = index_by_id_.find(Sv(agent_id));
  if (it == index_by_id_.end()) {
    return absl::NotFoundError(
        absl::StrCat("agent ", Sv(agent_id), " is not registered; register again"));
  }
  return HeartbeatLocked(it->second, update, now_ns);
}

absl::Status Scheduler::SetWarm(AgentHandle agent, std::span<const WarmImage> warm) {
  FastMutexLock lock(&mu_);
  if (!Valid(agent)) return absl::NotFoundError("agent is no longer registered");
  ApplyWarm(agent.index, warm);
  return absl::OkStatus();
}

absl::Status Scheduler::SetDraining(std::string_view agent_id, bool draining) {
  FastMutexLock lock(&mu_);
  auto it = index_by_id_.find(Sv(agent_id));
  if (it == index_by_id_.end()) {
    return absl::NotFoundError(absl::StrCat("agent ", Sv(agent_id), " is not registered"));
  }
  const uint32_t i = it->second;
  flags_[i] = draining ? (flags_[i] | kDraining) : (flags_[i] & ~kDraining);
  Rebucket(i);
  return absl::OkStatus();
}

absl::Status Scheduler::Remove(std::string_view agent_id) {
  FastMutexLock lock(&mu_);
  auto it = index_by_id_.find(Sv(agent_id));
  if (it == index_by_id_.end()) {
    return absl::NotFoundError(absl::StrCat("agent ", Sv(agent_id), " is not registered"));
  }
  RemoveLocked(it->second);
  return absl::OkStatus();
}

int Scheduler::CleanupStaleAgents(absl::Duration timeout) {
  const int64_t cutoff_ns = absl::ToUnixNanos(clock_->Now() - timeout);
  FastMutexLock lock(&mu_);
  // No live heartbeat is older than the floor, so the common sweep, which finds nothing,
  // costs one comparison.
  if (heartbeat_floor_ns_ >= cutoff_ns) return 0;
  int removed = 0;
  int64_t floor_ns = std::numeric_limits<int64_t>::max();
  for (uint32_t i = 0; i < high_water_; ++i) {
    if (!(flags_[i] & kLive)) continue;
    if (heartbeat_ns_[i] < cutoff_ns) {
      RemoveLocked(i);
      ++removed;
    } else {
      floor_ns = std::min(floor_ns, heartbeat_ns_[i]);
    }
  }
  heartbeat_floor_ns_ = floor_ns;
  return removed;
}

std::optional<AgentHandle> Scheduler::FindAgent(std::string_view agent_id) const {
  FastMutexLock lock(&mu_);
  auto it = index_by_id_.find(Sv(agent_id));
  if (it == index_by_id_.end()) return std::nullopt;
  return AgentHandle{it->second, generation_[it->second]};
}

PoolId Scheduler::PoolOf(std::string_view agent_id) const {
  FastMutexLock lock(&mu_);
  auto it = index_by_id_.find(Sv(agent_id));
  return it == index_by_id_.end() ? kUnknownPool : pool_[it->second];
}

AgentView Scheduler::ViewLocked(uint32_t i, ImageId image) const {
  AgentView v;
  v.handle = {i, generation_[i]};
  v.identity = cold_[i].identity;
  v.image_cached = image < cached_bits_.size() && TestBit(cached_bits_[image], i);
  v.image_warm = HasWarm(i, image);
  v.last_heartbeat = absl::FromUnixNanos(heartbeat_ns_[i]);
  return v;
}

std::optional<AgentView> Scheduler::ViewAgent(AgentHandle agent, ImageId image) const {
  FastMutexLock lock(&mu_);
  if (!Valid(agent)) return std::nullopt;
  return ViewLocked(agent.index, image);
}

std::optional<AgentView> Scheduler::ViewAgentByID(std::string_view agent_id, ImageId image) const {
  FastMutexLock lock(&mu_);
  auto it = index_by_id_.find(Sv(agent_id));
  if (it == index_by_id_.end()) return std::nullopt;
  return ViewLocked(it->second, image);
}

// The Published* functions have one caller, SnapshotLocked: inlined, a listing of every
// agent runs about 15 % faster.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline SharedList<std::string> Scheduler::PublishedImages(
    uint32_t i) const {
  const Cold& c = cold_[i];
  if (c.images.empty()) return {};
  Published& p = published_[i];
  if (p.images == nullptr || !SameList(p.images_from, c.images)) {
    auto names = std::make_shared<std::vector<std::string>>();
    names->reserve(c.images.size());
    {
      FastMutexLock lock(&intern_mu_);
      for (ImageId m : c.images) names->push_back(image_names_[m]);
    }
    std::sort(names->begin(), names->end());
    p.images_from = c.images;
    p.images = std::move(names);
  }
  return SharedList<std::string>(p.images);
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline SharedList<NamedWarmImage> Scheduler::PublishedWarm(
    uint32_t i) const {
  const Cold& c = cold_[i];
  if (c.warm.empty()) return {};
  Published& p = published_[i];
  if (p.warm == nullptr || !SameList(p.warm_from, c.warm)) {
    auto named = std::make_shared<std::vector<NamedWarmImage>>();
    named->reserve(c.warm.size());
    {
      FastMutexLock lock(&intern_mu_);
      for (const WarmImage& w : c.warm) {
        named->push_back({image_names_[w.image], w.ready, w.preparing, w.desired});
      }
    }
    std::sort(named->begin(), named->end(),
              [](const NamedWarmImage& a, const NamedWarmImage& b) { return a.image < b.image; });
    p.warm_from = c.warm;
    p.warm = std::move(named);
  }
  return SharedList<NamedWarmImage>(p.warm);
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline SharedList<HostPort> Scheduler::PublishedPorts(
    uint32_t i) const {
  const Cold& c = cold_[i];
  if (c.ports.empty()) return {};
  Published& p = published_[i];
  if (p.ports == nullptr || !SameList(*p.ports, c.ports)) {
    p.ports = std::make_shared<const std::vector<HostPort>>(c.ports);
  }
  return SharedList<HostPort>(p.ports);
}

AgentSnapshot Scheduler::SnapshotLocked(uint32_t i, int64_t cutoff_ns) const {
  const bool draining = (flags_[i] & kDraining) != 0;
  const bool runtime_down = (flags_[i] & kRuntimeDown) != 0;
  // Every member initialized once, in place (no default construction to overwrite).
  return AgentSnapshot{
      .handle = {i, generation_[i]},
      .identity = cold_[i].identity,
      .max_sandboxes = max_sandboxes_[i],
      .capacity = Capacity(i),
      .reserved = reserved_[i],
      .reported = reported_[i],
      .used = std::max(reserved_[i], reported_[i]),
      .images = PublishedImages(i),
      .warm = PublishedWarm(i),
      .ports = PublishedPorts(i),
      .draining = draining,
      .runtime_down = runtime_down,
      .healthy = !draining && !runtime_down && heartbeat_ns_[i] >= cutoff_ns,
      .last_heartbeat = absl::FromUnixNanos(heartbeat_ns_[i]),
  };
}

struct Scheduler::SnapshotOf {
  const Scheduler& scheduler;
  uint32_t i;
  int64_t cutoff_ns;

  // Used only where mu_ is held, which the analysis cannot see through the conversion.
  operator AgentSnapshot() const ABSL_NO_THREAD_SAFETY_ANALYSIS {  // NOLINT: the point
    return scheduler.SnapshotLocked(i, cutoff_ns);
  }
};

absl::StatusOr<AgentSnapshot> Scheduler::GetAgentByID(std::string_view agent_id) const {
  const int64_t cutoff_ns = CutoffNs();
  FastMutexLock lock(&mu_);
  auto it = index_by_id_.find(Sv(agent_id));
  if (it == index_by_id_.end()) {
    return absl::NotFoundError(absl::StrCat("agent ", Sv(agent_id), " is not registered"));
  }
  return absl::StatusOr<AgentSnapshot>(absl::in_place, SnapshotOf{*this, it->second, cutoff_ns});
}

absl::StatusOr<AgentSnapshot> Scheduler::GetAgent(AgentHandle agent) const {
  const int64_t cutoff_ns = CutoffNs();
  FastMutexLock lock(&mu_);
  if (!Valid(agent)) return absl::NotFoundError("agent handle is stale");
  return absl::StatusOr<AgentSnapshot>(absl::in_place, SnapshotOf{*this, agent.index, cutoff_ns});
}

std::vector<AgentSnapshot> Scheduler::GetAllAgents() const {
  const int64_t cutoff_ns = CutoffNs();
  std::vector<AgentSnapshot> all;
  FastMutexLock lock(&mu_);
  all.reserve(by_id_.size());
  for (uint32_t i : by_id_) all.emplace_back(SnapshotOf{*this, i, cutoff_ns});
  return all;
}

int Scheduler::AgentCount() const {
  FastMutexLock lock(&mu_);
  return live_agents_;
}

// --------------------------------------------------------------------------- placement

std::optional<HostPort> Scheduler::FirstHeldPort(uint32_t i,
                                                 std::span<const HostPort> ports) const {
  const std::vector<HostPort>& held = cold_[i].ports;
  if (held.empty()) return std::nullopt;
  for (HostPort p : ports) {
    if (std::binary_search(held.begin(), held.end(), p)) return p;
  }
  return std::nullopt;
}

bool Scheduler::HasImage(uint32_t i, ImageId image) const {
  return image < cached_bits_.size() &&
         (TestBit(cached_bits_[image], i) || TestBit(warm_bits_[image], i));
}

bool Scheduler::HasWarm(uint32_t i, ImageId image) const {
  return image < warm_bits_.size() && TestBit(warm_bits_[image], i);
}

int Scheduler::Select(const AllocationRequest& request, int64_t cutoff_ns,
                      std::span<AgentHandle> out) const {
  const size_t k = std::min<size_t>(out.size(), kMaxCandidates);
  const PoolId pool = request.pool;
  if (pool >= pool_bits_.size()) return 0;
  const uint64_t nonempty = pool_bucket_mask_[pool];
  if (nonempty == 0) return 0;
  const size_t words = (high_water_ + 63) / 64;  // >= 1: the pool has a member
  const uint64_t* members = pool_bits_[pool].data();
  const ImageId image = request.image;
  const bool known = image < cached_bits_.size();
  const uint64_t* cached = known ? cached_bits_[image].data() : nullptr;
  const uint64_t* warm = known ? warm_bits_[image].data() : nullptr;
  const uint64_t* down = runtime_down_bits_.data();
  const bool with_ports = !request.ports.empty();
  const uint64_t h = Mix64(request.request_hash);

  // The rotation start, fixed by the first non-empty class: its r-th member, r uniform in
  // [0, class size) from the request hash, so every agent of the best class is equally
  // likely to come first whatever the gaps between their indices.
  bool have_start = false;
  size_t start_word = 0;
  uint64_t first_mask = ~uint64_t{0};  // bits of start_word at or after the start

  size_t n = 0;
  for (int tier = 0; tier < 3; ++tier) {
    if (tier == 0 && !(known && warm_agents_[image] > 0)) continue;
    if (tier == 1 && !(known && cached_agents_[image] > 0)) continue;
    if (tier == 2 && request.require_cached_image) continue;
    for (uint64_t m = nonempty; m != 0; m &= m - 1) {
      const uint64_t* bucket = bucket_bits_[std::countr_zero(m)].data();
      // Members of class (tier, bucket) in word w. An agent whose runtime is down
      // qualifies only in the warm tier.
      auto class_bits = [&](size_t w) {
        const uint64_t bits = members[w] & bucket[w];
        if (tier == 0) return bits & warm[w];
        const uint64_t up = bits & ~down[w];
        if (tier == 1) return up & cached[w] & ~warm[w];
        return known ? up & ~(cached[w] | warm[w]) : up;
      };
      if (!have_start) {
        uint64_t size = 0;
        for (size_t w = 0; w < words; ++w) size += std::popcount(class_bits(w));
        if (size == 0) continue;
        const uint64_t start = NthSetBit(class_bits, ScaleToRange(h, size));
        start_word = start / 64;
        first_mask = ~uint64_t{0} << (start % 64);
        have_start = true;
      }
      // Visit the class in index order from the start, wrapping around: the start word's
      // bits at or after the start first, its earlier bits last.
      size_t w = start_word;
      for (size_t step = 0; step <= words; ++step) {
        uint64_t bits = class_bits(w);
        if (step == 0) {
          bits &= first_mask;
        } else if (step == words) {
          bits &= ~first_mask;
        }
        while (bits != 0) {
          const uint32_t i = static_cast<uint32_t>(w * 64 + std::countr_zero(bits));
          bits &= bits - 1;
          if (heartbeat_ns_[i] < cutoff_ns) continue;
          if (with_ports && FirstHeldPort(i, request.ports).has_value()) continue;
          out[n++] = AgentHandle{i, generation_[i]};
          if (n == k) return static_cast<int>(n);
        }
        if (++w == words) w = 0;
      }
    }
  }
  return static_cast<int>(n);
}

void Scheduler::ReserveLocked(uint32_t i, const AllocationRequest& request) {
  ++reserved_[i];
  Cold& c = cold_[i];
  for (HostPort p : request.ports) {
    c.ports.insert(std::lower_bound(c.ports.begin(), c.ports.end(), p), p);
  }
  // Claiming a warm instance: count it down locally so the next request prefers another
  // warm agent; the agent's next heartbeat reports the truth.
  const ImageId image = request.image;
  if (HasWarm(i, image)) {
    for (WarmImage& w : c.warm) {
      if (w.image == image && w.ready > 0) {
        if (--w.ready == 0 && ClearBit(warm_bits_[image], i)) --warm_agents_[image];
        break;
      }
    }
  }
  Rebucket(i);
}

Scheduler::Diagnosis Scheduler::Diagnose(const AllocationRequest& request,
                                         int64_t cutoff_ns) const {
  Diagnosis d;
  d.image_anywhere = request.image < cached_bits_.size() &&
                     (cached_agents_[request.image] > 0 || warm_agents_[request.image] > 0);
  if (request.pool >= pool_bits_.size()) return d;
  const Bitmap& members = pool_bits_[request.pool];
  for (uint32_t i = 0; i < high_water_; ++i) {
    if (!TestBit(members, i)) continue;
    ++d.members;
    if (flags_[i] & kDraining) {
      ++d.draining;
    } else if (heartbeat_ns_[i] < cutoff_ns) {
      ++d.stale;
    } else if (std::max(reserved_[i], reported_[i]) >= Capacity(i)) {
      ++d.full;
    } else if ((flags_[i] & kRuntimeDown) && !HasWarm(i, request.image)) {
      ++d.runtime_down;
    } else if (request.require_cached_image && !HasImage(i, request.image)) {
      ++d.no_image;
    } else if (const std::optional<HostPort> port = FirstHeldPort(i, request.ports)) {
      if (d.port_conflict++ == 0) {
        d.conflicting_port = *port;
        d.conflicting_agent = cold_[i].identity->id;
      }
    }
  }
  return d;
}

absl::Status Scheduler::NoCandidate(const AllocationRequest& request, const Diagnosis& d) const {
  std::string pool = PoolName(request.pool);
  pool = pool.empty() ? std::string("(unknown pool)") : absl::StrCat("\"", pool, "\"");
  const std::string timeout = absl::FormatDuration(options_.heartbeat_timeout);
  if (d.members == 0) return absl::ResourceExhaustedError(absl::StrCat("no agent in pool ", pool));
  int left = d.members - d.stale - d.draining;
  if (left == 0) {
    return absl::ResourceExhaustedError(
        absl::StrCat("no healthy agent in pool ", pool, ": ", d.members, " registered, ", d.stale,
                     " with no heartbeat for ", timeout, ", ", d.draining, " draining"));
  }
  const int healthy = left;
  left -= d.full;
  if (left == 0) {
    return absl::ResourceExhaustedError(
        absl::StrCat("all ", healthy, " healthy agents in pool ", pool, " are full"));
  }
  const std::string image = ImageName(request.image);
  const std::string quoted_image =
      image.empty() ? std::string("(requested)") : absl::StrCat("\"", image, "\"");
  const int with_room = left;
  left -= d.runtime_down;
  if (left == 0) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the container runtime is down on all ", with_room,
        " healthy agents with free capacity in pool ", pool,
        " (they take only creates that claim a warm instance), and none has a warm instance "
        "of image ",
        quoted_image));
  }
  const int runtime_up = left;
  left -= d.no_image;
  if (left == 0) {
    if (!d.image_anywhere) {
      return absl::ResourceExhaustedError(
          absl::StrCat("image ", quoted_image,
                       " is not cached on any agent, and the request requires a cached image"));
    }
    return absl::ResourceExhaustedError(absl::StrCat(
        "image ", quoted_image, " is not cached on any of the ", runtime_up,
        " healthy agents with free capacity in pool ", pool,
        d.runtime_down > 0
            ? absl::StrCat(" (", d.runtime_down,
                           " more have their container runtime down and no warm instance of it)")
            : std::string()));
  }
  if (d.port_conflict > 0) {
    return absl::ResourceExhaustedError(
        absl::StrCat("each of the ", left, " otherwise qualifying agents in pool ", pool,
                     " already holds one of the requested host ports (", PortList(request.ports),
                     "); port ", HostPortName(d.conflicting_port), " is already taken on agent \"",
                     d.conflicting_agent, "\""));
  }
  return absl::ResourceExhaustedError(absl::StrCat("no candidate agent in pool ", pool));
}

absl::StatusOr<int> Scheduler::SelectCandidates(const AllocationRequest& request,
                                                std::span<AgentHandle> out) {
  if (out.empty()) return absl::InvalidArgumentError("candidate buffer is empty");
  if (absl::Status s = ValidatePorts(request.ports); !s.ok()) return s;
  const int64_t cutoff_ns = CutoffNs();
  Diagnosis d;
  {
    FastMutexLock lock(&mu_);
    const int n = Select(request, cutoff_ns, out);
    if (n > 0) return n;
    d = Diagnose(request, cutoff_ns);
  }
  return NoCandidate(request, d);
}

absl::StatusOr<int> Scheduler::Allocate(const AllocationRequest& request,
                                        std::span<AgentHandle> out) {
  if (out.empty()) return absl::InvalidArgumentError("candidate buffer is empty");
  if (absl::Status s = ValidatePorts(request.ports); !s.ok()) return s;
  const int64_t cutoff_ns = CutoffNs();
  Diagnosis d;
  {
    FastMutexLock lock(&mu_);
    const int n = Select(request, cutoff_ns, out);
    if (n > 0) {
      ReserveLocked(out[0].index, request);
      return n;
    }
    d = Diagnose(request, cutoff_ns);
  }
  return NoCandidate(request, d);
}

absl::Status Scheduler::Reserve(AgentHandle agent, const AllocationRequest& request) {
  if (absl::Status s = ValidatePorts(request.ports); !s.ok()) return s;
  const int64_t cutoff_ns = CutoffNs();
  enum class Why {
    kOk,
    kStale,
    kPool,
    kDraining,
    kHeartbeat,
    kFull,
    kRuntimeDown,
    kImage,
    kPort
  } why;
  std::optional<HostPort> port;
  {
    FastMutexLock lock(&mu_);
    const uint32_t i = agent.index;
    if (!Valid(agent)) {
      why = Why::kStale;
    } else if (pool_[i] != request.pool) {
      why = Why::kPool;
    } else if (flags_[i] & kDraining) {
      why = Why::kDraining;
    } else if (heartbeat_ns_[i] < cutoff_ns) {
      why = Why::kHeartbeat;
    } else if (bucket_[i] == kNoBucket) {
      why = Why::kFull;
    } else if ((flags_[i] & kRuntimeDown) && !HasWarm(i, request.image)) {
      why = Why::kRuntimeDown;
    } else if (request.require_cached_image && !HasImage(i, request.image)) {
      why = Why::kImage;
    } else if (port = FirstHeldPort(i, request.ports); port.has_value()) {
      why = Why::kPort;
    } else {
      ReserveLocked(i, request);
      return absl::OkStatus();
    }
  }
  switch (why) {
    case Why::kStale:
      return absl::NotFoundError("agent is no longer registered");
    case Why::kPool:
      return absl::ResourceExhaustedError("agent is not in the requested pool");
    case Why::kDraining:
      return absl::ResourceExhaustedError("agent is draining");
    case Why::kHeartbeat:
      return absl::ResourceExhaustedError(absl::StrCat(
          "agent has sent no heartbeat for ", absl::FormatDuration(options_.heartbeat_timeout)));
    case Why::kFull:
      return absl::ResourceExhaustedError("agent is full");
    case Why::kRuntimeDown:
      return absl::ResourceExhaustedError(
          "agent's container runtime is down and it has no warm instance of the image left");
    case Why::kImage:
      return absl::ResourceExhaustedError("agent does not have the image cached");
    case Why::kPort:
      return absl::ResourceExhaustedError(
          absl::StrCat("port ", HostPortName(*port), " is already taken on agent"));
    case Why::kOk:
      break;
  }
  return absl::InternalError("unreachable");
}

absl::Status Scheduler::Restore(AgentHandle agent, std::span<const HostPort> ports) {
  if (absl::Status s = ValidatePorts(ports); !s.ok()) return s;
  FastMutexLock lock(&mu_);
  if (!Valid(agent)) return absl::NotFoundError("agent is no longer registered");
  const uint32_t i = agent.index;
  ++reserved_[i];
  std::vector<HostPort>& held = cold_[i].ports;
  for (HostPort p : ports) {
    auto at = std::lower_bound(held.begin(), held.end(), p);
    if (at == held.end() || *at != p) held.insert(at, p);
  }
  Rebucket(i);
  return absl::OkStatus();
}

absl::Status Scheduler::Release(AgentHandle agent, std::span<const HostPort> ports) {
  if (absl::Status s = ValidatePorts(ports); !s.ok()) return s;
  enum class Why { kOk, kStale, kNoReservation, kPortNotHeld } why;
  HostPort port;
  {
    FastMutexLock lock(&mu_);
    const uint32_t i = agent.index;
    if (!Valid(agent)) {
      why = Why::kStale;
    } else if (reserved_[i] == 0) {
      why = Why::kNoReservation;
    } else {
      // All or nothing: a port the agent does not hold means this release does not match
      // a reservation (e.g. it is a repeat), and honouring it would free another
      // sandbox's ports or capacity.
      std::vector<HostPort>& held = cold_[i].ports;
      why = Why::kOk;
      for (HostPort p : ports) {
        if (!std::binary_search(held.begin(), held.end(), p)) {
          why = Why::kPortNotHeld;
          port = p;
          break;
        }
      }
      if (why == Why::kOk) {
        for (HostPort p : ports) held.erase(std::lower_bound(held.begin(), held.end(), p));
        --reserved_[i];
        Rebucket(i);
        return absl::OkStatus();
      }
    }
  }
  switch (why) {
    case Why::kStale:
      return absl::NotFoundError("agent is no longer registered");
    case Why::kNoReservation:
      return absl::FailedPreconditionError("agent has no reservation to release");
    case Why::kPortNotHeld:
      return absl::FailedPreconditionError(
          absl::StrCat("port ", HostPortName(port), " is not held on the agent; nothing released"));
    case Why::kOk:
      break;
  }
  return absl::InternalError("unreachable");
}

}  // namespace fsb::controller
