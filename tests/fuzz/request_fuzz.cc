// Fuzzes the controller's validation of what clients send: fastpath.v1 CreateRequest,
// UpdateRequest and ApplyRequest, decoded as the FastPath adapter decodes them and
// validated as the sandbox domain validates them.
//
// Input: one byte naming the request ('c' create, 'u' update, 'a' apply; any other byte
// by its value), then the message as ParseMessageInput reads it (proto_input.h).
//
// Invariants:
//  * validation never crashes and refuses with INVALID_ARGUMENT and a message;
//  * a record that validation accepted is a fixed point: submitted again as a resource
//    (`fsb apply` of what `fsb get -o yaml` shows) it is accepted and comes back equal,
//    with the same spec hash and no immutable field changed;
//  * an accepted reset revision formats and parses back to the same time.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "controller/fastpath_server.h"
#include "controller/request_validation.h"
#include "controller/sandbox_spec.h"
#include "fastpath/v1/fastpath.pb.h"
#include "google/protobuf/util/message_differencer.h"
#include "internal/validation.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/proto_input.h"

namespace fsb::fuzz {
namespace {

using ::fsb::controller::SandboxFromCreateSpec;
using ::fsb::controller::SandboxFromResource;
using ::fsb::v1alpha1::Sandbox;
using ::fsb::v1alpha1::SandboxSpec;

// A fixed "now", so that an input behaves the same in every run.
const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

void CheckRefusal(const absl::Status& status) {
  FSB_FUZZ_CHECK(absl::IsInvalidArgument(status));
  FSB_FUZZ_CHECK(!status.message().empty());
}

// `accepted` came out of validation: it is accepted again, unchanged.
void CheckFixedPoint(const Sandbox& accepted) {
  absl::StatusOr<Sandbox> again = SandboxFromResource(accepted, SandboxSpec::fast, kNow);
  FSB_FUZZ_CHECK(again.ok());
  FSB_FUZZ_CHECK(google::protobuf::util::MessageDifferencer::Equals(*again, accepted));
  FSB_FUZZ_CHECK(controller::SpecHash(again->spec()) == controller::SpecHash(accepted.spec()));
  FSB_FUZZ_CHECK(controller::ImmutableSpecChanges(accepted.spec(), again->spec()).empty());
  controller::AgentSpecOf(accepted);
}

void FuzzCreate(const fastpath::v1::CreateRequest& request) {
  absl::StatusOr<Sandbox> sandbox =
      SandboxFromCreateSpec(controller::CreateSpecFromRequest(request), SandboxSpec::fast, kNow);
  if (!sandbox.ok()) return CheckRefusal(sandbox.status());
  CheckFixedPoint(*sandbox);
}

void FuzzApply(const fastpath::v1::ApplyRequest& request) {
  absl::StatusOr<Sandbox> sandbox =
      SandboxFromResource(request.sandbox(), SandboxSpec::strong, kNow);
  if (!sandbox.ok()) return CheckRefusal(sandbox.status());
  CheckFixedPoint(*sandbox);
}

// The checks SandboxService::Update makes of an update's fields.
void FuzzUpdate(const fastpath::v1::UpdateRequest& request) {
  if (absl::Status s = controller::ValidateUpdateRequest(request, kNow); !s.ok()) {
    return CheckRefusal(s);
  }
  // An accepted reset revision reads back as the same time once written out again.
  const controller::SandboxUpdate update = controller::SandboxUpdateFromRequest(request);
  if (update.reset_revision.has_value()) {
    absl::StatusOr<absl::Time> t = controller::ParseResetRevision(*update.reset_revision);
    FSB_FUZZ_CHECK(t.ok());
    absl::StatusOr<absl::Time> back = controller::ParseResetRevision(
        absl::FormatTime(absl::RFC3339_full, *t, absl::UTCTimeZone()));
    FSB_FUZZ_CHECK(back.ok() && *back == *t);
  }
}

void TestOneInput(std::string_view input) {
  if (input.empty()) return;
  const unsigned char kind = static_cast<unsigned char>(input.front());
  input.remove_prefix(1);
  switch (kind == 'c' ? 0 : kind == 'u' ? 1 : kind == 'a' ? 2 : kind % 3) {
    case 0: {
      fastpath::v1::CreateRequest request;
      if (ParseMessageInput(input, &request)) FuzzCreate(request);
      break;
    }
    case 1: {
      fastpath::v1::UpdateRequest request;
      if (ParseMessageInput(input, &request)) FuzzUpdate(request);
      break;
    }
    default: {
      fastpath::v1::ApplyRequest request;
      if (ParseMessageInput(input, &request)) FuzzApply(request);
      break;
    }
  }
}

}  // namespace
}  // namespace fsb::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fsb::fuzz::TestOneInput(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
