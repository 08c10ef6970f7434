// Fuzzes what the agent reads from an image archive (ImageImporter, `fsb image import`)
// and from a registry: the tar reader, then each member as the OCI documents it may be
// (index, manifest, image config) and what is derived from them (image names, platform
// selection, chain ids), and image references.
//
// Input: one byte choosing how the archive is cut into chunks, then the tar archive.
//
// Invariants:
//  * the reader never crashes and fails with INVALID_ARGUMENT only;
//  * chunking does not matter: the archive read in one chunk and in the chosen chunks
//    (with reads of varying size) gives the same members, data and final status;
//  * a member's data is exactly its size, and SHA-256 fed piece by piece equals the
//    digest of the whole;
//  * an index's platform selection returns one of its manifests or NOT_FOUND; an
//    archive image name is normalized (normalizing it again changes nothing); chain ids
//    are one per diff id, the first being the first diff id.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "agent/image/oci.h"
#include "agent/image/tar.h"
#include "fsb/oci/v1/image.pb.h"
#include "internal/image_ref.h"
#include "tests/fuzz/fuzz_check.h"

namespace fsb::fuzz {
namespace {

using ::fsb::agent::TarEntry;
using ::fsb::agent::TarReader;

struct Member {
  TarEntry entry;
  std::string data;    // files only
  std::string digest;  // of data, fed piece by piece
};

struct Listing {
  std::vector<Member> members;
  absl::Status status;
};

// Reads the whole archive from `reader`, each file's data in reads of at most
// `read_size(i)` bytes for the i-th read. Bounded: the reader consumes input on every
// step, and the input is finite.
template <typename ReadSize>
Listing ReadArchive(TarReader& reader, ReadSize read_size) {
  Listing out;
  int reads = 0;
  for (;;) {
    absl::StatusOr<std::optional<TarEntry>> next = reader.Next();
    if (!next.ok()) {
      out.status = next.status();
      return out;
    }
    if (!next->has_value()) return out;
    Member& m = out.members.emplace_back();
    m.entry = **next;
    if (m.entry.type != TarEntry::Type::kFile) continue;
    agent::Sha256 sha;
    for (;;) {
      absl::StatusOr<std::string_view> piece = reader.Read(read_size(reads++));
      if (!piece.ok()) {
        out.status = piece.status();
        return out;
      }
      if (piece->empty()) break;
      sha.Update(*piece);
      m.data.append(piece->data(), piece->size());
    }
    m.digest = sha.Digest();
  }
}

void CheckImageName(const fsb::oci::v1::Descriptor& entry) {
  std::optional<std::string> name = agent::ArchiveImageName(entry);
  if (!name.has_value()) return;
  absl::StatusOr<std::string> again = NormalizeImageReference(*name);
  FSB_FUZZ_CHECK(again.ok() && *again == *name);
  absl::StatusOr<agent::ImageReference> ref = agent::ParseImageReference(*name);
  FSB_FUZZ_CHECK(ref.ok() || absl::IsInvalidArgument(ref.status()));
}

// A member's data as each OCI document it might be.
void CheckDocuments(std::string_view data) {
  fsb::oci::v1::Index index;
  if (agent::ParseJsonDocument(data, "index.json", &index).ok()) {
    for (const fsb::oci::v1::Descriptor& entry : index.manifests()) CheckImageName(entry);
    absl::StatusOr<fsb::oci::v1::Descriptor> chosen =
        agent::SelectPlatformManifest(index, "fuzz", "linux", "amd64", "");
    if (chosen.ok()) {
      bool listed = false;
      for (const fsb::oci::v1::Descriptor& entry : index.manifests()) {
        listed = listed || entry.digest() == chosen->digest();
      }
      FSB_FUZZ_CHECK(listed);
    } else {
      FSB_FUZZ_CHECK(absl::IsNotFound(chosen.status()));
    }
  }
  fsb::oci::v1::Manifest manifest;
  if (agent::ParseJsonDocument(data, "manifest", &manifest).ok()) {
    for (const fsb::oci::v1::Descriptor& layer : manifest.layers()) {
      agent::IsSha256Digest(layer.digest());
    }
  }
  fsb::oci::v1::ImageConfig config;
  if (agent::ParseJsonDocument(data, "image config", &config).ok()) {
    const std::vector<std::string> diff_ids(config.rootfs().diff_ids().begin(),
                                            config.rootfs().diff_ids().end());
    absl::StatusOr<std::vector<std::string>> chain = agent::ChainIds(diff_ids);
    if (chain.ok()) {
      FSB_FUZZ_CHECK(chain->size() == diff_ids.size());
      FSB_FUZZ_CHECK(chain->empty() || chain->front() == diff_ids.front());
      for (const std::string& id : *chain) FSB_FUZZ_CHECK(agent::IsSha256Digest(id));
    } else {
      FSB_FUZZ_CHECK(absl::IsInvalidArgument(chain.status()));
    }
  }
}

void TestOneInput(std::string_view input) {
  if (input.empty()) return;
  // 1..128 bytes per chunk; every 8th chunk empty when the high bit is set.
  const size_t chunk = 1 + static_cast<unsigned char>(input.front()) % 128;
  const bool empty_chunks = static_cast<unsigned char>(input.front()) >= 128;
  const std::string archive(input.substr(1));

  bool given = false;
  TarReader whole([&](std::string* out) {
    if (given) return false;
    given = true;
    *out = archive;
    return true;
  });
  Listing a = ReadArchive(whole, [](int) { return size_t{1} << 20; });

  size_t pos = 0;
  int calls = 0;
  TarReader chunked([&](std::string* out) {
    if (pos >= archive.size()) return false;
    if (empty_chunks && ++calls % 8 == 0) {
      out->clear();
      return true;
    }
    *out = archive.substr(pos, chunk);
    pos += out->size();
    return true;
  });
  Listing b = ReadArchive(chunked, [](int i) { return size_t(1 + i % 7); });

  FSB_FUZZ_CHECK(a.status == b.status);
  FSB_FUZZ_CHECK(a.status.ok() || absl::IsInvalidArgument(a.status));
  FSB_FUZZ_CHECK(a.members.size() == b.members.size());
  for (size_t i = 0; i < a.members.size(); ++i) {
    const Member& x = a.members[i];
    const Member& y = b.members[i];
    FSB_FUZZ_CHECK(x.entry.path == y.entry.path && x.entry.type == y.entry.type &&
                   x.entry.size == y.entry.size);
    FSB_FUZZ_CHECK(x.data == y.data && x.digest == y.digest);
    // Only a member cut short by the stream's end has less data than its size.
    const bool last = i + 1 == a.members.size();
    if (x.entry.type == TarEntry::Type::kFile && (!last || a.status.ok())) {
      FSB_FUZZ_CHECK(static_cast<int64_t>(x.data.size()) == x.entry.size);
      FSB_FUZZ_CHECK(x.digest == agent::Sha256Digest(x.data));
      CheckDocuments(x.data);
    }
  }
}

}  // namespace
}  // namespace fsb::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fsb::fuzz::TestOneInput(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
