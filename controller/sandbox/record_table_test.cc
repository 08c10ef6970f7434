#include "controller/sandbox/record_table.h"

#include <filesystem>
#include <memory>
#include <string>

#include "controller/sandbox_spec.h"
#include "controller/store/resources.h"
#include "controller/store/sqlite_store.h"
#include "glog/logging.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "internal/ids.h"

namespace fsb::controller {
namespace {

using ::fsb::v1alpha1::Sandbox;
using ::fsb::v1alpha1::SandboxStatus;
using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;

const SandboxKey kWeb{"default", "web"};

Sandbox Record(const std::string& container, const std::string& agent) {
  Sandbox s;
  s.set_api_version(store::kApiVersion);
  s.set_kind("Sandbox");
  s.mutable_metadata()->set_namespace_(kWeb.first);
  s.mutable_metadata()->set_name(kWeb.second);
  (*s.mutable_metadata()->mutable_annotations())[kRequestIdAnnotation] = "req-1";
  s.mutable_status()->set_container_id(container);
  s.mutable_status()->set_agent(agent);
  s.mutable_status()->set_phase(SandboxStatus::Running);
  return s;
}

ReportedSandbox Exited(const std::string& container, int code) {
  return {.container_id = container, .phase = ReportedSandbox::Phase::kExited, .exit_code = code};
}

class RecordTableTest : public ::testing::Test {
 protected:
  RecordTableTest() : dir_(std::filesystem::temp_directory_path() / ("fsb-rt-" + RandomHex(6))) {
    std::filesystem::create_directories(dir_);
    auto store = store::SqliteStore::Open((dir_ / "fsb.db").string(), {});
    CHECK(store.ok()) << store.status();
    store_ = *std::move(store);
    table_ = std::make_unique<RecordTable>(store_.get(), absl::Seconds(10));
  }
  ~RecordTableTest() override {
    table_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  const std::filesystem::path dir_;
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<RecordTable> table_;
};

TEST_F(RecordTableTest, IndexesFollowChangesAndErase) {
  RecordTable::Locked table(*table_);
  table.Insert(kWeb, Record("c1", "a1"), RecordOp::kNone);
  EXPECT_EQ(table.FindByRequestId(kWeb.first, "req-1"), kWeb);
  // Request ids are scoped by namespace.
  EXPECT_EQ(table.FindByRequestId("other", "req-1"), std::nullopt);
  EXPECT_EQ(table.FindByContainer("c1"), kWeb);
  ASSERT_NE(table.PlacedOn("a1"), nullptr);
  EXPECT_THAT(*table.PlacedOn("a1"), UnorderedElementsAre(kWeb));

  table.Change(kWeb, [](SandboxRecord& r) {
    r.sandbox.mutable_status()->set_container_id("c2");
    r.sandbox.mutable_status()->set_agent("a2");
  });
  EXPECT_EQ(table.FindByContainer("c1"), std::nullopt);
  EXPECT_EQ(table.FindByContainer("c2"), kWeb);
  EXPECT_EQ(table.PlacedOn("a1"), nullptr);
  EXPECT_NE(table.PlacedOn("a2"), nullptr);

  table.Erase(kWeb);
  EXPECT_EQ(table.Find(kWeb), nullptr);
  EXPECT_EQ(table.FindByRequestId(kWeb.first, "req-1"), std::nullopt);
  EXPECT_EQ(table.FindByContainer("c2"), std::nullopt);
  EXPECT_EQ(table.PlacedOn("a2"), nullptr);
}

TEST_F(RecordTableTest, PersistedRecordsAreLoadedAgainAndErasedFromTheStore) {
  uint64_t ticket;
  {
    RecordTable::Locked table(*table_);
    table.Insert(kWeb, Record("c1", "a1"), RecordOp::kNone);
    ticket = table.Persist(kWeb);
  }
  ASSERT_TRUE(table_->AwaitDurable(kWeb, ticket).ok());
  {
    RecordTable::Locked table(*table_);
    EXPECT_GT(table.StoredVersion(kWeb), 0);
  }

  RecordTable reloaded(store_.get(), absl::Seconds(10));
  const absl::Time loaded_at = absl::FromUnixSeconds(1'800'000'000);
  ASSERT_TRUE(reloaded.Load(loaded_at).ok());
  {
    RecordTable::Locked table(reloaded);
    const SandboxRecord* record = table.Find(kWeb);
    ASSERT_NE(record, nullptr);
    EXPECT_TRUE(record->stored);
    EXPECT_EQ(record->agent_seen, loaded_at);
    EXPECT_EQ(table.FindByContainer("c1"), kWeb);
    table.Erase(kWeb);
  }
  ASSERT_TRUE(reloaded.Flush(absl::Seconds(10)).ok());
  EXPECT_EQ(store_->Get({"Sandbox", kWeb.first, kWeb.second}).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(RecordTableTest, SettleAppliesADeferredReportOnlyFromTheRecordsAgent) {
  RecordTable::Locked table(*table_);
  table.Insert(kWeb, Record("c1", "a1"), RecordOp::kCreating);
  table.at(kWeb).deferred = DeferredReport{"a2", "10.0.0.2", Exited("c1", 3)};
  table.Settle(kWeb);
  EXPECT_EQ(table.at(kWeb).op, RecordOp::kNone);
  EXPECT_EQ(table.at(kWeb).sandbox.status().phase(), SandboxStatus::Running);

  table.at(kWeb).op = RecordOp::kCreating;
  table.at(kWeb).deferred = DeferredReport{"a1", "10.0.0.1", Exited("c1", 3)};
  table.Settle(kWeb);
  EXPECT_EQ(table.at(kWeb).sandbox.status().phase(), SandboxStatus::Failed);
  EXPECT_EQ(table.at(kWeb).sandbox.status().exit_code(), 3);
  EXPECT_FALSE(table.at(kWeb).deferred.has_value());
}

TEST_F(RecordTableTest, AReportNamingTheRecordsIdAsRequestedIdIsAdopted) {
  RecordTable::Locked table(*table_);
  table.Insert(kWeb, Record("proposed", "a1"), RecordOp::kNone);
  table.at(kWeb).sandbox.mutable_status()->set_phase(SandboxStatus::Scheduled);
  table.ApplyReport(kWeb,
                    {.container_id = "warm-1",
                     .requested_id = "proposed",
                     .phase = ReportedSandbox::Phase::kRunning},
                    "10.0.0.1");
  EXPECT_EQ(table.at(kWeb).sandbox.status().container_id(), "warm-1");
  EXPECT_EQ(table.at(kWeb).sandbox.status().phase(), SandboxStatus::Running);
  EXPECT_EQ(table.FindByContainer("warm-1"), kWeb);
  EXPECT_EQ(table.FindByContainer("proposed"), std::nullopt);
  EXPECT_TRUE(table.at(kWeb).stored);  // the change was queued for the store

  // A user's intent owns the phase: a Terminating record does not come back to life.
  table.at(kWeb).sandbox.mutable_status()->set_phase(SandboxStatus::Terminating);
  table.ApplyReport(kWeb, Exited("warm-1", 0), "10.0.0.1");
  EXPECT_EQ(table.at(kWeb).sandbox.status().phase(), SandboxStatus::Terminating);
}

TEST_F(RecordTableTest, AReportedIpBecomesTheEndpointsUnlessAUserIntentOwnsTheRecord) {
  RecordTable::Locked table(*table_);
  Sandbox sandbox = Record("c1", "a1");
  sandbox.mutable_spec()->add_exposed_ports(80);
  v1alpha1::PortPublish* published = sandbox.mutable_spec()->add_publish();
  published->set_host_port(8080);
  published->set_container_port(80);
  table.Insert(kWeb, sandbox, RecordOp::kNone);
  ReportedSandbox running{.container_id = "c1", .phase = ReportedSandbox::Phase::kRunning};
  running.ip = "10.88.0.3";
  table.ApplyReport(kWeb, running, "10.0.0.1");
  EXPECT_EQ(table.at(kWeb).sandbox.status().ip(), "10.88.0.3");
  EXPECT_THAT(table.at(kWeb).sandbox.status().endpoints(),
              ElementsAre("10.88.0.3:80", "10.0.0.1:8080"));
  EXPECT_TRUE(table.at(kWeb).stored);

  // A deferred report carries the reporting agent's host with it.
  table.at(kWeb).op = RecordOp::kCreating;
  running.ip = "10.88.0.4";
  table.at(kWeb).deferred = DeferredReport{"a1", "10.0.0.9", running};
  table.Settle(kWeb);
  EXPECT_THAT(table.at(kWeb).sandbox.status().endpoints(),
              ElementsAre("10.88.0.4:80", "10.0.0.9:8080"));

  table.at(kWeb).sandbox.mutable_status()->set_phase(SandboxStatus::Terminating);
  running.ip = "10.88.0.5";
  table.ApplyReport(kWeb, running, "10.0.0.1");
  EXPECT_EQ(table.at(kWeb).sandbox.status().ip(), "10.88.0.4");
}

}  // namespace
}  // namespace fsb::controller
