#!/usr/bin/env bash
# Runs a command with a moto DynamoDB server on a free loopback port.
# The server's URL is exported as LTISYNC_TEST_DYNAMODB; the server is
# stopped when the command ends, whether it passed, failed or was interrupted.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
venv="$here/.venv"
port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log=$(mktemp -t ltisync-moto.XXXXXX)
"$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
moto_pid=$!
cleanup() {
  kill "$moto_pid" 2>/dev/null || true
  wait "$moto_pid" 2>/dev/null || true
  rm -f "$log"
}
trap cleanup EXIT INT TERM
for _ in $(seq 1 300); do
  if "$venv/bin/python" -c "import socket,sys; socket.create_connection(('127.0.0.1',$port),0.2)" 2>/dev/null; then
    break
  fi
  if ! kill -0 "$moto_pid" 2>/dev/null; then
    echo "moto_server exited early:" >&2; cat "$log" >&2; exit 1
  fi
  sleep 0.1
done
export LTISYNC_TEST_DYNAMODB="http://127.0.0.1:$port"
echo "moto DynamoDB on $LTISYNC_TEST_DYNAMODB" >&2
"$@"
