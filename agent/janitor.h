#ifndef FSB_AGENT_JANITOR_H_
#define FSB_AGENT_JANITOR_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/agent_metrics.h"
#include "agent/sandbox_manager.h"
#include "internal/background_loop.h"

namespace fsb::agent {

// Something else the janitor removes in each pass, after the manager's garbage: what a
// crash of the agent left besides sandboxes (exec processes and their FIFO folders,
// snapshot views). `sweep` returns how many it removed; it runs on the janitor's thread.
struct JanitorSweep {
  std::string kind;  // the `kind` label of fsb_agent_janitor_removed_total
  std::function<absl::StatusOr<int>()> sweep;
};

// Runs SandboxManager::CollectGarbage and then each JanitorSweep once the manager is ready
// (looking every second until then: the first pass comes right after recovery) and every
// `interval` after, on its own thread, and counts what they removed (running totals, and
// fsb_agent_janitor_removed_total{kind}). A sweep that fails is logged and tried again at
// the next pass; it does not stop the others. Start() and Stop() are idempotent; Stop()
// (also the destructor) joins. Totals are thread-safe to read.
class Janitor {
 public:
  // `manager` and `metrics` must outlive the janitor, and what the sweeps use too.
  Janitor(SandboxManager* manager, AgentMetrics* metrics, absl::Duration interval,
          std::vector<JanitorSweep> sweeps = {});
  ~Janitor();

  void Start();
  void Stop();
  GarbageReport totals() const;
  // What the sweep of `kind` removed so far.
  int swept(const std::string& kind) const;

 private:
  // One pass; returns the time until the next.
  absl::Duration Sweep();
  void CollectManagerGarbage();

  SandboxManager* const manager_;
  AgentMetrics* const metrics_;
  const absl::Duration interval_;
  const std::vector<JanitorSweep> sweeps_;
  mutable absl::Mutex mu_;
  GarbageReport totals_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, int> swept_ ABSL_GUARDED_BY(mu_);
  BackgroundLoop loop_;  // last: stops before the rest goes
};

}  // namespace fsb::agent

#endif  // FSB_AGENT_JANITOR_H_
