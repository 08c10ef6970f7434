// Fuzzes the agent's OCI runtime spec builder with what a validated create makes of it:
// a fastpath.v1 CreateRequest goes through the controller's validation
// (SandboxFromCreateSpec), becomes the agent's SandboxSpec (AgentSpecOf), is merged
// over a fuzzed image config and user database (MergeProcess) and built into the
// runtime spec JSON with the agent's defaults, as a cold create does.
//
// Input: four parts separated by kPartSeparator (fuzz_check.h): the CreateRequest as
// ParseMessageInput reads it (proto_input.h), the image config JSON, /etc/passwd and
// /etc/group.
//
// Invariants: no crash; MergeProcess refuses only with INVALID_ARGUMENT or
// FAILED_PRECONDITION; the spec is valid JSON that carries the merged process (args,
// env, cwd, uid, gid), the hostname and the limits exactly.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "agent/image/oci.h"
#include "agent/oci_spec.h"
#include "agent/sandbox_defaults.h"
#include "controller/fastpath_server.h"
#include "controller/sandbox_spec.h"
#include "fastpath/v1/fastpath.pb.h"
#include "google/protobuf/struct.pb.h"
#include "internal/proto_json.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/proto_input.h"

namespace fsb::fuzz {
namespace {

using ::google::protobuf::Struct;
using ::google::protobuf::Value;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

// The member `key` of `object` (a null value when missing).
const Value& Member(const Struct& object, const std::string& key) {
  static const Value* const kMissing = new Value();
  auto it = object.fields().find(key);
  return it == object.fields().end() ? *kMissing : it->second;
}

bool IsStringList(const Value& v, const std::vector<std::string>& want) {
  if (!v.has_list_value() || v.list_value().values_size() != static_cast<int>(want.size())) {
    return false;
  }
  for (size_t i = 0; i < want.size(); ++i) {
    if (v.list_value().values(static_cast<int>(i)).string_value() != want[i]) return false;
  }
  return true;
}

// Numbers in the spec are JSON numbers; only those a double holds exactly are compared.
bool IsNumber(const Value& v, double want) {
  return v.kind_case() == Value::kNumberValue && v.number_value() == want;
}

void CheckSpec(const std::string& json, const agent::ProcessSpec& process,
               const agent::RuntimeSpecOptions& options) {
  Struct spec;
  FSB_FUZZ_CHECK(ProtoFromJson(json, &spec).ok());
  const Struct& p = Member(spec, "process").struct_value();
  FSB_FUZZ_CHECK(IsStringList(Member(p, "args"), process.args));
  FSB_FUZZ_CHECK(IsStringList(Member(p, "env"), process.env));
  FSB_FUZZ_CHECK(Member(p, "cwd").string_value() == process.cwd);
  const Struct& user = Member(p, "user").struct_value();
  FSB_FUZZ_CHECK(IsNumber(Member(user, "uid"), process.uid));
  FSB_FUZZ_CHECK(IsNumber(Member(user, "gid"), process.gid));
  FSB_FUZZ_CHECK(Member(spec, "hostname").string_value() == options.hostname);
  const Struct& resources =
      Member(Member(spec, "linux").struct_value(), "resources").struct_value();
  if (options.cpu_millicores > 0) {
    const Value& quota = Member(Member(resources, "cpu").struct_value(), "quota");
    FSB_FUZZ_CHECK(quota.kind_case() == Value::kNumberValue && quota.number_value() > 0);
    if (options.cpu_millicores < (int64_t{1} << 40)) {
      FSB_FUZZ_CHECK(IsNumber(
          quota, static_cast<double>(options.cpu_millicores) * (agent::kCfsPeriodMicros / 1000)));
    }
  }
  if (options.pids > 0 && options.pids < (int64_t{1} << 53)) {
    FSB_FUZZ_CHECK(IsNumber(Member(Member(resources, "pids").struct_value(), "limit"),
                            static_cast<double>(options.pids)));
  }
  if (options.memory_bytes > 0 && options.memory_bytes < (int64_t{1} << 53)) {
    FSB_FUZZ_CHECK(IsNumber(Member(Member(resources, "memory").struct_value(), "limit"),
                            static_cast<double>(options.memory_bytes)));
  }
}

void TestOneInput(std::string_view input) {
  const std::vector<std::string_view> parts = SplitParts(input, 4);
  fastpath::v1::CreateRequest request;
  if (!ParseMessageInput(parts[0], &request)) return;
  absl::StatusOr<v1alpha1::Sandbox> sandbox = controller::SandboxFromCreateSpec(
      controller::CreateSpecFromRequest(request), v1alpha1::SandboxSpec::fast, kNow);
  if (!sandbox.ok()) return;  // request_fuzz checks the refusals
  sandbox->mutable_status()->set_container_id("fuzz-sandbox");
  const agent::v1::SandboxSpec spec = controller::AgentSpecOf(*sandbox);

  oci::v1::ImageConfig image;
  if (!agent::ParseJsonDocument(parts[1], "image config", &image).ok()) image.Clear();
  std::optional<agent::UserDatabase> users;
  if (agent::NeedsUserDatabase(image.config().user())) {
    users = agent::ParseUserDatabase(parts[2], parts[3]);
  }
  absl::StatusOr<agent::ProcessSpec> process =
      agent::MergeProcess(image, spec, users.has_value() ? &*users : nullptr);
  if (!process.ok()) {
    FSB_FUZZ_CHECK(absl::IsInvalidArgument(process.status()) ||
                   absl::IsFailedPrecondition(process.status()));
    return;
  }

  // As SandboxManager::SpecOptions makes them for a sandbox on the agent's network.
  agent::RuntimeSpecOptions options;
  options.hostname = spec.name();
  options.cgroups_path = absl::StrCat("/fsb/", spec.sandbox_id());
  options.readonly_rootfs = spec.readonly_rootfs();
  options.netns = "/var/run/netns/fuzz";
  agent::ApplySandboxDefaults(agent::SandboxDefaults{}, spec.resources(), &options);
  CheckSpec(agent::BuildRuntimeSpecJson(*process, options), *process, options);
}

}  // namespace
}  // namespace fsb::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fsb::fuzz::TestOneInput(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
