#!/usr/bin/env bash
# bench/proxy.sh — tlsglass against haproxy, nginx stream and socat, side by side, on loopback.
#
#   bench/proxy.sh                 the full run (a few minutes)
#   bench/proxy.sh --quick         a smoke run: short durations, few connections (a minute or so)
#
# Options:
#   --quick          short durations and fewer connections; the figures are rough
#   --bin PATH       tlsglass binary (default: build/src/tlsglass under the source root)
#   --workers N      threads/processes for every proxy: haproxy nbthread, nginx worker_processes,
#                    tlsglass --workers (default 1; socat forks one process per connection, always)
#   --peers LIST     comma-separated subset of direct,tlsglass,tlsglass-transparent,
#                    tlsglass-socks5,haproxy,nginx,socat (default: all)
#   --idle N         idle connections held open for the memory figure (default 5000, --quick 500)
#   --out FILE       also write the final report (Markdown) to FILE
#   --keep           keep the temporary directory (configs, logs, raw tool outputs)
#   -h, --help       this text
#
# What it measures, for each peer (README.md beside this file says how, and what each figure means):
# bulk throughput with iperf3 (1 and 8 streams), new TLS handshakes per second to an nginx HTTPS
# origin (h2load, one request per connection), round-trip latency p50/p99 and what the proxy adds,
# proxy CPU µs per connection (from /proc/PID/stat), RSS per idle connection. Everything listens on
# 127.0.0.1 only and runs from a temporary directory; every process it started is stopped on exit.
#
# tlsglass is measured in three modes: forward (--upstream, the others' set-up), transparent
# (the clients connect to the upstreams themselves; an iptables nat OUTPUT REDIRECT rule, added
# only while that peer is measured and removed after, sends them to the proxy, which exempts its
# own connections with --upstream-mark) and socks5 (the clients run under proxychains4, which
# speaks SOCKS5 to the proxy inside connect()). Transparent needs root and iptables.
#
# Not a test: the figures are printed, never judged. Exit status: 0 when every peer started and
# every measurement produced a number; 1 otherwise (the report still shows what was measured);
# 2 on a usage error or when a tool is missing (with the apt-get line that installs it).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
TOOLS=(python3 "$HERE/proxy_tools.py")

QUICK=0
BIN=$ROOT/build/src/tlsglass
WORKERS=1
PEERS_ARG=direct,tlsglass,tlsglass-transparent,tlsglass-socks5,haproxy,nginx,socat
ALL_PEERS=(direct tlsglass tlsglass-transparent tlsglass-socks5 haproxy nginx socat)
MARK=0x7a61  # --upstream-mark of the transparent peer: its REDIRECT rule lets these by
IDLE=""
OUT=""
KEEP=0

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }
say() { printf 'bench: %s\n' "$*" >&2; }
usage_error() { say "usage error: $*"; exit 2; }

while (($#)); do
  case $1 in
    --quick) QUICK=1 ;;
    --bin) [[ $# -ge 2 ]] || usage_error "--bin needs a path"; BIN=$2; shift ;;
    --bin=*) BIN=${1#*=} ;;
    --workers) [[ $# -ge 2 ]] || usage_error "--workers needs a number"; WORKERS=$2; shift ;;
    --workers=*) WORKERS=${1#*=} ;;
    --peers) [[ $# -ge 2 ]] || usage_error "--peers needs a list"; PEERS_ARG=$2; shift ;;
    --peers=*) PEERS_ARG=${1#*=} ;;
    --idle) [[ $# -ge 2 ]] || usage_error "--idle needs a number"; IDLE=$2; shift ;;
    --idle=*) IDLE=${1#*=} ;;
    --out) [[ $# -ge 2 ]] || usage_error "--out needs a file"; OUT=$2; shift ;;
    --out=*) OUT=${1#*=} ;;
    --keep) KEEP=1 ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown argument '$1' (see --help)" ;;
  esac
  shift
done
[[ $WORKERS =~ ^[1-9][0-9]*$ ]] || usage_error "--workers wants a positive integer, not '$WORKERS'"
[[ -z $IDLE || $IDLE =~ ^[1-9][0-9]*$ ]] || usage_error "--idle wants a positive integer, not '$IDLE'"

PEERS=()
IFS=, read -r -a _peers <<<"$PEERS_ARG"
for p in "${ALL_PEERS[@]}"; do  # canonical order, whatever the order given
  for q in "${_peers[@]}"; do [[ $q == "$p" ]] && PEERS+=("$p") && break; done
done
for q in "${_peers[@]}"; do
  case " ${ALL_PEERS[*]} " in *" $q "*) ;; *) usage_error "unknown peer '$q'" ;; esac
done
((${#PEERS[@]})) || usage_error "--peers names no peer"
has_peer() { local p; for p in "${PEERS[@]}"; do [[ $p == "$1" ]] && return 0; done; return 1; }

# Sizes of the run.
if ((QUICK)); then
  IPERF_SECS=1 IPERF_OMIT=0 LAT_COUNT=2000 HS_CONC=50 HS_ROUNDS=6 IDLE=${IDLE:-500}
else
  IPERF_SECS=5 IPERF_OMIT=1 LAT_COUNT=20000 HS_CONC=100 HS_ROUNDS=100 IDLE=${IDLE:-5000}
fi
LAT_SIZE=64
NPROC=$(nproc)
H2LOAD_THREADS=$((NPROC < 4 ? NPROC : 4))

# ---------------------------------------------------------------- tools
PATH=$PATH:/usr/sbin:/sbin
NGINX_STREAM_SO=/usr/lib/nginx/modules/ngx_stream_module.so
missing=() packages=()
need() {  # need COMMAND PACKAGE
  command -v "$1" >/dev/null 2>&1 && return 0
  missing+=("$1") && packages+=("$2")
}
need python3 python3
need openssl openssl
need nginx nginx-light         # the HTTPS origin, and the nginx peer
need iperf3 iperf3
need h2load nghttp2-client
has_peer haproxy && need haproxy haproxy
has_peer socat && need socat socat
has_peer tlsglass-socks5 && need proxychains4 proxychains4
if has_peer tlsglass-transparent; then
  need iptables iptables
  if ((EUID != 0)); then
    say "tlsglass-transparent needs root (iptables nat rules): run as root or leave it out with --peers"
    exit 2
  fi
fi
if has_peer nginx && [[ ! -f $NGINX_STREAM_SO ]]; then
  missing+=("$NGINX_STREAM_SO") && packages+=(libnginx-mod-stream)
fi
if ((${#missing[@]})); then
  say "missing: ${missing[*]}"
  say "install with: apt-get install ${packages[*]}"
  exit 2
fi
if has_peer tlsglass || has_peer tlsglass-transparent || has_peer tlsglass-socks5; then
  if [[ ! -x $BIN ]]; then
    say "tlsglass binary not found at $BIN (build it: meson setup build && ninja -C build; or pass --bin PATH)"
    exit 2
  fi
  BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
fi

# ---------------------------------------------------------------- limits, temp dir, cleanup
# Every proxy holds two sockets per idle connection; raise the soft limit as far as allowed.
NEED_FDS=$((IDLE * 2 + 1024))
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
[[ $NOFILE == unlimited ]] && NOFILE=1048576
if ((NOFILE < NEED_FDS)); then
  say "RLIMIT_NOFILE is $NOFILE (hard $(ulimit -Hn)), $IDLE idle connections need $NEED_FDS:" \
    "raise the hard limit (ulimit -Hn, as root) or pass --idle $(((NOFILE - 1024) / 2))"
  exit 2
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tlsglass-bench.XXXXXX")
RESULTS=$WORK/results.txt
: >"$RESULTS"
declare -a STARTED=()   # pids of every process group this script started
declare -A PID=()       # name -> pid
FAILURES=()

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
  redirect_off
  if ((KEEP)) || ((rc != 0)); then
    say "kept $WORK (configs, logs, raw outputs)"
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

fail() { say "FAILED: $*"; FAILURES+=("$*"); }

# start NAME CMD...: run CMD in its own session/process group (so that cleanup can stop it and
# every child it forks), output to $WORK/NAME.log.
start() {
  local name=$1
  shift
  setsid "$@" </dev/null >"$WORK/$name.log" 2>&1 &
  PID[$name]=$!
  STARTED+=("$!")
}

# wait_port NAME PORT: NAME's process must accept on 127.0.0.1:PORT within 10 s.
wait_port() {
  if ! "${TOOLS[@]}" waitport "$2" 10 "${PID[$1]}"; then
    say "---- $WORK/$1.log ----"
    tail -n 20 "$WORK/$1.log" >&2 || true
    return 1
  fi
}

# stop NAME: stop one started process group (and forget it).
stop() {
  local pid=${PID[$1]:-} i
  [[ -n $pid ]] || return 0
  kill -TERM -- "-$pid" 2>/dev/null || true
  for ((i = 0; i < 30; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  unset "PID[$1]"
}

jget() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

# record PEER METRIC VALUE: VALUE must be a number.
record() {
  if [[ $3 =~ ^[-+]?[0-9]+([.][0-9]+)?([eE][-+]?[0-9]+)?$ ]]; then
    echo "$1 $2 $3" >>"$RESULTS"
  else
    fail "$1: $2 produced no number (got '${3:-nothing}')"
  fi
}

# ---------------------------------------------------------------- ports and certificate
mapfile -t PORTS < <("${TOOLS[@]}" ports 21)
((${#PORTS[@]} == 21)) || { say "could not find free ports"; exit 1; }
UP_IPERF=${PORTS[0]} UP_TLS=${PORTS[1]} UP_ECHO=${PORTS[2]}
declare -A PORT=(
  [direct,iperf]=$UP_IPERF [direct,tls]=$UP_TLS [direct,echo]=$UP_ECHO
  [tlsglass,iperf]=${PORTS[3]} [tlsglass,tls]=${PORTS[4]} [tlsglass,echo]=${PORTS[5]}
  [haproxy,iperf]=${PORTS[6]} [haproxy,tls]=${PORTS[7]} [haproxy,echo]=${PORTS[8]}
  [nginx,iperf]=${PORTS[9]} [nginx,tls]=${PORTS[10]} [nginx,echo]=${PORTS[11]}
  [socat,iperf]=${PORTS[12]} [socat,tls]=${PORTS[13]} [socat,echo]=${PORTS[14]}
  [tlsglass-transparent,iperf]=${PORTS[15]} [tlsglass-transparent,tls]=${PORTS[16]}
  [tlsglass-transparent,echo]=${PORTS[17]}
  [tlsglass-socks5,iperf]=${PORTS[18]} [tlsglass-socks5,tls]=${PORTS[19]} [tlsglass-socks5,echo]=${PORTS[20]}
)
declare -A UP=([iperf]=$UP_IPERF [tls]=$UP_TLS [echo]=$UP_ECHO)

# Where a peer's clients connect: the proxy's listener, except for transparent and socks5,
# whose clients address the upstream itself (the kernel, or the SOCKS5 request, takes them to
# the proxy).
client_port() {
  case $1 in
    tlsglass-transparent | tlsglass-socks5) echo "${UP[$2]}" ;;
    *) echo "${PORT[$1,$2]}" ;;
  esac
}

# via PEER WHAT CMD...: run a client of PEER's WHAT listener; socks5's under proxychains4.
via() {
  local peer=$1 what=$2
  shift 2
  if [[ $peer == tlsglass-socks5 ]]; then
    proxychains4 -q -f "$WORK/proxychains-$what.conf" "$@"
  else
    "$@"
  fi
}

# redirect_on / redirect_off: the transparent peer's nat OUTPUT rules, one per listener, only
# while it is measured (they would catch every other peer's upstream traffic too).
REDIRECTING=0
redirect_rules() {  # redirect_rules -A|-D
  local what
  for what in iperf tls echo; do
    iptables -w -t nat "$1" OUTPUT -p tcp -d 127.0.0.1 --dport "${UP[$what]}" \
      -m mark ! --mark "$MARK" -j REDIRECT --to-ports "${PORT[tlsglass-transparent,$what]}"
  done
}
redirect_on() {
  [[ $1 == tlsglass-transparent ]] || return 0
  redirect_rules -A && REDIRECTING=1
}
redirect_off() {
  ((REDIRECTING)) || return 0
  redirect_rules -D 2>/dev/null || true
  REDIRECTING=0
}
SNI=bench.test
mkdir -p "$WORK/nginx-tmp"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj "/CN=$SNI" -addext "subjectAltName=DNS:$SNI" \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" >"$WORK/openssl.log" 2>&1 ||
  { say "openssl could not make a certificate:"; cat "$WORK/openssl.log" >&2; exit 1; }

NGINX_USER=""
((EUID == 0)) && NGINX_USER="user root;"   # workers need the temp dir, which is mode 0700

# ---------------------------------------------------------------- upstreams
# HTTPS origin: nginx, TLS 1.2/1.3, ECDSA P-256, no session resumption (every handshake is full),
# a 3-byte answer. Keep-alive is long so that the idle connections stay open.
cat >"$WORK/origin.conf" <<EOF
$NGINX_USER
worker_processes auto;
worker_rlimit_nofile $NOFILE;
pid $WORK/origin.pid;
error_log $WORK/origin.err warn;
events { worker_connections $((IDLE + 1024)); }
http {
  access_log off;
  client_body_temp_path $WORK/nginx-tmp/body;
  proxy_temp_path $WORK/nginx-tmp/proxy;
  fastcgi_temp_path $WORK/nginx-tmp/fastcgi;
  uwsgi_temp_path $WORK/nginx-tmp/uwsgi;
  scgi_temp_path $WORK/nginx-tmp/scgi;
  keepalive_timeout 600s;
  keepalive_requests 100000;
  server {
    listen 127.0.0.1:$UP_TLS ssl backlog=4096;
    server_name $SNI;
    ssl_certificate $WORK/cert.pem;
    ssl_certificate_key $WORK/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache off;
    ssl_session_tickets off;
    location / { return 200 "ok\n"; }
  }
}
EOF
start origin nginx -p "$WORK" -e "$WORK/origin.err" -c "$WORK/origin.conf" -g 'daemon off;'
start iperf3 iperf3 -s -4 -B 127.0.0.1 -p "$UP_IPERF"
start echo "${TOOLS[@]}" echo-server "$UP_ECHO"
for n in origin:$UP_TLS iperf3:$UP_IPERF echo:$UP_ECHO; do
  wait_port "${n%%:*}" "${n#*:}" || { say "upstream ${n%%:*} did not start"; exit 1; }
done

# ---------------------------------------------------------------- peers
# Each proxy gets three listeners: iperf (→ iperf3 -s), tls (→ the HTTPS origin, through the
# proxy's SNI inspection where it has one) and echo (→ the echo server, for latency).
# MPID[peer,what] is the process whose tree is measured for CPU (tls) and memory (idle).
declare -A MPID=()
STARTED_PEERS=()

start_haproxy() {
  cat >"$WORK/haproxy.cfg" <<EOF
global
  nbthread $WORKERS
  maxconn $((IDLE + 512))
defaults
  mode tcp
  timeout connect 5s
  timeout client 10m
  timeout server 10m
  maxconn $((IDLE + 512))
frontend fe_iperf
  bind 127.0.0.1:${PORT[haproxy,iperf]}
  default_backend be_iperf
frontend fe_echo
  bind 127.0.0.1:${PORT[haproxy,echo]}
  default_backend be_echo
frontend fe_tls
  bind 127.0.0.1:${PORT[haproxy,tls]}
  tcp-request inspect-delay 5s
  tcp-request content accept if { req.ssl_hello_type 1 }
  use_backend be_tls if { req.ssl_sni -i $SNI }
  default_backend be_nowhere
backend be_iperf
  server s1 127.0.0.1:$UP_IPERF
backend be_echo
  server s1 127.0.0.1:$UP_ECHO
backend be_tls
  server s1 127.0.0.1:$UP_TLS
backend be_nowhere
  server s1 127.0.0.1:1
EOF
  start haproxy haproxy -db -f "$WORK/haproxy.cfg"
  MPID[haproxy,tls]=haproxy MPID[haproxy,echo]=haproxy MPID[haproxy,iperf]=haproxy
}

start_nginx() {
  cat >"$WORK/nginx-stream.conf" <<EOF
load_module $NGINX_STREAM_SO;
$NGINX_USER
worker_processes $WORKERS;
worker_rlimit_nofile $NOFILE;
pid $WORK/nginx-stream.pid;
error_log $WORK/nginx-stream.err warn;
events { worker_connections $NEED_FDS; }
stream {
  map \$ssl_preread_server_name \$tls_upstream {
    $SNI 127.0.0.1:$UP_TLS;
    default 127.0.0.1:1;
  }
  server { listen 127.0.0.1:${PORT[nginx,iperf]} backlog=4096; proxy_pass 127.0.0.1:$UP_IPERF; }
  server { listen 127.0.0.1:${PORT[nginx,echo]} backlog=4096; proxy_pass 127.0.0.1:$UP_ECHO; }
  server {
    listen 127.0.0.1:${PORT[nginx,tls]} backlog=4096;
    ssl_preread on;
    proxy_pass \$tls_upstream;
  }
}
EOF
  start nginx nginx -p "$WORK" -e "$WORK/nginx-stream.err" -c "$WORK/nginx-stream.conf" -g 'daemon off;'
  MPID[nginx,tls]=nginx MPID[nginx,echo]=nginx MPID[nginx,iperf]=nginx
}

start_socat() {
  local what up
  for what in iperf tls echo; do
    case $what in iperf) up=$UP_IPERF ;; tls) up=$UP_TLS ;; echo) up=$UP_ECHO ;; esac
    start "socat-$what" socat "TCP4-LISTEN:${PORT[socat,$what]},bind=127.0.0.1,fork,reuseaddr,nodelay,backlog=4096" \
      "TCP4:127.0.0.1:$up,nodelay"
    MPID[socat,$what]=socat-$what
  done
}

# start_tlsglass PEER: tlsglass, tlsglass-transparent or tlsglass-socks5, three listeners each.
start_tlsglass() {
  local peer=$1 what mode_args
  for what in iperf tls echo; do
    case $peer in
      tlsglass) mode_args=(--mode forward --upstream "127.0.0.1:${UP[$what]}") ;;
      tlsglass-transparent) mode_args=(--mode transparent --upstream-mark "$((MARK))") ;;
      tlsglass-socks5)
        mode_args=(--mode socks5)
        printf 'strict_chain\nquiet_mode\ntcp_read_time_out 15000\ntcp_connect_time_out 8000\n[ProxyList]\nsocks5 127.0.0.1 %s\n' \
          "${PORT[$peer,$what]}" >"$WORK/proxychains-$what.conf"
        ;;
    esac
    start "$peer-$what" "$BIN" proxy "${mode_args[@]}" \
      --listen "127.0.0.1:${PORT[$peer,$what]}" --log "$WORK/$peer-$what.jsonl" \
      --workers "$WORKERS" --idle-timeout 900
    MPID[$peer,$what]=$peer-$what
  done
}

# tlsglass says when it is ready: one stderr line once every socket is bound.
wait_tlsglass() {
  local peer=$1 what i
  for what in iperf tls echo; do
    for ((i = 0; i < 100; i++)); do
      grep -q '^tlsglass: listening on ' "$WORK/$peer-$what.log" 2>/dev/null && break
      kill -0 "${PID[$peer-$what]}" 2>/dev/null || break
      sleep 0.1
    done
    if ! grep -q '^tlsglass: listening on ' "$WORK/$peer-$what.log" 2>/dev/null; then
      say "---- $WORK/$peer-$what.log ----"
      tail -n 20 "$WORK/$peer-$what.log" >&2 || true
      return 1
    fi
    wait_port "$peer-$what" "${PORT[$peer,$what]}" || return 1
  done
}

MEASURED=()
for p in "${PEERS[@]}"; do
  case $p in
    direct) MEASURED+=(direct); continue ;;
    haproxy) start_haproxy ;;
    nginx) start_nginx ;;
    socat) start_socat ;;
    tlsglass*) start_tlsglass "$p" ;;
  esac
  ok=1
  if [[ $p == tlsglass* ]]; then
    wait_tlsglass "$p" || ok=0
  else
    for what in iperf tls echo; do wait_port "${MPID[$p,$what]}" "${PORT[$p,$what]}" || { ok=0; break; }; done
  fi
  if ((ok)); then MEASURED+=("$p"); else fail "$p did not start"; fi
done
say "peers up: ${MEASURED[*]:-none} (workers: $WORKERS)"
pid_of() { echo "${PID[${MPID[$1,$2]}]}"; }

# ---------------------------------------------------------------- machine and versions
first_line() { "$@" 2>&1 | grep -m1 -v '^\s*$' || true; }
{
  echo "## tlsglass proxy benchmark$( ((QUICK)) && echo ' (--quick: rough figures)')"
  echo
  echo '```'
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  "${TOOLS[@]}" machine
  has_peer tlsglass && echo "tlsglass: $(first_line "$BIN" --version) ($BIN)"
  has_peer tlsglass-transparent && echo "tlsglass-transparent: iptables -t nat OUTPUT REDIRECT to it while measured, --upstream-mark $MARK exempted"
  has_peer tlsglass-socks5 && echo "tlsglass-socks5: clients under proxychains4 $(dpkg-query -W -f='${Version}' proxychains4 2>/dev/null || echo '(version unknown)')"
  has_peer haproxy && echo "haproxy: $(first_line haproxy -v)"
  echo "nginx: $(first_line nginx -v)"
  has_peer socat && echo "socat: $(socat -V 2>&1 | grep -m1 'socat version' || true)"
  echo "iperf3: $(first_line iperf3 --version)"
  echo "h2load: $(first_line h2load --version)"
  echo "openssl: $(first_line openssl version)"
  echo "python: $(first_line python3 --version)"
  echo "workers per proxy: $WORKERS (haproxy nbthread, nginx worker_processes, tlsglass --workers;"
  echo "  socat: one process per connection, by design); HTTPS origin: nginx, worker_processes auto"
  echo "origin TLS: ECDSA P-256 certificate, TLS 1.2/1.3, no session resumption; SNI $SNI"
  has_peer haproxy && echo "haproxy TLS frontend: tcp-request inspect-delay 5s, routed on req.ssl_sni"
  has_peer nginx && echo "nginx TLS server: stream ssl_preread on, routed on \$ssl_preread_server_name (map)"
  echo "throughput: iperf3 -t $IPERF_SECS -O $IPERF_OMIT, -P 1 and -P 8"
  echo "handshakes: $HS_ROUNDS rounds of h2load --h1 -n $HS_CONC -c $HS_CONC -t $H2LOAD_THREADS (1 request per connection)"
  echo "latency: $LAT_COUNT round trips of $LAT_SIZE bytes over one connection (TCP_NODELAY)"
  echo "idle: $IDLE TLS connections held open (one request each, then idle)"
  echo '```'
} >"$WORK/meta.md"

# ---------------------------------------------------------------- measurements
# Metric-major: every peer is measured for one figure before the next figure, so that a change in
# background load affects all peers alike.

say "latency: $LAT_COUNT round trips of $LAT_SIZE bytes"
for p in "${MEASURED[@]}"; do
  f=$WORK/latency-$p.json
  redirect_on "$p"
  if via "$p" echo timeout 300 "${TOOLS[@]}" pingpong "$(client_port "$p" echo)" "$LAT_COUNT" "$LAT_SIZE" >"$f" 2>"$f.err"; then
    redirect_off
    record "$p" rtt50 "$(jget "$f" p50_us)"
    record "$p" rtt99 "$(jget "$f" p99_us)"
    say "  $p: p50 $(jget "$f" p50_us) µs, p99 $(jget "$f" p99_us) µs"
  else
    redirect_off
    cat "$f.err" >&2
    fail "$p: latency produced no number"
  fi
done

for streams in 1 8; do
  say "throughput: iperf3, $streams stream(s), ${IPERF_SECS}s"
  for p in "${MEASURED[@]}"; do
    f=$WORK/iperf-$p-P$streams.json
    redirect_on "$p"
    via "$p" iperf timeout $((IPERF_SECS + IPERF_OMIT + 30)) iperf3 -4 -c 127.0.0.1 -p "$(client_port "$p" iperf)" \
      -t "$IPERF_SECS" -O "$IPERF_OMIT" -P "$streams" -J >"$f" 2>"$f.err" || true
    redirect_off
    if v=$("${TOOLS[@]}" iperf "$f" 2>"$f.err2"); then
      record "$p" "tput$streams" "$v"
      say "  $p: $v Gbit/s"
    else
      cat "$f.err2" "$f.err" >&2
      fail "$p: throughput ($streams streams) produced no number"
    fi
    sleep 0.3  # let iperf3 -s go back to listening
  done
done

say "handshakes: $HS_ROUNDS x $HS_CONC new TLS connections (h2load, one request each)"
for p in "${MEASURED[@]}"; do
  url=https://$SNI/
  args=(--h1 -n "$HS_CONC" -c "$HS_CONC" -t "$H2LOAD_THREADS" --connect-to "127.0.0.1:$(client_port "$p" tls)")
  redirect_on "$p"
  via "$p" tls timeout 60 h2load "${args[@]}" "$url" >"$WORK/h2load-$p-warmup.txt" 2>&1 || true
  sleep 0.3
  [[ $p != direct ]] && cpu0=$("${TOOLS[@]}" cputicks "$(pid_of "$p" tls)")
  files=()
  for ((r = 0; r < HS_ROUNDS; r++)); do
    f=$WORK/h2load-$p-$r.txt
    via "$p" tls timeout 60 h2load "${args[@]}" "$url" >"$f" 2>&1 || true
    files+=("$f")
  done
  redirect_off
  sleep 0.5  # closes, log records, socat's children reaped
  if ! "${TOOLS[@]}" h2load "${files[@]}" >"$WORK/h2load-$p.json" 2>"$WORK/h2load-$p.err"; then
    cat "$WORK/h2load-$p.err" >&2
    fail "$p: handshakes produced no number"
    continue
  fi
  ok=$(jget "$WORK/h2load-$p.json" succeeded)
  bad=$(($(jget "$WORK/h2load-$p.json" failed) + $(jget "$WORK/h2load-$p.json" errored)))
  if ((ok == 0)); then
    say "---- ${files[-1]} ----"; tail -n 15 "${files[-1]}" >&2
    fail "$p: handshakes produced no number (no request succeeded)"
    continue
  fi
  ((bad)) && say "  $p: warning: $bad of $((ok + bad)) requests failed (see $WORK/h2load-$p-*.txt)"
  rate=$(python3 -c 'import sys; print(f"{float(sys.argv[1]):.1f}")' "$(jget "$WORK/h2load-$p.json" per_s)")
  record "$p" hs "$rate"
  msg="  $p: $rate handshakes/s"
  if [[ $p != direct ]]; then
    cpu1=$("${TOOLS[@]}" cputicks "$(pid_of "$p" tls)")
    cpu=$(python3 -c 'import sys; print(f"{(int(sys.argv[2]) - int(sys.argv[1])) / int(sys.argv[3]):.2f}")' \
      "$cpu0" "$cpu1" "$ok")
    record "$p" cpu "$cpu"
    msg+=", $cpu µs CPU per connection"
  fi
  say "$msg"
done

say "idle: $IDLE TLS connections held open through each proxy"
for p in "${MEASURED[@]}"; do
  [[ $p == direct ]] && continue
  f=$WORK/idle-$p.json
  redirect_on "$p"
  if via "$p" tls timeout 600 "${TOOLS[@]}" hold "$(client_port "$p" tls)" "$IDLE" "$(pid_of "$p" tls)" "$SNI" >"$f" 2>"$f.err"; then
    redirect_off
    record "$p" rss "$(jget "$f" rss_per_conn_bytes)"
    record "$p" pss "$(jget "$f" pss_per_conn_bytes)"
    say "  $p: RSS $(jget "$f" rss_before_kb) -> $(jget "$f" rss_after_kb) KiB in $(jget "$f" procs_after) process(es)"
  else
    redirect_off
    cat "$f.err" >&2
    fail "$p: idle memory produced no number"
  fi
done

# Peers that died during the run.
for p in "${MEASURED[@]}"; do
  [[ $p == direct ]] && continue
  for what in iperf tls echo; do
    kill -0 "$(pid_of "$p" "$what")" 2>/dev/null || fail "$p ($what listener) exited during the run"
  done
done
for p in tlsglass tlsglass-transparent tlsglass-socks5; do
  [[ " ${MEASURED[*]} " == *" $p "* ]] || continue
  for what in iperf tls echo; do stop "$p-$what"; done   # SIGTERM flushes the logs
  echo "$p wrote $(cat "$WORK/$p-tls.jsonl" 2>/dev/null | wc -l) records on its TLS listener" \
    "($(grep -c '"cause":"ok"' "$WORK/$p-tls.jsonl" 2>/dev/null || true) ok) and" \
    "$(cat "$WORK/$p-iperf.jsonl" "$WORK/$p-echo.jsonl" 2>/dev/null | wc -l) on the others" >>"$WORK/notes.txt"
done

# ---------------------------------------------------------------- report
{
  "${TOOLS[@]}" table "$RESULTS" "$WORK/meta.md"
  echo
  echo "Added latency is the peer's round trip minus direct's. CPU is utime+stime (+ reaped children)"
  echo "of the proxy process over the handshake rounds, divided by the connections that succeeded."
  echo "RSS/PSS per idle connection: (after − before) of the proxy's process tree ÷ connections."
  has_peer socat && echo "socat forks a process per connection: its RSS counts each child's shared pages; PSS does not."
  [[ -f $WORK/notes.txt ]] && cat "$WORK/notes.txt"
  if ((${#FAILURES[@]})); then
    echo
    echo "FAILURES:"
    printf -- '- %s\n' "${FAILURES[@]}"
  fi
} >"$WORK/report.md"
cat "$WORK/report.md"
[[ -n $OUT ]] && cp "$WORK/report.md" "$OUT"
((${#FAILURES[@]} == 0)) || exit 1
exit 0
