# shellcheck shell=bash
# Sourced by scripts/bench: turns the `name key=value…` lines the benchmarks printed into
# $work/*.log into BENCHMARKS.md. Only layout lives here; every number is read from those logs.
# scripts/bench sets work, started_at, load_at_start, load_at_end, total_seconds, package_seconds.
# shellcheck disable=SC2154
# Backticks in single quotes are markdown, not command substitutions.
# shellcheck disable=SC2016

# kv LOG TAG KEY [FILTER]: KEY's value on the first `TAG key=value…` line of $work/LOG.log, or on
# the first such line that also holds FILTER, a whole `key=value`.
kv() {
  awk -v tag="$2" -v key="$3" -v filter="${4:-}" '
    { gsub(/\r/, "") }
    $1 == tag && (filter == "" || index(" " $0 " ", " " filter " ")) {
      for (i = 2; i <= NF; i++) if (index($i, key "=") == 1) { print substr($i, length(key) + 2); exit }
    }' "$work/$1.log"
}

# need_line LOG TAG: stops the run when a benchmark printed no figures, rather than write a
# BENCHMARKS.md with holes in it.
need_line() {
  grep -q "^$2 [a-z0-9_]*=" "$work/$1.log" \
    || fail "the $2 benchmark printed no '$2 key=value' line; its output is above."
}

mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }

cold_label() {
  case "$1" in
    rust_token) echo "Rust \`chat\`, release, token read from SSM at init (as deployed)" ;;
    rust_none) echo "Rust \`chat\`, release, \`AUTH_MODE=none\` (no network call at init)" ;;
    python) echo "Python baseline: boto3 + DynamoDB, KMS, bedrock-runtime clients at import" ;;
  esac
}

cold_start_table() {
  echo "| process | runs | min | p50 | p90 | max | mean |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  for v in rust_token rust_none python; do
    printf '| %s |' "$(cold_label "$v")"
    for k in runs min_ms p50_ms p90_ms max_ms mean_ms; do
      printf ' %s%s |' "$(kv lambda cold_start "$k" "variant=$v")" "$([ "$k" = runs ] || echo ' ms')"
    done
    echo
  done
}

aws_calls_table() {
  echo "| step | turns | KMS | DynamoDB | SSM | Bedrock | calls per turn, by operation |"
  echo "|---|---:|---:|---:|---:|---:|---|"
  awk '
    BEGIN {
      label["init_1"] = "process 1: init, before its first poll"
      label["cold_turn_new_conversation"] = "process 1: **cold turn**, a new conversation"
      label["warm_turns_1"] = "process 1: **warm turns** 2-10"
      label["init_2"] = "process 2 (a second cold start): init"
      label["cold_turn_existing_conversation"] = "process 2: **cold turn** continuing process 1'"'"'s conversation"
      label["warm_turns_2"] = "process 2: **warm turns** 2-5"
    }
    $1 == "aws_calls" {
      for (i = 2; i <= NF; i++) { split($i, f, "="); v[f[1]] = substr($i, length(f[1]) + 2) }
      calls = v["calls"]; gsub(/,/, ", ", calls); gsub(/:/, " ", calls); gsub(/_/, " ", calls)
      printf "| %s | %s | %s | %s | %s | %s | %s |\n", label[v["phase"]], v["turns"], v["kms"], v["dynamodb"], v["ssm"], v["bedrock"], calls
    }' "$work/lambda.log"
}

dashboard_refresh_table() {
  echo "| refresh | GetMetricData (source counter) | AWS API calls (proxy) | calls by operation | time |"
  echo "|---:|---:|---:|---|---:|"
  awk '
    $1 == "dashboard_refresh" {
      for (i = 2; i <= NF; i++) { split($i, f, "="); v[f[1]] = substr($i, length(f[1]) + 2) }
      calls = v["calls"]; gsub(/,/, ", ", calls); gsub(/:/, " ", calls)
      n = v["n"] == 1 ? "1 (also works out the cost panel)" : v["n"]
      printf "| %s | %s | %s | %s | %s ms |\n", n, v["get_metric_data"], v["api_calls"], calls, v["ms"]
    }' "$work/dashboard.log"
}

dashboard_render_table() {
  echo "| terminal | renders | mean | p50 | p99 |"
  echo "|---|---:|---:|---:|---:|"
  awk '
    $1 == "dashboard_render" {
      for (i = 2; i <= NF; i++) { split($i, f, "="); v[f[1]] = f[2] }
      printf "| %sx%s | %s | %s µs | %s µs | %s µs |\n", v["width"], v["height"], v["renders"], v["mean_us"], v["p50_us"], v["p99_us"]
    }' "$work/dashboard.log"
}

package_table() {
  echo "| function | arch | bytes | MiB | needs glibc | sha256 (first 16) |"
  echo "|---|---|---:|---:|---|---|"
  jq -r '.[] | "| \(.function) | \(.arch) | \(.bytes) | \(.bytes / 1048576 * 100 | round / 100) | \(.glibc // "static") | `\(.sha256[:16])` |"' \
    "$work/package.json"
}

export_section() {
  if [ "$(cat "$work/export.status")" != ok ]; then
    cat "$work/export.status"
    return
  fi
  echo "| messages | peak RSS of \`opsctl export --all\` | seconds |"
  echo "|---:|---:|---:|"
  awk '
    { gsub(/\r/, "") }
    $1 == "export_memory" {
      for (i = 2; i <= NF; i++) { split($i, f, "="); v[f[1]] = f[2] }
      printf "| %s | %.1f MiB (%s KiB) | %s |\n", v["messages"], v["peak_rss_kib"] / 1024, v["peak_rss_kib"], v["seconds"]
    }' "$work/export.log"
}

# The summary's export cell: each size's peak RSS, or why there is none.
export_summary() {
  if [ "$(cat "$work/export.status")" != ok ]; then
    head -1 "$work/export.status" | cut -d: -f1
    return
  fi
  awk '$1 == "export_memory" {
      for (i = 2; i <= NF; i++) { split($i, f, "="); v[f[1]] = f[2] }
      out = out sep sprintf("%.1f MiB at %s messages", v["peak_rss_kib"] / 1024, v["messages"]); sep = ", "
    } END { print out }' "$work/export.log"
}

# Both warm phases' figure for one service: one number when they agree.
warm_calls() {
  local a b
  a="$(kv lambda aws_calls "$1" phase=warm_turns_1)"
  b="$(kv lambda aws_calls "$1" phase=warm_turns_2)"
  if [ "$a" = "$b" ]; then echo "$a"; else echo "$a (process 1), $b (process 2)"; fi
}

zip_summary() {
  jq -r '[.[] | "\(.function) \(.bytes / 1048576 * 10 | round / 10) MiB"] | join(", ")' "$work/package.json"
}

machine() {
  local dirty
  dirty="$(git status --porcelain --untracked-files=no | wc -l)"
  echo "| | |"
  echo "|---|---|"
  printf '| date | %s |\n' "$started_at"
  printf '| commit | `%s`%s |\n' "$(git rev-parse --short=12 HEAD)" \
    "$([ "$dirty" -eq 0 ] || echo " plus uncommitted changes to $dirty tracked files")"
  printf '| CPU | %s, %s cores |\n' "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" "$(nproc)"
  printf '| memory | %s |\n' "$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
  printf '| kernel | %s %s |\n' "$(uname -sr)" "$(uname -m)"
  printf '| rustc | %s |\n' "$(rustc --version)"
  printf '| python | %s (.venv/bin/python) |\n' "$(.venv/bin/python --version 2>&1)"
  printf '| load average (1, 5, 15 min) | %s at the start, %s at the end |\n' "$load_at_start" "$load_at_end"
  printf '| wall time of `make bench` | %dm%02ds (the arm64 package build: %dm%02ds) |\n' \
    "$((total_seconds / 60))" "$((total_seconds % 60))" "$((package_seconds / 60))" "$((package_seconds % 60))"
}

summary() {
  local ratio_token ratio_none
  ratio_token="$(kv lambda cold_start_ratio python_over_rust_p50 rust=rust_token)"
  ratio_none="$(kv lambda cold_start_ratio python_over_rust_p50 rust=rust_none)"
  echo "| figure | this run |"
  echo "|---|---|"
  local warm_turns
  warm_turns="$(($(kv lambda aws_calls turns phase=warm_turns_1) + $(kv lambda aws_calls turns phase=warm_turns_2)))"
  echo "| **KMS calls per warm chat turn** | **$(warm_calls kms)** over $warm_turns warm turns in 2 processes (cold turn: $(kv lambda aws_calls kms phase=cold_turn_new_conversation) for a new conversation, $(kv lambda aws_calls kms phase=cold_turn_existing_conversation) when continuing one) |"
  echo "| DynamoDB calls per warm chat turn | $(warm_calls dynamodb) |"
  echo "| **Cold start p50, Rust \`chat\`** (exec to first Runtime API poll) | **$(kv lambda cold_start p50_ms variant=rust_token) ms** with the SSM token read; $(kv lambda cold_start p50_ms variant=rust_none) ms with \`AUTH_MODE=none\` |"
  echo "| Cold start p50, Python baseline (boto3 + 3 clients) | $(kv lambda cold_start p50_ms variant=python) ms |"
  echo "| **Cold start ratio, Python p50 / Rust p50** | **${ratio_token}x** (token read), ${ratio_none}x (no network at init) |"
  echo "| Warm-turn overhead with fakes, p50 / p99 | $(kv turn turn_overhead p50_us) µs / $(kv turn turn_overhead p99_us) µs |"
  echo "| Ingestion of 100 chunks, 50 ms embedder, concurrency 8 (median) | $(kv ingest ingest_throughput median_ms) ms, $(kv ingest ingest_throughput chunks_per_s) chunks/s (bound $(kv ingest ingest_throughput bound_ms) ms: $([ "$(kv ingest ingest_throughput pass)" = true ] && echo met || echo MISSED)) |"
  echo "| Local retrieval over 100k chunks, k = 5, p50 / p95 | $(kv retrieval local_retrieval search_p50_ms) ms / $(kv retrieval local_retrieval search_p95_ms) ms |"
  echo "| S3VectorsIndex on the emulator (not AWS), 10k chunks, k = 5, p50 / p95 | $(kv s3vectors s3vectors_retrieval query_p50_ms chunks=10000) ms / $(kv s3vectors s3vectors_retrieval query_p95_ms chunks=10000) ms |"
  echo "| Local gateway under load: throughput, p50 / p99, 5xx | $(kv gateway gateway_load rps) req/s, $(kv gateway gateway_load p50_ms) / $(kv gateway gateway_load p99_ms) ms, $(kv gateway gateway_load server_errors) |"
  echo "| Peak RSS of the process running the chat handler, under that load | $(mib "$(kv gateway gateway_load hwm_after_load_kib)") |"
  echo "| Dashboard: AWS API calls per refresh | $(kv dashboard dashboard_refresh api_calls n=2) ($(kv dashboard dashboard_refresh get_metric_data n=2) GetMetricData); the first refresh, which also works out the cost: $(kv dashboard dashboard_refresh api_calls n=1) |"
  echo "| Dashboard: one frame, 80x24 / 160x48 (mean) | $(kv dashboard dashboard_render mean_us width=80) µs / $(kv dashboard dashboard_render mean_us width=160) µs |"
  echo "| Lambda zips (arm64) | $(zip_summary) |"
  echo "| \`opsctl export --all\` peak RSS | $(export_summary) |"
  echo "| **Web app first load** (Chromium): bytes transferred, time to interactive | **$(kv web web_first_load transfer_bytes) B**, **$(kv web web_first_load interactive_ms) ms** (targets: under 100 KB, under 500 ms) |"
}

write_report() {
  cat <<EOF
# Benchmarks

Written by \`make bench\` (\`scripts/bench\`); every figure below comes from the one run described
here. Run \`make bench\` again to replace them all. Timings depend on the machine and on what else
ran on it (the load average is below): compare figures from the same file, not across files.

$(machine)

## Summary

$(summary)

## 1. Cold start of the chat Lambda

$(cold_start_table)

Ratio of p50s, Python / Rust: **$(kv lambda cold_start_ratio python_over_rust_p50 rust=rust_token)x**
against the Rust binary as deployed (it reads its API token from SSM before polling), and
**$(kv lambda cold_start_ratio python_over_rust_p50 rust=rust_none)x** against \`AUTH_MODE=none\`,
which like the baseline makes no network call before its first poll.

How: \`scripts/bench-tools/lambda_bench.py\` serves the Lambda Runtime API on loopback
(\`runtime_api.py\`) and measures from just before \`subprocess.Popen\` to the moment that server
receives the process's first \`GET /2018-06-01/runtime/invocation/next\`. The Rust binary is
\`cargo build --release -p chatbot-chat --bin chat\` for this machine (x86_64; the deployed zip is
the same code for arm64), given the stack's environment (\`CHATBOT_ENV\`, \`TABLE_NAME\`,
\`KMS_KEY_ID\`, \`API_TOKEN_PARAMETER\`, region, dummy credentials, \`AWS_LAMBDA_*\`) and the moto
server as its endpoint, on which its init reads the token (one SSM \`GetParameter\`, answered by
Python on loopback). The baseline is \`scripts/bench-tools/python_handler.py\` run by
Python $(kv lambda cold_start_python version) (this machine's Python, not necessarily a Lambda runtime's version; boto3
$(kv lambda cold_start_python boto3)): it imports boto3 and creates its three clients at import,
then polls the same server. A real Python Lambda also loads its runtime bootstrap first, so the
baseline is a lower bound. The three kinds run in turn, round after round, after
two rounds not counted; each process is killed once it has polled. p50 and p90 are nearest-rank.

## 2. Warm-turn overhead with fakes

| p50 | p90 | p99 | turns |
|---:|---:|---:|---:|
| $(kv turn turn_overhead p50_us) µs | $(kv turn turn_overhead p90_us) µs | $(kv turn turn_overhead p99_us) µs | $(kv turn turn_overhead n) |

How: \`cargo bench -p chatbot-core --bench turn_overhead\` times single \`POST /chat\` turns
through the handler with in-memory fakes (ten history messages decrypted, two messages
encrypted and stored, a model that answers at once), after 500 turns of warm-up.

## 3. AWS calls per chat turn

$(aws_calls_table)

How: the same release binary, under the same local Runtime API, with its AWS endpoint set to
\`scripts/bench-tools/aws_proxy.py\`, a proxy in front of the moto server that counts every
request by service and operation (from the SigV4 scope and \`X-Amz-Target\`) and answers
Bedrock's Converse itself, as moto has none. Process 1 starts a conversation and continues it
for nine more turns; process 2, started afresh, continues the same conversation for four more.
The counts are read before and after every turn; a range means the turns of that row differed.

## 4. Ingestion throughput with a 50 ms embedder

| chunks | concurrency | extraction + chunking | ideal (100 x 50 ms / 8) | bound | median of $(kv ingest ingest_throughput runs) | min | max | chunks/s | within the bound |
|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|
| $(kv ingest ingest_throughput chunks) | $(kv ingest ingest_throughput concurrency) | $(kv ingest ingest_throughput extraction_ms) ms | $(kv ingest ingest_throughput ideal_ms) ms | $(kv ingest ingest_throughput bound_ms) ms | $(kv ingest ingest_throughput median_ms) ms | $(kv ingest ingest_throughput min_ms) ms | $(kv ingest ingest_throughput max_ms) ms | $(kv ingest ingest_throughput chunks_per_s) | $(kv ingest ingest_throughput pass) |

How: \`cargo bench -p chatbot-core --bench ingest_throughput\` ingests a Markdown document that
chunks into exactly 100 chunks through the ingestion handler, with an embedder that sleeps
$(kv ingest ingest_throughput call_ms) ms per call, in-memory S3 and index; the bound is
1.5 x ideal + extraction.

## 5. Local retrieval over 100k chunks

| chunks x dims | insert | search p50 | p95 | max | database | reopen | RSS after the searches | peak RSS | BLOB scan p50 (rejected design) |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|
| $(kv retrieval local_retrieval chunks) x $(kv retrieval local_retrieval dims) | $(kv retrieval local_retrieval insert_s) s ($(kv retrieval local_retrieval insert_chunks_per_s) chunks/s) | $(kv retrieval local_retrieval search_p50_ms) ms | $(kv retrieval local_retrieval search_p95_ms) ms | $(kv retrieval local_retrieval search_max_ms) ms | $(kv retrieval local_retrieval db_mb) MB | $(kv retrieval local_retrieval reopen_s) s | $(mib "$(kv retrieval local_retrieval rss_after_searches_kib)") | $(mib "$(kv retrieval local_retrieval vm_hwm_kib)") | $(kv retrieval local_retrieval blob_scan_p50_ms) ms |

How: \`cargo bench -p chatbot-core --bench local_retrieval\` fills the local SQLite vector index
with 1,000 documents of 100 seeded random unit vectors, then times $(kv retrieval local_retrieval searches)
k = $(kv retrieval local_retrieval k) searches for random queries. Memory is the bench process's
VmRSS and VmHWM from /proc/self/status.

## 5b. Retrieval through S3VectorsIndex, on the emulator

These are the emulator's figures, not AWS's: moto answers QueryVectors by an exact cosine search in
Python (\`scripts/emulator\`), where S3 Vectors runs an approximate search on its own servers.

| chunks x dims | fill | query p50 | p95 | max |
|---|---:|---:|---:|---:|
$(for n in 1000 10000; do echo "| $(kv s3vectors s3vectors_retrieval chunks chunks=$n) x $(kv s3vectors s3vectors_retrieval dims chunks=$n) | $(kv s3vectors s3vectors_retrieval fill_s chunks=$n) s | $(kv s3vectors s3vectors_retrieval query_p50_ms chunks=$n) ms | $(kv s3vectors s3vectors_retrieval query_p95_ms chunks=$n) ms | $(kv s3vectors s3vectors_retrieval query_max_ms chunks=$n) ms |"; done)

How: \`cargo bench -p chatbot-core --bench s3vectors_retrieval\` starts its own emulator, writes
documents of 100 seeded random unit vectors through the adapter (the manifest, the chunks in
batches of 500), then times $(kv s3vectors s3vectors_retrieval queries chunks=1000) k = $(kv s3vectors s3vectors_retrieval k chunks=1000) queries at each size.

## 6. The local gateway under load, and the chat handler's peak RSS

| requests | clients x turns | model latency | throughput | p50 | p99 | max | 5xx | other non-200 | stored messages |
|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|
| $(kv gateway gateway_load requests) | $(kv gateway gateway_load clients) x $(kv gateway gateway_load turns) | $(kv gateway gateway_load model_latency_ms) ms | $(kv gateway gateway_load rps) req/s | $(kv gateway gateway_load p50_ms) ms | $(kv gateway gateway_load p99_ms) ms | $(kv gateway gateway_load max_ms) ms | $(kv gateway gateway_load server_errors) | $(kv gateway gateway_load other_errors) | $(kv gateway gateway_load stored) |

| process running the chat handler | RSS before the load | peak RSS (VmHWM) before the load | **peak RSS (VmHWM) after the load** |
|---|---:|---:|---:|
| the \`gateway_load\` bench process | $(mib "$(kv gateway gateway_load rss_before_load_kib)") | $(mib "$(kv gateway gateway_load hwm_before_load_kib)") | **$(mib "$(kv gateway gateway_load hwm_after_load_kib)")** |

How: \`cargo bench -p opsctl --bench gateway_load\` starts its own moto server and runs the local
gateway (the axum server \`opsctl local up\` runs) **in its own process**, wired to DynamoDB, KMS
and SSM on the emulator and to the \`local/extractive\` model with 50 ms of latency; 20 clients
hold a 10-turn conversation each. The bench reads its own VmRSS and VmHWM from /proc/self/status
once the gateway is wired and again after the load, so the peak is the chat handler's, with the
load clients' small share in it; the emulator is another process and is not counted.

## 7. Dashboard refresh

$(dashboard_refresh_table)

$(dashboard_render_table)

How: \`cargo bench -p opsctl --bench dashboard_refresh\` refreshes the dashboard's own
\`CloudWatchSource\`, with the cost feed \`opsctl dashboard\` adds (recomputed at most every 10
minutes, hence the larger first refresh), six times against the moto server, through the
counting proxy of section 3. GetMetricData calls come from the source's counter, as in
\`ops/tests/dashboard_moto.rs\` (it counts the panels' query; the cost panel's own calls, made
by \`opsctl cost\`'s code, are not in it), and all calls from the proxy. A frame is \`view::render_buffer\`
(ratatui's TestBackend, as \`--once\` and the snapshot tests draw) of every panel of the spec with
an hour of points, timed over $(kv dashboard dashboard_render renders width=80) renders after a warm-up.

## 8. Lambda package sizes

$(package_table)

How: \`opsctl --output json package --arch arm64\` with cargo-lambda $CARGO_LAMBDA_VERSION and zig
from \`.venv/\`, as \`scripts/test\` installs them; each zip holds \`bootstrap\` (release profile:
thin LTO, one codegen unit, stripped) and lands in \`target/lambda/<function>/bootstrap.zip\`.

## 9. Export memory

$(export_section)

How: \`cargo bench -p opsctl --bench export_memory\` (when \`ops/Cargo.toml\` registers it) seals
that many messages into the emulator's table and reads the peak RSS of the real
\`opsctl export --all\` run over them.

## 10. Streamed replies

| figure | p50 | p99 |
|---|---:|---:|
| first \`delta\` in process, fakes (target p50 under 2 ms) | $(kv stream stream_first_delta in_process_p50_ms) ms | $(kv stream stream_first_delta in_process_p99_ms) ms |
| first \`delta\` through the local gateway, loopback HTTP | $(kv stream stream_first_delta gateway_p50_ms) ms | $(kv stream stream_first_delta gateway_p99_ms) ms |
| the development model's own first token | $(kv stream stream_first_delta model_first_token_p50_ms) ms | |
| gateway minus the model's first token (target p50 under 30 ms) | $(kv stream stream_first_delta gateway_minus_model_p50_ms) ms | |

Peak RSS for a reply of 4,000 deltas: $(mib "$(kv stream stream_first_delta streamed_hwm_kib)") streamed, $(mib "$(kv stream stream_first_delta buffered_hwm_kib)") buffered.

How: \`cargo bench -p opsctl --bench stream_first_delta\`: in process with the in-memory fakes
and a model whose first delta is ready at once; through the local gateway running
\`local/extractive\` with no word delay, the clock stopping at the first \`event: delta\` read off
the socket; each memory figure is a child process's VmHWM after answering the one reply.

## 11. The web app's first load

| figure | this run | target |
|---|---:|---:|
| bytes transferred, first load of the sign-in form (headers included, assets gzipped) | $(kv web web_first_load transfer_bytes) B | under 100 KB |
| the same bodies as sent / unpacked | $(kv web web_first_load encoded_bytes) B / $(kv web web_first_load decoded_bytes) B | |
| requests | $(kv web web_first_load requests) | |
| time to interactive: navigation start to the sign-in form enabled | $(kv web web_first_load interactive_ms) ms | under 500 ms |
| signed-in reload, assets from the cache: bytes transferred / composer enabled | $(kv web web_first_load warm_transfer_bytes) B / $(kv web web_first_load warm_interactive_ms) ms | |

How: \`cargo test -p opsctl --test web_app -- screenshots_and_first_load_figures\` opens the app
of a local target in headless Chromium with a fresh profile and sums \`transferSize\`,
\`encodedBodySize\` and \`decodedBodySize\` over the Navigation and Resource Timing entries once
the load event has fired; time to interactive is the \`interactive\` mark the app sets when its
first form is enabled. The test fails above 100 KB or 1 s.

## 12. Local retrieval quality

| embedder | recall@1 | recall@5 | answer hit rate | false citations | chunks | indexing | gateway RSS / peak |
|---|---:|---:|---:|---:|---:|---:|---:|
| local/hashing (fallback) | $(kv eval retrieval_eval recall_1 embedder=hashing) | $(kv eval retrieval_eval recall_5 embedder=hashing) | $(kv eval retrieval_eval hit_rate embedder=hashing) | $(kv eval retrieval_eval false_citation_rate embedder=hashing) | $(kv eval retrieval_eval chunks embedder=hashing) | $(kv eval retrieval_eval indexing_s embedder=hashing) s | $(mib "$(kv eval retrieval_eval gateway_rss_kib embedder=hashing)") / $(mib "$(kv eval retrieval_eval gateway_hwm_kib embedder=hashing)") |
| all-MiniLM-L6-v2 | $(kv eval retrieval_eval recall_1 embedder=minilm) | $(kv eval retrieval_eval recall_5 embedder=minilm) | $(kv eval retrieval_eval hit_rate embedder=minilm) | $(kv eval retrieval_eval false_citation_rate embedder=minilm) | $(kv eval retrieval_eval chunks embedder=minilm) | $(kv eval retrieval_eval indexing_s embedder=minilm) s | $(mib "$(kv eval retrieval_eval gateway_rss_kib embedder=minilm)") / $(mib "$(kv eval retrieval_eval gateway_hwm_kib embedder=minilm)") |

Targets for all-MiniLM-L6-v2: recall@5 0.95 or more, hit rate 0.90 or more, false citations 0.05
or fewer.

| all-MiniLM-L6-v2 in process | this run | target |
|---|---:|---:|
| model load, from the wheel's model.zip / from a folder | $(kv minilm minilm_embedding load_zip_ms) ms / $(kv minilm minilm_embedding load_dir_ms) ms | under 1 s |
| a ~20-token query, p50 / p99 | $(kv minilm minilm_embedding query_p50_ms) ms / $(kv minilm minilm_embedding query_p99_ms) ms | p50 under 15 ms |
| ingestion, ~200-token chunks in batches of 16 | $(kv minilm minilm_embedding chunks_per_s) chunks/s | |
| hybrid search over 100k chunks x 1024, p50 / p95 (5: vectors alone) | $(kv retrieval local_retrieval hybrid_p50_ms) ms / $(kv retrieval local_retrieval hybrid_p95_ms) ms | |
| the same with a query word in every chunk | $(kv retrieval local_retrieval hybrid_common_p50_ms) ms / $(kv retrieval local_retrieval hybrid_common_p95_ms) ms | |

How: \`make eval\` (\`ops/tests/retrieval_eval.rs\`) starts a fresh local target per embedder,
indexes \`eval/\` with \`opsctl docs put\` (indexing is that command's wall time: upload, extraction
in a worker, chunking, embedding, writing), asks its 99 questions with \`opsctl chat\`, and scores
the replies (ARCHITECTURE.md, "Local retrieval"); the gateway's memory is its VmRSS and VmHWM after
the last question. \`cargo bench -p chatbot-core --bench minilm_embedding\` times the model alone;
\`local_retrieval\` times the hybrid search as it does the vector search.
EOF
}
