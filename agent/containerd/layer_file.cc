#include "agent/containerd/layer_file.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <deque>
#include <numeric>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "agent/logger/fd.h"
#include "internal/deadline.h"
#include "internal/strings.h"

namespace fsb::agent {
namespace {

using fsb::logger::UniqueFd;

constexpr int kMaxSymlinks = 40;  // the kernel's MAXSYMLINKS

// Opens `rel` below the directory `dir` without following any symbolic link (a link as
// the last component is opened itself with O_PATH) or crossing a mount. glibc 2.36 has
// no openat2 wrapper.
int OpenBeneath(int dir, const std::string& rel, uint64_t flags) {
  open_how how{};
  how.flags = flags | O_NOFOLLOW | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
  return static_cast<int>(
      syscall(SYS_openat2, dir, rel.empty() ? "." : rel.c_str(), &how, sizeof(how)));
}

absl::Status Refused(std::string_view path, std::string_view why) {
  return absl::FailedPreconditionError(absl::StrCat("image file ", Sv(path), ": ", Sv(why)));
}

absl::Status OpenError(std::string_view path, const std::string& layer, int err) {
  switch (err) {
    case ENOSYS:
      return Refused(path, "openat2(2) is not available (Linux 5.6 or later is needed)");
    case EXDEV:
      return Refused(path, absl::StrCat("crosses a mount point in layer ", layer));
    default:
      return Refused(path, absl::StrCat("cannot open it in layer ", layer, ": ", strerror(err)));
  }
}

const char* KindOf(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "not a regular file";
}

// Whether the directory `fd` (O_PATH) is an overlay opaque directory.
bool Opaque(int fd) {
  char value[2];
  const std::string proc = absl::StrCat("/proc/self/fd/", fd);
  return getxattr(proc.c_str(), "trusted.overlay.opaque", value, sizeof(value)) == 1 &&
         value[0] == 'y';
}

// What a name is in a merged directory.
struct Entry {
  enum class Kind { kMissing, kDirectory, kSymlink, kOther };
  Kind kind = Kind::kMissing;
  // A directory: the layers merged into it, topmost first. Otherwise: the one layer
  // that provides it.
  std::vector<size_t> layers;
  struct stat st {};
  UniqueFd fd;  // O_PATH, of the topmost
};

// Looks up `rel` (a directory's relative path plus a name) in the layers of its
// directory, `parent_layers`, as overlayfs does.
absl::StatusOr<Entry> LookUp(const std::vector<std::string>& layers,
                             const std::vector<UniqueFd>& roots,
                             const std::vector<size_t>& parent_layers, const std::string& rel,
                             std::string_view path) {
  Entry entry;
  for (size_t layer : parent_layers) {
    UniqueFd fd(OpenBeneath(roots[layer].get(), rel, O_PATH));
    if (!fd.valid()) {
      if (errno == ENOENT) continue;
      return OpenError(path, layers[layer], errno);
    }
    struct stat st;
    if (fstat(fd.get(), &st) != 0) return OpenError(path, layers[layer], errno);
    if (entry.kind == Entry::Kind::kDirectory) {
      // Merging the layers below: a whiteout or a non-directory ends it.
      if (!S_ISDIR(st.st_mode)) break;
      entry.layers.push_back(layer);
      if (Opaque(fd.get())) break;
      continue;
    }
    if (S_ISCHR(st.st_mode) && st.st_rdev == 0) break;  // a whiteout: deleted here
    entry.layers = {layer};
    entry.st = st;
    const bool opaque = S_ISDIR(st.st_mode) && Opaque(fd.get());
    entry.fd = std::move(fd);
    if (!S_ISDIR(st.st_mode)) {
      entry.kind = S_ISLNK(st.st_mode) ? Entry::Kind::kSymlink : Entry::Kind::kOther;
      break;
    }
    entry.kind = Entry::Kind::kDirectory;
    if (opaque) break;
  }
  return entry;
}

// Reads the regular file `entry` found at `rel` (at most `limits.max_bytes`).
absl::StatusOr<std::string> ReadRegular(const std::string& layer, int root, const std::string& rel,
                                        const Entry& entry, std::string_view path,
                                        const LayerFileLimits& limits, const Deadline& deadline) {
  auto too_large = [&](int64_t size) {
    return Refused(path, absl::StrCat("it is ", size, " bytes, more than the ", limits.max_bytes,
                                      " the agent reads"));
  };
  if (!S_ISREG(entry.st.st_mode)) {
    return Refused(path, absl::StrCat("it is ", KindOf(entry.st.st_mode), ", not a regular file"));
  }
  if (static_cast<uint64_t>(entry.st.st_size) > limits.max_bytes) {
    return too_large(entry.st.st_size);
  }
  UniqueFd fd(OpenBeneath(root, rel, O_RDONLY | O_NONBLOCK | O_NOCTTY));
  if (!fd.valid()) return OpenError(path, layer, errno);
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return OpenError(path, layer, errno);
  if (!S_ISREG(st.st_mode) || st.st_dev != entry.st.st_dev || st.st_ino != entry.st.st_ino) {
    return Refused(path, absl::StrCat("it was replaced in layer ", layer, " while being read"));
  }
  std::string content;
  char buf[64 << 10];
  while (true) {
    if (deadline.Expired()) {
      return Refused(
          path, absl::StrCat("reading it took longer than ", absl::FormatDuration(limits.timeout)));
    }
    const size_t want = std::min(sizeof(buf), limits.max_bytes + 1 - content.size());
    const ssize_t n = read(fd.get(), buf, want);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Refused(path, absl::StrCat("cannot read it: ", strerror(errno)));
    if (n == 0) return content;
    content.append(buf, static_cast<size_t>(n));
    if (content.size() > limits.max_bytes) return too_large(static_cast<int64_t>(content.size()));
  }
}

}  // namespace

absl::StatusOr<std::string> ReadLayerFile(const std::vector<std::string>& layers,
                                          std::string_view path, const LayerFileLimits& limits) {
  if (path.empty() || path.front() != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("image file \"", Sv(path), "\": not an absolute path"));
  }
  const Deadline deadline = Deadline::In(limits.timeout);
  std::vector<UniqueFd> roots;
  for (const std::string& layer : layers) {
    const int fd = open(layer.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return OpenError(path, layer, errno);
    roots.emplace_back(fd);
  }
  auto not_found = [&] {
    return absl::NotFoundError(absl::StrCat(Sv(path), " is not in the image"));
  };
  // The directories resolved so far, from the root down: their names, and the layers
  // merged into each (the root: all of them).
  std::vector<std::string> names;
  std::vector<std::vector<size_t>> dirs(1, std::vector<size_t>(layers.size()));
  std::iota(dirs[0].begin(), dirs[0].end(), 0);
  // The components still to resolve; a symbolic link's target goes in front.
  std::deque<std::string> todo;
  for (absl::string_view c : absl::StrSplit(Sv(path), '/')) todo.emplace_back(c);
  todo.pop_front();  // before the leading '/'
  int links = 0;
  while (!todo.empty()) {
    if (deadline.Expired()) {
      return Refused(path, absl::StrCat("resolving it took longer than ",
                                        absl::FormatDuration(limits.timeout)));
    }
    const std::string name = std::move(todo.front());
    todo.pop_front();
    if (name.empty() || name == ".") continue;
    if (name == "..") {  // never above the image's root
      if (!names.empty()) {
        names.pop_back();
        dirs.pop_back();
      }
      continue;
    }
    const std::string rel =
        names.empty() ? name : absl::StrCat(absl::StrJoin(names, "/"), "/", name);
    absl::StatusOr<Entry> entry = LookUp(layers, roots, dirs.back(), rel, path);
    if (!entry.ok()) return entry.status();
    switch (entry->kind) {
      case Entry::Kind::kMissing:
        return not_found();
      case Entry::Kind::kDirectory:
        names.push_back(name);
        dirs.push_back(std::move(entry->layers));
        continue;
      case Entry::Kind::kSymlink: {
        if (++links > kMaxSymlinks) return Refused(path, "too many levels of symbolic links");
        char target[PATH_MAX];
        const ssize_t n = readlinkat(entry->fd.get(), "", target, sizeof(target));
        if (n <= 0 || static_cast<size_t>(n) == sizeof(target)) {
          return Refused(path, absl::StrCat("cannot read the symbolic link ", rel));
        }
        const absl::string_view to(target, static_cast<size_t>(n));
        std::vector<std::string> parts = absl::StrSplit(to, '/');
        todo.insert(todo.begin(), parts.begin(), parts.end());
        if (to.front() == '/') {  // from the image's root
          names.clear();
          dirs.resize(1);
        }
        continue;
      }
      case Entry::Kind::kOther:
        if (!todo.empty()) return not_found();  // a component that is not a directory
        return ReadRegular(layers[entry->layers[0]], roots[entry->layers[0]].get(), rel, *entry,
                           path, limits, deadline);
    }
  }
  return Refused(path, "it is a directory, not a regular file");
}

}  // namespace fsb::agent
