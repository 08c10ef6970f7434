#ifndef FSB_INTERNAL_HTTP_ADDRESS_H_
#define FSB_INTERNAL_HTTP_ADDRESS_H_

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace fsb::http {

// An IPv4 or IPv6 address. IPv4 is kept as the IPv4-mapped IPv6 address ::ffff:a.b.c.d,
// so that each address has one spelling.
struct IpAddress {
  std::array<uint8_t, 16> bytes{};

  // A numeric IPv4 or IPv6 address ("10.1.2.3", "::1", "[::1]"); nullopt otherwise.
  static std::optional<IpAddress> Parse(std::string_view text);
  bool is_v4() const;
  // "10.1.2.3" or "fe80::1" (no brackets).
  std::string ToString() const;

  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

// What an address reaches, coarsely. Every address is exactly one class; kPublic is what
// no other class covers.
enum class AddressClass {
  kPublic,
  kLoopback,     // 127/8, ::1
  kLinkLocal,    // 169.254/16, fe80::/10
  kPrivate,      // 10/8, 172.16/12, 192.168/16, 100.64/10 (shared), fc00::/7, fec0::/10
  kUnspecified,  // 0/8, ::
  kMulticast,    // 224/4, 255.255.255.255, 240/4 (reserved), ff00::/8
};

AddressClass Classify(const IpAddress& address);
// "public", "loopback", "link-local", "private", "unspecified", "multicast".
std::string_view AddressClassName(AddressClass c);

// The addresses of a host name (never given an IP literal). Errors are UNAVAILABLE
// naming the host.
using Resolver = std::function<absl::StatusOr<std::vector<IpAddress>>(const std::string& host)>;

// getaddrinfo(3).
absl::StatusOr<std::vector<IpAddress>> SystemResolve(const std::string& host);

// Which addresses the requests of one session (e.g. one image pull) may connect to. The
// rule: public addresses, and addresses of the classes the session's origin host had
// when it was first resolved. So a registry on 127.0.0.1 may redirect to 127.0.0.1 and
// public addresses, a registry on a public address only to public addresses, one on
// 10.0.0.5 to private and public ones. Every host is resolved when a request is about to
// go to it; the request connects only to the addresses checked then (no second lookup
// for the connection can differ). A host is admitted only when all its addresses are
// allowed. Thread-safe.
class AddressPolicy {
 public:
  // `origin` is a host name or IP literal (without port); `resolver` resolves names.
  AddressPolicy(std::string origin, Resolver resolver);

  // The addresses of `host` (a name or an IP literal, IPv6 in brackets or not) when
  // every one of them is allowed. PERMISSION_DENIED naming the host, the address and
  // its class otherwise; the resolver's error when it fails.
  absl::StatusOr<std::vector<IpAddress>> Admit(const std::string& host);

 private:
  absl::StatusOr<std::vector<IpAddress>> Resolve(std::string_view host) const;

  const std::string origin_;
  const Resolver resolver_;
  absl::Mutex mu_;
  // The classes allowed; filled at the origin's first resolution.
  std::optional<absl::flat_hash_set<AddressClass>> allowed_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fsb::http

#endif  // FSB_INTERNAL_HTTP_ADDRESS_H_
