#!/usr/bin/env bash
# Server CPU per unary `Analyze` call of a 30-paragraph article (README,
# Measured): starts SERVER on a fresh data directory, indexes the corpus's
# first 5,000 documents, then sends RATE calls a second for SECONDS alone
# (`chaff bench --unary-alone`) and divides the server's CPU time over them
# (utime + stime of /proc/PID/stat) by the calls. The bulk stream that
# `chaff bench` runs after the probe is a single document (the articles'
# paragraph pool), so it adds next to nothing.
#   bench/unary-cpu.sh SERVER CLIENT dry|ingest CORPUS [PORT] [RATE] [SECONDS]
# SERVER and CLIENT are chaff binaries (compare servers with one client).
# Prints calls, errors, ms of server CPU per call (user, system), the
# probe's p50 / p99 / max ms, minor faults and context switches per call.
set -euo pipefail
server=${1:?usage: bench/unary-cpu.sh SERVER CLIENT dry|ingest CORPUS [PORT] [RATE] [SECONDS]}
client=${2:?client binary}
mode=${3:?dry or ingest}
corpus=${4:?JSONL corpus of one-paragraph documents}
port=${5:-50111}
rate=${6:-500}
seconds=${7:-10}
work=$(mktemp -d /tmp/unary-cpu.XXXXXX)
trap 'rm -rf "$work"' EXIT
head -n 5000 "$corpus" >"$work/index.jsonl"
head -n 4096 "$corpus" | jq -s '{id: "unary-pool", source: "pool.example",
  text: (map(.text | gsub("^\\s+|\\s+$"; "")) | join("\n\n"))}' -c >"$work/pool.jsonl"
"$server" serve --data-dir "$work/data" --listen "127.0.0.1:$port" >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q listening "$work/server.log" && break; sleep 0.1; done
url=http://127.0.0.1:$port
"$client" bench "$work/index.jsonl" --server "$url" --json >/dev/null 2>"$work/client.log"
sample() {
  echo "$(awk '{print $14, $15, $10}' /proc/$pid/stat)" \
    "$(cat /proc/$pid/task/*/status | awk '/ctxt_switches/ {s += $2} END {print s}')"
}
read -r u0 s0 f0 c0 < <(sample)
load=$(cut -d' ' -f1 /proc/loadavg)
dry=(); [ "$mode" = dry ] && dry=(--unary-dry-run)
out=$("$client" bench "$work/pool.jsonl" --server "$url" --unary-rate "$rate" \
  --unary-alone "$seconds" --unary-seconds 0 "${dry[@]}" --json 2>>"$work/client.log" | tail -n 1)
read -r u1 s1 f1 c1 < <(sample)
kill -TERM $pid
wait $pid
calls=$(jq '.unary_alone.requests + .unary_requests' <<<"$out")
errors=$(jq '.unary_alone.errors + .unary_errors' <<<"$out")
latency=$(jq -c '.unary_alone.latency_ms | [.p50, .p99, .max] | map(. * 100 | round / 100)' <<<"$out")
tck=$(getconf CLK_TCK)
per() { echo "scale=3; ($1) * 1000 / $tck / $calls" | bc; }
echo "$mode calls=$calls errors=$errors cpu_ms=$(per "$u1 + $s1 - $u0 - $s0")" \
  "user_ms=$(per "$u1 - $u0") sys_ms=$(per "$s1 - $s0") p50/p99/max_ms=$latency" \
  "minflt=$(echo "scale=1; ($f1 - $f0) / $calls" | bc)" \
  "ctxsw=$(echo "scale=1; ($c1 - $c0) / $calls" | bc) load=$load"
