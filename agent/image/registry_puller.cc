#include "agent/image/registry_puller.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/image/oci.h"
#include "agent/image/registry.h"
#include "glog/logging.h"
#include "internal/image_ref.h"
#include "internal/stopwatch.h"
#include "internal/strings.h"

namespace fsb::agent {
namespace {

// The longest error message a pull returns.
constexpr size_t kMaxErrorMessage = 2048;

// `status` with its message fit for the terminal of whoever asked for the pull: it
// quotes what registries sent.
absl::Status SanitizedStatus(const absl::Status& status) {
  if (status.ok()) return status;
  const std::string_view message(status.message().data(), status.message().size());
  return absl::Status(status.code(), SanitizeRemoteText(message, kMaxErrorMessage));
}

}  // namespace

absl::StatusOr<RegistryPuller::Options> RegistryPuller::Options::FromFlags(
    int64_t min_rate, std::string_view min_rate_window, std::string_view request_timeout) {
  if (min_rate < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--registry-min-rate ", min_rate, " is negative"));
  }
  Options options;
  options.http.min_rate = min_rate;
  const auto parse = [](const char* flag, std::string_view text, absl::Duration* out) {
    if (absl::ParseDuration(Sv(text), out) && *out >= absl::Seconds(1)) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " \"", Sv(text), "\": not a duration of at least 1s"));
  };
  if (absl::Status s =
          parse("--registry-min-rate-window", min_rate_window, &options.http.stall_timeout);
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          parse("--registry-request-timeout", request_timeout, &options.http.request_timeout);
      !s.ok()) {
    return s;
  }
  return options;
}

RegistryPuller::RegistryPuller(ImageStore* store, RegistryCredentials credentials, Options options)
    : store_(store), credentials_(std::move(credentials)), options_(std::move(options)) {}

absl::Status RegistryPuller::Pull(std::string_view name) {
  const std::string key(name);
  std::shared_ptr<Flight> flight;
  bool leader = false;
  {
    absl::MutexLock lock(&mu_);
    std::shared_ptr<Flight>& slot = flights_[key];
    if (slot == nullptr) {
      slot = std::make_shared<Flight>();
      leader = true;
    }
    flight = slot;
  }
  if (!leader) {
    flight->done.WaitForNotification();
    return flight->status;
  }
  flight->status = SanitizedStatus(Transfer(key));
  {
    absl::MutexLock lock(&mu_);
    flights_.erase(key);
  }
  flight->done.Notify();
  return flight->status;
}

absl::StatusOr<std::pair<std::string, bool>> RegistryPuller::Ensure(std::string_view name) {
  absl::StatusOr<std::string> normalized = NormalizeImageReference(name);
  if (!normalized.ok()) return normalized.status();
  absl::StatusOr<std::optional<std::string>> present = store_->ImageTarget(*normalized);
  if (!present.ok()) return present.status();
  if (present->has_value()) return std::pair(*normalized, false);
  if (absl::Status s = Pull(*normalized); !s.ok()) return s;
  return std::pair(*normalized, true);
}

absl::Status RegistryPuller::Transfer(const std::string& name) {
  const Stopwatch watch;
  absl::StatusOr<ImageReference> ref = ParseImageReference(name);
  if (!ref.ok()) return ref.status();
  const Transport transport = credentials_.IsInsecure(ref->domain) ? Transport::kInsecureHttp
                              : IsLoopbackRegistry(ref->domain)    ? Transport::kLoopbackHttp
                                                                   : Transport::kHttps;
  RegistryClient registry(*ref, credentials_.LoginFor(ref->domain), transport, options_.http);
  absl::StatusOr<RegistryClient::Document> top = registry.GetManifest(ref->Reference());
  if (!top.ok()) return top.status();
  absl::StatusOr<ImageStore::Lease> lease = store_->CreateLease();
  if (!lease.ok()) return lease.status();
  if (absl::Status s = store_->PutBlob(*lease, top->digest, top->body); !s.ok()) return s;
  fsb::oci::v1::Descriptor target;
  target.set_media_type(top->media_type);
  target.set_digest(top->digest);
  target.set_size(static_cast<int64_t>(top->body.size()));

  RegistryClient::Document manifest_doc = *std::move(top);
  if (IsIndexType(manifest_doc.media_type)) {
    fsb::oci::v1::Index index;
    if (absl::Status s = ParseJsonDocument(manifest_doc.body, "image index", &index); !s.ok()) {
      return s;
    }
    absl::StatusOr<fsb::oci::v1::Descriptor> selected =
        SelectPlatformManifest(index, name, "linux", HostArchitecture(), "");
    if (!selected.ok()) return selected.status();
    absl::StatusOr<RegistryClient::Document> platform = registry.GetManifest(selected->digest());
    if (!platform.ok()) return platform.status();
    if (!IsManifestType(platform->media_type)) {
      return absl::InvalidArgumentError(absl::StrCat("image \"", name, "\": its index points at ",
                                                     selected->digest(),
                                                     ", which is not a manifest"));
    }
    if (absl::Status s = store_->PutBlob(*lease, platform->digest, platform->body); !s.ok()) {
      return s;
    }
    manifest_doc = *std::move(platform);
  }
  fsb::oci::v1::Manifest manifest;
  if (absl::Status s = ParseJsonDocument(manifest_doc.body, "image manifest", &manifest); !s.ok()) {
    return s;
  }
  std::vector<fsb::oci::v1::Descriptor> blobs = {manifest.config()};
  blobs.insert(blobs.end(), manifest.layers().begin(), manifest.layers().end());
  int64_t downloaded = 0;
  for (const fsb::oci::v1::Descriptor& blob : blobs) {
    absl::StatusOr<std::unique_ptr<ImageStore::BlobWriter>> writer =
        store_->OpenBlob(*lease, blob.digest(), blob.size());
    if (!writer.ok()) return writer.status();
    if (*writer == nullptr) continue;  // already on the node
    ImageStore::BlobWriter* w = writer->get();
    if (absl::Status s =
            registry.GetBlob(blob, [w](std::string_view piece) { return w->Write(piece); });
        !s.ok()) {
      return s;
    }
    if (absl::Status s = w->Commit(); !s.ok()) return s;
    downloaded += blob.size();
  }
  if (absl::Status s = store_->Install(*lease, name, target); !s.ok()) return s;
  LOG(INFO) << "pulled " << name << " from " << registry.base_url() << " (" << downloaded
            << " bytes downloaded) in " << absl::FormatDuration(watch.Elapsed());
  return absl::OkStatus();
}

}  // namespace fsb::agent
