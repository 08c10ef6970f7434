#!/usr/bin/env bash
# Compares two benchmark result files and flags regressions. Reporting only: CI prints it
# and never fails on it.
#
# Usage: scripts/bench-compare.sh OLD.json NEW.json
#   Each file is either scripts/bench-e2e.sh's results (bench/results/e2e-*.json) or one
#   `fsb bench -o json` report. Every figure present in either file is printed as
#   "old -> new change"; a figure more than 10% worse is flagged "<< worse": latencies,
#   the servers' mean stage times, cleanup time, refill time and memory are worse when
#   higher, creates/s and warm hit rates when lower.
#
# Exit status: 0, also when something got worse; 1 if a file cannot be read or is not
# such a result; 2 on a usage error.
set -euo pipefail

if (($# != 2)); then
  echo "usage: $0 OLD.json NEW.json" >&2
  exit 2
fi
for file in "$1" "$2"; do
  if ! jq -e 'type == "object" and (has("fsb_c1") or has("latency_ms"))' "${file}" \
      >/dev/null 2>&1; then
    echo "bench-compare: cannot read ${file} as benchmark results" >&2
    exit 1
  fi
done

jq -r -n --slurpfile old "$1" --slurpfile new "$2" --arg old_name "$1" --arg new_name "$2" '
  def latency($p):
    .latency_ms as $l | ("min", "p50", "p90", "p99", "max", "mean")
    | {key: "\($p) latency \(.) (ms)", value: $l[.], worse: "higher"};
  # Figures of one `fsb bench -o json` report, named after `$p`: {key, value, worse}, worse
  # being "higher" or "lower".
  def bench($p):
    latency($p),
    {key: "\($p) creates/s", value: .creates_per_second, worse: "lower"},
    (.stages[]? | {key: "\($p) \(.source) \(.stage) mean (ms)", value: .mean_ms,
                   worse: "higher"}),
    (select(.cleanup != null)
      | {key: "\($p) cleanup (s)", value: .cleanup.wall_seconds, worse: "higher"});
  def memory($p):
    (.shims | {key: "\($p) shims PSS (KiB)", value: .pss_kib, worse: "higher"},
              {key: "\($p) shims RSS (KiB)", value: .rss_kib, worse: "higher"}),
    (.loggers | select(.processes > 0)
      | {key: "\($p) fsb-loggers PSS (KiB)", value: .pss_kib, worse: "higher"});
  def figures:
    if has("fsb_c1") then
      (.fsb_c1 | bench("fsb c=\(.concurrency)")),
      (.fsb_c8 | bench("fsb c=\(.concurrency)")),
      (.warm? // empty
        | (.c1 | bench("warm c=\(.concurrency)")),
          (.c8 | bench("warm c=\(.concurrency)")),
          (.burst | bench("warm burst \(.requests)")),
          ("c1", "c8", "burst") as $run
            | {key: "warm \($run) hit rate", value: .[$run].hit_rate, worse: "lower"},
          {key: "warm refill after the burst (s)", value: .refill_after_burst_seconds,
           worse: "higher"},
          {key: "warm idle PSS per instance (KiB)", value: .memory_idle.per_instance_pss_kib,
           worse: "higher"}),
      (.ctr | latency("ctr run -d")),
      (.memory.fsb_c8 | memory("fsb")),
      (.memory.ctr | memory("ctr"))
    else bench("fsb c=\(.concurrency)") end;
  def pad($n): tostring | if length < $n then . + (" " * ($n - length)) else . end;
  def show: if . == null then "-" else (. * 1000 | round / 1000 | tostring) end;

  ([$old[0] | figures] | map({(.key): .}) | add // {}) as $o
  | ([$new[0] | figures] | map({(.key): .}) | add // {}) as $n
  | ([$old[0] | figures | .key] + [$new[0] | figures | .key]
     | reduce .[] as $k ([]; if index([$k]) then . else . + [$k] end)) as $keys
  | ([$keys[] | length] | max // 0 | . + 2) as $width
  | ([$keys[] | select($o[.] != null and $n[.] != null) as $k
      | ($o[$k].value) as $a | ($n[$k].value) as $b
      | select($a != 0)
      | (($b - $a) / $a * 100) as $change
      | select(if $o[$k].worse == "higher" then $change > 10 else $change < -10 end)
      | $k]) as $flagged
  | "old: \($old_name)\nnew: \($new_name)\n",
    ($keys[] as $k
      | ($o[$k].value) as $a | ($n[$k].value) as $b
      | (if $a == null or $b == null or $a == 0 then ""
         else (($b - $a) / $a * 100 * 10 | round / 10) as $c
           | if $c == 0 then "0%" elif $c > 0 then "+\($c)%" else "\($c)%" end end) as $change
      | ($k | pad($width)) + ($a | show | pad(12)) + "-> " + ($b | show | pad(12))
        + (if ($flagged | index([$k])) then ($change | pad(9)) + "<< worse by more than 10%"
           else $change end)),
    "",
    "\($flagged | length) of \($keys | length) figures are more than 10% worse."
'
