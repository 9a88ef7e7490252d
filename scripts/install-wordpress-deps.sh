#!/usr/bin/env bash
# Install the Debian packages that scripts/wordpress-local.sh needs to run a
# throwaway WordPress on 127.0.0.1 for the live publishing tests.
#
# Run as root on Debian 12 (bookworm). Naming php, php8.2-cgi and mini-httpd
# explicitly satisfies the wordpress package's web server and PHP dependencies
# without pulling in apache2. No service is started: a temporary
# /usr/sbin/policy-rc.d refuses every start request during the install.
#
# Usage: scripts/install-wordpress-deps.sh [--no-update]
set -euo pipefail

packages=(
    wordpress
    php
    php8.2-cli
    php8.2-cgi
    mini-httpd
    mariadb-server-core
    mariadb-client
)

if [ "$(id -u)" -ne 0 ]; then
    echo "install-wordpress-deps.sh: must run as root (it calls apt-get install)" >&2
    exit 1
fi

policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# Keep services from starting while packages are installed.\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    created_policy=1
fi
remove_policy() {
    if [ "$created_policy" -eq 1 ]; then
        rm -f "$policy"
    fi
}
trap remove_policy EXIT

export DEBIAN_FRONTEND=noninteractive
if [ "${1:-}" != "--no-update" ]; then
    apt-get update
fi
apt-get install -y --no-install-recommends "${packages[@]}"
