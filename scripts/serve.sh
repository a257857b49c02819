# Sourced by the with-*.sh scripts: `serve NAME COMMAND...` starts a local
# server whose COMMAND contains {port} (replaced by a free loopback
# port), waits until it accepts connections, and stops it when the calling
# script ends, however it ends. Sets SERVER_PORT and SERVER_PID.
serve() {
  local name=$1; shift
  local python; python=$(command -v python3)
  SERVER_PORT=$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  local log; log=$(mktemp -t "ltisync-$name.XXXXXX")
  "${@//\{port\}/$SERVER_PORT}" >"$log" 2>&1 &
  local pid=$!
  SERVER_PID=$pid
  trap "kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -f '$log'" EXIT INT TERM
  for _ in $(seq 1 300); do
    if "$python" -c "import socket; socket.create_connection(('127.0.0.1',$SERVER_PORT),0.2)" 2>/dev/null; then
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "$name exited early:" >&2; cat "$log" >&2; exit 1
    fi
    sleep 0.1
  done
  echo "$name did not listen on $SERVER_PORT in 30 s" >&2; exit 1
}
