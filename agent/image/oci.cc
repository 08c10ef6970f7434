#include "agent/image/oci.h"

#include <openssl/evp.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "glog/logging.h"
#include "internal/image_ref.h"
#include "internal/proto_json.h"
#include "internal/strings.h"

namespace fsb::agent {
namespace {

constexpr char kContainerdNameAnnotation[] = "io.containerd.image.name";
constexpr char kOciRefNameAnnotation[] = "org.opencontainers.image.ref.name";

std::string PlatformString(const fsb::oci::v1::Platform& p) {
  std::string s = absl::StrCat(p.os(), "/", p.architecture());
  if (!p.variant().empty()) absl::StrAppend(&s, "/", p.variant());
  return s;
}

}  // namespace

bool IsIndexType(std::string_view media_type) {
  return media_type == kOciIndexType || media_type == kDockerManifestListType;
}

bool IsManifestType(std::string_view media_type) {
  return media_type == kOciManifestType || media_type == kDockerManifestType;
}

std::string_view HostArchitecture() {
#if defined(__x86_64__)
  return "amd64";
#elif defined(__aarch64__)
  return "arm64";
#else
#error "unsupported architecture"
#endif
}

absl::Status ParseJsonDocument(std::string_view json, std::string_view what,
                               google::protobuf::Message* out) {
  const absl::Status parsed = ProtoFromJson(json, out, {.ignore_unknown_fields = true});
  if (parsed.ok()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("malformed ", Sv(what), ": ", std::string(parsed.message())));
}

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  auto* ctx = static_cast<EVP_MD_CTX*>(ctx_);
  CHECK(ctx != nullptr && EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1)
      << "OpenSSL cannot initialize SHA-256";
}

Sha256::~Sha256() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }

void Sha256::Update(std::string_view data) {
  EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data.data(), data.size());
}

std::string Sha256::Digest() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), md, &length);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "sha256:";
  for (unsigned int i = 0; i < length; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 0xf]);
  }
  return out;
}

std::string Sha256Digest(std::string_view data) {
  Sha256 sha;
  sha.Update(data);
  return sha.Digest();
}

bool IsSha256Digest(std::string_view digest) {
  constexpr std::string_view kPrefix = "sha256:";
  if (digest.size() != kPrefix.size() + 64 || digest.substr(0, kPrefix.size()) != kPrefix) {
    return false;
  }
  for (char c : digest.substr(kPrefix.size())) {
    if (!absl::ascii_isdigit(c) && !(c >= 'a' && c <= 'f')) return false;
  }
  return true;
}

absl::StatusOr<std::vector<std::string>> ChainIds(const std::vector<std::string>& diff_ids) {
  std::vector<std::string> chain;
  chain.reserve(diff_ids.size());
  for (const std::string& diff_id : diff_ids) {
    if (!IsSha256Digest(diff_id)) {
      return absl::InvalidArgumentError(
          absl::StrCat("diff id \"", diff_id, "\" is not a sha256 digest"));
    }
    chain.push_back(chain.empty() ? diff_id
                                  : Sha256Digest(absl::StrCat(chain.back(), " ", diff_id)));
  }
  return chain;
}

absl::StatusOr<fsb::oci::v1::Descriptor> SelectPlatformManifest(const fsb::oci::v1::Index& index,
                                                                std::string_view image,
                                                                std::string_view os,
                                                                std::string_view architecture,
                                                                std::string_view variant) {
  // Preference: exact variant, then no variant, then another variant, then an entry
  // without platform.
  const fsb::oci::v1::Descriptor* no_variant = nullptr;
  const fsb::oci::v1::Descriptor* other_variant = nullptr;
  const fsb::oci::v1::Descriptor* no_platform = nullptr;
  for (const auto& m : index.manifests()) {
    if (!m.has_platform()) {
      if (no_platform == nullptr) no_platform = &m;
      continue;
    }
    const auto& p = m.platform();
    if (p.os() != os || p.architecture() != architecture) continue;
    if (p.variant() == variant) return m;
    auto& slot = p.variant().empty() ? no_variant : other_variant;
    if (slot == nullptr) slot = &m;
  }
  for (const auto* m : {no_variant, other_variant, no_platform}) {
    if (m != nullptr) return *m;
  }
  std::vector<std::string> platforms;
  for (const auto& m : index.manifests()) platforms.push_back(PlatformString(m.platform()));
  return absl::NotFoundError(
      absl::StrCat("image \"", Sv(image), "\" has no manifest for ", Sv(os), "/", Sv(architecture),
                   " (it has: ", platforms.empty() ? "none" : absl::StrJoin(platforms, ", "), ")"));
}

std::optional<std::string> ArchiveImageName(const fsb::oci::v1::Descriptor& entry) {
  const auto& annotations = entry.annotations();
  if (auto it = annotations.find(kContainerdNameAnnotation); it != annotations.end()) {
    if (auto name = NormalizeImageReference(it->second); name.ok()) return *name;
  }
  if (auto it = annotations.find(kOciRefNameAnnotation);
      it != annotations.end() && it->second.find('/') != std::string::npos) {
    if (auto name = NormalizeImageReference(it->second); name.ok()) return *name;
  }
  return std::nullopt;
}

absl::StatusOr<ImageReference> ParseImageReference(std::string_view image) {
  absl::StatusOr<std::string> normalized = NormalizeImageReference(image);
  if (!normalized.ok()) return normalized.status();
  // Normalized: domain "/" path [":" tag] ["@" digest], the domain always present.
  std::string_view rest = *normalized;
  ImageReference ref;
  const size_t slash = rest.find('/');
  ref.domain = std::string(rest.substr(0, slash));
  rest.remove_prefix(slash + 1);
  if (size_t at = rest.find('@'); at != std::string_view::npos) {
    ref.digest = std::string(rest.substr(at + 1));
    rest = rest.substr(0, at);
    if (!IsSha256Digest(ref.digest)) {
      return absl::InvalidArgumentError(
          absl::StrCat("image reference \"", Sv(image), "\": only sha256 digests are supported"));
    }
  }
  if (size_t colon = rest.rfind(':'); colon != std::string_view::npos) {
    ref.tag = std::string(rest.substr(colon + 1));
    rest = rest.substr(0, colon);
  }
  ref.repository = std::string(rest);
  return ref;
}

}  // namespace fsb::agent
