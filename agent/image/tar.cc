#include "agent/image/tar.h"

#include <algorithm>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "internal/strings.h"

namespace fsb::agent {
namespace {

constexpr size_t kBlock = 512;
// Bound on GNU long names and PAX extended headers, which are held in memory.
constexpr int64_t kMaxMetadata = 1 << 20;

// Header field offsets and lengths (POSIX ustar).
constexpr size_t kNameOffset = 0, kNameLength = 100;
constexpr size_t kSizeOffset = 124, kSizeLength = 12;
constexpr size_t kChecksumOffset = 148, kChecksumLength = 8;
constexpr size_t kTypeOffset = 156;
constexpr size_t kMagicOffset = 257;
constexpr size_t kPrefixOffset = 345, kPrefixLength = 155;

// A NUL-terminated (or full-width) string field.
std::string_view Field(const char* header, size_t offset, size_t length) {
  const char* begin = header + offset;
  return std::string_view(begin, strnlen(begin, length));
}

// A numeric field: octal text, or base-256 when the high bit of the first byte is set
// (GNU and star use it for sizes of 8 GiB and more). nullopt when malformed.
std::optional<int64_t> Number(const char* field, size_t length) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(field);
  if (bytes[0] & 0x80) {
    if (bytes[0] != 0x80) return std::nullopt;  // negative or too large
    uint64_t value = 0;
    for (size_t i = 1; i < length; ++i) {
      if (value >> 55) return std::nullopt;
      value = (value << 8) | bytes[i];
    }
    if (value > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
    return static_cast<int64_t>(value);
  }
  size_t i = 0;
  while (i < length && (field[i] == ' ' || field[i] == '\0')) ++i;
  int64_t value = 0;
  for (; i < length && field[i] >= '0' && field[i] <= '7'; ++i) {
    if (value > (INT64_MAX >> 3)) return std::nullopt;
    value = value * 8 + (field[i] - '0');
  }
  for (; i < length; ++i) {
    if (field[i] != ' ' && field[i] != '\0') return std::nullopt;
  }
  return value;
}

bool ChecksumMatches(const char* header) {
  std::optional<int64_t> stored = Number(header + kChecksumOffset, kChecksumLength);
  if (!stored.has_value()) return false;
  // The checksum is computed with its own field as spaces; historic writers summed
  // signed chars, so either sum is accepted.
  int64_t unsigned_sum = 0, signed_sum = 0;
  for (size_t i = 0; i < kBlock; ++i) {
    const bool in_field = i >= kChecksumOffset && i < kChecksumOffset + kChecksumLength;
    const char c = in_field ? ' ' : header[i];
    unsigned_sum += static_cast<unsigned char>(c);
    signed_sum += static_cast<signed char>(c);
  }
  return *stored == unsigned_sum || *stored == signed_sum;
}

std::string CleanPath(std::string_view path) {
  for (;;) {
    if (path.substr(0, 2) == "./") {
      path.remove_prefix(2);
    } else if (!path.empty() && path.front() == '/') {
      path.remove_prefix(1);
    } else {
      break;
    }
  }
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  if (path == ".") return "";
  return std::string(path);
}

// Applies the records of a PAX extended header ("<len> <key>=<value>\n") that fsb
// uses: `path` and `size`. False when the header is malformed.
bool ApplyPaxRecords(std::string_view records, std::optional<std::string>* path,
                     std::optional<int64_t>* size) {
  while (!records.empty()) {
    const size_t space = records.find(' ');
    size_t length = 0;
    if (space == std::string_view::npos ||
        !absl::SimpleAtoi(Sv(records.substr(0, space)), &length) || length <= space + 1 ||
        length > records.size() || records[length - 1] != '\n') {
      return false;
    }
    const std::string_view record = records.substr(space + 1, length - space - 2);
    records.remove_prefix(length);
    const size_t eq = record.find('=');
    if (eq == std::string_view::npos) return false;
    const std::string_view key = record.substr(0, eq);
    const std::string_view value = record.substr(eq + 1);
    if (key == "path") {
      *path = std::string(value);
    } else if (key == "size") {
      int64_t parsed = 0;
      if (!absl::SimpleAtoi(Sv(value), &parsed) || parsed < 0) return false;
      *size = parsed;
    }
  }
  return true;
}

int64_t PaddingOf(int64_t size) { return (kBlock - size % kBlock) % kBlock; }

}  // namespace

absl::Status TarReader::Malformed(std::string_view what) const {
  return absl::InvalidArgumentError(
      absl::StrCat("malformed tar archive at byte ", offset_, ": ", Sv(what)));
}

bool TarReader::Fill() {
  while (pos_ == buffer_.size()) {
    buffer_.clear();
    pos_ = 0;
    if (!source_(&buffer_)) return false;
  }
  return true;
}

absl::Status TarReader::ReadExact(char* out, size_t n) {
  while (n > 0) {
    if (!Fill()) return Malformed("the archive ends inside a member");
    const size_t take = std::min(n, buffer_.size() - pos_);
    memcpy(out, buffer_.data() + pos_, take);
    out += take;
    n -= take;
    pos_ += take;
    offset_ += take;
  }
  return absl::OkStatus();
}

absl::Status TarReader::Discard(int64_t n) {
  while (n > 0) {
    if (!Fill()) return Malformed("the archive ends inside a member");
    const size_t take =
        static_cast<size_t>(std::min<int64_t>(n, static_cast<int64_t>(buffer_.size() - pos_)));
    n -= take;
    pos_ += take;
    offset_ += take;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<TarEntry>> TarReader::Next() {
  if (ended_) return std::nullopt;
  if (absl::Status s = Discard(remaining_ + padding_); !s.ok()) return s;
  remaining_ = padding_ = 0;
  // Extensions that describe the next real member.
  std::optional<std::string> long_path;
  std::optional<int64_t> pax_size;
  for (;;) {
    if (!Fill()) {
      if (long_path.has_value() || pax_size.has_value()) {
        return Malformed("the archive ends after an extended header");
      }
      ended_ = true;  // some writers omit the closing zero blocks
      return std::nullopt;
    }
    char header[kBlock];
    if (absl::Status s = ReadExact(header, kBlock); !s.ok()) return s;
    if (std::all_of(header, header + kBlock, [](char c) { return c == '\0'; })) {
      ended_ = true;
      return std::nullopt;
    }
    if (!ChecksumMatches(header)) return Malformed("bad header checksum (is this a tar archive?)");
    std::optional<int64_t> size = Number(header + kSizeOffset, kSizeLength);
    if (!size.has_value()) return Malformed("bad size field");
    const char type = header[kTypeOffset];
    if (type == 'L' || type == 'x') {
      if (*size > kMaxMetadata) return Malformed("extended header larger than 1 MiB");
      std::string data(static_cast<size_t>(*size), '\0');
      if (absl::Status s = ReadExact(data.data(), data.size()); !s.ok()) return s;
      if (absl::Status s = Discard(PaddingOf(*size)); !s.ok()) return s;
      if (type == 'L') {
        long_path = std::string(data.c_str());  // NUL-terminated
      } else if (!ApplyPaxRecords(data, &long_path, &pax_size)) {
        return Malformed("bad PAX extended header");
      }
      continue;
    }
    if (type == 'g' || type == 'K') {  // PAX global header, GNU long link name: unused
      if (absl::Status s = Discard(*size + PaddingOf(*size)); !s.ok()) return s;
      continue;
    }
    TarEntry entry;
    if (long_path.has_value()) {
      entry.path = CleanPath(*long_path);
    } else {
      std::string path(Field(header, kNameOffset, kNameLength));
      // POSIX ustar ("ustar\0") splits long paths into prefix and name; GNU's
      // "ustar  " uses those bytes for other fields.
      std::string_view prefix = Field(header, kPrefixOffset, kPrefixLength);
      if (memcmp(header + kMagicOffset, "ustar\0", 6) == 0 && !prefix.empty()) {
        path = absl::StrCat(Sv(prefix), "/", path);
      }
      entry.path = CleanPath(path);
    }
    int64_t data_size = pax_size.value_or(*size);
    switch (type) {
      case '0':
      case '\0':
      case '7':
        entry.type = TarEntry::Type::kFile;
        break;
      case '5':
        entry.type = TarEntry::Type::kDirectory;
        data_size = 0;
        break;
      case '2':
        entry.type = TarEntry::Type::kSymlink;
        data_size = 0;
        break;
      case '1':
        entry.type = TarEntry::Type::kHardLink;
        data_size = 0;
        break;
      case '3':
      case '4':
      case '6':  // devices and FIFOs carry no data
        data_size = 0;
        break;
      default:
        break;
    }
    entry.size = data_size;
    remaining_ = data_size;
    padding_ = PaddingOf(data_size);
    return entry;
  }
}

absl::StatusOr<std::string_view> TarReader::Read(size_t max) {
  if (remaining_ == 0 || max == 0) return std::string_view();
  if (!Fill()) return Malformed("the archive ends inside a member");
  const size_t n = static_cast<size_t>(std::min<int64_t>(
      {static_cast<int64_t>(max), remaining_, static_cast<int64_t>(buffer_.size() - pos_)}));
  std::string_view piece(buffer_.data() + pos_, n);
  pos_ += n;
  offset_ += n;
  remaining_ -= n;
  return piece;
}

absl::StatusOr<std::string> TarReader::ReadAll(size_t limit, std::string_view what) {
  if (remaining_ > static_cast<int64_t>(limit)) {
    return absl::InvalidArgumentError(absl::StrCat(Sv(what), " is larger than ", limit, " bytes"));
  }
  std::string out;
  out.reserve(static_cast<size_t>(remaining_));
  while (remaining_ > 0) {
    absl::StatusOr<std::string_view> piece = Read(remaining_);
    if (!piece.ok()) return piece.status();
    out.append(piece->data(), piece->size());
  }
  return out;
}

}  // namespace fsb::agent
