#include "cli/commands.h"

#include <algorithm>
#include <chrono>
#include <utility>
#include <variant>

#include "absl/status/status.h"
#include "absl/strings/str_join.h"
#include "cli/format.h"
#include "internal/status.h"

namespace fsb::cli {
namespace {

using fastpath::v1::CreateRequest;
using fastpath::v1::CreateResponse;
using fastpath::v1::DeleteRequest;
using fastpath::v1::DeleteResponse;
using fastpath::v1::FastPathService;
using fastpath::v1::GetRequest;
using fastpath::v1::ListRequest;
using fastpath::v1::ListResponse;
using fastpath::v1::SandboxInfo;

constexpr std::string_view kUsageHint = "Run 'fsb help' for usage.";

// Executes one command. Connects to the server on the first RPC only, so commands that
// need no server never touch the network. Not thread-safe; lives for one Run.
class Executor {
 public:
  Executor(const GlobalOptions& global, const StubFactory& connect, std::ostream& out,
           std::ostream& err, absl::Time now)
      : global_(global), connect_(connect), out_(out), err_(err), now_(now) {}

  int operator()(const NoCommand&) {
    err_ << UsageText();
    return kExitUsage;
  }

  int operator()(const HelpCommand&) {
    out_ << UsageText();
    return kExitOk;
  }

  int operator()(const VersionCommand&) {
    out_ << "fsb version " << kVersion << "\n";
    return kExitOk;
  }

  int operator()(const RunCommand& run) {
    CreateRequest request;
    request.set_image(run.image);
    request.set_name(run.name);
    request.set_namespace_(global_.ns);
    request.set_pool_ref(run.pool);
    request.set_working_dir(run.workdir);
    request.set_consistency_mode(run.strong ? fastpath::v1::STRONG : fastpath::v1::FAST);
    request.mutable_envs()->insert(run.envs.begin(), run.envs.end());
    request.mutable_labels()->insert(run.labels.begin(), run.labels.end());
    request.mutable_exposed_ports()->Add(run.ports.begin(), run.ports.end());
    request.mutable_command()->Add(run.command.begin(), run.command.end());

    FastPathService::StubInterface* stub = Stub();
    if (stub == nullptr) return kExitServerError;
    CreateResponse response;
    grpc::ClientContext context;
    SetDeadline(context);
    const auto start = std::chrono::steady_clock::now();
    grpc::Status status = stub->CreateSandbox(&context, request, &response);
    const absl::Duration took = absl::FromChrono(std::chrono::steady_clock::now() - start);
    if (!status.ok()) return Fail(status);

    std::string name = response.sandbox_name();
    if (name.empty()) name = run.name.empty() ? response.sandbox_id() : run.name;
    out_ << "sandbox/" << name << " created\n";
    out_ << "  id:        " << response.sandbox_id() << "\n";
    out_ << "  agent:     " << response.agent_pod() << "\n";
    if (!response.endpoints().empty()) {
      out_ << "  endpoints: " << absl::StrJoin(response.endpoints(), ", ") << "\n";
    }
    out_ << "  took:      " << FormatTook(took) << "\n";
    return kExitOk;
  }

  int operator()(const ListCommand& list) {
    FastPathService::StubInterface* stub = Stub();
    if (stub == nullptr) return kExitServerError;
    ListRequest request;
    request.set_namespace_(global_.ns);
    ListResponse response;
    grpc::ClientContext context;
    SetDeadline(context);
    grpc::Status status = stub->ListSandboxes(&context, request, &response);
    if (!status.ok()) return Fail(status);

    auto* items = response.mutable_items();
    std::sort(items->pointer_begin(), items->pointer_end(),
              [](const SandboxInfo* a, const SandboxInfo* b) {
                return a->sandbox_name() < b->sandbox_name();
              });
    switch (list.output) {
      case OutputFormat::kJson:
        return Print(FormatJson(response));
      case OutputFormat::kYaml:
        return Print(FormatSandboxListYaml(response));
      case OutputFormat::kTable:
      case OutputFormat::kWide:
        if (response.items().empty()) {
          err_ << "No sandboxes found in namespace \"" << global_.ns << "\".\n";
          return kExitOk;
        }
        return Print(FormatSandboxTable({response.items().pointer_begin(), response.items().pointer_end()},
                                        list.output == OutputFormat::kWide, now_));
    }
    return kExitOk;
  }

  int operator()(const GetCommand& get) {
    FastPathService::StubInterface* stub = Stub();
    if (stub == nullptr) return kExitServerError;
    GetRequest request;
    request.set_sandbox_name(get.name);
    request.set_namespace_(global_.ns);
    SandboxInfo info;
    grpc::ClientContext context;
    SetDeadline(context);
    grpc::Status status = stub->GetSandbox(&context, request, &info);
    if (!status.ok()) return Fail(status);

    switch (get.output) {
      case OutputFormat::kJson:
        return Print(FormatJson(info));
      case OutputFormat::kYaml:
        return Print(FormatSandboxYaml(info));
      case OutputFormat::kTable:
      case OutputFormat::kWide:
        return Print(FormatSandboxTable({&info}, get.output == OutputFormat::kWide, now_));
    }
    return kExitOk;
  }

  // Deletes every name even when one fails; exit 1 if any failed.
  int operator()(const DeleteCommand& del) {
    FastPathService::StubInterface* stub = Stub();
    if (stub == nullptr) return kExitServerError;
    int exit_code = kExitOk;
    for (const std::string& name : del.names) {
      DeleteRequest request;
      request.set_sandbox_name(name);
      request.set_namespace_(global_.ns);
      DeleteResponse response;
      grpc::ClientContext context;
      SetDeadline(context);
      grpc::Status status = stub->DeleteSandbox(&context, request, &response);
      if (!status.ok()) {
        exit_code = Fail(status);
      } else if (!response.success()) {
        err_ << "fsb: error: sandbox/" << name << " was not deleted\n";
        exit_code = kExitServerError;
      } else {
        out_ << "sandbox/" << name << " deleted\n";
      }
    }
    return exit_code;
  }

 private:
  FastPathService::StubInterface* Stub() {
    if (stub_ == nullptr && connect_) stub_ = connect_(global_.endpoint);
    if (stub_ == nullptr) {
      err_ << "fsb: error: cannot connect to " << global_.endpoint << "\n";
    }
    return stub_.get();
  }

  void SetDeadline(grpc::ClientContext& context) const {
    context.set_deadline(absl::ToChronoTime(absl::Now() + global_.timeout));
  }

  int Fail(const grpc::Status& grpc_status) {
    absl::Status status = FromGrpcStatus(grpc_status);
    err_ << "fsb: error: " << absl::StatusCodeToString(status.code()) << ": "
         << status.message() << "\n";
    if (status.code() == absl::StatusCode::kUnavailable) {
      err_ << "fsb: is fsb-controller reachable at " << global_.endpoint
           << "? Set --endpoint or FSB_ENDPOINT.\n";
    } else if (status.code() == absl::StatusCode::kDeadlineExceeded) {
      err_ << "fsb: no answer within --timeout " << absl::FormatDuration(global_.timeout)
           << ".\n";
    }
    return kExitServerError;
  }

  int Print(const absl::StatusOr<std::string>& text) {
    if (!text.ok()) {
      err_ << "fsb: error: " << text.status().message() << "\n";
      return kExitServerError;
    }
    out_ << *text;
    return kExitOk;
  }

  const GlobalOptions& global_;
  const StubFactory& connect_;
  std::ostream& out_;
  std::ostream& err_;
  const absl::Time now_;
  std::unique_ptr<FastPathService::StubInterface> stub_;
};

}  // namespace

int Run(const std::vector<std::string>& args, const CliContext& context) {
  std::ostream& out = *context.out;
  std::ostream& err = *context.err;
  absl::StatusOr<Invocation> invocation = ParseArgs(args, context.env);
  if (!invocation.ok()) {
    err << "fsb: error: " << invocation.status().message() << "\n" << kUsageHint << "\n";
    return kExitUsage;
  }
  Executor executor(invocation->global, context.connect, out, err, context.now);
  return std::visit(executor, invocation->command);
}

}  // namespace fsb::cli
