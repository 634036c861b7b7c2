#!/usr/bin/env bash
# Install the Debian 12 packages that building and testing CashStory need.
# Sourced by scripts/demo and scripts/test; installs only what is missing.

cs_packages=(
    build-essential cmake pkg-config
    libssl-dev openssl libjansson-dev libarchive-dev libcmocka-dev
    libjavascriptcoregtk-4.1-dev libuv1-dev libseccomp-dev
    clang libclang-rt-14-dev
    libcurl4-openssl-dev nginx-light
    python3 tar strace util-linux procps passwd
)

# Node.js and npm only fetch and cross-check third-party JavaScript packages
# in the tests. A Node.js that did not come from Debian's packages is kept.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    cs_packages+=(nodejs npm)
fi

cs_install_deps() {
    local missing=()
    local p
    for p in "${cs_packages[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$p")
        fi
    done
    if [ ${#missing[@]} -eq 0 ]; then
        return 0
    fi
    if [ "$(id -u)" -ne 0 ]; then
        echo "Missing Debian packages: ${missing[*]}" >&2
        echo "Run this command as root, or install them with: sudo apt-get install ${missing[*]}" >&2
        return 1
    fi
    echo "Installing Debian packages: ${missing[*]}"
    apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}
