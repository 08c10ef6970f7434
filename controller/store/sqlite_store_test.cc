#include "controller/store/sqlite_store.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "controller/store/sqlite_store_testing.h"
#include "glog/logging.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "internal/metrics/metrics.h"

namespace fsb::store {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "fsb_store_XXXXXX").string();
    CHECK(mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

Object Obj(std::string kind, std::string ns, std::string name, std::string value,
           Labels labels = {}) {
  return Object{
      {std::move(kind), std::move(ns), std::move(name)}, std::move(value), std::move(labels)};
}

// Collects watch results; waits for them with a generous deadline.
class Collector {
 public:
  WatchCallback Callback() {
    return [this](const absl::StatusOr<WatchEvent>& e) {
      absl::MutexLock lock(&mu_);
      results_.push_back(e);
    };
  }
  std::vector<absl::StatusOr<WatchEvent>> WaitFor(size_t n,
                                                  absl::Duration timeout = absl::Seconds(10)) {
    absl::MutexLock lock(&mu_);
    auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return results_.size() >= n; };
    mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
    return results_;
  }

 private:
  absl::Mutex mu_;
  std::vector<absl::StatusOr<WatchEvent>> results_ ABSL_GUARDED_BY(mu_);
};

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  void Reopen(SqliteStore::Options options = {}) {
    store_.reset();
    absl::StatusOr<std::unique_ptr<SqliteStore>> s = SqliteStore::Open(path_, options);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = *std::move(s);
  }

  int64_t MustCreate(const Object& o) {
    absl::StatusOr<int64_t> rv = store_->Create(o);
    EXPECT_TRUE(rv.ok()) << rv.status();
    return rv.value_or(0);
  }

  std::vector<std::string> Names(const ListOptions& options) {
    absl::StatusOr<ListResult> r = store_->List(options);
    EXPECT_TRUE(r.ok()) << r.status();
    std::vector<std::string> names;
    if (!r.ok()) return names;
    for (const Object& o : r->items) names.push_back(o.key.ns + "/" + o.key.name);
    return names;
  }

  TempDir dir_;
  std::string path_ = dir_.File(SqliteStore::kDefaultFileName);
  std::unique_ptr<SqliteStore> store_;
};

TEST_F(SqliteStoreTest, CreateGetUpdateDelete) {
  EXPECT_EQ(*store_->CurrentRevision(), 0);
  int64_t rv1 = MustCreate(Obj("Sandbox", "default", "a", "v1", {{"app", "web"}}));
  EXPECT_EQ(rv1, 1);

  absl::StatusOr<Object> got = store_->Get({"Sandbox", "default", "a"});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->value, "v1");
  EXPECT_EQ(got->resource_version, rv1);
  EXPECT_EQ(got->labels, (Labels{{"app", "web"}}));

  absl::StatusOr<int64_t> rv2 =
      store_->Update(Obj("Sandbox", "default", "a", "v2", {{"tier", "x"}}), rv1);
  ASSERT_TRUE(rv2.ok()) << rv2.status();
  EXPECT_EQ(*rv2, 2);
  got = store_->Get({"Sandbox", "default", "a"});
  EXPECT_EQ(got->value, "v2");
  EXPECT_EQ(got->labels, (Labels{{"tier", "x"}}));

  absl::StatusOr<Object> deleted = store_->Delete({"Sandbox", "default", "a"}, std::nullopt);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(deleted->value, "v2");
  EXPECT_EQ(deleted->resource_version, 3);
  EXPECT_EQ(store_->Get({"Sandbox", "default", "a"}).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(*store_->CurrentRevision(), 3);
}

TEST_F(SqliteStoreTest, ErrorCodes) {
  int64_t rv = MustCreate(Obj("Sandbox", "default", "a", "v"));
  absl::StatusOr<int64_t> dup = store_->Create(Obj("Sandbox", "default", "a", "w"));
  EXPECT_EQ(dup.status().code(), absl::StatusCode::kAlreadyExists);
  // Same name in another namespace or kind is a different object.
  MustCreate(Obj("Sandbox", "other", "a", "v"));
  MustCreate(Obj("Agent", "", "a", "v"));

  EXPECT_EQ(store_->Get({"Sandbox", "default", "zz"}).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Update(Obj("Sandbox", "default", "zz", "v"), 1).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Delete({"Sandbox", "default", "zz"}, std::nullopt).status().code(),
            absl::StatusCode::kNotFound);

  absl::StatusOr<Object> stale_delete = store_->Delete({"Sandbox", "default", "a"}, rv + 100);
  EXPECT_EQ(stale_delete.status().code(), absl::StatusCode::kAborted);
  EXPECT_TRUE(store_->Delete({"Sandbox", "default", "a"}, rv).ok());

  EXPECT_EQ(store_->Create(Obj("", "default", "a", "v")).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Create(Obj("Sandbox", "default", "", "v")).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Failed writes do not advance the revision: 3 creates and 1 delete succeeded.
  EXPECT_EQ(*store_->CurrentRevision(), 4);
}

TEST_F(SqliteStoreTest, CompareAndSwapConflict) {
  int64_t rv = MustCreate(Obj("Sandbox", "default", "a", "v0"));
  absl::StatusOr<int64_t> first = store_->Update(Obj("Sandbox", "default", "a", "v1"), rv);
  absl::StatusOr<int64_t> second = store_->Update(Obj("Sandbox", "default", "a", "v2"), rv);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(second.status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(second.status().message(),
              HasSubstr(absl::StrCat("expected resourceVersion ", rv, ", actual ", *first)));
  EXPECT_EQ(store_->Get({"Sandbox", "default", "a"})->value, "v1");
}

TEST_F(SqliteStoreTest, ListByNamespaceAndSelector) {
  MustCreate(Obj("Sandbox", "ns1", "a", "", {{"app", "web"}, {"env", "prod"}}));
  MustCreate(Obj("Sandbox", "ns1", "b", "", {{"app", "db"}}));
  MustCreate(Obj("Sandbox", "ns2", "c", "", {{"app", "web"}, {"gpu", ""}}));
  MustCreate(Obj("Sandbox", "ns2", "d", ""));
  MustCreate(Obj("Agent", "", "e", "", {{"app", "web"}}));

  EXPECT_THAT(Names({.kind = "Sandbox"}), ElementsAre("ns1/a", "ns1/b", "ns2/c", "ns2/d"));
  EXPECT_THAT(Names({.kind = "Sandbox", .ns = "ns2"}), ElementsAre("ns2/c", "ns2/d"));
  EXPECT_THAT(Names({.kind = "Agent"}), ElementsAre("/e"));
  EXPECT_THAT(Names({.kind = "Sandbox", .label_selector = "app=web"}),
              ElementsAre("ns1/a", "ns2/c"));
  EXPECT_THAT(Names({.kind = "Sandbox", .label_selector = "app==db"}), ElementsAre("ns1/b"));
  EXPECT_THAT(Names({.kind = "Sandbox", .label_selector = "app!=web"}),
              ElementsAre("ns1/b", "ns2/d"));
  EXPECT_THAT(Names({.kind = "Sandbox", .label_selector = "gpu"}), ElementsAre("ns2/c"));
  EXPECT_THAT(Names({.kind = "Sandbox", .label_selector = "!app"}), ElementsAre("ns2/d"));
  EXPECT_THAT(Names({.kind = "Sandbox", .label_selector = "app=web,env=prod"}),
              ElementsAre("ns1/a"));
  EXPECT_THAT(Names({.kind = "Sandbox", .ns = "ns2", .label_selector = "app=web"}),
              ElementsAre("ns2/c"));

  absl::StatusOr<ListResult> r = store_->List({.kind = "Sandbox"});
  EXPECT_EQ(r->resource_version, 5);
  EXPECT_EQ(r->items[0].labels, (Labels{{"app", "web"}, {"env", "prod"}}));
  EXPECT_TRUE(r->continue_token.empty());
}

TEST_F(SqliteStoreTest, SqlSelectorAgreesWithMatches) {
  const std::vector<Labels> label_sets = {
      {}, {{"a", "1"}}, {{"a", "2"}}, {{"b", "1"}}, {{"a", "1"}, {"b", "1"}}, {{"a", ""}}};
  for (size_t i = 0; i < label_sets.size(); ++i) {
    MustCreate(Obj("Sandbox", "ns", absl::StrCat("o", i), "", label_sets[i]));
  }
  for (const char* selector : {"a", "!a", "a=1", "a!=1", "a=", "a,b", "a!=2,!b", "b=1,a=1"}) {
    std::vector<std::string> expected;
    for (size_t i = 0; i < label_sets.size(); ++i) {
      if (Matches(*ParseLabelSelector(selector), label_sets[i])) {
        expected.push_back(absl::StrCat("ns/o", i));
      }
    }
    EXPECT_EQ(Names({.kind = "Sandbox", .label_selector = selector}), expected) << selector;
  }
}

TEST_F(SqliteStoreTest, BadSelectorAndTokenAreInvalidArgument) {
  EXPECT_EQ(store_->List({.kind = "Sandbox", .label_selector = "a=b=c"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->List({.kind = "Sandbox", .continue_token = "%%%"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->List({.kind = "Sandbox", .continue_token = "Zm9v"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->List({.kind = ""}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SqliteStoreTest, PaginationIsStableWhileItemsAreAdded) {
  std::set<std::string> originals;
  for (int i = 0; i < 25; ++i) {
    std::string name = absl::StrCat("s", i < 10 ? "0" : "", i);
    MustCreate(Obj("Sandbox", i % 2 ? "ns-b" : "ns-a", name, ""));
    originals.insert((i % 2 ? "ns-b/" : "ns-a/") + name);
  }
  std::vector<std::string> seen;
  ListOptions options{.kind = "Sandbox", .limit = 7};
  int64_t list_rv = 0;
  int pages = 0;
  while (true) {
    absl::StatusOr<ListResult> page = store_->List(options);
    ASSERT_TRUE(page.ok()) << page.status();
    ++pages;
    if (list_rv == 0) list_rv = page->resource_version;
    EXPECT_EQ(page->resource_version, list_rv);
    EXPECT_LE(page->items.size(), 7u);
    for (const Object& o : page->items) seen.push_back(o.key.ns + "/" + o.key.name);
    // Concurrent writers add objects before, between and after the cursor.
    MustCreate(Obj("Sandbox", "ns-a", absl::StrCat("s", pages, "x"), ""));
    MustCreate(Obj("Sandbox", "ns-c", absl::StrCat("n", pages), ""));
    if (page->continue_token.empty()) break;
    options.continue_token = page->continue_token;
  }
  EXPECT_EQ(pages, 4);
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), seen.size()) << "duplicates";
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()), originals);
  // The objects added meanwhile are delivered by a watch from the list's revision.
  Collector collector;
  absl::StatusOr<std::unique_ptr<WatchHandle>> watch =
      store_->Watch({.kind = "Sandbox", .from_resource_version = list_rv}, collector.Callback());
  ASSERT_TRUE(watch.ok()) << watch.status();
  EXPECT_EQ(collector.WaitFor(8).size(), 8u);
}

TEST_F(SqliteStoreTest, WatchDeliversEventsInOrder) {
  Collector all;
  Collector ns1;
  auto w1 = store_->Watch({.kind = "Sandbox"}, all.Callback());
  auto w2 = store_->Watch({.kind = "Sandbox", .ns = "ns1"}, ns1.Callback());
  ASSERT_TRUE(w1.ok() && w2.ok());
  int64_t rv = MustCreate(Obj("Sandbox", "ns1", "a", "v1"));
  MustCreate(Obj("Agent", "", "x", "ignored"));
  rv = *store_->Update(Obj("Sandbox", "ns1", "a", "v2"), rv);
  MustCreate(Obj("Sandbox", "ns2", "b", "v1"));
  ASSERT_TRUE(store_->Delete({"Sandbox", "ns1", "a"}, rv).ok());

  std::vector<absl::StatusOr<WatchEvent>> events = all.WaitFor(4);
  ASSERT_EQ(events.size(), 4u);
  std::vector<EventType> types;
  std::vector<int64_t> revisions;
  for (const auto& e : events) {
    ASSERT_TRUE(e.ok()) << e.status();
    types.push_back(e->type);
    revisions.push_back(e->object.resource_version);
  }
  EXPECT_THAT(types, ElementsAre(EventType::kAdded, EventType::kModified, EventType::kAdded,
                                 EventType::kDeleted));
  EXPECT_THAT(revisions, ElementsAre(1, 3, 4, 5));
  EXPECT_EQ(events[1]->object.value, "v2");
  EXPECT_EQ(events[3]->object.value, "v2");  // last state of the deleted object

  std::vector<absl::StatusOr<WatchEvent>> filtered = ns1.WaitFor(3);
  ASSERT_EQ(filtered.size(), 3u);
  for (const auto& e : filtered) EXPECT_EQ(e->object.key.ns, "ns1");
}

TEST_F(SqliteStoreTest, WatchFromOldRevisionReplays) {
  int64_t rv1 = MustCreate(Obj("Sandbox", "ns", "a", "1"));
  MustCreate(Obj("Sandbox", "ns", "b", "2"));
  MustCreate(Obj("Sandbox", "ns", "c", "3"));
  Collector collector;
  auto watch =
      store_->Watch({.kind = "Sandbox", .from_resource_version = rv1}, collector.Callback());
  ASSERT_TRUE(watch.ok()) << watch.status();
  MustCreate(Obj("Sandbox", "ns", "d", "4"));
  std::vector<absl::StatusOr<WatchEvent>> events = collector.WaitFor(3);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0]->object.key.name, "b");
  EXPECT_EQ(events[1]->object.key.name, "c");
  EXPECT_EQ(events[2]->object.key.name, "d");
}

TEST_F(SqliteStoreTest, WatchFromTooOldRevisionFails) {
  Reopen({.event_log_capacity = 3});
  for (int i = 0; i < 10; ++i) MustCreate(Obj("Sandbox", "ns", absl::StrCat("o", i), ""));
  Collector collector;
  auto too_old =
      store_->Watch({.kind = "Sandbox", .from_resource_version = 2}, collector.Callback());
  EXPECT_EQ(too_old.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(too_old.status().message(), HasSubstr("too old"));
  // Revisions 8..10 are retained: watching from 7 replays them.
  auto ok = store_->Watch({.kind = "Sandbox", .from_resource_version = 7}, collector.Callback());
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(collector.WaitFor(3).size(), 3u);

  // The event log does not survive a reopen; the current revision does.
  ok->reset();
  Reopen();
  EXPECT_EQ(store_->Watch({.kind = "Sandbox", .from_resource_version = 9}, collector.Callback())
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(
      store_->Watch({.kind = "Sandbox", .from_resource_version = 10}, collector.Callback()).ok());
}

TEST_F(SqliteStoreTest, LaggingWatcherGetsTooOldThenStops) {
  Reopen({.event_log_capacity = 2});
  absl::Notification entered;
  absl::Notification release;
  Collector collector;
  WatchCallback record = collector.Callback();
  auto watch = store_->Watch({.kind = "Sandbox"}, [&](const absl::StatusOr<WatchEvent>& e) {
    record(e);
    if (!entered.HasBeenNotified()) {
      entered.Notify();
      release.WaitForNotification();
    }
  });
  ASSERT_TRUE(watch.ok());
  MustCreate(Obj("Sandbox", "ns", "first", ""));
  entered.WaitForNotification();
  for (int i = 0; i < 5; ++i) MustCreate(Obj("Sandbox", "ns", absl::StrCat("o", i), ""));
  release.Notify();
  std::vector<absl::StatusOr<WatchEvent>> results = collector.WaitFor(2);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_TRUE(results[0].ok());
  EXPECT_EQ(results[1].status().code(), absl::StatusCode::kFailedPrecondition);
  MustCreate(Obj("Sandbox", "ns", "after", ""));
  // Expected to time out: nothing follows the final status.
  EXPECT_EQ(collector.WaitFor(3, absl::Milliseconds(200)).size(), 2u);
}

TEST_F(SqliteStoreTest, WatchHandleUnregistersEvenFromInsideTheCallback) {
  std::atomic<int> calls = 0;
  absl::Notification done;
  std::unique_ptr<WatchHandle> handle;
  absl::Mutex mu;
  auto watch = store_->Watch({.kind = "Sandbox"}, [&](const absl::StatusOr<WatchEvent>&) {
    ++calls;
    absl::MutexLock lock(&mu);
    handle.reset();
    done.Notify();
  });
  ASSERT_TRUE(watch.ok());
  {
    absl::MutexLock lock(&mu);
    handle = *std::move(watch);
  }
  MustCreate(Obj("Sandbox", "ns", "a", ""));
  MustCreate(Obj("Sandbox", "ns", "b", ""));
  done.WaitForNotification();
  // Synchronizes with the dispatcher: a new watcher's first event comes after "c".
  Collector later;
  auto after = store_->Watch({.kind = "Sandbox"}, later.Callback());
  MustCreate(Obj("Sandbox", "ns", "c", ""));
  later.WaitFor(1);
  EXPECT_EQ(calls, 1);
}

TEST_F(SqliteStoreTest, ClosingTheStoreCancelsWatchers) {
  Collector collector;
  auto watch = store_->Watch({.kind = "Sandbox"}, collector.Callback());
  ASSERT_TRUE(watch.ok());
  store_.reset();
  std::vector<absl::StatusOr<WatchEvent>> results = collector.WaitFor(1);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].status().code(), absl::StatusCode::kCancelled);
  watch->reset();  // the handle may outlive the store
}

TEST_F(SqliteStoreTest, DataAndRevisionSurviveReopen) {
  int64_t rv = MustCreate(Obj("Sandbox", "ns", "a", "v1", {{"k", "v"}}));
  MustCreate(Obj("Sandbox", "ns", "b", "v1"));
  ASSERT_TRUE(store_->Delete({"Sandbox", "ns", "b"}, std::nullopt).ok());  // revision 3
  Reopen({.synchronous = SqliteStore::Synchronous::kFull});
  EXPECT_EQ(*store_->CurrentRevision(), 3);
  absl::StatusOr<Object> a = store_->Get({"Sandbox", "ns", "a"});
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->value, "v1");
  EXPECT_EQ(a->resource_version, rv);
  EXPECT_EQ(a->labels, (Labels{{"k", "v"}}));
  // The counter continues past the deleted object's revision.
  EXPECT_EQ(MustCreate(Obj("Sandbox", "ns", "c", "")), 4);
}

TEST_F(SqliteStoreTest, SynchronousSettingIsAppliedToTheConnection) {
  // The default is the one that survives a power loss.
  absl::StatusOr<SqliteStore::Synchronous> mode = store_->ReadSynchronous();
  ASSERT_TRUE(mode.ok()) << mode.status();
  EXPECT_EQ(*mode, SqliteStore::Synchronous::kFull);
  Reopen({.synchronous = SqliteStore::Synchronous::kNormal});
  mode = store_->ReadSynchronous();
  ASSERT_TRUE(mode.ok()) << mode.status();
  EXPECT_EQ(*mode, SqliteStore::Synchronous::kNormal);
  Reopen({.synchronous = SqliteStore::Synchronous::kFull});
  EXPECT_EQ(store_->ReadSynchronous().value_or(SqliteStore::Synchronous::kNormal),
            SqliteStore::Synchronous::kFull);
}

TEST_F(SqliteStoreTest, QuarantineMovesTheRowAsideWithItsBytes) {
  metrics::Registry registry;
  Reopen({.registry = &registry});
  const int64_t rv = MustCreate(Obj("Sandbox", "ns", "bad", std::string("\xff\x00junk", 6)));
  MustCreate(Obj("Sandbox", "ns", "good", "v", {{"k", "v"}}));
  EXPECT_EQ(store_->Quarantine({"Sandbox", "ns", "bad"}, rv + 5, "r").code(),
            absl::StatusCode::kAborted);
  EXPECT_EQ(store_->Quarantine({"Sandbox", "ns", "none"}, 1, "r").code(),
            absl::StatusCode::kNotFound);
  Collector events;
  absl::StatusOr<std::unique_ptr<WatchHandle>> watch =
      store_->Watch({.kind = "Sandbox"}, events.Callback());
  ASSERT_TRUE(watch.ok()) << watch.status();

  ASSERT_TRUE(store_->Quarantine({"Sandbox", "ns", "bad"}, rv, "does not parse").ok());
  EXPECT_EQ(*store_->CurrentRevision(), 3);
  EXPECT_EQ(store_->Get({"Sandbox", "ns", "bad"}).status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Names({.kind = "Sandbox"}), ElementsAre("ns/good"));
  std::vector<absl::StatusOr<WatchEvent>> seen = events.WaitFor(1);
  ASSERT_EQ(seen.size(), 1u);
  ASSERT_TRUE(seen[0].ok());
  EXPECT_EQ(seen[0]->type, EventType::kDeleted);
  EXPECT_EQ(seen[0]->object.key.name, "bad");
  EXPECT_THAT(registry.Serialize(),
              HasSubstr("fsb_controller_store_quarantined_rows_total{kind=\"Sandbox\"} 1"));
  // The key is free again.
  MustCreate(Obj("Sandbox", "ns", "bad", "new"));

  watch->reset();
  store_.reset();
  absl::StatusOr<std::vector<QuarantinedRow>> rows = ReadQuarantine(path_);
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].key, (ObjectKey{"Sandbox", "ns", "bad"}));
  EXPECT_EQ((*rows)[0].value, std::string("\xff\x00junk", 6));
  EXPECT_EQ((*rows)[0].reason, "does not parse");
}

TEST_F(SqliteStoreTest, RejectsNewerSchema) {
  store_.reset();
  {
    absl::StatusOr<std::unique_ptr<SqliteStore>> s = SqliteStore::Open(path_, {});
    ASSERT_TRUE(s.ok());
  }
  ASSERT_EQ(system(absl::StrCat("sqlite3 ", path_, " 'PRAGMA user_version=99'").c_str()), 0)
      << "needs the sqlite3 shell";
  absl::StatusOr<std::unique_ptr<SqliteStore>> s = SqliteStore::Open(path_, {});
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(SqliteStoreTest, SecondProcessCannotOpenTheFile) {
  MustCreate(Obj("Sandbox", "ns", "a", ""));
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    absl::StatusOr<std::unique_ptr<SqliteStore>> s =
        SqliteStore::Open(path_, {.busy_timeout = absl::Milliseconds(50)});
    _exit(s.status().code() == absl::StatusCode::kUnavailable ? 0 : 1);
  }
  int wstatus = 0;
  ASSERT_EQ(waitpid(pid, &wstatus, 0), pid);
  EXPECT_TRUE(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) << wstatus;
}

TEST(SqliteStoreOpenTest, MissingDirectoryIsAnError) {
  absl::StatusOr<std::unique_ptr<SqliteStore>> s = SqliteStore::Open("/nonexistent-dir/fsb.db", {});
  EXPECT_FALSE(s.ok());
}

// A child process writes objects and reports each acknowledged write on a pipe; it is
// SIGKILLed mid-stream (or _exits without closing). Every acknowledged write must be
// in the file afterwards: WAL with synchronous=NORMAL survives a process crash.
void CrashWhileWriting(const std::string& path, bool sigkill) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(path, {});
    if (!store.ok()) _exit(2);
    for (int i = 0; i < (sigkill ? 100000 : 200); ++i) {
      if (!(*store)
               ->Create(Obj("Sandbox", "ns", absl::StrCat("s", i), std::string(100, 'x')))
               .ok()) {
        _exit(3);
      }
      std::string ack = absl::StrCat(i, "\n");
      if (write(fds[1], ack.data(), ack.size()) != static_cast<ssize_t>(ack.size())) _exit(4);
    }
    _exit(0);  // no destructor: the connection is never closed cleanly
  }
  close(fds[1]);
  std::string acks;
  char buf[4096];
  bool killed = false;
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof(buf))) > 0) {
    acks.append(buf, n);
    if (sigkill && !killed && std::count(acks.begin(), acks.end(), '\n') >= 300) {
      kill(pid, SIGKILL);
      killed = true;
    }
  }
  close(fds[0]);
  int wstatus = 0;
  ASSERT_EQ(waitpid(pid, &wstatus, 0), pid);
  if (sigkill) {
    ASSERT_TRUE(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL) << wstatus;
  } else {
    ASSERT_TRUE(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) << wstatus;
  }

  std::vector<int> acked;
  for (absl::string_view line : absl::StrSplit(acks, '\n', absl::SkipEmpty())) {
    int i;
    ASSERT_TRUE(absl::SimpleAtoi(line, &i));
    acked.push_back(i);
  }
  ASSERT_GE(acked.size(), sigkill ? 300u : 200u);
  absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(path, {});
  ASSERT_TRUE(store.ok()) << store.status();
  for (int i : acked) {
    EXPECT_TRUE((*store)->Get({"Sandbox", "ns", absl::StrCat("s", i)}).ok()) << "lost s" << i;
  }
  int64_t revision = *(*store)->CurrentRevision();
  EXPECT_GE(revision, static_cast<int64_t>(acked.size()));
  // At most the one write in flight when the child died is committed but unacknowledged.
  EXPECT_LE(revision, static_cast<int64_t>(acked.size()) + 1);
  absl::StatusOr<ListResult> all = (*store)->List({.kind = "Sandbox"});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(static_cast<int64_t>(all->items.size()), revision);
}

TEST(SqliteStoreCrashTest, SigkillMidStreamLosesNoAcknowledgedWrite) {
  TempDir dir;
  CrashWhileWriting(dir.File("fsb.db"), /*sigkill=*/true);
}

TEST(SqliteStoreCrashTest, ExitWithoutCloseLosesNoAcknowledgedWrite) {
  TempDir dir;
  CrashWhileWriting(dir.File("fsb.db"), /*sigkill=*/false);
}

TEST_F(SqliteStoreTest, ConcurrentCasIncrementsAreExact) {
  MustCreate(Obj("Counter", "", "c", "0"));
  constexpr int kThreads = 4;
  constexpr int kIncrements = 50;
  std::atomic<int> conflicts = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIncrements; ++i) {
        while (true) {
          absl::StatusOr<Object> cur = store_->Get({"Counter", "", "c"});
          ASSERT_TRUE(cur.ok()) << cur.status();
          int value;
          ASSERT_TRUE(absl::SimpleAtoi(cur->value, &value));
          absl::StatusOr<int64_t> rv = store_->Update(
              Obj("Counter", "", "c", absl::StrCat(value + 1)), cur->resource_version);
          if (rv.ok()) break;
          ASSERT_EQ(rv.status().code(), absl::StatusCode::kAborted) << rv.status();
          ++conflicts;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  absl::StatusOr<Object> final_value = store_->Get({"Counter", "", "c"});
  EXPECT_EQ(final_value->value, absl::StrCat(kThreads * kIncrements));
  EXPECT_EQ(final_value->resource_version, 1 + kThreads * kIncrements);
  LOG(INFO) << "CAS conflicts retried: " << conflicts;
}

}  // namespace
}  // namespace fsb::store
