#ifndef FSB_CONTROLLER_STORE_SQLITE_STORE_H_
#define FSB_CONTROLLER_STORE_SQLITE_STORE_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "controller/store/store.h"
#include "controller/store/watch_hub.h"
#include "internal/metrics/metrics.h"

struct sqlite3;
struct sqlite3_stmt;

namespace fsb::store {

// The embedded default Store: one SQLite database file (by convention
// `<data-dir>/fsb.db`, see kDefaultFileName) in WAL mode.
//
// Durability: a write is one transaction, committed to the write-ahead log before the
// call returns OK. What that commit survives is Options::synchronous:
// * Synchronous::kFull (the default): SQLite fsyncs the WAL on every commit, so a write
//   that returned OK survives a crash of the process and a power loss or kernel crash.
//   The cost is one fsync per write.
// * Synchronous::kNormal: no fsync per commit (only at checkpoints). A write that
//   returned OK survives a crash of the process (SIGKILL, abort: the committed WAL
//   frames are in the OS page cache), but the last transactions before a power loss or
//   kernel crash may be rolled back. The database stays consistent either way.
//
// Quarantine: Quarantine() moves a row to the table `quarantine` (kind, namespace,
// name, value, mod_revision, quarantine_revision, reason), where its bytes stay for an
// operator (`sqlite3 fsb.db 'SELECT * FROM quarantine'` while fsb is stopped), and
// counts it in fsb_controller_store_quarantined_rows_total{kind} when Options::registry
// is set.
//
// Concurrency: one connection guarded by a mutex serializes every operation; a write is
// one transaction (the compare-and-swap check and the write are atomic). The connection
// holds an exclusive lock on the file while open (SQLite's locking_mode=EXCLUSIVE), so
// only one process uses it at a time: Open in a second process fails with UNAVAILABLE,
// and the sqlite3 shell can inspect the file only while fsb has it closed. The lock dies
// with the process, so a restart after a crash opens the file normally.
//
// Watch: see WatchHub. Events are published after commit, under the write lock, so in
// revision order; callbacks run on a store-owned thread. The event log is in memory:
// after reopening, watches can start only from the current revision onwards.
//
// Label selectors are evaluated in SQL over an indexed labels table.
class SqliteStore : public Store {
 public:
  static constexpr char kDefaultFileName[] = "fsb.db";

  enum class Synchronous { kNormal, kFull };

  struct Options {
    Synchronous synchronous = Synchronous::kFull;
    // How long a statement waits for a lock held by another connection.
    absl::Duration busy_timeout = absl::Seconds(5);
    // Watch events retained for watchers that start from an older revision or lag.
    size_t event_log_capacity = 10000;
    // Where the store registers its metrics (it must outlive the store); null: none.
    metrics::Registry* registry = nullptr;
  };

  // Opens (creating if needed) the database at `path`; its directory must exist.
  // FAILED_PRECONDITION if the file holds a newer schema; UNAVAILABLE if another process
  // holds the file (after waiting busy_timeout) or it cannot be opened; INTERNAL for
  // other SQLite errors.
  static absl::StatusOr<std::unique_ptr<SqliteStore>> Open(const std::string& path,
                                                           const Options& options);

  // Stops the watch dispatcher (remaining watchers receive CANCELLED) and closes the file.
  ~SqliteStore() override;

  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  absl::StatusOr<int64_t> Create(const Object& object) override;
  absl::StatusOr<Object> Get(const ObjectKey& key) override;
  absl::StatusOr<int64_t> Update(const Object& object, int64_t expected_resource_version) override;
  absl::StatusOr<Object> Delete(const ObjectKey& key,
                                std::optional<int64_t> expected_resource_version) override;
  absl::StatusOr<ListResult> List(const ListOptions& options) override;
  absl::StatusOr<std::unique_ptr<WatchHandle>> Watch(const WatchOptions& options,
                                                     WatchCallback callback) override;
  absl::StatusOr<int64_t> CurrentRevision() override;
  absl::Status Quarantine(const ObjectKey& key, int64_t expected_resource_version,
                          std::string_view reason) override;

  // The synchronous setting in effect on the connection, as SQLite reports it (PRAGMA
  // synchronous). INTERNAL for a setting fsb never asks for.
  absl::StatusOr<Synchronous> ReadSynchronous();

 private:
  struct StmtDeleter {
    void operator()(sqlite3_stmt* stmt) const;
  };
  using Stmt = std::unique_ptr<sqlite3_stmt, StmtDeleter>;

  // A stored row.
  struct Row {
    int64_t id = 0;
    Object object;
  };

  SqliteStore(sqlite3* db, int64_t revision, const Options& options);

  // Returns the cached prepared statement for `sql`, reset and with bindings cleared.
  absl::StatusOr<sqlite3_stmt*> Prepare(std::string_view sql) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Exec(std::string_view sql) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::StatusOr<std::optional<Row>> FindRow(const ObjectKey& key)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<Labels> ReadLabels(int64_t id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status WriteLabels(int64_t id, const Labels& labels) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Runs `write` in a transaction that also advances the revision counter to
  // revision_ + 1 (passed to `write`); commits if it succeeds, rolls back otherwise.
  // On commit, publishes the event `write` produced.
  template <typename WriteFn>
  absl::Status Transact(WriteFn write) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Delete, and Quarantine when `quarantine_reason` is set (the row is copied to the
  // quarantine table in the same transaction).
  absl::StatusOr<Object> Remove(const ObjectKey& key,
                                std::optional<int64_t> expected_resource_version,
                                const std::string* quarantine_reason) ABSL_LOCKS_EXCLUDED(mu_);

  absl::Mutex mu_;
  sqlite3* const db_;  // owned; used under mu_
  std::map<std::string, Stmt, std::less<>> statements_ ABSL_GUARDED_BY(mu_);
  int64_t revision_ ABSL_GUARDED_BY(mu_);  // latest committed revision
  // fsb_controller_store_quarantined_rows_total; null without Options::registry.
  metrics::Family<metrics::Counter>* const quarantined_;
  // Non-null until the destructor stops it, before the connection closes.
  std::unique_ptr<WatchHub> hub_;
};

}  // namespace fsb::store

#endif  // FSB_CONTROLLER_STORE_SQLITE_STORE_H_
