#include "agent/logger/log_writer.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <utility>

namespace fsb::logger {
namespace {

constexpr int kOpenFlags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC;
constexpr mode_t kMode = 0640;

int Index(Stream stream) { return stream == Stream::kStdout ? 0 : 1; }

}  // namespace

std::unique_ptr<LogWriter> LogWriter::Open(const std::string& path, int64_t max_bytes, int* error) {
  UniqueFd fd(open(path.c_str(), kOpenFlags, kMode));
  struct stat st {};
  if (!fd.valid() || fstat(fd.get(), &st) != 0) {
    *error = errno;
    return nullptr;
  }
  return std::unique_ptr<LogWriter>(new LogWriter(path, max_bytes, std::move(fd), st.st_size));
}

LogWriter::LogWriter(std::string path, int64_t max_bytes, UniqueFd fd, int64_t size)
    : path_(std::move(path)), max_bytes_(max_bytes), fd_(std::move(fd)), size_(size) {}

int LogWriter::Write(Stream stream, std::string_view bytes, int64_t now_unix_nanos) {
  std::string& kept = kept_[Index(stream)];
  int error = 0;
  while (!bytes.empty() && error == 0) {
    const size_t newline = bytes.find('\n');
    const size_t room = kMaxEntryBytes - kept.size();
    if (newline != std::string_view::npos && newline <= room) {
      // A complete line: what was kept plus the bytes up to the newline.
      if (kept.empty()) {
        error = Add(stream, /*partial=*/false, bytes.substr(0, newline), now_unix_nanos);
      } else {
        kept.append(bytes.substr(0, newline));
        error = Add(stream, /*partial=*/false, kept, now_unix_nanos);
        kept.clear();
      }
      bytes.remove_prefix(newline + 1);
    } else if (bytes.size() >= room) {
      // The line is longer than an entry may be: emit a full-size part.
      kept.append(bytes.substr(0, room));
      bytes.remove_prefix(room);
      error = Add(stream, /*partial=*/true, kept, now_unix_nanos);
      kept.clear();
    } else {
      kept.append(bytes);
      bytes = {};
    }
  }
  const int flushed = FlushBuffer();
  return error != 0 ? error : flushed;
}

int LogWriter::Close(Stream stream, int64_t now_unix_nanos) {
  std::string& kept = kept_[Index(stream)];
  if (kept.empty()) return 0;
  int error = Add(stream, /*partial=*/true, kept, now_unix_nanos);
  kept.clear();
  const int flushed = FlushBuffer();
  return error != 0 ? error : flushed;
}

int LogWriter::Add(Stream stream, bool partial, std::string_view data, int64_t now_unix_nanos) {
  const size_t before = buffer_.size();
  AppendEntry({now_unix_nanos, stream, partial, data}, &buffer_);
  const int64_t entry_size = static_cast<int64_t>(buffer_.size() - before);
  if (max_bytes_ > 0 && size_ > 0 && size_ + entry_size > max_bytes_) {
    // The entry goes to the next generation: write what precedes it to this one.
    std::string entry = buffer_.substr(before);
    buffer_.resize(before);
    if (int error = FlushBuffer(); error != 0) return error;
    if (int error = Rotate(); error != 0) return error;
    buffer_ = std::move(entry);
  }
  size_ += entry_size;
  return 0;
}

int LogWriter::FlushBuffer() {
  if (buffer_.empty()) return 0;
  const bool ok = WriteAll(fd_.get(), buffer_.data(), buffer_.size());
  const int error = ok ? 0 : errno;
  if (!ok) {
    // What was not written is lost: the size the file really has is the truth.
    struct stat st {};
    size_ = fstat(fd_.get(), &st) == 0 ? st.st_size : 0;
  }
  buffer_.clear();
  return error;
}

int LogWriter::Rotate() {
  const std::string rotated = RotatedLogPath(path_);
  if (std::rename(path_.c_str(), rotated.c_str()) != 0) return errno;
  UniqueFd fd(open(path_.c_str(), kOpenFlags | O_TRUNC, kMode));
  if (!fd.valid()) return errno;
  fd_ = std::move(fd);
  size_ = 0;
  return 0;
}

}  // namespace fsb::logger
