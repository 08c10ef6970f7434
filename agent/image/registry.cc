#include "agent/image/registry.h"

#include <algorithm>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "fsb/oci/v1/distribution.pb.h"
#include "internal/strings.h"

namespace fsb::agent {
namespace {

constexpr char kUserAgent[] = "fsb-agent";
constexpr char kManifestAccept[] =
    "Accept: application/vnd.oci.image.index.v1+json, "
    "application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.docker.distribution.manifest.v2+json";

std::string_view TrimSpaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Bounds of what a registry's error body adds to a message.
constexpr size_t kMaxErrorDetail = 200;  // one code and message
constexpr int kMaxErrorDetails = 4;      // errors quoted

// The distribution error codes and messages of a registry's error body, if any,
// sanitized and bounded.
std::string ErrorDetails(std::string_view body) {
  fsb::oci::v1::RegistryErrors errors;
  if (!ParseJsonDocument(body, "registry errors", &errors).ok() || errors.errors().empty()) {
    return "";
  }
  std::vector<std::string> parts;
  for (const auto& e : errors.errors()) {
    if (static_cast<int>(parts.size()) == kMaxErrorDetails) {
      parts.push_back(absl::StrCat(errors.errors_size() - kMaxErrorDetails, " more"));
      break;
    }
    parts.push_back(SanitizeRemoteText(
        e.message().empty() ? e.code() : absl::StrCat(e.code(), ": ", e.message()),
        kMaxErrorDetail));
  }
  return absl::StrCat(" (", absl::StrJoin(parts, "; "), ")");
}

// The host (and port) requests for the registry `domain` go to.
std::string Endpoint(std::string_view domain) {
  return domain == "docker.io" ? "registry-1.docker.io" : std::string(domain);
}

// The host of `domain` (host[:port], IPv6 in brackets), without the port.
std::string_view HostOf(std::string_view domain) {
  if (!domain.empty() && domain.front() == '[') return domain.substr(0, domain.find(']') + 1);
  return domain.substr(0, domain.rfind(':'));
}

// The length of the well-formed UTF-8 character at the start of `s` (RFC 3629: no
// overlong forms, which could smuggle a C1 control, no surrogates), 0 when there is none.
size_t Utf8Length(std::string_view s) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char lead = byte(0);
  if (lead < 0x80) return 1;
  size_t n = 0;
  unsigned char second_min = 0x80;
  unsigned char second_max = 0xbf;
  if (lead >= 0xc2 && lead <= 0xdf) n = 2;
  if (lead >= 0xe0 && lead <= 0xef) n = 3;
  if (lead >= 0xf0 && lead <= 0xf4) n = 4;
  if (lead == 0xe0) second_min = 0xa0;
  if (lead == 0xed) second_max = 0x9f;
  if (lead == 0xf0) second_min = 0x90;
  if (lead == 0xf4) second_max = 0x8f;
  if (n == 0 || s.size() < n || byte(1) < second_min || byte(1) > second_max) return 0;
  for (size_t i = 2; i < n; ++i) {
    if ((byte(i) & 0xc0) != 0x80) return 0;
  }
  return n;
}

// The length of the escape sequence at the start of `s`, whose introducer (ESC and the
// byte `kind`, or a C1 control in UTF-8) is `introducer_length` bytes long; `kind` is
// '[' for CSI, ']' for OSC, and so on.
size_t EscapeLength(std::string_view s, size_t introducer_length, char kind) {
  size_t i = introducer_length;
  if (kind == '[') {  // CSI: parameters and intermediates, then one final byte
    while (i < s.size() && s[i] >= 0x20 && s[i] <= 0x3f) ++i;
    return std::min(s.size(), i + 1);
  }
  if (kind == ']' || kind == 'P' || kind == 'X' || kind == '^' || kind == '_') {
    // OSC, DCS, SOS, PM, APC: a string up to BEL or ST (ESC \).
    for (; i < s.size(); ++i) {
      if (s[i] == '\a') return i + 1;
      if (s[i] == '\x1b') return std::min(s.size(), i + 2);
    }
    return s.size();
  }
  return introducer_length;  // a two-byte escape
}

}  // namespace

std::string SanitizeRemoteText(std::string_view text, size_t max_bytes) {
  constexpr std::string_view kCut = "...";
  std::string out;
  size_t last_fit = 0;  // the length of `out` that still leaves room for kCut
  for (size_t i = 0; i < text.size();) {
    const std::string_view rest = text.substr(i);
    const unsigned char c = static_cast<unsigned char>(rest[0]);
    if (c == 0x1b) {
      i += rest.size() < 2 ? 1 : EscapeLength(rest, 2, rest[1]);
      continue;
    }
    if (c == 0xc2 && rest.size() >= 2 && static_cast<unsigned char>(rest[1]) >= 0x80 &&
        static_cast<unsigned char>(rest[1]) <= 0x9f) {  // a C1 control, as UTF-8
      // C1 CSI (0x9b) and OSC (0x9d) are ESC [ and ESC ].
      const unsigned char c1 = static_cast<unsigned char>(rest[1]);
      i += c1 == 0x9b ? EscapeLength(rest, 2, '[') : c1 == 0x9d ? EscapeLength(rest, 2, ']') : 2;
      continue;
    }
    std::string_view piece;
    size_t consumed = 1;
    if (c == '\t' || c == '\n' || c == '\r') {
      piece = " ";
    } else if (c < 0x20 || c == 0x7f) {
      piece = "";
    } else if (const size_t n = Utf8Length(rest); n == 0) {
      piece = "?";
    } else {
      piece = rest.substr(0, n);
      consumed = n;
    }
    i += consumed;
    if (out.size() + piece.size() > max_bytes) {
      out.resize(last_fit);
      if (max_bytes >= kCut.size()) out.append(kCut);
      return out;
    }
    out.append(piece);
    if (out.size() + kCut.size() <= max_bytes) last_fit = out.size();
  }
  return out;
}

absl::StatusOr<AuthChallenge> ParseAuthChallenge(std::string_view header) {
  header = TrimSpaces(header);
  const size_t space = header.find(' ');
  AuthChallenge challenge;
  challenge.scheme = absl::AsciiStrToLower(Sv(header.substr(0, space)));
  if (challenge.scheme.empty()) {
    return absl::InvalidArgumentError("empty authentication challenge");
  }
  std::string_view rest = space == std::string_view::npos ? "" : header.substr(space + 1);
  for (;;) {
    while (!rest.empty() && (rest.front() == ' ' || rest.front() == ',')) rest.remove_prefix(1);
    if (rest.empty()) break;
    const size_t eq = rest.find('=');
    if (eq == std::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("authentication challenge \"", Sv(header), "\": parameter without '='"));
    }
    std::string key = absl::AsciiStrToLower(Sv(TrimSpaces(rest.substr(0, eq))));
    rest.remove_prefix(eq + 1);
    rest = TrimSpaces(rest);
    std::string value;
    if (!rest.empty() && rest.front() == '"') {
      size_t i = 1;
      for (; i < rest.size() && rest[i] != '"'; ++i) {
        if (rest[i] == '\\' && i + 1 < rest.size()) ++i;
        value.push_back(rest[i]);
      }
      if (i == rest.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("authentication challenge \"", Sv(header), "\": unterminated quote"));
      }
      rest.remove_prefix(i + 1);
    } else {
      const size_t comma = rest.find(',');
      value = std::string(TrimSpaces(rest.substr(0, comma)));
      rest = comma == std::string_view::npos ? "" : rest.substr(comma);
    }
    challenge.params[key] = std::move(value);
  }
  return challenge;
}

absl::Status RegistryStatus(long http_status, std::string_view body, std::string_view subject,
                            std::string_view registry) {
  const std::string details = ErrorDetails(body);
  if (http_status == 404) {
    return absl::NotFoundError(
        absl::StrCat(Sv(subject), " not found in registry ", Sv(registry), details));
  }
  const std::string message = absl::StrCat("registry ", Sv(registry), " answered HTTP ",
                                           http_status, " for ", Sv(subject), details);
  switch (http_status) {
    case 400:
      return absl::InvalidArgumentError(message);
    case 401:
      return absl::UnauthenticatedError(message);
    case 403:
      return absl::PermissionDeniedError(message);
    case 408:
    case 429:
      return absl::UnavailableError(message);
    default:
      if (http_status >= 500) return absl::UnavailableError(message);
      return absl::UnknownError(message);
  }
}

bool IsLoopbackRegistry(std::string_view domain) {
  const std::string_view host = HostOf(domain);
  return host == "localhost" || host == "[::1]" || host.substr(0, 4) == "127.";
}

RegistryClient::RegistryClient(ImageReference ref, std::optional<RegistryLogin> login,
                               Transport transport, http::Client::Options http,
                               http::Resolver resolver)
    : ref_(std::move(ref)),
      transport_(transport),
      http_([&] {
        http.user_agent = kUserAgent;
        http.address_policy = std::make_shared<http::AddressPolicy>(
            std::string(HostOf(Endpoint(ref_.domain))),
            resolver ? std::move(resolver) : http::Resolver(&http::SystemResolve));
        return std::move(http);
      }()),
      login_(std::move(login)),
      base_url_(absl::StrCat(transport == Transport::kHttps ? "https://" : "http://",
                             Endpoint(ref_.domain))) {}

absl::StatusOr<RegistryLogin> RegistryClient::LoginFor(std::string_view url) const {
  if (!login_.has_value()) {
    return absl::UnauthenticatedError(
        absl::StrCat("registry ", ref_.domain,
                     " requires authentication and the agent's registry config "
                     "has no credentials for it"));
  }
  for (std::string_view to : {std::string_view(base_url_), url}) {
    if (absl::StartsWith(Sv(to), "https://") || transport_ == Transport::kInsecureHttp) continue;
    return absl::UnauthenticatedError(
        absl::StrCat("registry ", ref_.domain,
                     " requires authentication, and the agent sends its credentials "
                     "over plain HTTP (",
                     SanitizeRemoteText(to, 200),
                     ") only to registries listed under "
                     "\"insecure-registries\" in its registry config"));
  }
  return *login_;
}

std::string RegistryClient::Image() const {
  std::string image = absl::StrCat(ref_.domain, "/", ref_.repository);
  if (!ref_.tag.empty()) absl::StrAppend(&image, ":", ref_.tag);
  if (!ref_.digest.empty()) absl::StrAppend(&image, "@", ref_.digest);
  return image;
}

absl::Status RegistryClient::Authorize(const AuthChallenge& challenge) {
  const std::string& registry = ref_.domain;
  if (challenge.scheme == "basic") {
    absl::StatusOr<RegistryLogin> login = LoginFor(base_url_);
    if (!login.ok()) return login.status();
    authorization_ = absl::StrCat(
        "Basic ", absl::Base64Escape(absl::StrCat(login->username, ":", login->password)));
    return absl::OkStatus();
  }
  if (challenge.scheme != "bearer") {
    return absl::UnauthenticatedError(absl::StrCat(
        "registry ", registry, " asks for unsupported authentication \"", challenge.scheme, "\""));
  }
  auto param = [&](const char* key) -> std::string {
    auto it = challenge.params.find(key);
    return it == challenge.params.end() ? "" : it->second;
  };
  const std::string realm = param("realm");
  if (realm.empty()) {
    return absl::UnauthenticatedError(
        absl::StrCat("registry ", registry, " sent a Bearer challenge without a realm"));
  }
  std::string scope = param("scope");
  if (scope.empty()) scope = absl::StrCat("repository:", ref_.repository, ":pull");
  std::string url = absl::StrCat(realm, realm.find('?') == std::string::npos ? "?" : "&",
                                 "scope=", http::Client::Escape(scope));
  if (std::string service = param("service"); !service.empty()) {
    absl::StrAppend(&url, "&service=", http::Client::Escape(service));
  }
  std::vector<std::string> headers;
  if (login_.has_value()) {
    absl::StatusOr<RegistryLogin> login = LoginFor(url);
    if (!login.ok()) return login.status();
    headers.push_back(
        absl::StrCat("Authorization: Basic ",
                     absl::Base64Escape(absl::StrCat(login->username, ":", login->password))));
  }
  absl::StatusOr<http::Response> resp = http_.Get(url, headers, nullptr);
  if (!resp.ok()) {
    return absl::Status(resp.status().code(),
                        absl::StrCat("token server ", realm, " of registry ", registry, ": ",
                                     resp.status().message()));
  }
  if (resp->status == 401 || resp->status == 403) {
    return absl::Status(
        resp->status == 401 ? absl::StatusCode::kUnauthenticated
                            : absl::StatusCode::kPermissionDenied,
        absl::StrCat(
            "token server of registry ", registry,
            login_.has_value()
                ? absl::StrCat(" rejected the credentials of user \"", login_->username, "\"")
                : " requires credentials; the agent's registry config has none for it",
            " (scope ", scope, ")"));
  }
  if (resp->status < 200 || resp->status >= 300) {
    return RegistryStatus(resp->status, resp->body, absl::StrCat("a token for ", scope), registry);
  }
  fsb::oci::v1::TokenResponse token;
  if (absl::Status s = ParseJsonDocument(resp->body, "token response", &token); !s.ok()) {
    return absl::UnauthenticatedError(
        absl::StrCat("token server of registry ", registry, ": ", s.message()));
  }
  const std::string& value = token.token().empty() ? token.access_token() : token.token();
  if (value.empty()) {
    return absl::UnauthenticatedError(
        absl::StrCat("token server of registry ", registry, " answered without a token"));
  }
  authorization_ = absl::StrCat("Bearer ", value);
  return absl::OkStatus();
}

absl::StatusOr<http::Response> RegistryClient::Fetch(const std::string& url,
                                                     std::vector<std::string> headers,
                                                     const http::BodySink* sink,
                                                     std::string_view subject) {
  const std::string& registry = ref_.domain;
  for (int attempt = 0;; ++attempt) {
    std::vector<std::string> request_headers = headers;
    if (!authorization_.empty()) {
      request_headers.push_back(absl::StrCat("Authorization: ", authorization_));
    }
    absl::StatusOr<http::Response> resp = http_.Get(url, request_headers, sink);
    if (absl::IsUnavailable(resp.status())) {
      return absl::UnavailableError(absl::StrCat("registry ", registry, " (", base_url_,
                                                 ") cannot be reached: ", resp.status().message()));
    }
    if (absl::IsPermissionDenied(resp.status())) {  // a redirect or an address refused
      return absl::PermissionDeniedError(
          absl::StrCat("registry ", registry, " (", base_url_, "): ", resp.status().message()));
    }
    if (!resp.ok()) return resp.status();
    if (resp->status >= 200 && resp->status < 300) return resp;
    if (resp->status != 401) return RegistryStatus(resp->status, resp->body, subject, registry);
    std::optional<std::string_view> header = resp->Header("www-authenticate");
    absl::StatusOr<AuthChallenge> challenge =
        header.has_value() ? ParseAuthChallenge(*header)
                           : absl::StatusOr<AuthChallenge>(
                                 absl::InvalidArgumentError("no WWW-Authenticate header"));
    if (!challenge.ok()) {
      return absl::UnauthenticatedError(absl::StrCat("registry ", registry,
                                                     " refused the request for ", Sv(subject), ": ",
                                                     challenge.status().message()));
    }
    if (attempt > 0) {
      // Authorized and still refused: bad credentials, or no access to the repository.
      if (challenge->params["error"] == "insufficient_scope") {
        return absl::PermissionDeniedError(absl::StrCat("registry ", registry, " denies access to ",
                                                        Sv(subject), ErrorDetails(resp->body)));
      }
      return absl::UnauthenticatedError(absl::StrCat(
          "registry ", registry, " rejected the credentials",
          login_.has_value() ? absl::StrCat(" of user \"", login_->username, "\"") : "", " for ",
          Sv(subject), ErrorDetails(resp->body)));
    }
    if (absl::Status s = Authorize(*challenge); !s.ok()) return s;
  }
}

absl::StatusOr<RegistryClient::Document> RegistryClient::GetManifest(std::string_view reference) {
  const std::string subject = absl::StrCat("image \"", Image(), "\"");
  absl::StatusOr<http::Response> resp =
      Fetch(absl::StrCat(base_url_, "/v2/", ref_.repository, "/manifests/", Sv(reference)),
            {kManifestAccept}, nullptr, subject);
  if (!resp.ok()) return resp.status();
  Document doc;
  doc.body = std::move(resp->body);
  doc.digest = Sha256Digest(doc.body);
  if (IsSha256Digest(reference) && doc.digest != reference) {
    return absl::DataLossError(absl::StrCat("registry ", ref_.domain, " sent a manifest for ",
                                            subject, " whose digest is ", doc.digest, ", not ",
                                            Sv(reference)));
  }
  std::string_view content_type = resp->Header("content-type").value_or("");
  content_type = TrimSpaces(content_type.substr(0, content_type.find(';')));
  doc.media_type = std::string(content_type);
  if (!IsIndexType(doc.media_type) && !IsManifestType(doc.media_type)) {
    // Some registries answer application/json; the document says what it is.
    fsb::oci::v1::Versioned versioned;
    if (ParseJsonDocument(doc.body, "manifest", &versioned).ok()) {
      doc.media_type = versioned.media_type();
    }
  }
  if (!IsIndexType(doc.media_type) && !IsManifestType(doc.media_type)) {
    return absl::InvalidArgumentError(absl::StrCat("registry ", ref_.domain, " has ", subject,
                                                   " only as unsupported type \"", doc.media_type,
                                                   "\""));
  }
  return doc;
}

absl::Status RegistryClient::GetBlob(const fsb::oci::v1::Descriptor& blob,
                                     const http::BodySink& sink) {
  const std::string subject = absl::StrCat("blob ", blob.digest(), " of image \"", Image(), "\"");
  Sha256 sha;
  int64_t received = 0;
  const http::BodySink verify = [&](std::string_view piece) {
    received += static_cast<int64_t>(piece.size());
    if (received > blob.size()) {
      return absl::DataLossError(absl::StrCat("registry ", ref_.domain, " sent more than ",
                                              blob.size(), " bytes for ", subject));
    }
    sha.Update(piece);
    return sink(piece);
  };
  absl::StatusOr<http::Response> resp =
      Fetch(absl::StrCat(base_url_, "/v2/", ref_.repository, "/blobs/", blob.digest()), {}, &verify,
            subject);
  if (!resp.ok()) return resp.status();
  if (received != blob.size() || sha.Digest() != blob.digest()) {
    return absl::DataLossError(absl::StrCat("registry ", ref_.domain, " sent ", received,
                                            " bytes for ", subject,
                                            " that do not match its size and digest"));
  }
  return absl::OkStatus();
}

}  // namespace fsb::agent
