#ifndef FSB_CLI_BENCH_H_
#define FSB_CLI_BENCH_H_

#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cli/args.h"
#include "cli/prometheus_text.h"
#include "fastpath/v1/fastpath.grpc.pb.h"

namespace fsb::cli {

// `fsb bench`: the end-to-end load driver. It creates sandboxes through the FastPath
// API from concurrent workers, times each create as the client sees it, and reads the
// servers' own stage histograms from their /metrics pages before and after the run.

// Fetches the body of a web page (a /metrics page) by URL.
using HttpGetter = std::function<absl::StatusOr<std::string>(const std::string& url)>;

// One call of a run.
struct CallOutcome {
  absl::Duration latency;  // from the call to its answer, on the monotonic clock
  absl::Status status;
};

// The calls of a run, in index order, and the wall time from the first call's start to
// the last answer.
struct CallsRun {
  std::vector<CallOutcome> outcomes;
  absl::Duration wall;
};

// Calls `call(i)` for every i in [0, n) from `concurrency` threads (1 <= concurrency
// <= n), each thread taking the next index as it finishes one; with `rate` > 0, call i
// starts no earlier than i / rate seconds after the run's start. Returns when every call
// has answered. `call` must be thread-safe.
CallsRun RunConcurrently(int n, int concurrency, double rate,
                         const std::function<absl::Status(int)>& call);

// A /metrics page the bench reads.
struct MetricsSource {
  std::string name;     // "controller", "agent NAME"
  std::string address;  // HOST:PORT
  bool agent = false;   // which histograms it has: the agent's or the controller's
};

// What one histogram series observed between the two scrapes.
struct StageFigures {
  std::string source;  // MetricsSource::name
  std::string metric;  // the histogram family
  std::string stage;   // the series' stage or rpc label; "total" for the whole create
  int64_t count = 0;
  double mean_seconds = 0;  // delta sum / delta count
  // Estimated from the delta buckets (HistogramQuantile); unset when the series has no
  // finite bucket holding the rank.
  std::optional<double> p50_seconds;
  std::optional<double> p90_seconds;
};

// The rows of `source`: for the controller fastpath_create_sandbox_duration_seconds (all
// series added up, as stage "total") and fsb_create_stage_duration_seconds{stage}; for an
// agent fsb_agent_create_stage_duration_seconds{stage} and
// fsb_containerd_rpc_duration_seconds{rpc}. Only series that observed something between
// `before` and `after`; stages in the order a create passes them, then the rest by name.
std::vector<StageFigures> StageBreakdown(const MetricsSource& source,
                                         const std::vector<MetricSample>& before,
                                         const std::vector<MetricSample>& after);

// What a bench run needs besides its command. `stub` is used from `concurrency` threads at
// once and must be thread-safe (gRPC stubs are); `http_get` is called from the thread that
// runs RunBench only.
struct BenchEnv {
  fastpath::v1::FastPathService::StubInterface* stub = nullptr;
  HttpGetter http_get;
  std::string endpoint;  // the FastPath endpoint; its host serves the controller's /metrics
  std::string ns;
  absl::Duration timeout;  // deadline of every RPC
  std::string run_id;      // names the sandboxes bench-<run id>-<i>; a DNS label part
};

// Everything a run measured.
struct BenchReport {
  BenchCommand command;
  std::string ns;
  std::string run_id;
  std::vector<std::string> names;  // of every create, in index order
  CallsRun creates;
  std::vector<MetricsSource> sources;  // the /metrics pages read before and after
  std::vector<StageFigures> stages;
  // Why a /metrics page or the agent list could not be read; the run goes on without.
  std::vector<std::string> warnings;
  std::optional<CallsRun> cleanup;  // with --cleanup: one delete per name, grace 0
};

// Runs `bench`: finds the /metrics pages (the agents' from ListAgents unless given),
// scrapes them, creates the sandboxes, scrapes again, and with --cleanup deletes every
// name (a NOT_FOUND for a create that failed counts as deleted). Never fails as a whole:
// failed calls and unreadable pages are in the report.
BenchReport RunBench(const BenchCommand& bench, const BenchEnv& env);

// True when every create and every cleanup delete succeeded.
bool BenchSucceeded(const BenchReport& report);

// The report for people: the run, the latency summary, failures by code, the stage
// table and the cleanup, in milliseconds. Ends with '\n'.
std::string FormatBenchText(const BenchReport& report);

// The report for programs: every figure, durations in milliseconds (fields ending in
// _ms, rounded to the microsecond) or seconds (_seconds), keys sorted. INTERNAL if it
// cannot be rendered.
absl::StatusOr<std::string> FormatBenchJson(const BenchReport& report);

}  // namespace fsb::cli

#endif  // FSB_CLI_BENCH_H_
