#include "agent/io/logs.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/io/descriptors.h"
#include "agent/logger/log_format.h"
#include "glog/logging.h"
#include "internal/status.h"
#include "internal/strings.h"

namespace fsb::agent {
namespace {

using logger::EventFd;
using logger::UniqueFd;

// ---- Stdio URIs ----

// Percent-encodes every byte but RFC 3986's unreserved ones (and '/' when `keep_slash`).
std::string PercentEncode(std::string_view s, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~' || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  return out;
}

// ---- Reading ----

constexpr size_t kChunkEntries = 256;
constexpr size_t kChunkBytes = 64 * 1024;

// Collects entries into LogChunks of bounded size for a sink.
class Batcher {
 public:
  explicit Batcher(const LogSink& sink) : sink_(sink) {}

  // False once the sink refused a chunk.
  bool Add(v1::LogEntry entry) {
    bytes_ += entry.data().size();
    *chunk_.add_entries() = std::move(entry);
    if (chunk_.entries_size() >= static_cast<int>(kChunkEntries) || bytes_ >= kChunkBytes) {
      return Flush();
    }
    return true;
  }

  bool Flush() {
    if (chunk_.entries_size() == 0) return true;
    v1::LogChunk chunk = std::move(chunk_);
    chunk_.Clear();
    bytes_ = 0;
    return sink_(std::move(chunk));
  }

 private:
  const LogSink& sink_;
  v1::LogChunk chunk_;
  size_t bytes_ = 0;
};

std::optional<v1::LogEntry> ToEntry(std::string_view line, int64_t since_unix_nanos) {
  std::optional<logger::LogEntry> parsed = logger::ParseEntry(line);
  if (!parsed || parsed->time_unix_nanos < since_unix_nanos) return std::nullopt;
  v1::LogEntry entry;
  entry.set_time_unix_nanos(parsed->time_unix_nanos);
  entry.set_stream(std::string(logger::StreamName(parsed->stream)));
  entry.set_data(std::string(parsed->data));
  entry.set_partial(parsed->partial);
  return entry;
}

// One generation of a log, read incrementally from where the last read stopped.
class LogFile {
 public:
  // Opens `path`; std::nullopt when it does not exist.
  static absl::StatusOr<std::optional<LogFile>> Open(const std::string& path) {
    UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) {
      if (errno == ENOENT) return std::nullopt;
      return ErrnoStatus("cannot open", path);
    }
    struct stat st {};
    if (fstat(fd.get(), &st) != 0) return ErrnoStatus("cannot stat", path);
    return LogFile(std::move(fd), st.st_dev, st.st_ino);
  }

  int fd() const { return fd_.get(); }
  bool Is(const struct stat& st) const { return st.st_dev == dev_ && st.st_ino == ino_; }

  // Whether the file is still linked under some name.
  bool Linked() const {
    struct stat st {};
    return fstat(fd_.get(), &st) == 0 && st.st_nlink > 0;
  }

  // Calls `on_line` with every complete line (without its newline) from where the last
  // call stopped to the current end of the file.
  template <typename OnLine>
  absl::Status ReadNew(OnLine on_line) {
    char buf[64 * 1024];
    for (;;) {
      const ssize_t n = read(fd_.get(), buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0)
        return absl::InternalError(absl::StrCat("cannot read a log: ", std::strerror(errno)));
      if (n == 0) return absl::OkStatus();
      std::string_view data(buf, n);
      while (!data.empty()) {
        const size_t newline = data.find('\n');
        if (newline == std::string_view::npos) {
          held_.append(data);
          break;
        }
        if (held_.empty()) {
          on_line(data.substr(0, newline));
        } else {
          held_.append(data.substr(0, newline));
          on_line(std::string_view(held_));
          held_.clear();
        }
        data.remove_prefix(newline + 1);
      }
    }
  }

 private:
  LogFile(UniqueFd fd, dev_t dev, ino_t ino) : fd_(std::move(fd)), dev_(dev), ino_(ino) {}

  UniqueFd fd_;
  dev_t dev_;
  ino_t ino_;
  std::string held_;  // a line whose newline has not been written yet
};

// Blocks until one of `fds` is readable; EINTR is retried.
absl::Status WaitReadable(std::initializer_list<int> fds) {
  pollfd p[3];
  int n = 0;
  for (int fd : fds) p[n++] = {fd, POLLIN, 0};
  while (poll(p, n, -1) < 0) {
    if (errno != EINTR) return absl::InternalError(absl::StrCat("poll: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace

std::string LoggerStdioUri(const TaskLoggerOptions& options, std::string_view log_path) {
  return absl::StrCat("binary://", PercentEncode(options.binary, /*keep_slash=*/true),
                      "?path=", PercentEncode(log_path, /*keep_slash=*/false),
                      "&max-size=", options.max_bytes);
}

absl::StatusOr<std::string> InstallBinary(const std::string& source, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  const std::string target = dir + "/" + std::filesystem::path(source).filename().string();
  const std::string temporary = absl::StrCat(target, ".", getpid(), ".tmp");
  std::filesystem::copy_file(source, temporary, std::filesystem::copy_options::overwrite_existing,
                             ec);
  if (!ec) {
    std::filesystem::permissions(temporary, std::filesystem::perms(0755),
                                 std::filesystem::perm_options::replace, ec);
  }
  if (!ec) std::filesystem::rename(temporary, target, ec);
  if (ec) {
    std::error_code ignored;  // the error to report is `ec`
    std::filesystem::remove(temporary, ignored);
    return absl::InternalError(
        absl::StrCat("cannot install ", source, " as ", target, ": ", ec.message()));
  }
  return target;
}

absl::Status StreamLog(const std::string& path, const LogQuery& query, LogWatcher* watcher,
                       const EventFd& exited, const EventFd& cancelled, const LogSink& sink) {
  // The folder is watched before the files are opened, so a generation created meanwhile
  // is noticed; the current file's own watch starts after the first read, and the follow
  // loop reads it again before it first waits, so no append goes unseen.
  // Follows the current generation: wakes on appends to the open file, its unlinking
  // (link count change) and files created or moved into the log's folder (a rotation
  // brings a new current generation).
  std::unique_ptr<LogWatcher::Subscription> follower;
  if (query.follow) {
    absl::StatusOr<std::unique_ptr<LogWatcher::Subscription>> subscribed = watcher->Subscribe();
    if (!subscribed.ok()) return subscribed.status();
    follower = *std::move(subscribed);
    const std::string dir = std::filesystem::path(path).parent_path();
    if (absl::Status s = follower->WatchFolder(dir); !s.ok()) return s;
  }
  // The current generation is opened first: if a rotation happens in between, the
  // "rotated" file is the one already open and is not read twice.
  absl::StatusOr<std::optional<LogFile>> current = LogFile::Open(path);
  if (!current.ok()) return current.status();
  absl::StatusOr<std::optional<LogFile>> rotated = LogFile::Open(logger::RotatedLogPath(path));
  if (!rotated.ok()) return rotated.status();
  if (*rotated && *current) {
    struct stat st {};
    if (fstat((*current)->fd(), &st) == 0 && (*rotated)->Is(st)) rotated->reset();
  }

  Batcher batcher(sink);
  bool sink_open = true;
  // Sends what is batched; CANCELLED once the sink has refused anything.
  auto finish = [&]() -> absl::Status {
    if (sink_open) sink_open = batcher.Flush();
    if (!sink_open) return absl::CancelledError("the log reader went away");
    return absl::OkStatus();
  };
  auto emit = [&](std::string_view line) {
    if (!sink_open) return;
    if (std::optional<v1::LogEntry> entry = ToEntry(line, query.since_unix_nanos)) {
      sink_open = batcher.Add(*std::move(entry));
    }
  };

  // What is kept: every entry, or the last `tail_lines`.
  {
    std::deque<v1::LogEntry> tail;
    auto keep = [&](std::string_view line) {
      if (query.tail_lines < 0) return emit(line);
      if (query.tail_lines == 0) return;
      if (std::optional<v1::LogEntry> entry = ToEntry(line, query.since_unix_nanos)) {
        tail.push_back(*std::move(entry));
        if (static_cast<int64_t>(tail.size()) > query.tail_lines) tail.pop_front();
      }
    };
    for (std::optional<LogFile>* file : {&*rotated, &*current}) {
      if (!*file) continue;
      if (absl::Status s = (*file)->ReadNew(keep); !s.ok()) return s;
    }
    for (v1::LogEntry& entry : tail) {
      if (sink_open) sink_open = batcher.Add(std::move(entry));
    }
  }
  rotated->reset();
  if (!query.follow) return finish();
  if (*current) {
    if (absl::Status s = follower->WatchFile((*current)->fd()); !s.ok()) return s;
  }

  // Follow: after every wake-up, read what was appended, then look for a new generation
  // (the current one was rotated away) or the log's deletion.
  for (;;) {
    if (cancelled.Notified()) return absl::CancelledError("the log reader went away");
    // Checked before the reads below, so that they see everything written before the
    // task's exit was known.
    const bool exit_seen = exited.Notified();
    if (*current) {
      if (absl::Status s = (*current)->ReadNew(emit); !s.ok()) return s;
    }
    bool deleted = false;
    struct stat st {};
    if (stat(path.c_str(), &st) == 0) {
      if (!*current || !(*current)->Is(st)) {
        // A new generation: the old one (if any) was read to its end above, and the
        // logger writes nothing to it after the rename.
        absl::StatusOr<std::optional<LogFile>> next = LogFile::Open(path);
        if (!next.ok()) return next.status();
        *current = *std::move(next);
        if (*current) {
          if (absl::Status s = follower->WatchFile((*current)->fd()); !s.ok()) return s;
          continue;  // read it at once
        }
      }
    } else if (errno != ENOENT) {
      return ErrnoStatus("cannot stat", path);
    } else {
      // Missing: between the two steps of a rotation, or deleted with its sandbox.
      deleted = *current && !(*current)->Linked();
    }
    if (absl::Status s = finish(); !s.ok()) return s;
    if (exit_seen || deleted) return absl::OkStatus();
    if (absl::Status s = WaitReadable({follower->fd(), exited.fd(), cancelled.fd()}); !s.ok()) {
      return s;
    }
    follower->Drain();
  }
}

// ---- SandboxLogs ----

absl::Status SandboxLogs::Logs(const v1::LogsRequest& request, const EventFd& cancelled,
                               const LogSink& sink) {
  if (request.sandbox_id().empty()) return absl::InvalidArgumentError("sandbox_id is required");
  if (request.since_unix_nanos() < 0) {
    return absl::InvalidArgumentError("since_unix_nanos must not be negative");
  }
  absl::StatusOr<v1::SandboxStatus> sandbox = manager_->Get(request.sandbox_id());
  if (!sandbox.ok()) return sandbox.status();
  LogQuery query{.tail_lines = request.tail_lines(),
                 .since_unix_nanos = request.since_unix_nanos(),
                 .follow = request.follow() && sandbox->phase() == v1::SANDBOX_PHASE_RUNNING};
  EventFd exited;
  std::optional<TaskWait> wait;
  // The wait lives exactly as long as the follow, which its caller bounds.
  if (query.follow) {
    if (absl::Status s = EventFdStatus(exited); !s.ok()) return s;
    wait.emplace(containerd_, sandbox->sandbox_id(), "", absl::InfiniteDuration(), &exited);
  }
  return StreamLog(sandbox->log_path(), query, watcher_, exited, cancelled, sink);
}

}  // namespace fsb::agent
