#!/usr/bin/env bash
# Runs a command with a moto DynamoDB server on a free loopback port.
# The server's URL is exported as LTISYNC_TEST_DYNAMODB; the server is
# stopped when the command ends, whether it passed, failed or was interrupted.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/scripts/serve.sh"
serve moto "$here/.venv/bin/moto_server" -H 127.0.0.1 -p {port}
export LTISYNC_TEST_DYNAMODB="http://127.0.0.1:$SERVER_PORT"
echo "moto DynamoDB on $LTISYNC_TEST_DYNAMODB" >&2
"$@"
