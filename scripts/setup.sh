#!/usr/bin/env bash
# Idempotent set-up on a fresh Debian 12 machine: system packages, kernel headers for bcc,
# and the project's virtualenv (.venv) with the project installed in editable mode.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

DEB_PACKAGES=(
  python3-bpfcc python3-venv python3-pip
  iptables iproute2 conntrack nfacct nftables kmod
  containernetworking-plugins linux-headers-amd64
)

missing=()
for pkg in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# bcc compiles against the running kernel's headers. This kernel ships none: point
# /lib/modules/$(uname -r)/{build,source} at Debian's headers, only when missing.
moddir="/lib/modules/$(uname -r)"
if [ ! -e "$moddir/build" ]; then
  hdr=$(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | sort -V | tail -n 1)
  common=$(ls -d /usr/src/linux-headers-*-common 2>/dev/null | sort -V | tail -n 1)
  if [ -n "$hdr" ]; then
    mkdir -p "$moddir"
    ln -sfn "$hdr" "$moddir/build"
    ln -sfn "${common:-$hdr}" "$moddir/source"
    echo "setup: linked $moddir/build -> $hdr"
  fi
fi

# The venv must use Debian's python3: python3-bpfcc only imports there.
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys; sys.exit(sys.base_prefix != "/usr")' 2>/dev/null; then
  rm -rf .venv
  /usr/bin/python3 -m venv --system-site-packages .venv
fi
stamp=.venv/.installed-stamp
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ setup.cfg -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e '.[test]'
  touch "$stamp"
fi
# The drop-in commands start faster without site-packages and pip's editable-install finder
# (some 30 ms of imports): the same entry point, launched with -S and the repo on sys.path.
launcher=.venv/bin/bpftables-multi
cat > "$launcher.tmp" <<EOF
#!$here/.venv/bin/python -S
# bpftables-multi (written by scripts/setup.sh): shim.multi without site-packages
import sys
sys.path.append("$here")  # after \$PYTHONPATH: a checkout under test may come first
from shim.multi import main
sys.exit(main())
EOF
chmod 755 "$launcher.tmp"
mv "$launcher.tmp" "$launcher"
echo "setup: ready (.venv)"
