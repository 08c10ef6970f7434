// Google Benchmark of the controller's agent registry and placement scheduler
// (controller/scheduler), with the seed system's benchmark set.
//
// Every Allocate benchmark times the SUCCESS path: one iteration is an Allocate that
// finds candidates and reserves a slot, followed by the Release of that slot, so the
// agents never fill up. (The seed's benchmark registered its agents outside the requested
// pool and so timed only the no-candidate error path.) A benchmark stops with an error if
// an operation it times fails.
//
// Each benchmark reports "B/op" and "allocs/op": the heap bytes and allocations of its
// timed loop per iteration, counted by the replacement operator new of
// fsb_counting_allocator (controller/scheduler/counting_allocator.h).
//
// The fleet: agents "agent-<i>" in pool "default-pool" with images alpine, nginx and
// redis cached (as in the seed's benchmark) and i % 5 sandboxes reported, so the agents
// spread over several load buckets. The clock is a ManualClock that never moves, so
// every agent stays healthy however long a run takes.

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "controller/scheduler/counting_allocator.h"
#include "controller/scheduler/scheduler.h"
#include "gflags/gflags.h"
#include "internal/clock.h"

namespace fsb::controller {
namespace {

constexpr std::string_view kPool = "default-pool";
constexpr int kCapacity = 10;
constexpr HostPort kPorts[] = {{8080}, {9090}};

// Counts the heap use of the calling thread from construction to Report(), except while
// paused, and reports it per iteration of that thread. In a multi-threaded benchmark
// every thread reports its own figure and the counters show their average.
class HeapCounter {
 public:
  explicit HeapCounter(benchmark::State& state) : state_(state), start_(ThreadHeapUse()) {}

  // Bracket untimed work inside the loop, together with state.PauseTiming() and
  // state.ResumeTiming().
  void Pause() { paused_at_ = ThreadHeapUse(); }
  void Resume() { excluded_ += ThreadHeapUse() - paused_at_; }

  void Report() {
    const HeapUse used = ThreadHeapUse() - start_ - excluded_;
    const double iterations = static_cast<double>(state_.iterations());
    if (iterations == 0) return;
    state_.counters["B/op"] = benchmark::Counter(static_cast<double>(used.bytes) / iterations,
                                                 benchmark::Counter::kAvgThreads);
    state_.counters["allocs/op"] = benchmark::Counter(
        static_cast<double>(used.allocations) / iterations, benchmark::Counter::kAvgThreads);
  }

 private:
  benchmark::State& state_;
  const HeapUse start_;
  HeapUse paused_at_;
  HeapUse excluded_;
};

// A registry holding `agents` registered agents (see the file comment). Apart from the
// scheduler, which is thread-safe, its fields do not change after construction, so any
// thread may use it.
struct Fleet {
  Fleet(int agents, int capacity) {
    descriptors.reserve(agents);
    handles.reserve(agents);
    for (int i = 0; i < agents; ++i) {
      AgentDescriptor& d = descriptors.emplace_back();
      d.id = absl::StrCat("agent-", i);
      d.address = absl::StrCat("10.0.", i / 250, ".", i % 250 + 1, ":5758");
      d.node = absl::StrCat("node-", i);
      d.pool = std::string(kPool);
      d.max_sandboxes = capacity;
      d.images = {"alpine", "nginx", "redis"};
      d.reported_sandboxes = i % 5;
      handles.push_back(scheduler.RegisterOrUpdate(d).value());
    }
  }

  // A request for `image` (any spelling; one no agent has maps to kUnknownImage, as when
  // a real request is parsed). Its request_hash is for the caller to vary.
  AllocationRequest Request(std::string_view image, std::span<const HostPort> ports = {}) {
    AllocationRequest r;
    r.pool = scheduler.LookupPool(kPool);
    r.image = scheduler.LookupImage(image);
    r.ports = ports;
    return r;
  }

  ManualClock clock;
  Scheduler scheduler{&clock};
  std::vector<AgentDescriptor> descriptors;
  std::vector<AgentHandle> handles;  // handles[i] is descriptors[i]'s agent
};

// Times Allocate + Release on a fleet of state.range(0) agents.
void AllocateAndRelease(benchmark::State& state, std::string_view image,
                        std::span<const HostPort> ports) {
  Fleet fleet(static_cast<int>(state.range(0)), kCapacity);
  AllocationRequest request = fleet.Request(image, ports);
  std::array<AgentHandle, kMaxCandidates> out;
  uint64_t request_number = 0;
  HeapCounter heap(state);
  for (auto _ : state) {
    request.request_hash = ++request_number;
    absl::StatusOr<int> n = fleet.scheduler.Allocate(request, out);
    if (!n.ok()) {
      state.SkipWithError(std::string(n.status().message()).c_str());
      break;
    }
    if (!fleet.scheduler.Release(out[0], ports).ok()) {
      state.SkipWithError("Release failed");
      break;
    }
  }
  heap.Report();
}

void BM_RegistryAllocate(benchmark::State& state) { AllocateAndRelease(state, "alpine", {}); }
BENCHMARK(BM_RegistryAllocate)->Arg(100);

void BM_RegistryAllocateWithPorts(benchmark::State& state) {
  AllocateAndRelease(state, "alpine", kPorts);
}
BENCHMARK(BM_RegistryAllocateWithPorts)->Arg(100);

void BM_RegistryAllocateNoImageMatch(benchmark::State& state) {
  AllocateAndRelease(state, "ubuntu", {});
}
BENCHMARK(BM_RegistryAllocateNoImageMatch)->Arg(100);

void BM_RegistryAllocateLargePool(benchmark::State& state) {
  AllocateAndRelease(state, "alpine", {});
}
BENCHMARK(BM_RegistryAllocateLargePool)->Arg(1000)->Arg(10000);

// Re-registration of known agents (round robin over 1,000), unchanged descriptions.
void BM_RegistryRegisterOrUpdate(benchmark::State& state) {
  Fleet fleet(1000, kCapacity);
  size_t next = 0;
  HeapCounter heap(state);
  for (auto _ : state) {
    absl::StatusOr<AgentHandle> h = fleet.scheduler.RegisterOrUpdate(fleet.descriptors[next]);
    benchmark::DoNotOptimize(h);
    if (++next == fleet.descriptors.size()) next = 0;
  }
  heap.Report();
}
BENCHMARK(BM_RegistryRegisterOrUpdate);

// The interned heartbeat (round robin over 1,000 agents): images, warm counts, load.
void BM_RegistryHeartbeat(benchmark::State& state) {
  Fleet fleet(1000, kCapacity);
  const ImageId images[] = {fleet.scheduler.LookupImage("alpine"),
                            fleet.scheduler.LookupImage("nginx"),
                            fleet.scheduler.LookupImage("redis")};
  const WarmImage warm[] = {{images[0], 2}};
  HeartbeatUpdate update;
  update.images = images;
  update.warm = warm;
  size_t next = 0;
  HeapCounter heap(state);
  for (auto _ : state) {
    update.reported_sandboxes = static_cast<int>(next % 5);
    if (!fleet.scheduler.Heartbeat(fleet.handles[next], update).ok()) {
      state.SkipWithError("Heartbeat failed");
      break;
    }
    if (++next == fleet.handles.size()) next = 0;
  }
  heap.Report();
}
BENCHMARK(BM_RegistryHeartbeat);

// Snapshots of every agent, ordered by id. The untimed first call publishes each agent's
// lists, which later snapshots share while they are unchanged (the steady state).
void BM_RegistryGetAllAgents(benchmark::State& state) {
  Fleet fleet(static_cast<int>(state.range(0)), kCapacity);
  benchmark::DoNotOptimize(fleet.scheduler.GetAllAgents().data());
  HeapCounter heap(state);
  for (auto _ : state) {
    std::vector<AgentSnapshot> all = fleet.scheduler.GetAllAgents();
    benchmark::DoNotOptimize(all.data());
  }
  heap.Report();
}
BENCHMARK(BM_RegistryGetAllAgents)->Arg(100)->Arg(1000);

// A snapshot of one agent by id: its strings copied, its lists shared (published by the
// untimed first call, as for GetAllAgents).
void BM_RegistryGetAgentByID(benchmark::State& state) {
  Fleet fleet(100, kCapacity);
  benchmark::DoNotOptimize(fleet.scheduler.GetAllAgents().data());
  size_t next = 0;
  HeapCounter heap(state);
  for (auto _ : state) {
    absl::StatusOr<AgentSnapshot> agent = fleet.scheduler.GetAgentByID(fleet.descriptors[next].id);
    benchmark::DoNotOptimize(agent);
    if (++next == fleet.descriptors.size()) next = 0;
  }
  heap.Report();
}
BENCHMARK(BM_RegistryGetAgentByID);

// The placement view of one agent by id, with whether it has an image cached: a shared
// identity and a few scalars, copied without allocation.
void BM_RegistryViewAgentByID(benchmark::State& state) {
  Fleet fleet(100, kCapacity);
  const ImageId alpine = fleet.scheduler.LookupImage("alpine");
  size_t next = 0;
  HeapCounter heap(state);
  for (auto _ : state) {
    std::optional<AgentView> view =
        fleet.scheduler.ViewAgentByID(fleet.descriptors[next].id, alpine);
    benchmark::DoNotOptimize(view);
    if (++next == fleet.descriptors.size()) next = 0;
  }
  heap.Report();
}
BENCHMARK(BM_RegistryViewAgentByID);

// The allocation-free lookup of an agent's handle by id.
void BM_RegistryFindAgent(benchmark::State& state) {
  Fleet fleet(100, kCapacity);
  size_t next = 0;
  HeapCounter heap(state);
  for (auto _ : state) {
    std::optional<AgentHandle> h = fleet.scheduler.FindAgent(fleet.descriptors[next].id);
    benchmark::DoNotOptimize(h);
    if (++next == fleet.descriptors.size()) next = 0;
  }
  heap.Report();
}
BENCHMARK(BM_RegistryFindAgent);

// Release alone: reservations are made in untimed batches (Allocate, 100 agents), then
// released one per iteration, newest first.
void BM_RegistryRelease(benchmark::State& state) {
  constexpr size_t kBatch = 500;  // below the fleet's 800 free slots
  Fleet fleet(100, kCapacity);
  AllocationRequest request = fleet.Request("alpine");
  std::array<AgentHandle, kMaxCandidates> out;
  std::vector<AgentHandle> held;
  held.reserve(kBatch);
  uint64_t request_number = 0;
  HeapCounter heap(state);
  for (auto _ : state) {
    if (held.empty()) {
      state.PauseTiming();
      heap.Pause();
      while (held.size() < kBatch) {
        request.request_hash = ++request_number;
        if (!fleet.scheduler.Allocate(request, out).ok()) break;
        held.push_back(out[0]);
      }
      heap.Resume();
      state.ResumeTiming();
      if (held.size() < kBatch) {
        state.SkipWithError("Allocate failed while preparing reservations");
        break;
      }
    }
    if (!fleet.scheduler.Release(held.back(), {}).ok()) {
      state.SkipWithError("Release failed");
      break;
    }
    held.pop_back();
  }
  heap.Report();
}
BENCHMARK(BM_RegistryRelease);

// The periodic sweep over 100 agents when none is stale (the steady state).
void BM_RegistryCleanupStaleAgents(benchmark::State& state) {
  Fleet fleet(100, kCapacity);
  HeapCounter heap(state);
  for (auto _ : state) {
    if (fleet.scheduler.CleanupStaleAgents(absl::Seconds(30)) != 0) {
      state.SkipWithError("an agent was removed");
      break;
    }
  }
  heap.Report();
}
BENCHMARK(BM_RegistryCleanupStaleAgents);

// Allocate + Release from several threads on one registry of 100 agents with capacity
// 100 (as in the seed). Time is wall-clock per iteration of one thread; items_per_second
// is the throughput of all threads together.
void BM_ParallelAllocate(benchmark::State& state) {
  // One fleet for every run and thread, built by the first caller and never destroyed:
  // each iteration leaves it as it found it.
  static Fleet* const fleet = new Fleet(100, 100);
  AllocationRequest request = fleet->Request("alpine");
  std::array<AgentHandle, kMaxCandidates> out;
  uint64_t request_number = static_cast<uint64_t>(state.thread_index()) << 48;
  HeapCounter heap(state);
  for (auto _ : state) {
    request.request_hash = ++request_number;
    absl::StatusOr<int> n = fleet->scheduler.Allocate(request, out);
    if (!n.ok()) {
      state.SkipWithError(std::string(n.status().message()).c_str());
      break;
    }
    if (!fleet->scheduler.Release(out[0], {}).ok()) {
      state.SkipWithError("Release failed");
      break;
    }
  }
  heap.Report();
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParallelAllocate)->Threads(1)->Threads(2)->Threads(4)->UseRealTime();

}  // namespace
}  // namespace fsb::controller

// Debian's Abseil is built without NDEBUG, so by default every absl::Mutex acquisition
// also runs Abseil's debug-only deadlock detection (a lock-graph lookup under a global
// lock). fsb's daemons turn it off (internal/daemon.cc), so the benchmark does too;
// --mutex_deadlock_detection=true measures Debian's default.
DEFINE_bool(mutex_deadlock_detection, false,
            "Keep Abseil's debug-only mutex deadlock detection on (Debian's default; fsb's "
            "daemons turn it off)");

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);  // consumes the --benchmark_* flags
  gflags::ParseCommandLineFlags(&argc, &argv, /*remove_flags=*/true);
  if (!FLAGS_mutex_deadlock_detection) {
    absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  }
  benchmark::AddCustomContext("mutex_deadlock_detection",
                              FLAGS_mutex_deadlock_detection ? "on" : "off");
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
