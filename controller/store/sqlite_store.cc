#include "controller/store/sqlite_store.h"

#include <sqlite3.h>

#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "internal/strings.h"

namespace fsb::store {
namespace {

constexpr int kSchemaVersion = 1;
// Bounds the number of distinct List statements (one per requirement count).
constexpr size_t kMaxSelectorRequirements = 32;

constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS meta(
  key TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO meta(key, value) VALUES ('revision', 0);
CREATE TABLE IF NOT EXISTS objects(
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL,
  namespace TEXT NOT NULL,
  name TEXT NOT NULL,
  value BLOB NOT NULL,
  create_revision INTEGER NOT NULL,
  mod_revision INTEGER NOT NULL,
  UNIQUE(kind, namespace, name)
);
CREATE TABLE IF NOT EXISTS labels(
  object_id INTEGER NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY(object_id, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS labels_by_key_value ON labels(key, value);
CREATE TABLE IF NOT EXISTS quarantine(
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL,
  namespace TEXT NOT NULL,
  name TEXT NOT NULL,
  value BLOB NOT NULL,
  mod_revision INTEGER NOT NULL,
  quarantine_revision INTEGER NOT NULL,
  reason TEXT NOT NULL
);
PRAGMA user_version = 1;
)sql";

absl::Status SqliteError(sqlite3* db, int rc, std::string_view what) {
  std::string message = absl::StrCat("sqlite: ", Sv(what), ": ", sqlite3_errstr(rc));
  if (db != nullptr && sqlite3_errcode(db) == rc) {
    absl::StrAppend(&message, " (", sqlite3_errmsg(db), ")");
  }
  int primary = rc & 0xff;
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
    return absl::UnavailableError(message);
  }
  return absl::InternalError(message);
}

void BindText(sqlite3_stmt* stmt, int index, std::string_view text) {
  sqlite3_bind_text(stmt, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
}

std::string ColumnText(sqlite3_stmt* stmt, int column) {
  const char* data = reinterpret_cast<const char*>(sqlite3_column_blob(stmt, column));
  return std::string(data == nullptr ? "" : data, sqlite3_column_bytes(stmt, column));
}

std::string KeyString(const ObjectKey& key) {
  return absl::StrCat(Sv(key.kind), " ", key.ns.empty() ? "" : absl::StrCat(Sv(key.ns), "/"),
                      Sv(key.name));
}

absl::Status ValidateKey(const ObjectKey& key) {
  if (key.kind.empty() || key.name.empty()) {
    return absl::InvalidArgumentError("object key needs a kind and a name");
  }
  return absl::OkStatus();
}

// A continue token: the list's revision and the last returned key, opaque to clients.
struct ContinueToken {
  int64_t revision = 0;
  std::string ns;
  std::string name;
};

std::string EncodeToken(const ContinueToken& token) {
  return absl::WebSafeBase64Escape(
      absl::StrCat(token.revision, ":", token.ns.size(), ":", Sv(token.ns), Sv(token.name)));
}

absl::StatusOr<ContinueToken> DecodeToken(std::string_view encoded) {
  absl::Status bad = absl::InvalidArgumentError("invalid continue token");
  std::string raw;
  if (!absl::WebSafeBase64Unescape(Sv(encoded), &raw)) return bad;
  std::vector<absl::string_view> parts = absl::StrSplit(raw, absl::MaxSplits(':', 2));
  ContinueToken token;
  size_t ns_size = 0;
  if (parts.size() != 3 || !absl::SimpleAtoi(parts[0], &token.revision) ||
      !absl::SimpleAtoi(parts[1], &ns_size) || ns_size > parts[2].size() || token.revision <= 0) {
    return bad;
  }
  token.ns = std::string(parts[2].substr(0, ns_size));
  token.name = std::string(parts[2].substr(ns_size));
  return token;
}

}  // namespace

void SqliteStore::StmtDeleter::operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }

absl::StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path,
                                                               const Options& options) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    absl::Status status = SqliteError(db, rc, absl::StrCat("open ", path));
    sqlite3_close(db);
    return absl::UnavailableError(status.message());
  }
  auto fail = [db](int rc, std::string_view what) {
    absl::Status status = SqliteError(db, rc, what);
    sqlite3_close(db);
    return status;
  };
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, static_cast<int>(absl::ToInt64Milliseconds(options.busy_timeout)));
  // EXCLUSIVE locking: the first access takes the file lock and keeps it until close, so
  // a second process (another controller on the same data dir) cannot open the file.
  std::string pragmas =
      absl::StrCat("PRAGMA locking_mode=EXCLUSIVE; PRAGMA journal_mode=WAL; PRAGMA synchronous=",
                   options.synchronous == Synchronous::kFull ? "FULL" : "NORMAL", ";");
  if (rc = sqlite3_exec(db, pragmas.c_str(), nullptr, nullptr, nullptr); rc != SQLITE_OK) {
    if ((rc & 0xff) == SQLITE_BUSY) {
      sqlite3_close(db);
      return absl::UnavailableError(
          absl::StrCat("sqlite: ", path, " is locked by another process"));
    }
    return fail(rc, "set pragmas");
  }
  // journal_mode=WAL reports the mode it got rather than failing.
  sqlite3_stmt* stmt = nullptr;
  if (rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, nullptr); rc != SQLITE_OK) {
    return fail(rc, "read journal mode");
  }
  rc = sqlite3_step(stmt);
  std::string mode = rc == SQLITE_ROW ? ColumnText(stmt, 0) : "";
  sqlite3_finalize(stmt);
  if (mode != "wal") {
    sqlite3_close(db);
    return absl::FailedPreconditionError(
        absl::StrCat("sqlite: ", path, ": cannot enable WAL mode (got \"", mode, "\")"));
  }
  if (rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, nullptr); rc != SQLITE_OK) {
    return fail(rc, "read schema version");
  }
  rc = sqlite3_step(stmt);
  int64_t version = rc == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : 0;
  sqlite3_finalize(stmt);
  if (version > kSchemaVersion) {
    sqlite3_close(db);
    return absl::FailedPreconditionError(absl::StrCat("sqlite: ", path, " has schema version ",
                                                      version, "; this fsb understands up to ",
                                                      kSchemaVersion));
  }
  std::string schema = absl::StrCat("BEGIN IMMEDIATE;", kSchema, "COMMIT;");
  if (rc = sqlite3_exec(db, schema.c_str(), nullptr, nullptr, nullptr); rc != SQLITE_OK) {
    return fail(rc, "create schema");
  }
  if (rc = sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'revision'", -1, &stmt,
                              nullptr);
      rc != SQLITE_OK) {
    return fail(rc, "read revision");
  }
  rc = sqlite3_step(stmt);
  int64_t revision = rc == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : 0;
  sqlite3_finalize(stmt);
  if (rc != SQLITE_ROW) return fail(rc, "read revision");
  return std::unique_ptr<SqliteStore>(new SqliteStore(db, revision, options));
}

SqliteStore::SqliteStore(sqlite3* db, int64_t revision, const Options& options)
    : db_(db),
      revision_(revision),
      quarantined_(options.registry == nullptr
                       ? nullptr
                       : &options.registry->AddCounter(
                             "fsb_controller_store_quarantined_rows_total",
                             "Stored rows that did not decode, moved to the store's quarantine "
                             "table (bytes kept) instead of being loaded, by kind.")),
      hub_(std::make_unique<WatchHub>(revision, options.event_log_capacity)) {}

SqliteStore::~SqliteStore() {
  hub_.reset();
  absl::MutexLock lock(&mu_);
  statements_.clear();
  sqlite3_close(db_);
}

absl::StatusOr<sqlite3_stmt*> SqliteStore::Prepare(std::string_view sql) {
  auto it = statements_.find(sql);
  if (it == statements_.end()) {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) return SqliteError(db_, rc, absl::StrCat("prepare ", Sv(sql)));
    it = statements_.emplace(std::string(sql), Stmt(stmt)).first;
  }
  sqlite3_stmt* stmt = it->second.get();
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
  return stmt;
}

absl::Status SqliteStore::Exec(std::string_view sql) {
  absl::StatusOr<sqlite3_stmt*> stmt = Prepare(sql);
  if (!stmt.ok()) return stmt.status();
  int rc = sqlite3_step(*stmt);
  sqlite3_reset(*stmt);
  if (rc != SQLITE_DONE) return SqliteError(db_, rc, sql);
  return absl::OkStatus();
}

absl::StatusOr<std::optional<SqliteStore::Row>> SqliteStore::FindRow(const ObjectKey& key) {
  absl::StatusOr<sqlite3_stmt*> stmt = Prepare(
      "SELECT id, value, mod_revision FROM objects "
      "WHERE kind = ?1 AND namespace = ?2 AND name = ?3");
  if (!stmt.ok()) return stmt.status();
  BindText(*stmt, 1, key.kind);
  BindText(*stmt, 2, key.ns);
  BindText(*stmt, 3, key.name);
  int rc = sqlite3_step(*stmt);
  if (rc == SQLITE_DONE) return std::nullopt;
  if (rc != SQLITE_ROW) return SqliteError(db_, rc, "read object");
  Row row;
  row.id = sqlite3_column_int64(*stmt, 0);
  row.object.key = key;
  row.object.value = ColumnText(*stmt, 1);
  row.object.resource_version = sqlite3_column_int64(*stmt, 2);
  sqlite3_reset(*stmt);
  absl::StatusOr<Labels> labels = ReadLabels(row.id);
  if (!labels.ok()) return labels.status();
  row.object.labels = *std::move(labels);
  return row;
}

absl::StatusOr<Labels> SqliteStore::ReadLabels(int64_t id) {
  absl::StatusOr<sqlite3_stmt*> stmt =
      Prepare("SELECT key, value FROM labels WHERE object_id = ?1");
  if (!stmt.ok()) return stmt.status();
  sqlite3_bind_int64(*stmt, 1, id);
  Labels labels;
  int rc;
  while ((rc = sqlite3_step(*stmt)) == SQLITE_ROW) {
    labels.emplace(ColumnText(*stmt, 0), ColumnText(*stmt, 1));
  }
  sqlite3_reset(*stmt);
  if (rc != SQLITE_DONE) return SqliteError(db_, rc, "read labels");
  return labels;
}

absl::Status SqliteStore::WriteLabels(int64_t id, const Labels& labels) {
  absl::StatusOr<sqlite3_stmt*> del = Prepare("DELETE FROM labels WHERE object_id = ?1");
  if (!del.ok()) return del.status();
  sqlite3_bind_int64(*del, 1, id);
  if (int rc = sqlite3_step(*del); rc != SQLITE_DONE) {
    return SqliteError(db_, rc, "delete labels");
  }
  for (const auto& [key, value] : labels) {
    absl::StatusOr<sqlite3_stmt*> ins =
        Prepare("INSERT INTO labels(object_id, key, value) VALUES (?1, ?2, ?3)");
    if (!ins.ok()) return ins.status();
    sqlite3_bind_int64(*ins, 1, id);
    BindText(*ins, 2, key);
    BindText(*ins, 3, value);
    if (int rc = sqlite3_step(*ins); rc != SQLITE_DONE) {
      return SqliteError(db_, rc, "insert label");
    }
  }
  return absl::OkStatus();
}

template <typename WriteFn>
absl::Status SqliteStore::Transact(WriteFn write) {
  if (absl::Status s = Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
  const int64_t revision = revision_ + 1;
  absl::StatusOr<WatchEvent> event = write(revision);
  absl::Status status = event.status();
  if (status.ok()) {
    absl::StatusOr<sqlite3_stmt*> stmt =
        Prepare("UPDATE meta SET value = ?1 WHERE key = 'revision'");
    status = stmt.status();
    if (status.ok()) {
      sqlite3_bind_int64(*stmt, 1, revision);
      if (int rc = sqlite3_step(*stmt); rc != SQLITE_DONE) {
        status = SqliteError(db_, rc, "advance revision");
      }
    }
  }
  if (status.ok()) status = Exec("COMMIT");
  if (!status.ok()) {
    // Harmless when COMMIT already failed and SQLite rolled back by itself.
    if (sqlite3_get_autocommit(db_) == 0) (void)Exec("ROLLBACK");
    return status;
  }
  revision_ = revision;
  hub_->Publish(*std::move(event));
  return absl::OkStatus();
}

absl::StatusOr<int64_t> SqliteStore::Create(const Object& object) {
  if (absl::Status s = ValidateKey(object.key); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  absl::Status status = Transact([&](int64_t revision) -> absl::StatusOr<WatchEvent> {
    absl::StatusOr<sqlite3_stmt*> stmt = Prepare(
        "INSERT INTO objects(kind, namespace, name, value, create_revision, mod_revision) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT DO NOTHING");
    if (!stmt.ok()) return stmt.status();
    BindText(*stmt, 1, object.key.kind);
    BindText(*stmt, 2, object.key.ns);
    BindText(*stmt, 3, object.key.name);
    sqlite3_bind_blob(*stmt, 4, object.value.data(), static_cast<int>(object.value.size()),
                      SQLITE_TRANSIENT);
    sqlite3_bind_int64(*stmt, 5, revision);
    if (int rc = sqlite3_step(*stmt); rc != SQLITE_DONE) {
      return SqliteError(db_, rc, "insert object");
    }
    if (sqlite3_changes(db_) == 0) {
      return absl::AlreadyExistsError(absl::StrCat(KeyString(object.key), " already exists"));
    }
    if (absl::Status s = WriteLabels(sqlite3_last_insert_rowid(db_), object.labels); !s.ok()) {
      return s;
    }
    WatchEvent event{EventType::kAdded, object};
    event.object.resource_version = revision;
    return event;
  });
  if (!status.ok()) return status;
  return revision_;
}

absl::StatusOr<Object> SqliteStore::Get(const ObjectKey& key) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<std::optional<Row>> row = FindRow(key);
  if (!row.ok()) return row.status();
  if (!row->has_value()) return absl::NotFoundError(absl::StrCat(KeyString(key), " not found"));
  return std::move((*row)->object);
}

absl::StatusOr<int64_t> SqliteStore::Update(const Object& object,
                                            int64_t expected_resource_version) {
  if (absl::Status s = ValidateKey(object.key); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  absl::Status status = Transact([&](int64_t revision) -> absl::StatusOr<WatchEvent> {
    absl::StatusOr<std::optional<Row>> row = FindRow(object.key);
    if (!row.ok()) return row.status();
    if (!row->has_value()) {
      return absl::NotFoundError(absl::StrCat(KeyString(object.key), " not found"));
    }
    if ((*row)->object.resource_version != expected_resource_version) {
      return absl::AbortedError(
          absl::StrCat("conflict updating ", KeyString(object.key), ": expected resourceVersion ",
                       expected_resource_version, ", actual ", (*row)->object.resource_version));
    }
    absl::StatusOr<sqlite3_stmt*> stmt =
        Prepare("UPDATE objects SET value = ?1, mod_revision = ?2 WHERE id = ?3");
    if (!stmt.ok()) return stmt.status();
    sqlite3_bind_blob(*stmt, 1, object.value.data(), static_cast<int>(object.value.size()),
                      SQLITE_TRANSIENT);
    sqlite3_bind_int64(*stmt, 2, revision);
    sqlite3_bind_int64(*stmt, 3, (*row)->id);
    if (int rc = sqlite3_step(*stmt); rc != SQLITE_DONE) {
      return SqliteError(db_, rc, "update object");
    }
    if (absl::Status s = WriteLabels((*row)->id, object.labels); !s.ok()) return s;
    WatchEvent event{EventType::kModified, object};
    event.object.resource_version = revision;
    return event;
  });
  if (!status.ok()) return status;
  return revision_;
}

absl::StatusOr<Object> SqliteStore::Delete(const ObjectKey& key,
                                           std::optional<int64_t> expected_resource_version) {
  return Remove(key, expected_resource_version, nullptr);
}

absl::Status SqliteStore::Quarantine(const ObjectKey& key, int64_t expected_resource_version,
                                     std::string_view reason) {
  const std::string why(reason);
  absl::StatusOr<Object> removed = Remove(key, expected_resource_version, &why);
  if (!removed.ok()) return removed.status();
  if (quarantined_ != nullptr) quarantined_->Add({{"kind", key.kind}}).Increment();
  return absl::OkStatus();
}

absl::StatusOr<Object> SqliteStore::Remove(const ObjectKey& key,
                                           std::optional<int64_t> expected_resource_version,
                                           const std::string* quarantine_reason) {
  absl::MutexLock lock(&mu_);
  Object deleted;
  absl::Status status = Transact([&](int64_t revision) -> absl::StatusOr<WatchEvent> {
    absl::StatusOr<std::optional<Row>> row = FindRow(key);
    if (!row.ok()) return row.status();
    if (!row->has_value()) return absl::NotFoundError(absl::StrCat(KeyString(key), " not found"));
    if (expected_resource_version.has_value() &&
        (*row)->object.resource_version != *expected_resource_version) {
      return absl::AbortedError(
          absl::StrCat("conflict deleting ", KeyString(key), ": expected resourceVersion ",
                       *expected_resource_version, ", actual ", (*row)->object.resource_version));
    }
    if (quarantine_reason != nullptr) {
      absl::StatusOr<sqlite3_stmt*> copy = Prepare(
          "INSERT INTO quarantine(kind, namespace, name, value, mod_revision, "
          "quarantine_revision, reason) SELECT kind, namespace, name, value, mod_revision, ?2, ?3 "
          "FROM objects WHERE id = ?1");
      if (!copy.ok()) return copy.status();
      sqlite3_bind_int64(*copy, 1, (*row)->id);
      sqlite3_bind_int64(*copy, 2, revision);
      BindText(*copy, 3, *quarantine_reason);
      if (int rc = sqlite3_step(*copy); rc != SQLITE_DONE) {
        return SqliteError(db_, rc, "quarantine object");
      }
    }
    absl::StatusOr<sqlite3_stmt*> stmt = Prepare("DELETE FROM objects WHERE id = ?1");
    if (!stmt.ok()) return stmt.status();
    sqlite3_bind_int64(*stmt, 1, (*row)->id);
    if (int rc = sqlite3_step(*stmt); rc != SQLITE_DONE) {
      return SqliteError(db_, rc, "delete object");
    }
    if (absl::Status s = WriteLabels((*row)->id, {}); !s.ok()) return s;
    deleted = std::move((*row)->object);
    deleted.resource_version = revision;
    return WatchEvent{EventType::kDeleted, deleted};
  });
  if (!status.ok()) return status;
  return deleted;
}

absl::StatusOr<ListResult> SqliteStore::List(const ListOptions& options) {
  if (options.kind.empty()) return absl::InvalidArgumentError("list: kind is required");
  if (options.limit < 0) return absl::InvalidArgumentError("list: negative limit");
  absl::StatusOr<LabelSelector> selector = ParseLabelSelector(options.label_selector);
  if (!selector.ok()) return selector.status();
  if (selector->size() > kMaxSelectorRequirements) {
    return absl::InvalidArgumentError(
        absl::StrCat("label selector has more than ", kMaxSelectorRequirements, " requirements"));
  }
  ContinueToken after;
  if (!options.continue_token.empty()) {
    absl::StatusOr<ContinueToken> token = DecodeToken(options.continue_token);
    if (!token.ok()) return token.status();
    after = *std::move(token);
  }

  // One statement shape per requirement count; each requirement is
  //   EXISTS(label with the key [and the value]) = wanted
  // so `k=v` is (key, value) = 1, `k!=v` (key, value) = 0, `k` key = 1, `!k` key = 0.
  std::string sql =
      "SELECT o.id, o.namespace, o.name, o.value, o.mod_revision FROM objects o "
      "WHERE o.kind = ?1 AND (?2 = '' OR o.namespace = ?2) AND o.create_revision <= ?3 "
      "AND (o.namespace, o.name) > (?4, ?5)";
  for (size_t i = 0; i < selector->size(); ++i) {
    int p = 7 + 4 * static_cast<int>(i);
    absl::StrAppend(&sql,
                    " AND EXISTS(SELECT 1 FROM labels l WHERE l.object_id = o.id AND l.key = ?", p,
                    " AND (?", p + 1, " OR l.value = ?", p + 2, ")) = ?", p + 3);
  }
  absl::StrAppend(&sql, " ORDER BY o.namespace, o.name LIMIT ?6");

  absl::MutexLock lock(&mu_);
  ListResult result;
  result.resource_version = after.revision > 0 ? after.revision : revision_;
  // Read in one transaction so that rows and their labels agree.
  if (absl::Status s = Exec("BEGIN"); !s.ok()) return s;
  auto read = [&]() -> absl::Status {
    absl::StatusOr<sqlite3_stmt*> stmt = Prepare(sql);
    if (!stmt.ok()) return stmt.status();
    BindText(*stmt, 1, options.kind);
    BindText(*stmt, 2, options.ns);
    sqlite3_bind_int64(*stmt, 3, result.resource_version);
    BindText(*stmt, 4, after.ns);
    BindText(*stmt, 5, after.name);
    // One more row than the page tells whether another page follows.
    sqlite3_bind_int64(*stmt, 6, options.limit > 0 ? options.limit + 1 : -1);
    for (size_t i = 0; i < selector->size(); ++i) {
      const LabelRequirement& req = (*selector)[i];
      int p = 7 + 4 * static_cast<int>(i);
      bool any_value =
          req.op == LabelRequirement::Op::kExists || req.op == LabelRequirement::Op::kNotExists;
      bool wanted =
          req.op == LabelRequirement::Op::kEquals || req.op == LabelRequirement::Op::kExists;
      BindText(*stmt, p, req.key);
      sqlite3_bind_int(*stmt, p + 1, any_value ? 1 : 0);
      BindText(*stmt, p + 2, req.value);
      sqlite3_bind_int(*stmt, p + 3, wanted ? 1 : 0);
    }
    std::vector<Row> rows;
    int rc;
    while ((rc = sqlite3_step(*stmt)) == SQLITE_ROW) {
      Row row;
      row.id = sqlite3_column_int64(*stmt, 0);
      row.object.key = {options.kind, ColumnText(*stmt, 1), ColumnText(*stmt, 2)};
      row.object.value = ColumnText(*stmt, 3);
      row.object.resource_version = sqlite3_column_int64(*stmt, 4);
      rows.push_back(std::move(row));
    }
    sqlite3_reset(*stmt);
    if (rc != SQLITE_DONE) return SqliteError(db_, rc, "list objects");
    if (options.limit > 0 && rows.size() > static_cast<size_t>(options.limit)) {
      rows.pop_back();
      result.continue_token = EncodeToken(
          {result.resource_version, rows.back().object.key.ns, rows.back().object.key.name});
    }
    for (Row& row : rows) {
      absl::StatusOr<Labels> labels = ReadLabels(row.id);
      if (!labels.ok()) return labels.status();
      row.object.labels = *std::move(labels);
      result.items.push_back(std::move(row.object));
    }
    return absl::OkStatus();
  };
  absl::Status status = read();
  absl::Status end = Exec(status.ok() ? "COMMIT" : "ROLLBACK");
  if (!status.ok()) return status;
  if (!end.ok()) return end;
  return result;
}

absl::StatusOr<std::unique_ptr<WatchHandle>> SqliteStore::Watch(const WatchOptions& options,
                                                                WatchCallback callback) {
  return hub_->Watch(options, std::move(callback));
}

absl::StatusOr<int64_t> SqliteStore::CurrentRevision() {
  absl::MutexLock lock(&mu_);
  return revision_;
}

absl::StatusOr<SqliteStore::Synchronous> SqliteStore::ReadSynchronous() {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<sqlite3_stmt*> stmt = Prepare("PRAGMA synchronous");
  if (!stmt.ok()) return stmt.status();
  int rc = sqlite3_step(*stmt);
  if (rc != SQLITE_ROW) return SqliteError(db_, rc, "read synchronous");
  const int64_t level = sqlite3_column_int64(*stmt, 0);
  sqlite3_reset(*stmt);
  // SQLite's levels: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA.
  if (level == 1) return Synchronous::kNormal;
  if (level == 2) return Synchronous::kFull;
  return absl::InternalError(absl::StrCat("sqlite: unexpected synchronous level ", level));
}

}  // namespace fsb::store
