#!/usr/bin/env bash
# Idempotent set-up for `make bench` (after scripts/setup.sh): the tools the side-by-side
# benchmark drives (nginx, ab, iperf3, a C compiler for the UDP sender) and matplotlib in .venv.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

# package -> a file it installs (nginx-light and nginx both give /usr/sbin/nginx)
declare -A WANT=(
  [nginx-light]=/usr/sbin/nginx
  [apache2-utils]=/usr/bin/ab
  [iperf3]=/usr/bin/iperf3
  [gcc]=/usr/bin/gcc
  [libc6-dev]=/usr/include/stdio.h
  [nftables]=/usr/sbin/nft
  [iptables]=/usr/sbin/iptables-nft-restore
)
missing=()
for pkg in "${!WANT[@]}"; do
  [ -e "${WANT[$pkg]}" ] || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup_bench: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # the packages' own services (nginx, iperf3) must not start in the machine's namespace:
  # the benchmark starts its own copies inside throwaway namespaces
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 755 "$policy"
    created_policy=1
  fi
  trap '[ "$created_policy" = 1 ] && rm -f "$policy"' EXIT
  apt-get update -qq
  echo "iperf3 iperf3/start_daemon boolean false" | debconf-set-selections
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! .venv/bin/python -c 'import matplotlib' 2>/dev/null; then
  echo "setup_bench: installing matplotlib into .venv"
  .venv/bin/python -m pip install -q matplotlib
fi
echo "setup_bench: ready"
