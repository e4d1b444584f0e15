#!/usr/bin/env bash
# The one command: bash bench/run.sh [--quick] [--only status,startup,...,live] (see bench/run.py --help).
# Runs as root (it starts sshd hosts, creates the login user `coordbench`, may apt-get openssh-server):
# as root it runs as written; another user's run re-execs itself with sudo, with the same python.
set -euo pipefail
if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null 2>&1; then
  echo "bench/run.sh needs root (it starts sshd and creates the user coordbench), and there is" \
       "no sudo here: run it as root, or install sudo" >&2
  exit 2
fi
cd "$(dirname "$0")/.."
# the real interpreter, not a pyenv shim (a shim costs ~100 ms per process and would skew start-up)
PY=${COORDSSH_BENCH_PYTHON:-$(python3 -c 'import sys; print(sys.executable)')}
if [ "$(id -u)" -ne 0 ]; then
  exec sudo COORDSSH_BENCH_PYTHON="$PY" bash bench/run.sh "$@"
fi
exec "$PY" bench/run.py "$@"
