#!/usr/bin/env bash
# Installs what the browser tests need on a fresh Debian machine: the distribution's chromium
# (Playwright drives it; no browser is ever downloaded) and a CJK font for readable screenshots.
# Does nothing when /usr/bin/chromium is already there. Non-interactive; run as root (or with
# passwordless sudo), as CI does.
set -euo pipefail

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
    echo "chromium is installed: $CHROMIUM"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "chromium is missing and this user cannot install it (not root, no passwordless sudo)" >&2
        exit 1
    fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "chromium is missing and apt-get is not available: install chromium yourself" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q chromium fonts-wqy-microhei fonts-noto-color-emoji
"$CHROMIUM" --version 2>/dev/null || true
