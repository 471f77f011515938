#!/bin/sh
# Installs what the lab runs that pip cannot provide: OpenSSH's sshd, iproute2, Chromium
# and its driver (for the report tests), and
# Debian's Prometheus server (extracted into .golive/tools, not installed system-wide,
# so its systemd unit never starts a second Prometheus). Safe to run again: each step
# is skipped when its result is already there, and nothing is printed then.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOLS="${GOLIVE_TOOLS_DIR:-$ROOT/.golive/tools}"
PROM_DIR="$TOOLS/prometheus"
PROM_BIN="$PROM_DIR/usr/bin/prometheus"

need_apt=""
[ -x /usr/sbin/sshd ] || need_apt="$need_apt openssh-server"
command -v ip >/dev/null 2>&1 || need_apt="$need_apt iproute2"
command -v unshare >/dev/null 2>&1 || need_apt="$need_apt util-linux"
# The report tests render HTML in a real browser (headless, driven by selenium).
command -v chromium >/dev/null 2>&1 || need_apt="$need_apt chromium"
command -v chromedriver >/dev/null 2>&1 || need_apt="$need_apt chromium-driver"

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

if [ -n "$need_apt" ]; then
    echo "installing:$need_apt"
    as_root apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends $need_apt >/dev/null
fi

if [ ! -x "$PROM_BIN" ]; then
    echo "fetching prometheus into $PROM_DIR"
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    if ! (cd "$work" && apt-get download -qq prometheus >/dev/null 2>&1); then
        as_root apt-get update -qq
        (cd "$work" && apt-get download -qq prometheus >/dev/null)
    fi
    mkdir -p "$PROM_DIR"
    dpkg-deb -x "$work"/prometheus_*.deb "$PROM_DIR"
    "$PROM_BIN" --version >/dev/null
fi
