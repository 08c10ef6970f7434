#ifndef FSB_CONTROLLER_STORE_SQLITE_STORE_TESTING_H_
#define FSB_CONTROLLER_STORE_SQLITE_STORE_TESTING_H_

#include <sqlite3.h>

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "controller/store/store.h"
#include "internal/strings.h"

namespace fsb::store {

// Test helpers that reach into a SqliteStore file with raw SQL, as a damaged disk or an
// older or buggy writer could have left it. The file must not be open in a SqliteStore
// (it holds an exclusive lock).

// Runs `sql` with `bind` applied to its one prepared statement; collects every row with
// `read`.
template <typename Bind, typename Read>
absl::Status RawSql(const std::string& path, std::string_view sql, Bind bind, Read read) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return absl::UnavailableError(absl::StrCat("cannot open ", path));
  }
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc == SQLITE_OK) {
    bind(stmt);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) read(stmt);
  }
  absl::Status status =
      rc == SQLITE_DONE
          ? absl::OkStatus()
          : absl::InternalError(absl::StrCat("sqlite: ", sqlite3_errmsg(db), " in ", Sv(sql)));
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return status;
}

// Inserts an object row holding `value` verbatim under `key`, at a new revision.
inline absl::Status InsertRawObject(const std::string& path, const ObjectKey& key,
                                    std::string_view value) {
  auto none = [](sqlite3_stmt*) {};
  if (absl::Status s =
          RawSql(path, "UPDATE meta SET value = value + 1 WHERE key = 'revision'", none, none);
      !s.ok()) {
    return s;
  }
  return RawSql(
      path,
      "INSERT INTO objects(kind, namespace, name, value, create_revision, mod_revision) "
      "SELECT ?1, ?2, ?3, ?4, value, value FROM meta WHERE key = 'revision'",
      [&](sqlite3_stmt* stmt) {
        sqlite3_bind_text(stmt, 1, key.kind.data(), static_cast<int>(key.kind.size()),
                          SQLITE_TRANSIENT);
        sqlite3_bind_text(stmt, 2, key.ns.data(), static_cast<int>(key.ns.size()),
                          SQLITE_TRANSIENT);
        sqlite3_bind_text(stmt, 3, key.name.data(), static_cast<int>(key.name.size()),
                          SQLITE_TRANSIENT);
        sqlite3_bind_blob(stmt, 4, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
      },
      none);
}

// One row of the quarantine table.
struct QuarantinedRow {
  ObjectKey key;
  std::string value;
  std::string reason;
};

inline absl::StatusOr<std::vector<QuarantinedRow>> ReadQuarantine(const std::string& path) {
  std::vector<QuarantinedRow> rows;
  auto text = [](sqlite3_stmt* stmt, int column) {
    const char* data = reinterpret_cast<const char*>(sqlite3_column_blob(stmt, column));
    return std::string(data == nullptr ? "" : data, sqlite3_column_bytes(stmt, column));
  };
  absl::Status s = RawSql(
      path, "SELECT kind, namespace, name, value, reason FROM quarantine ORDER BY id",
      [](sqlite3_stmt*) {},
      [&](sqlite3_stmt* stmt) {
        rows.push_back(
            {{text(stmt, 0), text(stmt, 1), text(stmt, 2)}, text(stmt, 3), text(stmt, 4)});
      });
  if (!s.ok()) return s;
  return rows;
}

}  // namespace fsb::store

#endif  // FSB_CONTROLLER_STORE_SQLITE_STORE_TESTING_H_
