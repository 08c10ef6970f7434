#ifndef FSB_AGENT_JANITOR_H_
#define FSB_AGENT_JANITOR_H_

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/agent_metrics.h"
#include "agent/sandbox_manager.h"
#include "internal/background_loop.h"

namespace fsb::agent {

// Runs SandboxManager::CollectGarbage once the manager is ready (looking every second
// until then) and every `interval` after, on its own thread, and counts what it removed
// (running totals, and fsb_agent_janitor_removed_total). Start() and Stop() are
// idempotent; Stop() (also the destructor) joins. Totals are thread-safe to read.
class Janitor {
 public:
  // `manager` and `metrics` must outlive the janitor.
  Janitor(SandboxManager* manager, AgentMetrics* metrics, absl::Duration interval);
  ~Janitor();

  void Start();
  void Stop();
  GarbageReport totals() const;

 private:
  // One pass; returns the time until the next.
  absl::Duration Sweep();

  SandboxManager* const manager_;
  AgentMetrics* const metrics_;
  const absl::Duration interval_;
  mutable absl::Mutex mu_;
  GarbageReport totals_ ABSL_GUARDED_BY(mu_);
  BackgroundLoop loop_;  // last: stops before the rest goes
};

}  // namespace fsb::agent

#endif  // FSB_AGENT_JANITOR_H_
