#include "agent/image/importer.h"

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/image/oci.h"
#include "glog/logging.h"
#include "internal/strings.h"

namespace fsb::agent {
namespace {

constexpr std::string_view kBlobsDir = "blobs/";
constexpr size_t kCopyPiece = 1 << 20;

// The status of an archive that is not what it should be: INVALID_ARGUMENT, message kept.
absl::Status BadArchive(const absl::Status& cause) {
  return absl::InvalidArgumentError(absl::StrCat("image archive: ", cause.message()));
}

// Streams the current tar member (the blob `digest`) into the content store, or skips
// it when containerd already has the blob.
absl::Status IngestBlob(ImageStore& store, const ImageStore::Lease& lease, TarReader& tar,
                        const std::string& digest, int64_t size) {
  absl::StatusOr<std::unique_ptr<ImageStore::BlobWriter>> writer =
      store.OpenBlob(lease, digest, size);
  if (!writer.ok()) return writer.status();
  if (*writer == nullptr) return absl::OkStatus();  // Next() skips the data
  for (;;) {
    absl::StatusOr<std::string_view> piece = tar.Read(kCopyPiece);
    if (!piece.ok()) return piece.status();
    if (piece->empty()) break;
    if (absl::Status s = (*writer)->Write(*piece); !s.ok()) return s;
  }
  absl::Status committed = (*writer)->Commit();
  if (absl::IsDataLoss(committed)) return BadArchive(committed);
  return committed;
}

}  // namespace

absl::Status CheckRepoint(std::string_view name, const std::optional<std::string>& current,
                          std::string_view digest, bool force) {
  if (force || !current.has_value() || *current == digest) return absl::OkStatus();
  return absl::AlreadyExistsError(absl::StrCat("image ", Sv(name), " already exists with digest ",
                                               *current, "; the archive's is ", Sv(digest),
                                               ": use --force to re-point it"));
}

absl::StatusOr<std::vector<std::string>> ImageImporter::Import(const ChunkSource& source,
                                                               bool force) {
  absl::StatusOr<ImageStore::Lease> lease = store_->CreateLease();
  if (!lease.ok()) return lease.status();
  TarReader tar(source);
  std::optional<std::string> index_json;
  bool docker_archive = false;
  int blobs = 0;
  for (;;) {
    absl::StatusOr<std::optional<TarEntry>> entry = tar.Next();
    if (!entry.ok()) return BadArchive(entry.status());
    if (!entry->has_value()) break;
    const TarEntry& e = **entry;
    if (e.type != TarEntry::Type::kFile) continue;
    if (e.path == "index.json") {
      absl::StatusOr<std::string> json = tar.ReadAll(kMaxManifestBytes, "index.json");
      if (!json.ok()) return BadArchive(json.status());
      index_json = *std::move(json);
    } else if (e.path == "manifest.json") {
      docker_archive = true;
    } else if (e.path.substr(0, kBlobsDir.size()) == kBlobsDir) {
      // blobs/<algorithm>/<encoded> names the blob's digest.
      std::string digest = e.path.substr(kBlobsDir.size());
      if (size_t slash = digest.find('/'); slash != std::string::npos) digest[slash] = ':';
      if (!IsSha256Digest(digest)) {
        return absl::InvalidArgumentError(
            absl::StrCat("image archive: \"", e.path, "\" is not a sha256 blob"));
      }
      if (absl::Status s = IngestBlob(*store_, *lease, tar, digest, e.size); !s.ok()) {
        if (absl::IsInvalidArgument(s)) return s;
        return absl::Status(s.code(), absl::StrCat("importing ", e.path, ": ", s.message()));
      }
      ++blobs;
    }
  }
  if (!index_json.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "not an OCI image archive: it has no index.json",
        docker_archive ? " (docker-archive files from old `docker save` are not supported)" : ""));
  }
  fsb::oci::v1::Index index;
  if (absl::Status s = ParseJsonDocument(*index_json, "index.json", &index); !s.ok()) {
    return BadArchive(s);
  }
  // Every name is checked before any is installed, so a refused import names nothing.
  std::vector<std::pair<std::string, const fsb::oci::v1::Descriptor*>> images;
  for (const fsb::oci::v1::Descriptor& entry : index.manifests()) {
    std::optional<std::string> name = ArchiveImageName(entry);
    if (!name.has_value()) {
      LOG(INFO) << "image archive: index.json entry " << entry.digest()
                << " names no image; skipped";
      continue;
    }
    absl::StatusOr<std::optional<std::string>> current = store_->ImageTarget(*name);
    if (!current.ok()) return current.status();
    if (absl::Status s = CheckRepoint(*name, *current, entry.digest(), force); !s.ok()) return s;
    images.emplace_back(*std::move(name), &entry);
  }
  if (images.empty()) {
    return absl::InvalidArgumentError(
        "image archive: index.json names no image (annotation io.containerd.image.name or a "
        "full reference in org.opencontainers.image.ref.name)");
  }
  std::vector<std::string> names;
  for (auto& [name, entry] : images) {
    if (absl::Status s = store_->Install(*lease, name, *entry); !s.ok()) {
      // A blob the image needs is neither in the archive nor on the node.
      if (absl::IsNotFound(s)) return BadArchive(s);
      return s;
    }
    names.push_back(std::move(name));
  }
  LOG(INFO) << "imported " << names.size() << " image(s) from an archive of " << blobs
            << " blob(s), first " << names.front();
  return names;
}

}  // namespace fsb::agent
