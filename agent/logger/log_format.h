#ifndef FSB_AGENT_LOGGER_LOG_FORMAT_H_
#define FSB_AGENT_LOGGER_LOG_FORMAT_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

// The on-disk format of a sandbox's log, written by fsb-logger and read by fsb-agent.
//
// One entry per line, in the CRI logging format:
//
//   <time> <stream> <tag> <data>\n
//
//   time    RFC 3339 UTC with nanoseconds, e.g. 2024-05-01T12:00:00.000000001Z: when
//           fsb-logger read the bytes from the shim's pipe
//   stream  stdout | stderr
//   tag     F: `data` ends a line of the task's output (its newline is not kept);
//           P: `data` is part of a line that continues in the stream's next entry (a
//              line longer than kMaxEntryBytes, or output that ended without a newline)
//   data    raw bytes, never a '\n'
//
// This module depends on nothing but the C++ standard library and libc, so that
// fsb-logger links statically.
namespace fsb::logger {

enum class Stream { kStdout, kStderr };

// The longest `data` of one entry; longer lines are split into partial entries.
inline constexpr size_t kMaxEntryBytes = 16 * 1024;

struct LogEntry {
  int64_t time_unix_nanos = 0;
  Stream stream = Stream::kStdout;
  bool partial = false;
  std::string_view data;  // points into the parsed line
};

std::string_view StreamName(Stream stream);

// Appends `entry` as one line, newline included, to `out`. `entry.data` must hold no
// '\n' (the caller splits lines).
void AppendEntry(const LogEntry& entry, std::string* out);

// Parses one line without its '\n'. std::nullopt when it is not in the format above, or
// its time is one an int64 of nanoseconds cannot hold (before 1677-09-21T00:12:43.145224192Z
// or after 2262-04-11T23:47:16.854775807Z). The fraction of the time may have 0 to 9
// digits; the zone must be Z.
std::optional<LogEntry> ParseEntry(std::string_view line);

// The previous generation of the log at `path`: fsb-logger renames the log to this name
// when it reaches its size cap, replacing the older generation. Deleting a sandbox's log
// means deleting both.
std::string RotatedLogPath(std::string_view path);

}  // namespace fsb::logger

#endif  // FSB_AGENT_LOGGER_LOG_FORMAT_H_
