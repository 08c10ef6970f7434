// Fuzzes the sandbox log's line format (agent/logger/log_format.h), which fsb-logger
// writes and fsb-agent reads back (logs, logs -f, --since).
//
// Input: any bytes. Each '\n'-separated line is parsed as a log line; and the input also
// makes an entry (8 bytes of time, 1 byte of stream and tag, the rest as data with each
// '\n' dropped) to write.
//
// Invariants:
//  * parsing never crashes (nor overflows: UBSan), and reads only years 1677-2262;
//  * what parses writes back as one line that parses to the same entry;
//  * any entry, at any time an int64 of nanoseconds holds, written then parsed gives
//    back the same entry.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "agent/logger/log_format.h"
#include "tests/fuzz/fuzz_check.h"

namespace fsb::fuzz {
namespace {

using ::fsb::logger::LogEntry;

bool SameEntry(const LogEntry& a, const LogEntry& b) {
  return a.time_unix_nanos == b.time_unix_nanos && a.stream == b.stream && a.partial == b.partial &&
         a.data == b.data;
}

// Writes `entry` and parses the line back.
void CheckRoundTrip(const LogEntry& entry) {
  std::string line;
  logger::AppendEntry(entry, &line);
  FSB_FUZZ_CHECK(!line.empty() && line.back() == '\n');
  line.pop_back();
  FSB_FUZZ_CHECK(line.find('\n') == std::string::npos);
  std::optional<LogEntry> back = logger::ParseEntry(line);
  FSB_FUZZ_CHECK(back.has_value());
  FSB_FUZZ_CHECK(SameEntry(*back, entry));
}

void TestOneInput(std::string_view input) {
  for (std::string_view rest = input;;) {
    const size_t nl = rest.find('\n');
    const std::string_view line = rest.substr(0, nl);
    if (std::optional<LogEntry> entry = logger::ParseEntry(line)) {
      // Only years whose times an int64 of nanoseconds holds are read (the line starts
      // with four digits of year).
      const int year = std::stoi(std::string(line.substr(0, 4)));
      FSB_FUZZ_CHECK(year >= 1677 && year <= 2262);
      CheckRoundTrip(*entry);
    }
    if (nl == std::string_view::npos) break;
    rest.remove_prefix(nl + 1);
  }

  if (input.size() < 9) return;
  LogEntry entry;
  std::memcpy(&entry.time_unix_nanos, input.data(), 8);
  entry.stream = (input[8] & 1) ? logger::Stream::kStderr : logger::Stream::kStdout;
  entry.partial = (input[8] & 2) != 0;
  std::string data;
  for (char c : input.substr(9)) {
    if (c != '\n') data.push_back(c);
  }
  entry.data = data;
  CheckRoundTrip(entry);
}

}  // namespace
}  // namespace fsb::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fsb::fuzz::TestOneInput(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
