#include "agent/logger/log_format.h"

#include <ctime>

namespace fsb::logger {
namespace {

constexpr int64_t kNanosPerSecond = 1'000'000'000;

// Appends `value` as exactly `width` decimal digits (value < 10^width).
void AppendDigits(int64_t value, int width, std::string* out) {
  char buf[20];
  for (int i = width - 1; i >= 0; --i) {
    buf[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  out->append(buf, width);
}

// Reads exactly `width` digits from the front of `s`.
std::optional<int> TakeDigits(std::string_view& s, int width) {
  if (s.size() < static_cast<size_t>(width)) return std::nullopt;
  int value = 0;
  for (int i = 0; i < width; ++i) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
    value = value * 10 + (s[i] - '0');
  }
  s.remove_prefix(width);
  return value;
}

bool TakeChar(std::string_view& s, char c) {
  if (s.empty() || s.front() != c) return false;
  s.remove_prefix(1);
  return true;
}

// Parses the RFC 3339 UTC time AppendEntry writes.
std::optional<int64_t> ParseTime(std::string_view s) {
  std::tm tm{};
  std::optional<int> year = TakeDigits(s, 4);
  if (!year || !TakeChar(s, '-')) return std::nullopt;
  std::optional<int> month = TakeDigits(s, 2);
  if (!month || !TakeChar(s, '-')) return std::nullopt;
  std::optional<int> day = TakeDigits(s, 2);
  if (!day || !TakeChar(s, 'T')) return std::nullopt;
  std::optional<int> hour = TakeDigits(s, 2);
  if (!hour || !TakeChar(s, ':')) return std::nullopt;
  std::optional<int> minute = TakeDigits(s, 2);
  if (!minute || !TakeChar(s, ':')) return std::nullopt;
  std::optional<int> second = TakeDigits(s, 2);
  if (!second) return std::nullopt;
  if (*month < 1 || *month > 12 || *day < 1 || *day > 31 || *hour > 23 || *minute > 59 ||
      *second > 60) {
    return std::nullopt;
  }
  int64_t nanos = 0;
  if (TakeChar(s, '.')) {
    int digits = 0;
    while (!s.empty() && s.front() >= '0' && s.front() <= '9') {
      if (++digits > 9) return std::nullopt;
      nanos = nanos * 10 + (s.front() - '0');
      s.remove_prefix(1);
    }
    if (digits == 0) return std::nullopt;
    for (; digits < 9; ++digits) nanos *= 10;
  }
  if (s != "Z") return std::nullopt;
  tm.tm_year = *year - 1900;
  tm.tm_mon = *month - 1;
  tm.tm_mday = *day;
  tm.tm_hour = *hour;
  tm.tm_min = *minute;
  tm.tm_sec = *second;
  // seconds * 10^9 + nanos, refusing what an int64 of nanoseconds cannot hold (before
  // 1677-09-21, after 2262-04-11): no time fsb-logger writes. A negative second with a
  // fraction is counted from the next second, so that the earliest second holdable is
  // read too.
  int64_t seconds = timegm(&tm);
  if (seconds < 0 && nanos > 0) {
    ++seconds;
    nanos -= kNanosPerSecond;
  }
  int64_t total = 0;
  if (__builtin_mul_overflow(seconds, kNanosPerSecond, &total) ||
      __builtin_add_overflow(total, nanos, &total)) {
    return std::nullopt;
  }
  return total;
}

}  // namespace

std::string_view StreamName(Stream stream) {
  return stream == Stream::kStdout ? "stdout" : "stderr";
}

void AppendEntry(const LogEntry& entry, std::string* out) {
  int64_t seconds = entry.time_unix_nanos / kNanosPerSecond;
  int64_t nanos = entry.time_unix_nanos % kNanosPerSecond;
  if (nanos < 0) {
    nanos += kNanosPerSecond;
    --seconds;
  }
  const time_t t = static_cast<time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  out->reserve(out->size() + 48 + entry.data.size());
  AppendDigits(tm.tm_year + 1900, 4, out);
  out->push_back('-');
  AppendDigits(tm.tm_mon + 1, 2, out);
  out->push_back('-');
  AppendDigits(tm.tm_mday, 2, out);
  out->push_back('T');
  AppendDigits(tm.tm_hour, 2, out);
  out->push_back(':');
  AppendDigits(tm.tm_min, 2, out);
  out->push_back(':');
  AppendDigits(tm.tm_sec, 2, out);
  out->push_back('.');
  AppendDigits(nanos, 9, out);
  out->append("Z ");
  out->append(StreamName(entry.stream));
  out->append(entry.partial ? " P " : " F ");
  out->append(entry.data);
  out->push_back('\n');
}

std::optional<LogEntry> ParseEntry(std::string_view line) {
  LogEntry entry;
  size_t space = line.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  std::optional<int64_t> time = ParseTime(line.substr(0, space));
  if (!time) return std::nullopt;
  entry.time_unix_nanos = *time;
  line.remove_prefix(space + 1);
  if (line.substr(0, 7) == "stdout ") {
    entry.stream = Stream::kStdout;
  } else if (line.substr(0, 7) == "stderr ") {
    entry.stream = Stream::kStderr;
  } else {
    return std::nullopt;
  }
  line.remove_prefix(7);
  if (line.size() < 2 || line[1] != ' ' || (line[0] != 'F' && line[0] != 'P')) {
    return std::nullopt;
  }
  entry.partial = line[0] == 'P';
  entry.data = line.substr(2);
  return entry;
}

std::string RotatedLogPath(std::string_view path) {
  std::string rotated(path);
  rotated.append(".1");
  return rotated;
}

}  // namespace fsb::logger
