#include "cli/commands.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <thread>
#include <tuple>
#include <utility>
#include <variant>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/config_commands.h"
#include "cli/format.h"
#include "cli/http_get.h"
#include "cli/manifest.h"
#include "cli/paged_list.h"
#include "internal/deadline.h"
#include "internal/ids.h"
#include "internal/request_limits.h"
#include "internal/sandbox_network.h"
#include "internal/status.h"
#include "internal/stopwatch.h"
#include "internal/version.h"

namespace fsb::cli {
namespace {

using fastpath::v1::ApplyRequest;
using fastpath::v1::ApplyResponse;
using fastpath::v1::CreateRequest;
using fastpath::v1::CreateResponse;
using fastpath::v1::DeleteRequest;
using fastpath::v1::DeleteResponse;
using fastpath::v1::FastPathService;
using fastpath::v1::GetRequest;
using fastpath::v1::ImportImageRequest;
using fastpath::v1::ImportImageResponse;
using fastpath::v1::ListAgentsRequest;
using fastpath::v1::ListAgentsResponse;
using fastpath::v1::ListRequest;
using fastpath::v1::ListResponse;
using fastpath::v1::SandboxInfo;
using fastpath::v1::UpdateRequest;
using fastpath::v1::UpdateResponse;
using fsb::v1alpha1::Agent;
using fsb::v1alpha1::Sandbox;

constexpr std::string_view kUsageHint = "Run 'fsb help' for usage.";

// Prints a usage error the way Run guarantees; returns kExitUsage.
int UsageFailure(std::ostream& err, absl::string_view message) {
  err << "fsb: error: " << message << "\n" << kUsageHint << "\n";
  return kExitUsage;
}

fastpath::v1::FailurePolicy ToProto(FailurePolicy policy) {
  return policy == FailurePolicy::kAutoRecreate ? fastpath::v1::AUTO_RECREATE
                                                : fastpath::v1::MANUAL;
}

// The UpdateSandbox requests of `update`: one per field of the request's oneof, in the
// order expiry, failure policy, recovery timeout; labels and removals ride on the first.
std::vector<UpdateRequest> UpdateRequests(const UpdateCommand& update, const std::string& ns) {
  std::vector<UpdateRequest> requests;
  auto next = [&]() -> UpdateRequest& {
    UpdateRequest& request = requests.emplace_back();
    request.set_sandbox_name(update.name);
    request.set_namespace_(ns);
    return request;
  };
  if (update.expire_time_seconds) next().set_expire_time_seconds(*update.expire_time_seconds);
  if (update.failure_policy) next().set_failure_policy(ToProto(*update.failure_policy));
  if (update.recovery_timeout_seconds) {
    next().set_recovery_timeout_seconds(*update.recovery_timeout_seconds);
  }
  UpdateRequest& first = requests.empty() ? next() : requests.front();
  first.mutable_labels()->insert(update.labels.begin(), update.labels.end());
  first.mutable_remove_labels()->Add(update.remove_labels.begin(), update.remove_labels.end());
  return requests;
}

// The whole content of `path`, or of `in` for "-".
absl::StatusOr<std::string> ReadManifest(const std::string& path, std::istream& in) {
  if (path == "-") return std::string(std::istreambuf_iterator<char>(in), {});
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  }
  std::string text(std::istreambuf_iterator<char>(file), {});
  if (file.bad()) return absl::InvalidArgumentError(absl::StrCat("cannot read ", path));
  return text;
}

// Prints log entries: stdout ones to `out`, stderr ones to `err`. A partial entry's line
// goes on with the next entry of its stream; with timestamps, each line starts with the
// time of its first entry. Not thread-safe.
class LogPrinter {
 public:
  LogPrinter(std::ostream& out, std::ostream& err, bool timestamps)
      : out_(out), err_(err), timestamps_(timestamps) {}

  void Print(const fsb::agent::v1::LogChunk& chunk) {
    for (const fsb::agent::v1::LogEntry& entry : chunk.entries()) {
      const bool is_stderr = entry.stream() == "stderr";
      std::ostream& o = is_stderr ? err_ : out_;
      bool& at_line_start = at_line_start_[is_stderr ? 1 : 0];
      if (timestamps_ && at_line_start) {
        o << absl::FormatTime("%Y-%m-%dT%H:%M:%E9SZ", absl::FromUnixNanos(entry.time_unix_nanos()),
                              absl::UTCTimeZone())
          << " ";
      }
      o << entry.data();
      if (!entry.partial()) o << "\n";
      at_line_start = !entry.partial();
    }
    out_.flush();
    err_.flush();
  }

 private:
  std::ostream& out_;
  std::ostream& err_;
  const bool timestamps_;
  bool at_line_start_[2] = {true, true};
};

// The exec request's first message.
fastpath::v1::ExecRequest ExecStartRequest(const ExecCommand& exec, const std::string& ns,
                                           std::optional<TerminalSize> size) {
  fastpath::v1::ExecRequest request;
  fastpath::v1::ExecStart* start = request.mutable_start();
  start->set_sandbox_name(exec.name);
  start->set_namespace_(ns);
  start->mutable_args()->Add(exec.command.begin(), exec.command.end());
  start->mutable_env()->insert(exec.envs.begin(), exec.envs.end());
  start->set_working_dir(exec.workdir);
  start->set_tty(exec.tty);
  start->set_stdin(exec.stdin);
  if (exec.tty && size) {
    start->set_rows(size->rows);
    start->set_cols(size->cols);
  }
  return request;
}

// Forwards the terminal's events to an exec stream, on a thread of its own, until the
// stream or the terminal is done: input as stdin (its end as a stdin close, then, without
// a terminal, the stream's half-close), window changes as resizes (with -t), and a
// SIGINT/SIGTERM/SIGHUP as the call's cancellation, remembered in signal().
class ExecInputPump {
 public:
  using Stream =
      grpc::ClientReaderWriterInterface<fastpath::v1::ExecRequest, fsb::agent::v1::ExecOutput>;

  ExecInputPump(const ExecCommand& exec, ExecTerminal& terminal, Stream& stream,
                grpc::ClientContext& context)
      : terminal_(terminal),
        thread_([this, &exec, &stream, &context] { Pump(exec, stream, context); }) {}

  ~ExecInputPump() {
    terminal_.Interrupt();
    thread_.join();
  }

  // The signal that cancelled the call; 0 if none did.
  int signal() const { return signal_.load(); }

 private:
  void Pump(const ExecCommand& exec, Stream& stream, grpc::ClientContext& context) {
    bool read_input = exec.stdin;
    if (!exec.stdin && !exec.tty) stream.WritesDone();  // nothing to send
    for (;;) {
      ExecTerminal::Event event = terminal_.Next(read_input);
      fastpath::v1::ExecRequest request;
      switch (event.kind) {
        case ExecTerminal::Event::Kind::kInput:
          request.set_stdin(std::move(event.data));
          break;
        case ExecTerminal::Event::Kind::kEndOfInput:
          read_input = false;
          request.set_close_stdin(true);
          break;
        case ExecTerminal::Event::Kind::kResize:
          if (!exec.tty) continue;
          request.mutable_resize()->set_rows(event.size.rows);
          request.mutable_resize()->set_cols(event.size.cols);
          break;
        case ExecTerminal::Event::Kind::kSignal:
          signal_ = event.signal;
          context.TryCancel();
          return;
        case ExecTerminal::Event::Kind::kInterrupted:
          return;
      }
      if (!stream.Write(request)) return;
      if (request.has_close_stdin() && !exec.tty) {
        stream.WritesDone();
        return;
      }
    }
  }

  ExecTerminal& terminal_;
  std::atomic<int> signal_{0};
  std::thread thread_;  // last: starts once the rest is ready
};

// Executes one command. Connects to the server on the first RPC only, so commands that
// need no server never touch the network. Not thread-safe; lives for one Run.
class Executor {
 public:
  Executor(const ClientSettings& settings, const CliContext& context)
      : settings_(settings),
        env_(context.env),
        connect_(context.connect),
        in_(*context.in),
        out_(*context.out),
        err_(*context.err),
        now_(context.now),
        connect_io_(context.connect_io),
        terminal_(context.terminal),
        connect_images_(context.connect_images),
        http_get_(context.http_get) {}

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

  int operator()(const CompletionCommand&) {
    out_ << BashCompletionScript();
    return kExitOk;
  }

  int operator()(const RunCommand& run) {
    CreateRequest request;
    request.set_image(run.image);
    request.set_name(run.name);
    request.set_namespace_(settings_.ns);
    request.set_pool_ref(run.pool);
    request.set_working_dir(run.workdir);
    request.set_consistency_mode(run.strong ? fastpath::v1::STRONG : fastpath::v1::FAST);
    request.mutable_envs()->insert(run.envs.begin(), run.envs.end());
    request.mutable_labels()->insert(run.labels.begin(), run.labels.end());
    request.mutable_exposed_ports()->Add(run.ports.begin(), run.ports.end());
    request.set_network(run.network);
    for (const PublishedPort& port : run.publish) request.add_publish(FormatPublishedPort(port));
    request.mutable_command()->Add(run.command.begin(), run.command.end());
    request.set_request_id(run.request_id);
    request.set_expire_time_seconds(run.expire_time_seconds);
    request.set_failure_policy(ToProto(run.failure_policy));
    request.set_recovery_timeout_seconds(run.recovery_timeout_seconds);
    if (run.cpu_millicores != 0 || run.memory_bytes != 0 || run.pids != 0) {
      auto* resources = request.mutable_resources();
      resources->set_cpu_millicores(run.cpu_millicores);
      resources->set_memory_bytes(run.memory_bytes);
      resources->set_pids(run.pids);
    }

    CreateResponse response;
    const Stopwatch watch;
    grpc::Status status = Call(&FastPathService::StubInterface::CreateSandbox, request, response);
    const absl::Duration took = watch.Elapsed();
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
    ListRequest request;
    request.set_namespace_(list.all_namespaces ? "" : settings_.ns);
    request.set_label_selector(list.selector);
    ListResponse response;
    grpc::Status status =
        CallPaged(&FastPathService::StubInterface::ListSandboxes, request, response);
    if (!status.ok()) return Fail(status);

    auto* items = response.mutable_items();
    std::sort(items->pointer_begin(), items->pointer_end(),
              [](const SandboxInfo* a, const SandboxInfo* b) {
                return std::tie(a->namespace_(), a->sandbox_name()) <
                       std::tie(b->namespace_(), b->sandbox_name());
              });
    switch (list.output) {
      case OutputFormat::kJson:
        return Print(FormatJson(response));
      case OutputFormat::kYaml:
        return Print(FormatSandboxListYaml(response));
      case OutputFormat::kTable:
      case OutputFormat::kWide:
        if (response.items().empty()) {
          err_ << "No sandboxes found "
               << (list.all_namespaces ? "in any namespace"
                                       : absl::StrCat("in namespace \"", settings_.ns, "\""));
          if (!list.selector.empty()) err_ << " matching \"" << list.selector << "\"";
          err_ << ".\n";
          return kExitOk;
        }
        return Print(FormatSandboxTable({items->pointer_begin(), items->pointer_end()},
                                        list.output == OutputFormat::kWide, list.all_namespaces,
                                        now_));
    }
    return kExitOk;
  }

  int operator()(const GetCommand& get) {
    GetRequest request;
    request.set_sandbox_name(get.name);
    request.set_namespace_(settings_.ns);
    if (get.output == OutputFormat::kJson || get.output == OutputFormat::kYaml) {
      Sandbox sandbox;
      grpc::Status status =
          Call(&FastPathService::StubInterface::GetSandboxResource, request, sandbox);
      if (!status.ok()) return Fail(status);
      return PrintResource(sandbox, get.output);
    }
    SandboxInfo info;
    grpc::Status status = Call(&FastPathService::StubInterface::GetSandbox, request, info);
    if (!status.ok()) return Fail(status);
    return Print(FormatSandboxTable({&info}, get.output == OutputFormat::kWide,
                                    /*with_namespace=*/false, now_));
  }

  // Sends the requests of UpdateRequests in order and stops at the first failure.
  int operator()(const UpdateCommand& update) {
    UpdateResponse response;
    for (const UpdateRequest& request : UpdateRequests(update, settings_.ns)) {
      if (int code = SendUpdate(request, response); code != kExitOk) return code;
    }
    out_ << "sandbox/" << update.name << " updated\n";
    out_ << "  phase:     " << response.sandbox().phase() << "\n";
    out_ << "  agent:     " << response.sandbox().agent_pod() << "\n";
    return kExitOk;
  }

  // Asks for a reset with a revision newer than any before: `now` in RFC 3339 with
  // nanoseconds, UTC.
  int operator()(const ResetCommand& reset) {
    UpdateRequest request;
    request.set_sandbox_name(reset.name);
    request.set_namespace_(settings_.ns);
    request.set_reset_revision(absl::FormatTime("%Y-%m-%dT%H:%M:%E9SZ", now_, absl::UTCTimeZone()));
    UpdateResponse response;
    if (int code = SendUpdate(request, response); code != kExitOk) return code;
    out_ << "sandbox/" << reset.name << " reset requested\n";
    return kExitOk;
  }

  // Deletes every name even when one fails; exit 1 if any failed.
  int operator()(const DeleteCommand& del) {
    const absl::Duration grace = absl::Seconds(del.grace_period_seconds.value_or(0));
    int exit_code = kExitOk;
    for (const std::string& name : del.names) {
      if (name.starts_with(kPoolPrefix) || name.starts_with(kAgentPrefix)) {
        grpc::Status status;
        if (name.starts_with(kPoolPrefix)) {
          fastpath::v1::DeleteSandboxPoolRequest request;
          request.set_name(name.substr(kPoolPrefix.size()));
          fastpath::v1::DeleteSandboxPoolResponse response;
          status = Call(&FastPathService::StubInterface::DeleteSandboxPool, request, response);
        } else {
          fastpath::v1::DeleteAgentRequest request;
          request.set_name(name.substr(kAgentPrefix.size()));
          fastpath::v1::DeleteAgentResponse response;
          status = Call(&FastPathService::StubInterface::DeleteAgent, request, response);
        }
        if (!status.ok()) {
          exit_code = Fail(status);
        } else {
          out_ << name << " deleted\n";
        }
        continue;
      }
      DeleteRequest request;
      request.set_sandbox_name(name);
      request.set_namespace_(settings_.ns);
      if (del.grace_period_seconds) request.set_grace_period_seconds(*del.grace_period_seconds);
      DeleteResponse response;
      grpc::Status status =
          Call(&FastPathService::StubInterface::DeleteSandbox, request, response, grace);
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

  // Reads and checks every file first (a bad one is a usage error and nothing is
  // applied), then applies each resource in order, continuing past failures; exit 1 if
  // any failed.
  int operator()(const ApplyCommand& apply) {
    std::vector<ManifestResource> resources;
    for (const std::string& path : apply.files) {
      const std::string shown = path == "-" ? "<stdin>" : path;
      absl::StatusOr<std::string> text = ReadManifest(path, in_);
      if (!text.ok()) return UsageFailure(err_, text.status().message());
      absl::StatusOr<std::vector<ManifestResource>> parsed = ParseManifest(*text);
      if (!parsed.ok()) {
        return UsageFailure(err_, absl::StrCat(shown, ": ", parsed.status().message()));
      }
      for (ManifestResource& resource : *parsed) resources.push_back(std::move(resource));
    }
    int exit_code = kExitOk;
    for (ManifestResource& resource : resources) {
      const int code = std::visit([this](auto& r) { return Apply(std::move(r)); }, resource);
      if (code != kExitOk) exit_code = code;
    }
    return exit_code;
  }

  int Apply(Sandbox sandbox) {
    if (sandbox.metadata().namespace_().empty()) {
      sandbox.mutable_metadata()->set_namespace_(settings_.ns);
    }
    const std::string name = sandbox.metadata().name();
    ApplyRequest request;
    *request.mutable_sandbox() = std::move(sandbox);
    ApplyResponse response;
    grpc::Status status = Call(&FastPathService::StubInterface::ApplySandbox, request, response);
    if (!status.ok()) return Fail(status);
    out_ << "sandbox/" << name << (response.created() ? " created\n" : " configured\n");
    return kExitOk;
  }

  int Apply(fsb::v1alpha1::SandboxPool pool) {
    const std::string name = pool.metadata().name();
    fastpath::v1::ApplySandboxPoolRequest request;
    *request.mutable_pool() = std::move(pool);
    fastpath::v1::ApplySandboxPoolResponse response;
    grpc::Status status =
        Call(&FastPathService::StubInterface::ApplySandboxPool, request, response);
    if (!status.ok()) return Fail(status);
    out_ << kPoolPrefix << name << (response.created() ? " created\n" : " configured\n");
    return kExitOk;
  }

  int operator()(const PoolsCommand& pools) {
    fastpath::v1::ListSandboxPoolsResponse response;
    grpc::Status status = Call(&FastPathService::StubInterface::ListSandboxPools,
                               fastpath::v1::ListSandboxPoolsRequest(), response);
    if (!status.ok()) return Fail(status);
    if (pools.output == OutputFormat::kJson || pools.output == OutputFormat::kYaml) {
      return PrintResource(response, pools.output);
    }
    if (response.items().empty()) {
      err_ << "No sandbox pools.\n";
      return kExitOk;
    }
    const auto& items = response.items();
    return Print(FormatPoolTable({items.pointer_begin(), items.pointer_end()}, now_));
  }

  int operator()(const AgentsCommand& agents) {
    ListAgentsResponse response;
    grpc::Status status =
        CallPaged(&FastPathService::StubInterface::ListAgents, ListAgentsRequest(), response);
    if (!status.ok()) return Fail(status);

    auto* items = response.mutable_items();
    std::sort(items->pointer_begin(), items->pointer_end(), [](const Agent* a, const Agent* b) {
      return a->metadata().name() < b->metadata().name();
    });
    if (agents.output == OutputFormat::kJson || agents.output == OutputFormat::kYaml) {
      return PrintResource(response, agents.output);
    }
    if (response.items().empty()) {
      err_ << "No agents registered.\n";
      return kExitOk;
    }
    return Print(FormatAgentTable({items->pointer_begin(), items->pointer_end()},
                                  agents.output == OutputFormat::kWide, now_));
  }

  int operator()(const LogsCommand& logs) {
    if (logs.tail_lines == 0 && !logs.follow) {
      return UsageFailure(err_, "--tail 0 prints nothing; with -f it prints only new lines");
    }
    fastpath::v1::LogsRequest request;
    request.set_sandbox_name(logs.name);
    request.set_namespace_(settings_.ns);
    request.set_follow(logs.follow);
    request.set_tail_lines(logs.tail_lines);
    request.set_since_unix_seconds(logs.since_unix_seconds);
    grpc::ClientContext context;
    // A follow lasts until the sandbox exits or the user stops fsb: no deadline.
    if (!logs.follow) context.set_deadline(Deadline::In(settings_.timeout).ToChrono());
    std::unique_ptr<grpc::ClientReaderInterface<fsb::agent::v1::LogChunk>> reader =
        IoStub().Logs(&context, request);
    LogPrinter printer(out_, err_, logs.timestamps);
    fsb::agent::v1::LogChunk chunk;
    while (reader->Read(&chunk)) printer.Print(chunk);
    grpc::Status status = reader->Finish();
    if (!status.ok()) return Fail(status);
    return kExitOk;
  }

  int operator()(const ExecCommand& exec) {
    std::unique_ptr<ExecTerminal> terminal = terminal_ ? terminal_() : NewProcessTerminal();
    grpc::ClientContext context;
    context.set_deadline(Deadline::In(kExecDeadline).ToChrono());
    std::unique_ptr<ExecInputPump::Stream> stream = IoStub().Exec(&context);
    if (!stream->Write(
            ExecStartRequest(exec, settings_.ns, exec.tty ? terminal->Size() : std::nullopt))) {
      return Fail(stream->Finish());
    }
    std::optional<int> exit_code;
    int signal = 0;
    {
      // Raw mode ends with this scope, whichever way it is left.
      std::unique_ptr<ExecTerminal::RawMode> raw = exec.tty ? terminal->EnterRawMode() : nullptr;
      ExecInputPump pump(exec, *terminal, *stream, context);
      fsb::agent::v1::ExecOutput response;
      while (stream->Read(&response)) {
        if (response.has_stdout()) {
          out_ << response.stdout() << std::flush;
        } else if (response.has_stderr()) {
          err_ << response.stderr() << std::flush;
        } else if (response.has_exit_code()) {
          exit_code = response.exit_code();
        }
      }
      terminal->Interrupt();
      signal = pump.signal();
    }
    grpc::Status status = stream->Finish();
    if (signal != 0) return 128 + signal;
    if (!status.ok()) return Fail(status);
    if (!exit_code) {
      err_ << "fsb: error: the command's exit code never came\n";
      return kExitServerError;
    }
    return *exit_code;
  }

  // Checks FILE, then streams it: the target first, then the bytes.
  int operator()(const ImageImportCommand& import) {
    std::error_code error;
    if (!std::filesystem::is_regular_file(import.file, error)) {
      err_ << "fsb: error: cannot read " << import.file << ": "
           << (error ? error.message() : "not a regular file") << "\n";
      return kExitServerError;
    }
    std::ifstream file(import.file, std::ios::binary);
    if (!file) {
      err_ << "fsb: error: cannot open " << import.file << ": " << std::strerror(errno) << "\n";
      return kExitServerError;
    }
    grpc::ClientContext context;
    context.set_deadline(Deadline::In(std::max(settings_.timeout, kMinImportDeadline)).ToChrono());
    ImportImageResponse response;
    std::unique_ptr<grpc::ClientWriterInterface<ImportImageRequest>> writer =
        ImagesStub().ImportImage(&context, &response);
    ImportImageRequest request;
    request.mutable_target()->set_agent(import.agent);
    request.mutable_target()->set_force(import.force);
    bool accepting = writer->Write(request);
    std::string buffer(kImportChunkBytes, '\0');
    while (accepting && file) {
      file.read(buffer.data(), buffer.size());
      if (file.gcount() > 0) {
        request.set_data(buffer.data(), file.gcount());
        accepting = writer->Write(request);
      }
    }
    if (file.bad()) {
      context.TryCancel();
      (void)writer->Finish();
      err_ << "fsb: error: cannot read " << import.file << ": " << std::strerror(errno) << "\n";
      return kExitServerError;
    }
    if (accepting) writer->WritesDone();
    grpc::Status status = writer->Finish();
    if (!status.ok()) return Fail(status);

    if (import.json) {
      if (int code = Print(FormatJson(response)); code != kExitOk) return code;
    }
    int exit_code = kExitOk;
    for (const ImportImageResponse::Result& result : response.results()) {
      if (!result.error().empty()) {
        err_ << result.agent() << ": error: " << result.error() << "\n";
        exit_code = kExitServerError;
      } else if (!import.json) {
        out_ << result.agent() << ": imported "
             << (result.images().empty() ? "no named image" : absl::StrJoin(result.images(), ", "))
             << "\n";
      }
    }
    if (response.results().empty()) {
      err_ << "fsb: error: the controller reported no agent\n";
      exit_code = kExitServerError;
    }
    return exit_code;
  }

  int operator()(const ConfigCommand& config) {
    return RunConfigCommand(config, ConfigPath(env_), out_, err_);
  }

  int operator()(const BenchCommand& bench) {
    FastPathService::StubInterface* stub = Stub();
    if (stub == nullptr) return Fail(NoConnection());
    const absl::Duration timeout = settings_.timeout;
    BenchEnv env{.stub = stub,
                 .http_get = http_get_,
                 .endpoint = settings_.connection.endpoint,
                 .ns = settings_.ns,
                 .timeout = timeout,
                 .run_id = RandomHex(4)};
    if (!env.http_get) {
      env.http_get = [timeout](const std::string& url) { return HttpGet(url, timeout); };
    }
    BenchReport report = RunBench(bench, env);
    for (const std::string& warning : report.warnings) {
      err_ << "fsb: warning: " << warning << "\n";
    }
    if (int code = Print(bench.json ? FormatBenchJson(report) : FormatBenchText(report));
        code != kExitOk) {
      return code;
    }
    return BenchSucceeded(report) ? kExitOk : kExitServerError;
  }

 private:
  // The FastPath stub, connected on first use; nullptr when the factory gives none.
  FastPathService::StubInterface* Stub() {
    if (stub_ == nullptr) stub_ = NewStub<FastPathService>(connect_);
    return stub_.get();
  }

  grpc::Status NoConnection() const {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        absl::StrCat("cannot connect to ", settings_.connection.endpoint));
  }

  // A stub of `Service`: by `factory` when set, else over NewChannel.
  template <typename Service, typename Factory>
  std::unique_ptr<typename Service::StubInterface> NewStub(const Factory& factory) const {
    return factory ? factory(settings_.connection)
                   : Service::NewStub(NewChannel(settings_.connection));
  }

  // `stub` of `Service`, connected on first use.
  template <typename Service, typename Factory>
  typename Service::StubInterface& Connected(std::unique_ptr<typename Service::StubInterface>& stub,
                                             const Factory& factory) {
    if (stub == nullptr) stub = NewStub<Service>(factory);
    return *stub;
  }

  fastpath::v1::Images::StubInterface& ImagesStub() {
    return Connected<fastpath::v1::Images>(images_stub_, connect_images_);
  }

  fastpath::v1::SandboxIO::StubInterface& IoStub() {
    return Connected<fastpath::v1::SandboxIO>(io_stub_, connect_io_);
  }

  // Calls `method` on the stub (connecting on first use) with a deadline of --timeout
  // plus `extra` from now.
  template <typename Request, typename Response>
  grpc::Status Call(grpc::Status (FastPathService::StubInterface::*method)(grpc::ClientContext*,
                                                                           const Request&,
                                                                           Response*),
                    const Request& request, Response& response,
                    absl::Duration extra = absl::ZeroDuration()) {
    FastPathService::StubInterface* stub = Stub();
    if (stub == nullptr) return NoConnection();
    grpc::ClientContext context;
    context.set_deadline(Deadline::In(settings_.timeout + extra).ToChrono());
    return (stub->*method)(&context, request, &response);
  }

  // Calls the paged List* `method` page after page (ListAllPages), each call as Call makes
  // it, and gathers every page's items into `response`.
  template <typename Request, typename Response>
  grpc::Status CallPaged(grpc::Status (FastPathService::StubInterface::*method)(
                             grpc::ClientContext*, const Request&, Response*),
                         Request request, Response& response) {
    return ListAllPages(std::move(request), response,
                        [&](const Request& r, Response& page) { return Call(method, r, page); });
  }

  // One UpdateSandbox; kExitOk, or the exit code after reporting the failure.
  int SendUpdate(const UpdateRequest& request, UpdateResponse& response) {
    grpc::Status status = Call(&FastPathService::StubInterface::UpdateSandbox, request, response);
    if (!status.ok()) return Fail(status);
    if (!response.success()) {
      err_ << "fsb: error: sandbox/" << request.sandbox_name()
           << " was not updated: " << response.message() << "\n";
      return kExitServerError;
    }
    return kExitOk;
  }

  int Fail(const grpc::Status& grpc_status) {
    absl::Status status = FromGrpcStatus(grpc_status);
    err_ << "fsb: error: " << absl::StatusCodeToString(status.code()) << ": " << status.message()
         << "\n"
         << FailureHint(status, settings_);
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

  // A resource for -o json or -o yaml.
  int PrintResource(const google::protobuf::Message& message, OutputFormat output) {
    return Print(output == OutputFormat::kJson ? FormatResourceJson(message)
                                               : FormatResourceYaml(message));
  }

  const ClientSettings& settings_;
  const EnvLookup& env_;
  const StubFactory& connect_;
  std::istream& in_;
  std::ostream& out_;
  std::ostream& err_;
  const absl::Time now_;
  const IoStubFactory& connect_io_;
  const std::function<std::unique_ptr<ExecTerminal>()>& terminal_;
  const ImagesStubFactory& connect_images_;
  const HttpGetter& http_get_;
  std::unique_ptr<FastPathService::StubInterface> stub_;
  std::unique_ptr<fastpath::v1::SandboxIO::StubInterface> io_stub_;
  std::unique_ptr<fastpath::v1::Images::StubInterface> images_stub_;
};

// Whether `command` talks to the server (and so needs the connection settings).
bool NeedsServer(const Command& command) {
  return !std::holds_alternative<NoCommand>(command) &&
         !std::holds_alternative<HelpCommand>(command) &&
         !std::holds_alternative<VersionCommand>(command) &&
         !std::holds_alternative<CompletionCommand>(command) &&
         !std::holds_alternative<ConfigCommand>(command);
}

// The settings of a command that needs the server: the flags completed from the
// environment and the config file.
absl::StatusOr<ClientSettings> LoadSettings(const GlobalOptions& flags, const EnvLookup& env) {
  const std::optional<std::string> path = ConfigPath(env);
  CliConfig config;
  if (path) {
    absl::StatusOr<CliConfig> loaded = LoadConfig(*path);
    if (!loaded.ok()) return loaded.status();
    config = *std::move(loaded);
  }
  return ResolveSettings(flags, env, config, path.value_or(""));
}

}  // namespace

int Run(const std::vector<std::string>& args, const CliContext& context) {
  absl::StatusOr<Invocation> invocation = ParseArgs(args, context.now);
  if (!invocation.ok()) return UsageFailure(*context.err, invocation.status().message());
  ClientSettings settings;
  if (NeedsServer(invocation->command)) {
    absl::StatusOr<ClientSettings> resolved = LoadSettings(invocation->global, context.env);
    if (!resolved.ok()) {
      *context.err << "fsb: error: " << resolved.status().message() << "\n";
      return kExitUsage;
    }
    settings = *std::move(resolved);
    for (const std::string& warning : settings.warnings) {
      *context.err << "fsb: warning: " << warning << "\n";
    }
  }
  Executor executor(settings, context);
  return std::visit(executor, invocation->command);
}

}  // namespace fsb::cli
