#ifndef FSB_AGENT_JANITOR_H_
#define FSB_AGENT_JANITOR_H_

#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/agent_metrics.h"
#include "agent/sandbox_manager.h"

namespace fsb::agent {

// Runs SandboxManager::CollectGarbage at start (once the manager is ready) and every
// `interval`, on its own thread, and counts what it removed (running totals, and
// fsb_agent_janitor_removed_total). Start() once; Stop() (also the destructor) joins.
// Totals are thread-safe to read.
class Janitor {
 public:
  // `manager` and `metrics` must outlive the janitor.
  Janitor(SandboxManager* manager, AgentMetrics* metrics, absl::Duration interval);
  ~Janitor();

  void Start();
  void Stop();
  GarbageReport totals() const;

 private:
  void Run();

  SandboxManager* const manager_;
  AgentMetrics* const metrics_;
  const absl::Duration interval_;
  mutable absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  GarbageReport totals_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace fsb::agent

#endif  // FSB_AGENT_JANITOR_H_
