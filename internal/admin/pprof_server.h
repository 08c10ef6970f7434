#ifndef FSB_INTERNAL_ADMIN_PPROF_SERVER_H_
#define FSB_INTERNAL_ADMIN_PPROF_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "internal/admin/http_server.h"

namespace fsb::admin {

// The profiling listener of an fsb binary, in the style of Go's net/http/pprof, on
// gperftools. Profiles expose the process's internals: bind it to loopback (the
// binaries' default, "localhost:6060" and "localhost:6061") unless an operator opts in.
//
//   /debug/pprof/                 a plain-text index of the endpoints below
//   /debug/pprof/profile?seconds=N
//       a CPU profile (gperftools' legacy format, application/octet-stream) of the whole
//       process over N seconds of real time: N is a whole number from kMinSeconds to
//       kMaxSeconds, kDefaultSeconds when absent; anything else is 400. One CPU profile
//       at a time per process: while one is taken (through any PprofServer, or because
//       the process runs with CPUPROFILE set) the answer is 409.
//   /debug/pprof/heap
//       tcmalloc's current heap sample (application/octet-stream). tcmalloc samples only
//       when the process starts with TCMALLOC_SAMPLE_PARAMETER set (e.g. 524288, the
//       mean bytes between samples; it cannot be turned on later): without it the
//       answer is 501 with a message saying so. A sanitizer build has no tcmalloc
//       (FSB_HEAP_PROFILES=0): it always answers 501 saying that.
//
// Both profiles are read with `google-pprof --text <binary> <file>` (package
// google-perftools), or scripts/profile.sh and scripts/flamegraph.sh. The binary must
// link fsb_gperftools (fsb_admin brings it) so that tcmalloc is its allocator.
//
// Thread-safety: requests are served concurrently on HttpServer's worker threads (a CPU
// profile holds one for N seconds). Stop() and the destructor cut a running CPU profile
// short (it answers 503 and its data is dropped), then wait for running requests; they
// must not run on a worker thread.
class PprofServer {
 public:
  static constexpr int kDefaultSeconds = 30;
  static constexpr int kMinSeconds = 1;
  static constexpr int kMaxSeconds = 300;

  struct Options {
    // "host:port", such as "127.0.0.1:6060"; port 0 picks a free one (see port()).
    std::string bind_address;
    // Where a CPU profile is written while it is taken (and removed after it is sent).
    // Empty: std::filesystem::temp_directory_path() ($TMPDIR, else /tmp).
    std::string temp_dir;
  };

  // Starts listening. Errors: INVALID_ARGUMENT for a malformed address or a temp_dir
  // that is not a folder; UNAVAILABLE naming the address when it cannot be bound.
  static absl::StatusOr<std::unique_ptr<PprofServer>> Create(Options options);

  PprofServer(const PprofServer&) = delete;
  PprofServer& operator=(const PprofServer&) = delete;
  ~PprofServer();  // Stop()s.

  // Cuts a running CPU profile short, stops listening and waits for running requests;
  // idempotent.
  void Stop();

  // The bound port.
  int port() const { return http_->port(); }

 private:
  explicit PprofServer(std::string temp_dir) : temp_dir_(std::move(temp_dir)) {}

  HttpResponse CpuProfile(const HttpRequest& request);

  const std::string temp_dir_;
  std::unique_ptr<HttpServer> http_;  // set by Create

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace fsb::admin

#endif  // FSB_INTERNAL_ADMIN_PPROF_SERVER_H_
