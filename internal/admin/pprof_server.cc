#include "internal/admin/pprof_server.h"

#if FSB_HEAP_PROFILES
#include <gperftools/malloc_extension.h>
#endif
#include <gperftools/profiler.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace fsb::admin {
namespace {

constexpr char kProfileContentType[] = "application/octet-stream";

// gperftools has one CPU profiler per process: whoever sets this takes the profile.
std::atomic<bool> cpu_profile_claimed{false};

HttpResponse TextError(int status, absl::string_view message) {
  return {.status = status, .body = absl::StrCat(message, "\n")};
}

absl::StatusOr<int> ProfileSeconds(const std::optional<std::string>& text) {
  if (!text.has_value()) return PprofServer::kDefaultSeconds;
  int seconds = 0;
  const char* end = text->data() + text->size();
  auto [last, ec] = std::from_chars(text->data(), end, seconds);
  if (text->empty() || ec != std::errc() || last != end || seconds < PprofServer::kMinSeconds ||
      seconds > PprofServer::kMaxSeconds) {
    return absl::InvalidArgumentError(
        absl::StrCat("seconds=\"", *text, "\": expected a whole number of seconds from ",
                     PprofServer::kMinSeconds, " to ", PprofServer::kMaxSeconds));
  }
  return seconds;
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  if (!in.good() || !content.good()) {
    return absl::InternalError(absl::StrCat("cannot read ", path));
  }
  return std::move(content).str();
}

HttpResponse HeapProfile(const HttpRequest&) {
#if !FSB_HEAP_PROFILES
  return TextError(501,
                   "heap profiles need tcmalloc, and this is a sanitizer build: it runs on the "
                   "sanitizer's allocator");
#else
  std::string sample;
  MallocExtension::instance()->GetHeapSample(&sample);
  // When sampling is off tcmalloc writes "%warn" lines, and no samples, instead.
  if (absl::StartsWith(sample, "%warn")) {
    return TextError(501,
                     "heap sampling is off in this process: start it with "
                     "TCMALLOC_SAMPLE_PARAMETER=524288 (mean bytes between samples) in its "
                     "environment to get heap profiles");
  }
  return {.content_type = kProfileContentType, .body = std::move(sample)};
#endif
}

HttpResponse Index(const HttpRequest&) {
  return {.body = absl::StrCat(
              "fsb profiling endpoints (gperftools; read with google-pprof --text BINARY FILE,\n"
              "or scripts/profile.sh HOST:PORT [SECONDS]):\n"
              "  /debug/pprof/profile?seconds=N  CPU profile over N seconds (",
              PprofServer::kMinSeconds, "..", PprofServer::kMaxSeconds, ", default ",
              PprofServer::kDefaultSeconds,
              ")\n"
              "  /debug/pprof/heap               tcmalloc heap sample (needs "
              "TCMALLOC_SAMPLE_PARAMETER at process start)\n")};
}

}  // namespace

absl::StatusOr<std::unique_ptr<PprofServer>> PprofServer::Create(Options options) {
  std::error_code ec;
  std::string temp_dir = options.temp_dir.empty()
                             ? std::filesystem::temp_directory_path(ec).string()
                             : options.temp_dir;
  if (ec || !std::filesystem::is_directory(temp_dir, ec)) {
    return absl::InvalidArgumentError(
        absl::StrCat("profile folder \"", temp_dir, "\" is not a folder"));
  }
  std::unique_ptr<PprofServer> server(new PprofServer(std::move(temp_dir)));
  std::map<std::string, HttpHandler> routes;
  routes["/debug/pprof"] = &Index;
  routes["/debug/pprof/"] = &Index;
  routes["/debug/pprof/heap"] = &HeapProfile;
  routes["/debug/pprof/profile"] = [self = server.get()](const HttpRequest& request) {
    return self->CpuProfile(request);
  };
  absl::StatusOr<std::unique_ptr<HttpServer>> http =
      HttpServer::Create(options.bind_address, std::move(routes));
  if (!http.ok()) return http.status();
  server->http_ = *std::move(http);
  return server;
}

PprofServer::~PprofServer() { Stop(); }

void PprofServer::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (http_ != nullptr) http_->Stop();
}

HttpResponse PprofServer::CpuProfile(const HttpRequest& request) {
  absl::StatusOr<int> seconds = ProfileSeconds(request.QueryParameter("seconds"));
  if (!seconds.ok()) return TextError(400, seconds.status().message());
  if (cpu_profile_claimed.exchange(true)) {
    return TextError(409, "a CPU profile is already being taken; retry when it is done");
  }
  struct Unclaim {
    ~Unclaim() { cpu_profile_claimed.store(false); }
  } unclaim;

  std::string path = absl::StrCat(temp_dir_, "/fsb-cpu-XXXXXX.prof");
  const int fd = mkstemps(path.data(), /*suffixlen=*/5);
  if (fd < 0) {
    return TextError(500, absl::StrCat("cannot create a profile file in ", temp_dir_, ": ",
                                       std::strerror(errno)));
  }
  close(fd);
  struct RemoveFile {
    ~RemoveFile() { unlink(path.c_str()); }
    const std::string& path;
  } remove_file{path};
  if (!ProfilerStart(path.c_str())) {
    ProfilerState state{};
    ProfilerGetCurrentState(&state);
    if (state.enabled) {
      return TextError(409, absl::StrCat("the CPU profiler is already running (CPUPROFILE=",
                                         state.profile_name, "?)"));
    }
    return TextError(500, absl::StrCat("cannot start the CPU profiler writing ", path));
  }
  bool stopping = false;
  {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::Seconds(*seconds));
    stopping = stopping_;
  }
  ProfilerStop();
  if (stopping) return TextError(503, "CPU profile cut short: the server is stopping");
  absl::StatusOr<std::string> profile = ReadFile(path);
  if (!profile.ok()) return TextError(500, profile.status().message());
  return {.content_type = kProfileContentType, .body = *std::move(profile)};
}

}  // namespace fsb::admin
