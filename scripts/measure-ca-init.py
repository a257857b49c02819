#!/usr/bin/env python3
"""How long a function binary takes to start, with the system's CA store and
with a single certificate (SSL_CERT_FILE), so the difference is the cost of
reading the store.

Usage: scripts/measure-ca-init.py PATH/TO/bootstrap [RUNS]

Init is the time from starting the process to its first connection to the
Lambda Runtime API (a loopback socket that never answers); the process is
then killed. The launch binary is given a plain API key, so it calls nothing
at start. Prints the median and 90th percentile of RUNS starts (40).
"""
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

SYSTEM_STORE = "/etc/ssl/certs/ca-certificates.crt"


def start_once(binary, extra_env):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    env = {
        "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:%d" % listener.getsockname()[1],
        "LTIAAS_URL": "https://ltiaas.example.test",
        "LTIAAS_API_KEY": "measure-only",
        "TABLE_NAME": "ltisync",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "measure",
        "AWS_SECRET_ACCESS_KEY": "measure",
        "AWS_LAMBDA_FUNCTION_NAME": "launch",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "1",
        "AWS_LAMBDA_LOG_LEVEL": "ERROR",
        **extra_env,
    }
    started = time.perf_counter()
    process = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    connection, _ = listener.accept()
    took = (time.perf_counter() - started) * 1000
    process.kill()
    process.wait()
    connection.close()
    listener.close()
    return took


def first_certificate(path):
    lines, inside = [], False
    with open(path) as store:
        for line in store:
            inside = inside or "BEGIN CERTIFICATE" in line
            if inside:
                lines.append(line)
            if "END CERTIFICATE" in line:
                break
    return "".join(lines)


def main():
    binary = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 40
    with open(SYSTEM_STORE) as store:
        count = store.read().count("BEGIN CERTIFICATE")
    with tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False) as one:
        one.write(first_certificate(SYSTEM_STORE))
    try:
        for label, extra in [("system store, %d certificates" % count, {}),
                             ("one certificate (SSL_CERT_FILE)", {"SSL_CERT_FILE": one.name})]:
            times = sorted(start_once(binary, extra) for _ in range(runs))
            print("%-36s init p50 %.2f ms, p90 %.2f ms" % (label, statistics.median(times), times[int(runs * 0.9)]))
    finally:
        os.unlink(one.name)


if __name__ == "__main__":
    main()
