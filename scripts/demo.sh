#!/usr/bin/env bash
# make demo: the main job on a built-in example. A kube-proxy full restore goes through
# `bpftables parse` and is compared, byte for byte, with what real iptables-legacy prints for
# the same input in a throwaway network namespace; `bpftables translate` shows what the compiler
# makes of it; then (as root) scripts/demo_datapath.py runs such a rule set in the eBPF datapath
# with traffic between throwaway namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
work=$(mktemp -d)
ns="bpft-demo-$$"
cleanup() { ip netns del "$ns" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

echo "== 1. A kube-proxy full sync for 20 services, 3 endpoints each (bench/kube_gen.py)"
$PY -m bench.kube_gen --services 20 --endpoints 3 --jumps > "$work/rules"
echo "   $(wc -l < "$work/rules") lines; first service:"
grep -m 4 -- "-A KUBE-SVC-" "$work/rules" | sed 's/^/     /'

echo "== 2. bpftables parse (canonical iptables-save form)"
$PY -m shim.cli parse "$work/rules" > "$work/ours"
grep -m 3 -- "-A KUBE-SVC-" "$work/ours" | sed 's/^/     /'

if [ "$(id -u)" = 0 ] && command -v iptables-legacy-restore >/dev/null; then
  echo "== 3. The same input through real iptables-legacy in namespace $ns"
  ip netns add "$ns"
  ip netns exec "$ns" iptables-legacy-restore < "$work/rules"
  { ip netns exec "$ns" iptables-legacy-save -t filter; ip netns exec "$ns" iptables-legacy-save -t nat; } \
    | grep -v '^#' > "$work/real"
  if cmp -s "$work/ours" "$work/real"; then
    echo "   identical: $(wc -l < "$work/ours") lines, byte for byte"
  else
    echo "   DIFFERENT:"; diff "$work/real" "$work/ours" | head -20; exit 1
  fi
fi
echo "== 4. What the compiler makes of it (bpftables translate): lookups and families"
$PY -m shim.cli translate "$work/rules" | sed -n '/^\*nat/,$p' | sed 's/^/     /'
if [ "$(id -u)" = 0 ]; then
  echo "== 5. Drop-in commands and the eBPF datapath: client -- node -- server namespaces"
  $PY scripts/demo_datapath.py
fi
