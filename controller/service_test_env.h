#ifndef FSB_CONTROLLER_SERVICE_TEST_ENV_H_
#define FSB_CONTROLLER_SERVICE_TEST_ENV_H_

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "controller/fake_agent_client.h"
#include "controller/pool_service.h"
#include "controller/sandbox/sandbox_service.h"
#include "controller/scheduler/scheduler.h"
#include "controller/store/sqlite_store.h"
#include "glog/logging.h"
#include "gtest/gtest.h"
#include "internal/clock.h"
#include "internal/ids.h"
#include "internal/metrics/metrics.h"

namespace fsb::controller {

// What a SandboxService (or PoolService) test needs: a manual clock, a real scheduler, a
// fake agent client and a real SQLite store in a fresh temp folder. Restart() simulates a
// controller restart: a new scheduler and services on the same store file (the old service flushes
// its pending writes; to model a crash that lost writes, change the store by hand
// between a Flush and the Restart). RestartWithStoreEdit also closes the store file
// and lets the test edit it (raw SQL) before it is opened again. The reconcile loop does
// not run; tests call ReconcileOnce.
class ServiceTestEnv {
 public:
  explicit ServiceTestEnv(SandboxService::Options options = {})
      : options_(WithoutLoop(options)),
        dir_(std::filesystem::temp_directory_path() / ("fsb-svc-" + RandomHex(6))) {
    std::filesystem::create_directories(dir_);
    OpenStore();
    absl::Status started = StartService();
    CHECK(started.ok()) << started;
  }
  ~ServiceTestEnv() {
    service_.reset();
    pools_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  void Restart() {
    service_.reset();
    pools_.reset();
    absl::Status started = StartService();
    CHECK(started.ok()) << started;
  }

  // Restarts with the store file closed while `edit(path)` runs. Returns the services'
  // load errors (the services are then null).
  absl::Status RestartWithStoreEdit(const std::function<void(const std::string& path)>& edit) {
    service_.reset();
    pools_.reset();
    store_.reset();
    edit(StorePath());
    OpenStore();
    return StartService();
  }

  // Registers an agent with `capacity` slots in `pool`.
  void AddAgent(const std::string& id, int capacity, const std::string& pool = "default",
                const std::string& address = "") {
    AgentRegistration registration;
    registration.agent.id = id;
    registration.agent.node = "node-" + id;
    registration.agent.address = address.empty() ? id + ":5758" : address;
    registration.agent.pool = pool;
    registration.agent.max_sandboxes = capacity;
    auto answer = service_->RegisterAgent(std::move(registration));
    CHECK(answer.ok()) << answer.status();
  }

  ManualClock& clock() { return clock_; }
  Scheduler& scheduler() { return *scheduler_; }
  FakeAgentClient& agents() { return agents_; }
  store::SqliteStore& store() { return *store_; }
  SandboxService& service() { return *service_; }
  PoolService& pools() { return *pools_; }
  // The current service's metrics (a new registry per Restart).
  metrics::Registry& registry() { return *registry_; }
  // The store's metrics (a new registry each time the store is opened).
  metrics::Registry& store_registry() { return *store_registry_; }

 private:
  static SandboxService::Options WithoutLoop(SandboxService::Options options) {
    options.run_reconciler = false;
    return options;
  }

  std::string StorePath() const { return (dir_ / "fsb.db").string(); }

  void OpenStore() {
    store_registry_ = std::make_unique<metrics::Registry>();
    auto store = store::SqliteStore::Open(StorePath(), {.registry = store_registry_.get()});
    CHECK(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  absl::Status StartService() {
    scheduler_ = std::make_unique<Scheduler>(
        &clock_, Scheduler::Options{.heartbeat_timeout = options_.agent_lost_timeout});
    registry_ = std::make_unique<metrics::Registry>();
    auto pools = PoolService::Create(scheduler_.get(), store_.get(), &clock_);
    if (!pools.ok()) return pools.status();
    pools_ = *std::move(pools);
    auto service = SandboxService::Create(scheduler_.get(), pools_.get(), &agents_, store_.get(),
                                          &clock_, registry_.get(), options_);
    if (!service.ok()) return service.status();
    service_ = *std::move(service);
    return absl::OkStatus();
  }

  const SandboxService::Options options_;
  const std::filesystem::path dir_;
  ManualClock clock_;
  FakeAgentClient agents_;
  std::unique_ptr<metrics::Registry> store_registry_;  // outlives store_
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<metrics::Registry> registry_;
  std::unique_ptr<PoolService> pools_;
  std::unique_ptr<SandboxService> service_;
};

}  // namespace fsb::controller

#endif  // FSB_CONTROLLER_SERVICE_TEST_ENV_H_
