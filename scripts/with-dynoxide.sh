#!/usr/bin/env bash
# Runs a command with a Dynoxide DynamoDB server (in memory) on a free
# loopback port. Its URL becomes LTISYNC_TEST_DYNAMODB (its process id
# LTISYNC_TEST_DYNAMODB_PID); whatever that was before (moto, under
# scripts/with-moto.sh) becomes LTISYNC_TEST_AWS, where the tests find the
# other AWS services (Secrets Manager). The server is stopped when the
# command ends, whether it passed, failed or was interrupted.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dynoxide="$here/.tools/bin/dynoxide"
[ -x "$dynoxide" ] || { echo "no $dynoxide: run 'make dynoxide'" >&2; exit 1; }
. "$here/scripts/serve.sh"
serve dynoxide "$dynoxide" serve --host 127.0.0.1 --port {port} --log quiet
if [ -n "${LTISYNC_TEST_DYNAMODB:-}" ]; then
  export LTISYNC_TEST_AWS="$LTISYNC_TEST_DYNAMODB"
fi
export LTISYNC_TEST_DYNAMODB="http://127.0.0.1:$SERVER_PORT"
# The bench reads the server's CPU time while it measures the sync.
export LTISYNC_TEST_DYNAMODB_PID="$SERVER_PID"
echo "Dynoxide DynamoDB on $LTISYNC_TEST_DYNAMODB" >&2
"$@"
