#ifndef FSB_AGENT_IMAGE_OCI_H_
#define FSB_AGENT_IMAGE_OCI_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "fsb/oci/v1/image.pb.h"
#include "google/protobuf/message.h"

// The parts of the OCI image format and distribution model fsb needs to import and
// pull images, as pure functions: media types, digests, platform selection, chain ids,
// image names in archives, registry references. Thread-safe (no state).
namespace fsb::agent {

inline constexpr char kOciIndexType[] = "application/vnd.oci.image.index.v1+json";
inline constexpr char kOciManifestType[] = "application/vnd.oci.image.manifest.v1+json";
inline constexpr char kDockerManifestListType[] =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr char kDockerManifestType[] =
    "application/vnd.docker.distribution.manifest.v2+json";

// Manifests and indexes are held in memory; larger documents are refused.
inline constexpr int64_t kMaxManifestBytes = 4 << 20;

bool IsIndexType(std::string_view media_type);
bool IsManifestType(std::string_view media_type);

// The OCI architecture name of this machine ("amd64", "arm64").
std::string_view HostArchitecture();

// Parses a JSON document into `out`, ignoring unknown fields. INVALID_ARGUMENT naming
// `what` when it is not valid JSON for the message.
absl::Status ParseJsonDocument(std::string_view json, std::string_view what,
                               google::protobuf::Message* out);

// SHA-256 of a stream, fed piece by piece. Not thread-safe.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(std::string_view data);
  // "sha256:<64 lowercase hex>" of everything fed so far; ends the stream.
  std::string Digest();

 private:
  void* ctx_;  // EVP_MD_CTX
};

// "sha256:<hex>" of `data`.
std::string Sha256Digest(std::string_view data);

// True for "sha256:" followed by 64 lowercase hex digits, the only digest algorithm
// fsb accepts (it is the one containerd and every registry use).
bool IsSha256Digest(std::string_view digest);

// The chain ids of a stack of layers given their diff ids (uncompressed digests), bottom
// first: chain[0] = diff[0], chain[i] = sha256(chain[i-1] + " " + diff[i]). The chain
// id names the committed snapshot of the layers 0..i. INVALID_ARGUMENT for a diff id
// that is not a sha256 digest.
absl::StatusOr<std::vector<std::string>> ChainIds(const std::vector<std::string>& diff_ids);

// The manifest of `index` for os/architecture (and variant when non-empty): an exact
// variant match is preferred, then one without variant. Entries without a platform
// match anything. NOT_FOUND naming `image` and the platforms it has when none fits.
absl::StatusOr<fsb::oci::v1::Descriptor> SelectPlatformManifest(const fsb::oci::v1::Index& index,
                                                                std::string_view image,
                                                                std::string_view os,
                                                                std::string_view architecture,
                                                                std::string_view variant);

// The normalized image name an index.json entry of an OCI archive carries:
// containerd's `io.containerd.image.name` annotation, else
// `org.opencontainers.image.ref.name` when it is a full reference (a bare tag names no
// repository). nullopt when it names none.
std::optional<std::string> ArchiveImageName(const fsb::oci::v1::Descriptor& entry);

// A normalized image reference (see internal/image_ref.h) split for a registry.
struct ImageReference {
  std::string domain;      // "docker.io", "127.0.0.1:5000"
  std::string repository;  // "library/busybox"
  std::string tag;         // may be empty when `digest` is set
  std::string digest;      // "sha256:..." or empty

  // What to ask the registry's manifest endpoint for: the digest when set, else the tag.
  const std::string& Reference() const { return digest.empty() ? tag : digest; }
};

// Splits `image` (any spelling; it is normalized first). INVALID_ARGUMENT when it is not
// a valid reference, or its digest is not sha256.
absl::StatusOr<ImageReference> ParseImageReference(std::string_view image);

}  // namespace fsb::agent

#endif  // FSB_AGENT_IMAGE_OCI_H_
