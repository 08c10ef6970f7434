#include "cli/bench.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <initializer_list>
#include <iterator>
#include <map>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cli/bench_stats.h"
#include "cli/format.h"
#include "cli/paged_list.h"
#include "cli/values.h"
#include "google/protobuf/struct.pb.h"
#include "internal/deadline.h"
#include "internal/status.h"
#include "internal/stopwatch.h"
#include "internal/strings.h"

namespace fsb::cli {
namespace {

using fastpath::v1::CreateRequest;
using fastpath::v1::CreateResponse;
using fastpath::v1::DeleteRequest;
using fastpath::v1::DeleteResponse;
using google::protobuf::Value;

// A histogram family a /metrics page has, and the label that names its series.
struct StageFamily {
  std::string_view metric;
  std::string_view by;  // empty: every series adds into one row, stage "total"
  bool agent;
};

constexpr StageFamily kStageFamilies[] = {
    {"fastpath_create_sandbox_duration_seconds", "", false},
    {"fsb_create_stage_duration_seconds", "stage", false},
    {"fsb_agent_create_stage_duration_seconds", "stage", true},
    {"fsb_containerd_rpc_duration_seconds", "rpc", true},
};

// The stages in the order a create passes them; rows of other names follow, by name.
constexpr std::string_view kStageOrder[] = {
    "total",         "validate",         "allocate",         "persist",
    "agent_rpc",     "admission",        "warm_claim",       "init_exec",
    "image_resolve", "container_create", "snapshot_prepare", "task_create",
    "task_start",
};

size_t StageRank(std::string_view stage) {
  return std::find(std::begin(kStageOrder), std::end(kStageOrder), stage) - std::begin(kStageOrder);
}

// The page of `source`, parsed.
absl::StatusOr<std::vector<MetricSample>> Scrape(const MetricsSource& source,
                                                 const HttpGetter& http_get) {
  absl::StatusOr<std::string> page = http_get(absl::StrCat("http://", source.address, "/metrics"));
  if (!page.ok()) return page.status();
  return ParsePrometheusText(*page);
}

// Every page of `sources`, in order; unset (and a warning) for those that cannot be read.
std::vector<std::optional<std::vector<MetricSample>>> ScrapeAll(
    const std::vector<MetricsSource>& sources, const HttpGetter& http_get, std::string_view when,
    std::vector<std::string>& warnings) {
  std::vector<std::optional<std::vector<MetricSample>>> pages;
  for (const MetricsSource& source : sources) {
    absl::StatusOr<std::vector<MetricSample>> page = Scrape(source, http_get);
    if (page.ok()) {
      pages.emplace_back(*std::move(page));
      continue;
    }
    warnings.push_back(absl::StrCat("cannot read the metrics of ", source.name, " at ",
                                    source.address, " ", Sv(when),
                                    " the run: ", page.status().message()));
    pages.emplace_back();
  }
  return pages;
}

// The controller's page (from --controller-metrics or the endpoint), then the agents'
// (from --agent-metrics or ListAgents). What cannot be found becomes a warning.
std::vector<MetricsSource> FindSources(const BenchCommand& bench, const BenchEnv& env,
                                       std::vector<std::string>& warnings) {
  std::vector<MetricsSource> sources;
  if (!bench.controller_metrics.empty()) {
    sources.push_back({"controller", bench.controller_metrics, false});
  } else if (absl::StatusOr<HostPort> endpoint = ParseHostPort("the endpoint", env.endpoint);
             endpoint.ok()) {
    sources.push_back(
        {"controller", absl::StrCat(endpoint->host, ":", kDefaultControllerMetricsPort), false});
  } else {
    warnings.push_back(absl::StrCat("no controller metrics: ", endpoint.status().message(),
                                    "; set --controller-metrics"));
  }
  for (const std::string& address : bench.agent_metrics) {
    sources.push_back({absl::StrCat("agent ", address), address, true});
  }
  if (!bench.agent_metrics.empty()) return sources;

  fastpath::v1::ListAgentsResponse agents;
  absl::Status listed = FromGrpcStatus(ListAllPages(
      fastpath::v1::ListAgentsRequest(), agents,
      [&](const fastpath::v1::ListAgentsRequest& request, fastpath::v1::ListAgentsResponse& page) {
        grpc::ClientContext context;
        context.set_deadline(Deadline::In(env.timeout).ToChrono());
        return env.stub->ListAgents(&context, request, &page);
      }));
  if (!listed.ok()) {
    warnings.push_back(absl::StrCat("no agent metrics: ListAgents failed: ", listed.ToString(),
                                    "; set --agent-metrics"));
    return sources;
  }
  std::vector<MetricsSource> found;
  for (const fsb::v1alpha1::Agent& agent : agents.items()) {
    const std::string name = absl::StrCat("agent ", agent.metadata().name());
    absl::StatusOr<HostPort> address = ParseHostPort("its address", agent.spec().address());
    if (!address.ok()) {
      warnings.push_back(absl::StrCat("no metrics for ", name, ": ", address.status().message()));
      continue;
    }
    found.push_back({name, absl::StrCat(address->host, ":", bench.agent_metrics_port), true});
  }
  std::sort(found.begin(), found.end(),
            [](const MetricsSource& a, const MetricsSource& b) { return a.name < b.name; });
  sources.insert(sources.end(), found.begin(), found.end());
  return sources;
}

// The failed calls of a run grouped by code: count and the first one's message; the most
// frequent code first.
struct FailureGroup {
  absl::StatusCode code;
  int count = 0;
  std::string example;
};

std::vector<FailureGroup> GroupFailures(const CallsRun& run) {
  std::map<absl::StatusCode, FailureGroup> by_code;
  for (const CallOutcome& outcome : run.outcomes) {
    if (outcome.status.ok()) continue;
    FailureGroup& group = by_code[outcome.status.code()];
    if (group.count++ == 0) {
      group.code = outcome.status.code();
      group.example = std::string(outcome.status.message());
    }
  }
  std::vector<FailureGroup> groups;
  for (auto& [code, group] : by_code) groups.push_back(std::move(group));
  std::stable_sort(groups.begin(), groups.end(),
                   [](const FailureGroup& a, const FailureGroup& b) { return a.count > b.count; });
  return groups;
}

int Failed(const CallsRun& run) {
  return std::count_if(run.outcomes.begin(), run.outcomes.end(),
                       [](const CallOutcome& o) { return !o.status.ok(); });
}

// Milliseconds of the successful calls, in index order.
std::vector<double> SuccessMillis(const CallsRun& run) {
  std::vector<double> millis;
  for (const CallOutcome& outcome : run.outcomes) {
    if (outcome.status.ok()) millis.push_back(absl::ToDoubleMilliseconds(outcome.latency));
  }
  return millis;
}

double PerSecond(int calls, absl::Duration wall) {
  return wall > absl::ZeroDuration() ? calls / absl::ToDoubleSeconds(wall) : 0;
}

std::string ConsistencyName(const BenchCommand& bench) { return bench.strong ? "strong" : "fast"; }

// A figure in milliseconds for the tables: three decimals under 1 ms, two under 100 ms,
// one above.
std::string Ms(double ms) {
  if (ms < 1) return absl::StrFormat("%.3f", ms);
  if (ms < 100) return absl::StrFormat("%.2f", ms);
  return absl::StrFormat("%.1f", ms);
}

std::string OptionalMs(const std::optional<double>& seconds) {
  return seconds ? Ms(*seconds * 1e3) : "-";
}

std::string StageLabel(const StageFigures& row) {
  if (row.metric == "fsb_containerd_rpc_duration_seconds") {
    return absl::StrCat("containerd ", row.stage);
  }
  return row.stage;
}

void AppendFailureTable(const std::vector<FailureGroup>& groups, std::string& out) {
  std::vector<std::vector<std::string>> rows = {{"CODE", "COUNT", "EXAMPLE"}};
  for (const FailureGroup& g : groups) {
    rows.push_back({absl::StatusCodeToString(g.code), absl::StrCat(g.count), g.example});
  }
  out += FormatColumns(rows);
}

// JSON values.
Value Number(double v) {
  Value value;
  value.set_number_value(v);
  return value;
}

Value Text(std::string_view s) {
  Value value;
  value.set_string_value(std::string(s));
  return value;
}

Value Null() {
  Value value;
  value.set_null_value(google::protobuf::NULL_VALUE);
  return value;
}

// Milliseconds rounded to the microsecond.
Value Millis(double ms) { return Number(std::round(ms * 1e3) / 1e3); }

Value Object(std::initializer_list<std::pair<std::string, Value>> fields) {
  Value value;
  auto* map = value.mutable_struct_value()->mutable_fields();
  for (const auto& [key, field] : fields) (*map)[key] = field;
  return value;
}

Value List(std::vector<Value> items) {
  Value value;
  google::protobuf::ListValue* list = value.mutable_list_value();  // set even when empty
  for (Value& item : items) *list->add_values() = std::move(item);
  return value;
}

Value FailuresJson(const CallsRun& run) {
  std::vector<Value> items;
  for (const FailureGroup& g : GroupFailures(run)) {
    items.push_back(Object({{"code", Text(absl::StatusCodeToString(g.code))},
                            {"count", Number(g.count)},
                            {"example", Text(g.example)}}));
  }
  return List(std::move(items));
}

Value LatencyJson(const LatencyStats& s) {
  return Object({{"count", Number(s.count)},
                 {"min", Millis(s.min)},
                 {"p50", Millis(s.p50)},
                 {"p90", Millis(s.p90)},
                 {"p99", Millis(s.p99)},
                 {"max", Millis(s.max)},
                 {"mean", Millis(s.mean)}});
}

Value StringList(const std::vector<std::string>& strings) {
  std::vector<Value> items;
  for (const std::string& s : strings) items.push_back(Text(s));
  return List(std::move(items));
}

}  // namespace

CallsRun RunConcurrently(int n, int concurrency, double rate,
                         const std::function<absl::Status(int)>& call) {
  CallsRun run;
  run.outcomes.resize(n);
  std::atomic<int> next{0};
  const Stopwatch wall;
  // Each index is taken by one thread, which alone writes its outcome; the joins below
  // publish the writes.
  auto work = [&] {
    for (int i = next++; i < n; i = next++) {
      // Call i is due i/rate after the start (a negative sleep returns at once).
      if (rate > 0) absl::SleepFor(absl::Seconds(i / rate) - wall.Elapsed());
      Stopwatch watch;
      absl::Status status = call(i);
      run.outcomes[i] = {watch.Elapsed(), std::move(status)};
    }
  };
  std::vector<std::thread> threads;
  for (int t = 1; t < concurrency; ++t) threads.emplace_back(work);
  work();
  for (std::thread& thread : threads) thread.join();
  run.wall = wall.Elapsed();
  return run;
}

std::vector<StageFigures> StageBreakdown(const MetricsSource& source,
                                         const std::vector<MetricSample>& before,
                                         const std::vector<MetricSample>& after) {
  std::vector<StageFigures> rows;
  for (const StageFamily& family : kStageFamilies) {
    if (family.agent != source.agent) continue;
    const std::map<std::string, Histogram> old_series =
        CollectHistograms(before, family.metric, family.by);
    std::vector<StageFigures> family_rows;
    for (const auto& [label, histogram] : CollectHistograms(after, family.metric, family.by)) {
      auto old = old_series.find(label);
      const Histogram delta =
          HistogramDelta(histogram, old == old_series.end() ? Histogram{} : old->second);
      if (delta.count <= 0) continue;
      family_rows.push_back({.source = source.name,
                             .metric = std::string(family.metric),
                             .stage = family.by.empty() ? "total" : label,
                             .count = static_cast<int64_t>(std::llround(delta.count)),
                             .mean_seconds = delta.sum / delta.count,
                             .p50_seconds = HistogramQuantile(delta, 0.5),
                             .p90_seconds = HistogramQuantile(delta, 0.9)});
    }
    std::stable_sort(family_rows.begin(), family_rows.end(),
                     [](const StageFigures& a, const StageFigures& b) {
                       return StageRank(a.stage) < StageRank(b.stage);
                     });
    rows.insert(rows.end(), family_rows.begin(), family_rows.end());
  }
  return rows;
}

BenchReport RunBench(const BenchCommand& bench, const BenchEnv& env) {
  BenchReport report{.command = bench, .ns = env.ns, .run_id = env.run_id};
  for (int i = 0; i < bench.requests; ++i) {
    report.names.push_back(absl::StrCat("bench-", env.run_id, "-", i));
  }
  report.sources = FindSources(bench, env, report.warnings);
  const auto before = ScrapeAll(report.sources, env.http_get, "before", report.warnings);

  CreateRequest prototype;
  prototype.set_image(bench.image);
  prototype.set_namespace_(env.ns);
  prototype.set_consistency_mode(bench.strong ? fastpath::v1::STRONG : fastpath::v1::FAST);
  prototype.mutable_command()->Add(bench.command.begin(), bench.command.end());
  report.creates = RunConcurrently(bench.requests, bench.concurrency, bench.rate, [&](int i) {
    CreateRequest request = prototype;
    request.set_name(report.names[i]);
    grpc::ClientContext context;
    context.set_deadline(Deadline::In(env.timeout).ToChrono());
    CreateResponse response;
    return FromGrpcStatus(env.stub->CreateSandbox(&context, request, &response));
  });

  const auto after = ScrapeAll(report.sources, env.http_get, "after", report.warnings);
  for (size_t i = 0; i < report.sources.size(); ++i) {
    if (!before[i] || !after[i]) continue;
    std::vector<StageFigures> rows = StageBreakdown(report.sources[i], *before[i], *after[i]);
    report.stages.insert(report.stages.end(), rows.begin(), rows.end());
  }

  if (bench.cleanup) {
    report.cleanup = RunConcurrently(bench.requests, bench.concurrency, 0, [&](int i) {
      DeleteRequest request;
      request.set_sandbox_name(report.names[i]);
      request.set_namespace_(env.ns);
      request.set_grace_period_seconds(0);
      grpc::ClientContext context;
      context.set_deadline(Deadline::In(env.timeout).ToChrono());
      DeleteResponse response;
      absl::Status status = FromGrpcStatus(env.stub->DeleteSandbox(&context, request, &response));
      if (absl::IsNotFound(status) && !report.creates.outcomes[i].status.ok()) {
        return absl::OkStatus();  // its create failed: nothing to delete
      }
      if (status.ok() && !response.success()) {
        return absl::InternalError(absl::StrCat("sandbox/", report.names[i], " was not deleted"));
      }
      return status;
    });
  }
  return report;
}

bool BenchSucceeded(const BenchReport& report) {
  return Failed(report.creates) == 0 && (!report.cleanup || Failed(*report.cleanup) == 0);
}

std::string FormatBenchText(const BenchReport& report) {
  const BenchCommand& bench = report.command;
  const int failed = Failed(report.creates);
  const int succeeded = bench.requests - failed;
  std::string out = absl::StrCat(
      "bench ", report.run_id, ": ", bench.requests, " creates of ", bench.image, " (",
      absl::StrJoin(bench.command, " "), ") in namespace ", report.ns, ", concurrency ",
      bench.concurrency, bench.rate > 0 ? absl::StrFormat(", at most %g/s", bench.rate) : "", ", ",
      ConsistencyName(bench), "\n");
  absl::StrAppendFormat(&out, "%d succeeded, %d failed in %s: %.1f creates/s\n\n", succeeded,
                        failed, FormatTook(report.creates.wall),
                        PerSecond(succeeded, report.creates.wall));
  const LatencyStats latency = Summarize(SuccessMillis(report.creates));
  if (latency.count > 0) {
    out += "create latency as the client saw it (ms)\n";
    out += FormatColumns({{"COUNT", "MIN", "P50", "P90", "P99", "MAX", "MEAN"},
                          {absl::StrCat(latency.count), Ms(latency.min), Ms(latency.p50),
                           Ms(latency.p90), Ms(latency.p99), Ms(latency.max), Ms(latency.mean)}});
    out += "\n";
  }
  if (failed > 0) {
    out += "failed creates\n";
    AppendFailureTable(GroupFailures(report.creates), out);
    out += "\n";
  }
  if (!report.stages.empty()) {
    out += "server stages during the run (ms; p50/p90 interpolated in histogram buckets)\n";
    std::vector<std::vector<std::string>> rows = {
        {"SOURCE", "STAGE", "COUNT", "MEAN", "P50", "P90"}};
    for (const StageFigures& row : report.stages) {
      rows.push_back({row.source, StageLabel(row), absl::StrCat(row.count),
                      Ms(row.mean_seconds * 1e3), OptionalMs(row.p50_seconds),
                      OptionalMs(row.p90_seconds)});
    }
    out += FormatColumns(rows);
    out += "\n";
  }
  if (report.cleanup) {
    const int cleanup_failed = Failed(*report.cleanup);
    absl::StrAppend(&out, "cleanup: ", bench.requests - cleanup_failed, " deleted, ",
                    cleanup_failed, " failed in ", FormatTook(report.cleanup->wall), "\n");
    if (cleanup_failed > 0) AppendFailureTable(GroupFailures(*report.cleanup), out);
  }
  return out;
}

absl::StatusOr<std::string> FormatBenchJson(const BenchReport& report) {
  const BenchCommand& bench = report.command;
  const int failed = Failed(report.creates);
  std::vector<std::string> created;
  for (int i = 0; i < bench.requests; ++i) {
    if (report.creates.outcomes[i].status.ok()) created.push_back(report.names[i]);
  }
  std::vector<Value> latencies;
  for (double ms : SuccessMillis(report.creates)) latencies.push_back(Millis(ms));
  std::vector<Value> stages;
  for (const StageFigures& row : report.stages) {
    stages.push_back(
        Object({{"source", Text(row.source)},
                {"metric", Text(row.metric)},
                {"stage", Text(row.stage)},
                {"count", Number(row.count)},
                {"mean_ms", Millis(row.mean_seconds * 1e3)},
                {"p50_ms", row.p50_seconds ? Millis(*row.p50_seconds * 1e3) : Null()},
                {"p90_ms", row.p90_seconds ? Millis(*row.p90_seconds * 1e3) : Null()}}));
  }
  std::vector<Value> sources;
  for (const MetricsSource& source : report.sources) {
    sources.push_back(Object({{"name", Text(source.name)}, {"address", Text(source.address)}}));
  }
  Value cleanup = Null();
  if (report.cleanup) {
    const int cleanup_failed = Failed(*report.cleanup);
    cleanup = Object({{"deleted", Number(bench.requests - cleanup_failed)},
                      {"failed", Number(cleanup_failed)},
                      {"wall_seconds", Number(absl::ToDoubleSeconds(report.cleanup->wall))},
                      {"failures", FailuresJson(*report.cleanup)}});
  }
  const Value json = Object({
      {"run_id", Text(report.run_id)},
      {"image", Text(bench.image)},
      {"namespace", Text(report.ns)},
      {"command", StringList(bench.command)},
      {"requests", Number(bench.requests)},
      {"concurrency", Number(bench.concurrency)},
      {"rate", Number(bench.rate)},
      {"consistency", Text(ConsistencyName(bench))},
      {"succeeded", Number(bench.requests - failed)},
      {"failed", Number(failed)},
      {"wall_seconds", Number(absl::ToDoubleSeconds(report.creates.wall))},
      {"creates_per_second", Number(PerSecond(bench.requests - failed, report.creates.wall))},
      {"latency_ms", LatencyJson(Summarize(SuccessMillis(report.creates)))},
      {"latencies_ms", List(std::move(latencies))},
      {"failures", FailuresJson(report.creates)},
      {"metrics_sources", List(std::move(sources))},
      {"stages", List(std::move(stages))},
      {"warnings", StringList(report.warnings)},
      {"sandboxes", StringList(created)},
      {"cleanup", cleanup},
  });
  return FormatValueJson(json);
}

}  // namespace fsb::cli
