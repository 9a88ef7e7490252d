#!/usr/bin/env bash
# Install the Debian packages that the browser and WordPress tests need:
# Chromium for the Socket.IO page test, and PHP, MariaDB and WordPress for
# the publishing tests against a real WordPress on 127.0.0.1.
# Must run as root (it calls apt-get). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "install-system-deps.sh: run as root; it installs Debian packages with apt-get" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null
bash scripts/install-wordpress-deps.sh --no-update
