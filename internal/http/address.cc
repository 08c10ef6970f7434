#include "internal/http/address.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "internal/strings.h"

namespace fsb::http {
namespace {

constexpr std::array<uint8_t, 12> kV4MappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
// NAT64's well-known prefix 64:ff9b::/96: such an address reaches its embedded IPv4 one.
constexpr std::array<uint8_t, 12> kNat64Prefix = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};

bool HasPrefix(const std::array<uint8_t, 16>& bytes, const std::array<uint8_t, 12>& prefix) {
  return std::memcmp(bytes.data(), prefix.data(), prefix.size()) == 0;
}

AddressClass ClassifyV4(uint8_t a, uint8_t b) {
  if (a == 0) return AddressClass::kUnspecified;
  if (a == 127) return AddressClass::kLoopback;
  if (a == 169 && b == 254) return AddressClass::kLinkLocal;
  if (a == 10 || (a == 172 && (b & 0xf0) == 16) || (a == 192 && b == 168) ||
      (a == 100 && (b & 0xc0) == 64)) {
    return AddressClass::kPrivate;
  }
  if (a >= 224) return AddressClass::kMulticast;  // 224/4 multicast, 240/4 and broadcast
  return AddressClass::kPublic;
}

// `host` without the brackets of an IPv6 literal.
std::string_view Unbracketed(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    return host.substr(1, host.size() - 2);
  }
  return host;
}

struct AddrinfoDeleter {
  void operator()(addrinfo* a) const { freeaddrinfo(a); }
};

}  // namespace

std::optional<IpAddress> IpAddress::Parse(std::string_view text) {
  const std::string s(Unbracketed(text));
  IpAddress out;
  in_addr v4;
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
    std::memcpy(out.bytes.data(), kV4MappedPrefix.data(), kV4MappedPrefix.size());
    std::memcpy(out.bytes.data() + 12, &v4, 4);
    return out;
  }
  if (inet_pton(AF_INET6, s.c_str(), out.bytes.data()) == 1) return out;
  return std::nullopt;
}

bool IpAddress::is_v4() const { return HasPrefix(bytes, kV4MappedPrefix); }

std::string IpAddress::ToString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (is_v4()) {
    inet_ntop(AF_INET, bytes.data() + 12, buf, sizeof(buf));
  } else {
    inet_ntop(AF_INET6, bytes.data(), buf, sizeof(buf));
  }
  return buf;
}

AddressClass Classify(const IpAddress& address) {
  const std::array<uint8_t, 16>& b = address.bytes;
  if (address.is_v4() || HasPrefix(b, kNat64Prefix)) return ClassifyV4(b[12], b[13]);
  static constexpr std::array<uint8_t, 16> kZero{};
  if (b == kZero) return AddressClass::kUnspecified;
  std::array<uint8_t, 16> loopback{};
  loopback[15] = 1;
  if (b == loopback) return AddressClass::kLoopback;
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return AddressClass::kLinkLocal;  // fe80::/10
  if ((b[0] & 0xfe) == 0xfc) return AddressClass::kPrivate;                    // fc00::/7
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return AddressClass::kPrivate;    // fec0::/10
  if (b[0] == 0xff) return AddressClass::kMulticast;
  return AddressClass::kPublic;
}

std::string_view AddressClassName(AddressClass c) {
  switch (c) {
    case AddressClass::kPublic:
      return "public";
    case AddressClass::kLoopback:
      return "loopback";
    case AddressClass::kLinkLocal:
      return "link-local";
    case AddressClass::kPrivate:
      return "private";
    case AddressClass::kUnspecified:
      return "unspecified";
    case AddressClass::kMulticast:
      return "multicast";
  }
  return "unknown";
}

absl::StatusOr<std::vector<IpAddress>> SystemResolve(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* raw = nullptr;
  const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &raw);
  std::unique_ptr<addrinfo, AddrinfoDeleter> list(raw);
  if (rc != 0) {
    return absl::UnavailableError(absl::StrCat("cannot resolve ", host, ": ", gai_strerror(rc)));
  }
  std::vector<IpAddress> out;
  for (const addrinfo* a = list.get(); a != nullptr; a = a->ai_next) {
    if (a->ai_family != AF_INET && a->ai_family != AF_INET6) continue;
    char buf[INET6_ADDRSTRLEN] = {};
    const void* src =
        a->ai_family == AF_INET
            ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(a->ai_addr)->sin_addr)
            : &reinterpret_cast<const sockaddr_in6*>(a->ai_addr)->sin6_addr;
    if (inet_ntop(a->ai_family, src, buf, sizeof(buf)) == nullptr) continue;
    std::optional<IpAddress> ip = IpAddress::Parse(buf);
    if (ip.has_value() && std::find(out.begin(), out.end(), *ip) == out.end()) out.push_back(*ip);
  }
  if (out.empty())
    return absl::UnavailableError(absl::StrCat("cannot resolve ", host, ": no address"));
  return out;
}

AddressPolicy::AddressPolicy(std::string origin, Resolver resolver)
    : origin_(Unbracketed(origin)), resolver_(std::move(resolver)) {}

absl::StatusOr<std::vector<IpAddress>> AddressPolicy::Resolve(std::string_view host) const {
  if (std::optional<IpAddress> literal = IpAddress::Parse(host)) {
    return std::vector<IpAddress>{*literal};
  }
  absl::StatusOr<std::vector<IpAddress>> resolved = resolver_(std::string(host));
  if (resolved.ok() && resolved->empty()) {
    return absl::UnavailableError(absl::StrCat("cannot resolve ", Sv(host), ": no address"));
  }
  return resolved;
}

absl::StatusOr<std::vector<IpAddress>> AddressPolicy::Admit(const std::string& host) {
  const std::string_view name = Unbracketed(host);
  absl::MutexLock lock(&mu_);
  if (!allowed_.has_value()) {
    absl::StatusOr<std::vector<IpAddress>> origin = Resolve(origin_);
    if (!origin.ok()) return origin.status();
    allowed_.emplace({AddressClass::kPublic});
    for (const IpAddress& a : *origin) allowed_->insert(Classify(a));
    if (name == origin_) return origin;  // the first resolution is the one checked
  }
  absl::StatusOr<std::vector<IpAddress>> addresses = Resolve(name);
  if (!addresses.ok()) return addresses.status();
  for (const IpAddress& a : *addresses) {
    const AddressClass c = Classify(a);
    if (!allowed_->contains(c)) {
      std::vector<std::string> names;
      for (AddressClass allowed : *allowed_) names.emplace_back(AddressClassName(allowed));
      std::sort(names.begin(), names.end());
      return absl::PermissionDeniedError(
          absl::StrCat(Sv(name), " is ", a.ToString(), ", a ", Sv(AddressClassName(c)),
                       " address; the requests of a session with ", origin_, " may reach only ",
                       absl::StrJoin(names, ", "), " addresses"));
    }
  }
  return addresses;
}

}  // namespace fsb::http
