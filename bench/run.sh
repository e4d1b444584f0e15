#!/usr/bin/env bash
# The one command: bash bench/run.sh [--quick] [--only status,startup,...] (see bench/run.py --help).
# Runs as root (it starts sshd hosts, creates the login user `coordbench`, may apt-get openssh-server).
set -euo pipefail
cd "$(dirname "$0")/.."
# the real interpreter, not a pyenv shim (a shim costs ~100 ms per process and would skew start-up)
PY=$(python3 -c 'import sys; print(sys.executable)')
exec "$PY" bench/run.py "$@"
