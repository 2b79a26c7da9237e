#!/usr/bin/env bash
# bench/replay.sh — `tlsglass replay` against `tshark -T fields` (SNI, JA3) on one large pcap of
# TLS handshakes recorded on loopback, with `cat FILE > /dev/null` as the floor.
#
#   bench/replay.sh                record the capture if BENCH_DIR has none, then time all three
#   bench/replay.sh --fresh        record the capture again first
#
# Options:
#   --fresh          record a new capture even when BENCH_DIR holds one
#   --handshakes N   new TLS connections to record, half to a TLS 1.3 and half to a TLS 1.2 server
#                    (default 20000, the issue's minimum)
#   --client NAME    what makes the connections: h2load, python (bench/replay_tools.py client) or
#                    auto: h2load when installed, python otherwise (default auto)
#   --reps N         timed runs of cat and of tlsglass, the median is reported (default 3);
#                    tshark runs once, it is the slow one
#   --cpu N          the core every timed command is pinned to with taskset (default 0)
#   --bin PATH       tlsglass binary (default: $TLSGLASS_BIN, else build/src/tlsglass under the root);
#                    build it with --buildtype=release, a debug build's figures say little:
#                      meson setup build-release --buildtype=release && ninja -C build-release src/tlsglass
#   --out FILE       also write the report (Markdown) to FILE
#   -h, --help       this text
# Environment:
#   BENCH_DIR        where the capture is cached and the last run's outputs are kept
#                    (default /tmp/tlsglass-bench-replay)
#   TLSGLASS_BIN     tlsglass binary, as --bin
#
# Recording: nginx with one TLS 1.3-only and one TLS 1.2-only server (ECDSA P-256, no session
# resumption, `keepalive_timeout 0`: one request per connection), tcpdump on lo (-s 0, -B 128 MiB,
# the two ports only), started 1 s before the first connection, stopped 1 s after the last. A
# capture whose tcpdump reports packets dropped by the kernel is not kept. Timing: the file is read
# once, then each command runs pinned to one core with its output to a file in BENCH_DIR/run;
# tshark is told that the two server ports are TLS (-d tcp.port==PORT,tls), see TSHARK_CMD.
# Checks: tlsglass writes a record with a ClientHello for every recorded handshake, and the SNI
# (and JA3) values in its records are the same multiset as in tshark's lines.
#
# Not a test: the targets (≥ 50× tshark, within 3× of cat) are printed as met or not met, never
# judged. Exit status: 0 when every command ran and every check passed; 1 otherwise (the report
# still shows what was measured); 2 on a usage error or a missing tool (with the apt-get line).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
TOOLS=(python3 "$HERE/replay_tools.py")
PTOOLS=(python3 "$HERE/proxy_tools.py")   # ports, waitport, machine: shared with bench/proxy.sh
ARGS_GIVEN=("$@")

FRESH=0
HANDSHAKES=20000
CLIENT=auto
REPS=3
CPU=0
BIN=${TLSGLASS_BIN:-$ROOT/build/src/tlsglass}
OUT=""
BENCH_DIR=${BENCH_DIR:-/tmp/tlsglass-bench-replay}
CONC=20   # connections in flight, per client run

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }
say() { printf 'bench: %s\n' "$*" >&2; }
usage_error() { say "usage error: $*"; exit 2; }

while (($#)); do
  case $1 in
    --fresh) FRESH=1 ;;
    --handshakes) [[ $# -ge 2 ]] || usage_error "--handshakes needs a number"; HANDSHAKES=$2; shift ;;
    --handshakes=*) HANDSHAKES=${1#*=} ;;
    --client) [[ $# -ge 2 ]] || usage_error "--client needs a name"; CLIENT=$2; shift ;;
    --client=*) CLIENT=${1#*=} ;;
    --reps) [[ $# -ge 2 ]] || usage_error "--reps needs a number"; REPS=$2; shift ;;
    --reps=*) REPS=${1#*=} ;;
    --cpu) [[ $# -ge 2 ]] || usage_error "--cpu needs a number"; CPU=$2; shift ;;
    --cpu=*) CPU=${1#*=} ;;
    --bin) [[ $# -ge 2 ]] || usage_error "--bin needs a path"; BIN=$2; shift ;;
    --bin=*) BIN=${1#*=} ;;
    --out) [[ $# -ge 2 ]] || usage_error "--out needs a file"; OUT=$2; shift ;;
    --out=*) OUT=${1#*=} ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown argument '$1' (see --help)" ;;
  esac
  shift
done
if [[ ! $HANDSHAKES =~ ^[1-9][0-9]*$ ]] || ((HANDSHAKES < 2)); then
  usage_error "--handshakes wants an integer ≥ 2, not '$HANDSHAKES'"
fi
[[ $REPS =~ ^[1-9][0-9]*$ ]] || usage_error "--reps wants a positive integer, not '$REPS'"
[[ $CPU =~ ^[0-9]+$ ]] || usage_error "--cpu wants a core number, not '$CPU'"
case $CLIENT in auto | h2load | python) ;; *) usage_error "--client is h2load, python or auto" ;; esac
((HANDSHAKES >= 20000)) || say "note: $HANDSHAKES handshakes; the issue's figure wants at least 20000"

PCAP=$BENCH_DIR/handshakes.pcap
PCAP_META=$BENCH_DIR/handshakes.meta
RECORD=0
if ((FRESH)) || [[ ! -s $PCAP || ! -s $PCAP_META ]]; then
  RECORD=1
else
  for key in port13 port12 requested succeeded packets dropped; do
    grep -q "^$key=" "$PCAP_META" && continue
    say "the cached capture's notes ($PCAP_META) have no $key: recording a new one"
    RECORD=1
    break
  done
fi

# ---------------------------------------------------------------- tools
PATH=$PATH:/usr/sbin:/sbin
missing=() packages=()
need() {  # need COMMAND PACKAGE
  command -v "$1" >/dev/null 2>&1 && return 0
  missing+=("$1") && packages+=("$2")
}
need python3 python3
need taskset util-linux
need tshark tshark
if ((RECORD)); then
  need openssl openssl
  need nginx nginx-light
  need tcpdump tcpdump
  if [[ $CLIENT == auto ]]; then
    if command -v h2load >/dev/null 2>&1; then CLIENT=h2load; else
      CLIENT=python
      say "h2load not found (apt-get install nghttp2-client): the connections are made by" \
        "bench/replay_tools.py client (Python ssl) instead"
    fi
  fi
  [[ $CLIENT == h2load ]] && need h2load nghttp2-client
fi
if ((${#missing[@]})); then
  say "missing: ${missing[*]}"
  say "install with: apt-get install ${packages[*]}"
  exit 2
fi
if [[ ! -x $BIN ]]; then
  say "tlsglass binary not found at $BIN (build it: meson setup build-release --buildtype=release &&" \
    "ninja -C build-release src/tlsglass; then pass --bin or TLSGLASS_BIN)"
  exit 2
fi
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
NCPU=$(nproc --all)
((CPU < NCPU)) || usage_error "--cpu $CPU: this machine has cores 0 to $((NCPU - 1))"

# Build type, from the meson build directory the binary sits in (BUILD/src/tlsglass).
BUILDTYPE=unknown
BUILDOPTS=$(dirname "$(dirname "$BIN")")/meson-info/intro-buildoptions.json
if [[ -f $BUILDOPTS ]]; then
  BUILDTYPE=$("${TOOLS[@]}" buildtype "$BUILDOPTS" 2>/dev/null || echo unknown)
fi
[[ $BUILDTYPE == release* ]] || say "warning: tlsglass build type is $BUILDTYPE, not release: its figures say little"

# tshark 4.0 has tls.handshake.ja3 (an MD5, like tlsglass's tls.client.ja3); older ones do not.
TSHARK_FIELDS=(-e tls.handshake.extensions_server_name)
TSHARK_LABEL="SNI"
HAVE_JA3=0
if tshark -G fields 2>/dev/null | awk -F'\t' '$3 == "tls.handshake.ja3" { f = 1 } END { exit !f }'; then
  TSHARK_FIELDS+=(-e tls.handshake.ja3)
  TSHARK_LABEL="SNI, JA3"
  HAVE_JA3=1
else
  say "this tshark has no tls.handshake.ja3 field: it extracts the SNI only"
  TSHARK_LABEL="SNI only: this tshark has no JA3 field"
fi

mkdir -p "$BENCH_DIR"
RUN=$BENCH_DIR/run
rm -rf "$RUN"
mkdir -p "$RUN"

# ---------------------------------------------------------------- processes, cleanup
declare -a STARTED=()   # pids of every process group this script started
declare -A PID=()       # name -> pid
FAILURES=()
REC=$BENCH_DIR/record   # configs and logs of the recording

cleanup() {
  local rc=$? pid i
  trap - EXIT INT TERM
  for pid in "${STARTED[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true; done
  for ((i = 0; i < 30; i++)); do
    local alive=0
    for pid in "${STARTED[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for pid in "${STARTED[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -f "$PCAP.part"
  exit "$rc"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

fail() { say "FAILED: $*"; FAILURES+=("$*"); }

# start NAME CMD...: run CMD in its own session/process group, output to $REC/NAME.log.
start() {
  local name=$1
  shift
  setsid "$@" </dev/null >"$REC/$name.log" 2>&1 &
  PID[$name]=$!
  STARTED+=("$!")
}

# stop NAME [SIGNAL]: stop one started process group and wait for it.
stop() {
  local pid=${PID[$1]:-} sig=${2:-TERM} i
  [[ -n $pid ]] || return 0
  kill "-$sig" -- "-$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  unset "PID[$1]"
}

meta_get() { sed -n "s/^$1=//p" "$PCAP_META" | head -n 1; }

# ---------------------------------------------------------------- recording
record_capture() {
  rm -rf "$REC" "$PCAP" "$PCAP_META"
  mkdir -p "$REC/nginx-tmp"
  local ports p13 p12 sni13=tls13.bench.test sni12=tls12.bench.test n13 n12 user=""
  mapfile -t ports < <("${PTOOLS[@]}" ports 2)
  ((${#ports[@]} == 2)) || { say "could not find free ports"; exit 1; }
  p13=${ports[0]} p12=${ports[1]}
  n13=$((HANDSHAKES / 2)) n12=$((HANDSHAKES - HANDSHAKES / 2))
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=bench.test" -addext "subjectAltName=DNS:$sni13,DNS:$sni12" \
    -keyout "$REC/key.pem" -out "$REC/cert.pem" >"$REC/openssl.log" 2>&1 ||
    { say "openssl could not make a certificate:"; cat "$REC/openssl.log" >&2; exit 1; }
  ((EUID == 0)) && user="user root;"
  # keepalive_timeout 0: nginx answers `Connection: close`, so every request is a new connection
  # (h2load --h1 reconnects for the next one).
  cat >"$REC/nginx.conf" <<EOF
$user
worker_processes auto;
pid $REC/nginx.pid;
error_log $REC/nginx.err warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $REC/nginx-tmp/body;
  proxy_temp_path $REC/nginx-tmp/proxy;
  fastcgi_temp_path $REC/nginx-tmp/fastcgi;
  uwsgi_temp_path $REC/nginx-tmp/uwsgi;
  scgi_temp_path $REC/nginx-tmp/scgi;
  keepalive_timeout 0;
  ssl_certificate $REC/cert.pem;
  ssl_certificate_key $REC/key.pem;
  ssl_session_cache off;
  ssl_session_tickets off;
  server {
    listen 127.0.0.1:$p13 ssl backlog=4096;
    server_name $sni13;
    ssl_protocols TLSv1.3;
    location / { return 200 "ok\n"; }
  }
  server {
    listen 127.0.0.1:$p12 ssl backlog=4096;
    server_name $sni12;
    ssl_protocols TLSv1.2;
    location / { return 200 "ok\n"; }
  }
}
EOF
  start nginx nginx -p "$REC" -e "$REC/nginx.err" -c "$REC/nginx.conf" -g 'daemon off;'
  for p in "$p13" "$p12"; do
    "${PTOOLS[@]}" waitport "$p" 10 "${PID[nginx]}" ||
      { say "nginx did not start:"; tail -n 20 "$REC/nginx.log" "$REC/nginx.err" >&2 || true; exit 1; }
  done

  # -Z root: tcpdump would otherwise drop to the tcpdump user, who may not write in BENCH_DIR.
  local filter="tcp port $p13 or tcp port $p12" i
  start tcpdump tcpdump -i lo -n -s 0 -B 131072 -Z root -w "$PCAP.part" "$filter"
  for ((i = 0; i < 50; i++)); do
    grep -q 'listening on' "$REC/tcpdump.log" 2>/dev/null && break
    kill -0 "${PID[tcpdump]}" 2>/dev/null || break
    sleep 0.1
  done
  grep -q 'listening on' "$REC/tcpdump.log" ||
    { say "tcpdump did not start:"; cat "$REC/tcpdump.log" >&2; exit 1; }
  sleep 1

  local t0 t1 run port sni n s f line limit ok=0 bad=0 detail=()
  t0=$(date +%s.%N)
  for run in 13 12; do
    if [[ $run == 13 ]]; then port=$p13 sni=$sni13 n=$n13; else port=$p12 sni=$sni12 n=$n12; fi
    say "recording: $n new TLS 1.${run#1} connections to 127.0.0.1:$port ($CLIENT, $CONC at a time)"
    if [[ $CLIENT == h2load ]]; then
      timeout 900 h2load --h1 -n "$n" -c "$CONC" -t 1 --connect-to "127.0.0.1:$port" \
        "https://$sni/" >"$REC/client-$run.txt" 2>&1 || true
      # requests: 10000 total, 10000 started, 10000 done, 10000 succeeded, 0 failed, 0 errored, 0 timeout
      line=$(grep -m1 '^requests:' "$REC/client-$run.txt" || true)
      s=$(sed -n 's/.* \([0-9]*\) succeeded.*/\1/p' <<<"$line") f=$(sed -n 's/.* \([0-9]*\) failed.*/\1/p' <<<"$line")
      [[ -n $s ]] || { tail -n 15 "$REC/client-$run.txt" >&2; s=0 f=$n; }
    else
      limit=()
      [[ $run == 12 ]] && limit=(tls1.2)
      timeout 900 "${TOOLS[@]}" client "$port" "$sni" "$n" "$CONC" "${limit[@]}" \
        >"$REC/client-$run.json" 2>"$REC/client-$run.err" || true
      s=$("${TOOLS[@]}" get "$REC/client-$run.json" ok 2>/dev/null || echo 0)
      f=$((n - s))
      ((s)) || cat "$REC/client-$run.err" >&2
    fi
    ok=$((ok + s)) bad=$((bad + f))
    detail+=("TLS 1.${run#1}: $s ok, $f failed")
  done
  t1=$(date +%s.%N)
  sleep 1
  stop tcpdump INT   # SIGINT: tcpdump flushes the file and prints its counts
  stop nginx
  # 123456 packets captured / 123456 packets received by filter / 0 packets dropped by kernel
  local captured dropped
  captured=$(sed -n 's/^\([0-9]*\) packets\{0,1\} captured.*/\1/p' "$REC/tcpdump.log")
  dropped=$(sed -n 's/^\([0-9]*\) packets\{0,1\} dropped by kernel.*/\1/p' "$REC/tcpdump.log")
  [[ -n $captured && -n $dropped ]] ||
    { say "tcpdump printed no counts:"; cat "$REC/tcpdump.log" >&2; exit 1; }
  say "recorded: $ok connections succeeded, $bad failed (${detail[0]}; ${detail[1]});" \
    "tcpdump: $captured packets captured, $dropped dropped by kernel"
  if ((dropped != 0)); then
    say "tcpdump dropped $dropped packets: the capture is incomplete and not kept (try again on a quieter machine)"
    exit 1
  fi
  ((ok)) || { say "no connection succeeded; not keeping the capture"; exit 1; }
  mv "$PCAP.part" "$PCAP"
  cat >"$PCAP_META" <<EOF
date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
client=$CLIENT
client_version=$(if [[ $CLIENT == h2load ]]; then h2load --version 2>&1 | head -n 1; else python3 -c 'import ssl,sys; print(f"Python {sys.version.split()[0]}, {ssl.OPENSSL_VERSION}")'; fi)
nginx=$(nginx -v 2>&1 | head -n 1)
requested=$HANDSHAKES
succeeded=$ok
failed=$bad
detail=${detail[0]}; ${detail[1]}
seconds=$(python3 -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.1f}")' "$t0" "$t1")
ports=$p13 (TLS 1.3 only, SNI $sni13), $p12 (TLS 1.2 only, SNI $sni12)
port13=$p13
port12=$p12
tcpdump=$(tcpdump --version 2>&1 | head -n 1)
tcpdump_cmd=tcpdump -i lo -n -s 0 -B 131072 -Z root -w FILE '$filter'
packets=$captured
dropped=$dropped
EOF
}

if ((RECORD)); then
  record_capture
else
  say "reusing $PCAP (recorded $(meta_get date); --fresh records a new one)"
fi
REQUESTED=$(meta_get requested)
SUCCEEDED=$(meta_get succeeded)
((RECORD)) || [[ $REQUESTED == "$HANDSHAKES" ]] ||
  say "note: the cached capture has $REQUESTED connections, not $HANDSHAKES (--fresh records anew)"
PACKETS=$(meta_get packets)
DROPPED=$(meta_get dropped)
FILE_BYTES=$(stat -c %s "$PCAP")

# ---------------------------------------------------------------- timing
PIN=(taskset -c "$CPU")
CAT_CMD=(cat "$PCAP")
TLSGLASS_CMD=("$BIN" replay "$PCAP")
# -d: the servers' ports are TLS. Without it tshark hands connections from client ports that
# Wireshark has registered for other protocols (44818 EtherNet/IP, 48898 ADS, ...) to those
# dissectors, which never see the ClientHello (6 of 20,000 in one run).
TSHARK_CMD=(tshark -r "$PCAP" -d "tcp.port==$(meta_get port13),tls" -d "tcp.port==$(meta_get port12),tls"
  -T fields "${TSHARK_FIELDS[@]}" -Y tls.handshake.type==1)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# timed NAME OUT CMD...: one run, pinned; appends its JSON to $RUN/times-NAME.jsonl.
timed() {
  local name=$1 out=$2 t rc
  shift 2
  t=$("${TOOLS[@]}" time "$out" "$RUN/$name.err" "${PIN[@]}" "$@") || { fail "$name: could not be timed"; return 1; }
  rc=$("${TOOLS[@]}" get "$t" rc)
  if ((rc != 0)); then
    fail "$name exited with status $rc (see $RUN/$name.err)"
    tail -n 5 "$RUN/$name.err" >&2 || true
    return 1
  fi
  echo "$t" >>"$RUN/times-$name.jsonl"
  say "  $name: $("${TOOLS[@]}" brief "$t")"
}

say "timing on $((FILE_BYTES / 1000000)) MB, pinned to CPU $CPU, load average $LOAD_BEFORE"
cat "$PCAP" >/dev/null   # into the page cache
for ((r = 1; r <= REPS; r++)); do timed cat /dev/null "${CAT_CMD[@]}" || break; done
for ((r = 1; r <= REPS; r++)); do timed tlsglass "$RUN/out.jsonl" "${TLSGLASS_CMD[@]}" || break; done
timed tshark "$RUN/tshark.tsv" "${TSHARK_CMD[@]}" || true
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- checks
HELLOS=0
if [[ -s $RUN/out.jsonl ]]; then
  "${TOOLS[@]}" records "$RUN/out.jsonl" >"$RUN/records.json"
  HELLOS=$("${TOOLS[@]}" get "$RUN/records.json" hellos)
  ((HELLOS >= SUCCEEDED)) ||
    fail "tlsglass found $HELLOS ClientHellos, the client made $SUCCEEDED successful connections ($(meta_get detail))"
  ((HELLOS >= 20000)) || say "note: $HELLOS handshakes, fewer than the issue's 20000"
else
  fail "tlsglass wrote no records"
  echo '{"records": 0, "hellos": 0, "causes": {}, "versions": {}, "sni": {}, "ja3": {}}' >"$RUN/records.json"
fi
if [[ -f $RUN/tshark.tsv && -f $RUN/times-tshark.jsonl ]]; then
  "${TOOLS[@]}" tshark "$RUN/tshark.tsv" >"$RUN/tshark.json"
  "${TOOLS[@]}" compare "$RUN/records.json" "$RUN/tshark.json" "$HAVE_JA3" >"$RUN/compare.txt" ||
    fail "tlsglass's and tshark's SNI$( ((HAVE_JA3)) && echo '/JA3') values differ (see $RUN/compare.txt)"
fi
((DROPPED == 0)) || fail "tcpdump dropped $DROPPED packets while recording"

# ---------------------------------------------------------------- report
first_line() { "$@" 2>&1 | grep -m1 -v -e '^\s*$' -e '^Running as user' || true; }
quote() {  # a command line as one would type it
  local out="" a
  for a in "$@"; do
    [[ $a =~ ^[][A-Za-z0-9_./=:,@%+-]+$ ]] || a="'${a//\'/\'\\\'\'}'"
    out+="${out:+ }$a"
  done
  echo "$out"
}
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "command: bench/replay.sh$( ((${#ARGS_GIVEN[@]})) && printf ' %q' "${ARGS_GIVEN[@]}")  (BENCH_DIR=$BENCH_DIR)"
  "${PTOOLS[@]}" machine | grep -v '^load average'
  echo "load average (1/5/15 min): $LOAD_BEFORE before the timed runs, $LOAD_AFTER after"
  echo "tlsglass: $(first_line "$BIN" --version) ($BIN), build type $BUILDTYPE"
  echo "tshark: $(first_line tshark -v)"
  echo "cat: $(first_line cat --version)"
  echo "capture: $PCAP, recorded $(meta_get date) with $(meta_get client) ($(meta_get client_version))"
  echo "  to $(meta_get nginx), ports $(meta_get ports)"
  echo "  $(meta_get requested) connections ($(meta_get detail)) in $(meta_get seconds) s"
  echo "  $(meta_get tcpdump): $(meta_get tcpdump_cmd)"
  echo "  $(meta_get packets) packets captured, $(meta_get dropped) dropped by kernel"
  echo "timed commands (each pinned: $(quote "${PIN[@]}")):"
  echo "  $(quote "${CAT_CMD[@]}") > /dev/null                       ($REPS runs)"
  echo "  $(quote "${TLSGLASS_CMD[@]}") > $RUN/out.jsonl   ($REPS runs)"
  echo "  $(quote "${TSHARK_CMD[@]}") > $RUN/tshark.tsv   (1 run)"
} >"$RUN/meta.txt"
python3 - "$RUN/facts.json" "$FILE_BYTES" "$PACKETS" "$CPU" "$TSHARK_LABEL" <<'EOF'
import json, sys
fn, size, packets, cpu, label = sys.argv[1:]
json.dump({"file_bytes": int(size), "packets": f"{int(packets):,}", "cpu": int(cpu),
           "tshark_fields": label}, open(fn, "w"))
EOF
{
  "${TOOLS[@]}" report "$RUN"
  if ((${#FAILURES[@]})); then
    echo
    echo "FAILURES:"
    printf -- '- %s\n' "${FAILURES[@]}"
  fi
} >"$RUN/report.md"
cat "$RUN/report.md"
[[ -n $OUT ]] && cp "$RUN/report.md" "$OUT"
((${#FAILURES[@]} == 0)) || exit 1
exit 0
