#ifndef FSB_AGENT_LOGGER_LOG_WRITER_H_
#define FSB_AGENT_LOGGER_LOG_WRITER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "agent/logger/fd.h"
#include "agent/logger/log_format.h"

namespace fsb::logger {

// Turns the bytes a task writes to stdout and stderr into entries (log_format.h) appended
// to a log file, and caps the file's size by rotation.
//
// Guarantees:
//  * Each stream's bytes are cut at newlines into F entries; a line longer than
//    kMaxEntryBytes becomes P entries and a final F entry; bytes without a newline yet
//    are kept until it comes, and written as a P entry by Close().
//  * Every Write() ends with its entries in the file, each entry within one write(2),
//    so readers never see entries of a Write() out of order.
//  * With `max_bytes` > 0, an entry that would take a non-empty file past `max_bytes`
//    first rotates it: the file is renamed to RotatedLogPath(path) (replacing the older
//    generation) and a new empty file takes its name. So at most two generations exist
//    and each stays under `max_bytes` unless a single entry is larger. Readers that hold
//    the old file open can read it to its end: nothing is written to it after the rename.
//
// Not thread-safe (fsb-logger is single-threaded). Errors are returned as errno values so
// that the module needs no library beyond libc.
class LogWriter {
 public:
  // Opens `path` for appending, creating it (mode 0640) if needed. Returns nullptr with
  // `*error` set to errno on failure.
  static std::unique_ptr<LogWriter> Open(const std::string& path, int64_t max_bytes, int* error);

  // Adds `bytes` read from `stream` at `now_unix_nanos`. Returns 0, or the errno of a
  // failed write or rotation (the entries of this call are then lost; later calls try
  // again).
  int Write(Stream stream, std::string_view bytes, int64_t now_unix_nanos);

  // The end of `stream`: writes its kept bytes, if any, as a P entry. Returns 0 or errno.
  int Close(Stream stream, int64_t now_unix_nanos);

 private:
  LogWriter(std::string path, int64_t max_bytes, UniqueFd fd, int64_t size);

  // Formats one entry into `buffer_`, rotating first when it would pass the cap.
  int Add(Stream stream, bool partial, std::string_view data, int64_t now_unix_nanos);
  int FlushBuffer();
  int Rotate();

  const std::string path_;
  const int64_t max_bytes_;
  UniqueFd fd_;
  int64_t size_;         // bytes in the current file, `buffer_` included
  std::string buffer_;   // formatted entries not yet written
  std::string kept_[2];  // per stream: bytes of a line whose newline has not come yet
};

}  // namespace fsb::logger

#endif  // FSB_AGENT_LOGGER_LOG_WRITER_H_
