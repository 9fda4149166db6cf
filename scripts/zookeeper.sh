#!/usr/bin/env bash
# A standalone ZooKeeper for tests and CI, without systemd (Debian's `zookeeper` package).
#
#   scripts/zookeeper.sh start <dir> <port>   writes <dir>/zoo.cfg, starts ZooKeeper on 127.0.0.1:<port>
#                                             in the background (pid in <dir>/zookeeper.pid, log in
#                                             <dir>/zookeeper.log), waits until `ruok` answers `imok`
#                                             and prints the connection string 127.0.0.1:<port>
#   scripts/zookeeper.sh stop <dir>           stops it (TERM, then KILL after 10 s)
#
# Environment: ZK_JAR (default /usr/share/java/zookeeper.jar; its manifest carries the classpath),
# ZK_READY_TIMEOUT_S (default 30).
set -euo pipefail

ZK_JAR=${ZK_JAR:-/usr/share/java/zookeeper.jar}
ZK_CONF_DIR=/etc/zookeeper/conf
READY_TIMEOUT_S=${ZK_READY_TIMEOUT_S:-30}
STOP_TIMEOUT_S=10

usage() {
  echo "usage: $0 start <dir> <port> | stop <dir>" >&2
  exit 2
}

die() {
  echo "zookeeper.sh: $*" >&2
  exit 1
}

# Prints the answer to the four-letter word `ruok` (nothing when the port does not answer).
# bash's /dev/tcp: this machine has no nc.
ruok() {
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1 && printf ruok >&3 && cat <&3" 2>/dev/null || true
}

is_running() {
  [[ -f $1/zookeeper.pid ]] && kill -0 "$(cat "$1/zookeeper.pid")" 2>/dev/null
}

start() {
  local dir=$1 port=$2
  [[ $port =~ ^[0-9]+$ ]] || die "port must be a number, got '$port'"
  command -v java >/dev/null || die "java not found (apt-get install zookeeper pulls it in)"
  [[ -f $ZK_JAR ]] || die "$ZK_JAR not found (apt-get install zookeeper)"
  mkdir -p "$dir/data"
  dir=$(cd "$dir" && pwd)
  is_running "$dir" && die "already running in $dir (pid $(cat "$dir/zookeeper.pid"))"
  [[ -z $(ruok "$port") ]] || die "port $port is already answering ZooKeeper commands"

  cat >"$dir/zoo.cfg" <<CFG
tickTime=2000
dataDir=$dir/data
clientPort=$port
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr
CFG
  # stdin/stdout/stderr detached so that `$(zookeeper.sh start ...)` returns once we print.
  java -Xmx256m -cp "$ZK_CONF_DIR:$ZK_JAR" org.apache.zookeeper.server.ZooKeeperServerMain \
    "$dir/zoo.cfg" </dev/null >"$dir/zookeeper.log" 2>&1 &
  echo $! >"$dir/zookeeper.pid"

  local deadline=$((SECONDS + READY_TIMEOUT_S))
  while ((SECONDS < deadline)); do
    if ! is_running "$dir"; then
      tail -n 20 "$dir/zookeeper.log" >&2 || true
      die "ZooKeeper exited during startup (log: $dir/zookeeper.log)"
    fi
    if [[ $(ruok "$port") == imok ]]; then
      echo "127.0.0.1:$port"
      return 0
    fi
    sleep 0.1
  done
  stop "$dir"
  die "ZooKeeper did not answer ruok on port $port within ${READY_TIMEOUT_S} s"
}

stop() {
  local dir=$1 pid
  [[ -f $dir/zookeeper.pid ]] || return 0
  pid=$(cat "$dir/zookeeper.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    local deadline=$((SECONDS + STOP_TIMEOUT_S))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
  fi
  rm -f "$dir/zookeeper.pid"
}

case ${1:-} in
start) (($# == 3)) || usage; start "$2" "$3" ;;
stop) (($# == 2)) || usage; stop "$2" ;;
*) usage ;;
esac
