#ifndef FSB_INTERNAL_STATUS_H_
#define FSB_INTERNAL_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace fsb {

// The single place where absl::Status and grpc::Status are converted. The canonical
// codes share their numeric values, so the mapping is 1:1 and keeps the message.
grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

// Trailing metadata a server handler attaches to its response, so that a client can tell
// the handler's own errors from transport failures (a server that cannot be reached is
// UNAVAILABLE too).
inline constexpr char kHandledTrailer[] = "fsb-handled";

}  // namespace fsb

#endif  // FSB_INTERNAL_STATUS_H_
