#include "controller/store/persister.h"

#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>

#include "controller/store/sqlite_store.h"
#include "glog/logging.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb::store {
namespace {

using ::testing::HasSubstr;

// A Store that fails the next `fail_writes` writes with UNAVAILABLE, then delegates.
class FlakyStore : public Store {
 public:
  explicit FlakyStore(Store* inner) : inner_(inner) {}
  std::atomic<int> fail_writes{0};
  std::atomic<int> writes{0};

  absl::StatusOr<int64_t> Create(const Object& o) override {
    if (absl::Status s = MaybeFail(); !s.ok()) return s;
    return inner_->Create(o);
  }
  absl::StatusOr<Object> Get(const ObjectKey& k) override { return inner_->Get(k); }
  absl::StatusOr<int64_t> Update(const Object& o, int64_t rv) override {
    if (absl::Status s = MaybeFail(); !s.ok()) return s;
    return inner_->Update(o, rv);
  }
  absl::StatusOr<Object> Delete(const ObjectKey& k, std::optional<int64_t> rv) override {
    if (absl::Status s = MaybeFail(); !s.ok()) return s;
    return inner_->Delete(k, rv);
  }
  absl::Status Quarantine(const ObjectKey& k, int64_t rv, std::string_view reason) override {
    return inner_->Quarantine(k, rv, reason);
  }
  absl::StatusOr<ListResult> List(const ListOptions& o) override { return inner_->List(o); }
  absl::StatusOr<std::unique_ptr<WatchHandle>> Watch(const WatchOptions& o,
                                                     WatchCallback cb) override {
    return inner_->Watch(o, std::move(cb));
  }
  absl::StatusOr<int64_t> CurrentRevision() override { return inner_->CurrentRevision(); }

 private:
  absl::Status MaybeFail() {
    ++writes;
    if (fail_writes.load() > 0) {
      --fail_writes;
      return absl::UnavailableError("disk on fire");
    }
    return absl::OkStatus();
  }
  Store* inner_;
};

class PersisterTest : public ::testing::Test {
 protected:
  PersisterTest() {
    std::string pattern = (std::filesystem::temp_directory_path() / "fsb_persist_XXXXXX").string();
    CHECK(mkdtemp(pattern.data()) != nullptr);
    dir_ = pattern;
    auto store = SqliteStore::Open(dir_ + "/fsb.db", {});
    CHECK(store.ok()) << store.status();
    sqlite_ = *std::move(store);
  }
  ~PersisterTest() override {
    persister_.reset();
    sqlite_.reset();
    std::filesystem::remove_all(dir_);
  }

  static Object Obj(const std::string& name, const std::string& value) {
    return Object{{"Sandbox", "default", name}, value, {{"app", name}}, 0};
  }
  std::string Value(const std::string& name) {
    absl::StatusOr<Object> o = sqlite_->Get({"Sandbox", "default", name});
    return o.ok() ? o->value
                  : std::string(o.status().code() == absl::StatusCode::kNotFound ? "<absent>"
                                                                                 : "<error>");
  }

  std::string dir_;
  std::unique_ptr<SqliteStore> sqlite_;
  std::unique_ptr<FlakyStore> flaky_;
  std::unique_ptr<Persister> persister_;
};

TEST_F(PersisterTest, WritesTheLatestStateCreateUpdateDelete) {
  persister_ = std::make_unique<Persister>(sqlite_.get(), Persister::Options{});
  const ObjectKey key{"Sandbox", "default", "a"};
  uint64_t t1 = persister_->Put(Obj("a", "v1"));
  ASSERT_TRUE(persister_->Wait(key, t1, absl::Seconds(10)).ok());
  EXPECT_EQ(Value("a"), "v1");
  const int64_t v1 = persister_->StoredVersion(key);
  EXPECT_GT(v1, 0);

  persister_->Put(Obj("a", "v2"));
  uint64_t t3 = persister_->Put(Obj("a", "v3"));
  ASSERT_TRUE(persister_->Wait(key, t3, absl::Seconds(10)).ok());
  EXPECT_EQ(Value("a"), "v3");
  EXPECT_GT(persister_->StoredVersion(key), v1);

  uint64_t t4 = persister_->Remove(key);
  ASSERT_TRUE(persister_->Wait(key, t4, absl::Seconds(10)).ok());
  EXPECT_EQ(Value("a"), "<absent>");
  EXPECT_EQ(persister_->StoredVersion(key), 0);
  // Removing what is not there is durable at once.
  uint64_t t5 = persister_->Remove({"Sandbox", "default", "never"});
  EXPECT_TRUE(persister_->Wait({"Sandbox", "default", "never"}, t5, absl::Seconds(10)).ok());
}

TEST_F(PersisterTest, OwnerStateWinsOverForeignWrites) {
  persister_ = std::make_unique<Persister>(sqlite_.get(), Persister::Options{});
  const ObjectKey key{"Sandbox", "default", "a"};
  ASSERT_TRUE(persister_->Wait(key, persister_->Put(Obj("a", "mine")), absl::Seconds(10)).ok());
  // Someone else updates it: our next write hits a stale resourceVersion, re-reads, wins.
  absl::StatusOr<Object> current = sqlite_->Get(key);
  ASSERT_TRUE(sqlite_->Update(Obj("a", "theirs"), current->resource_version).ok());
  ASSERT_TRUE(persister_->Wait(key, persister_->Put(Obj("a", "mine2")), absl::Seconds(10)).ok());
  EXPECT_EQ(Value("a"), "mine2");
  // Someone else deletes it: the update finds nothing and creates it again.
  ASSERT_TRUE(sqlite_->Delete(key, std::nullopt).ok());
  ASSERT_TRUE(persister_->Wait(key, persister_->Put(Obj("a", "mine3")), absl::Seconds(10)).ok());
  EXPECT_EQ(Value("a"), "mine3");
  // It exists though we think it does not (e.g. written before a restart, not Known).
  Persister fresh(sqlite_.get(), {});
  ASSERT_TRUE(fresh.Wait(key, fresh.Put(Obj("a", "fresh")), absl::Seconds(10)).ok());
  EXPECT_EQ(Value("a"), "fresh");
}

TEST_F(PersisterTest, KnownVersionsMakeTheFirstWriteAnUpdate) {
  const ObjectKey key{"Sandbox", "default", "a"};
  absl::StatusOr<int64_t> rv = sqlite_->Create(Obj("a", "loaded"));
  ASSERT_TRUE(rv.ok());
  persister_ = std::make_unique<Persister>(sqlite_.get(), Persister::Options{});
  persister_->Known(key, *rv);
  EXPECT_EQ(persister_->StoredVersion(key), *rv);
  ASSERT_TRUE(persister_->Wait(key, persister_->Put(Obj("a", "next")), absl::Seconds(10)).ok());
  EXPECT_EQ(Value("a"), "next");
  EXPECT_EQ(persister_->StoredVersion(key), *rv + 1);
}

TEST_F(PersisterTest, FailedWritesAreRetriedAndWaitReportsTheError) {
  flaky_ = std::make_unique<FlakyStore>(sqlite_.get());
  flaky_->fail_writes = 1000;
  persister_ = std::make_unique<Persister>(
      flaky_.get(), Persister::Options{.min_backoff = absl::Milliseconds(1),
                                       .max_backoff = absl::Milliseconds(5)});
  const ObjectKey key{"Sandbox", "default", "a"};
  uint64_t ticket = persister_->Put(Obj("a", "v"));
  absl::Status waited = persister_->Wait(key, ticket, absl::Milliseconds(100));
  EXPECT_EQ(waited.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(waited.message(), HasSubstr("disk on fire"));
  EXPECT_GT(flaky_->writes.load(), 3);
  EXPECT_EQ(persister_->WaitAll(absl::Milliseconds(10)).code(),
            absl::StatusCode::kDeadlineExceeded);

  flaky_->fail_writes = 0;
  EXPECT_TRUE(persister_->Wait(key, ticket, absl::Seconds(10)).ok());
  EXPECT_TRUE(persister_->WaitAll(absl::Seconds(10)).ok());
  EXPECT_EQ(Value("a"), "v");
}

TEST_F(PersisterTest, WaitAllCoversEveryKey) {
  persister_ = std::make_unique<Persister>(sqlite_.get(), Persister::Options{});
  for (int i = 0; i < 100; ++i) persister_->Put(Obj("s" + std::to_string(i), "v"));
  ASSERT_TRUE(persister_->WaitAll(absl::Seconds(30)).ok());
  absl::StatusOr<ListResult> all = sqlite_->List({.kind = "Sandbox"});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->items.size(), 100u);
}

}  // namespace
}  // namespace fsb::store
