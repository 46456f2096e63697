#!/usr/bin/env bash
# Remove lab leftovers whose owning processes are gone (e.g. a session that was stopped abruptly):
# okdlab-* network namespaces, olv* veths, the okdlab0 bridge and the marked /etc/hosts block.
# A lab that is still running (its sshd alive in a namespace) is left alone.
set -uo pipefail
for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^okdlab-' || true); do
  if [ -n "$(ip netns pids "$ns" 2>/dev/null)" ]; then
    echo "reclaim: $ns still has processes; leaving the lab alone" >&2
    exit 0
  fi
done
for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^okdlab-' || true); do
  ip netns delete "$ns" 2>/dev/null || true
done
for dev in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -E '^(olv|okdlab)' || true); do
  ip link delete "$dev" 2>/dev/null || true
done
if grep -q '^# BEGIN okd-lab' /etc/hosts 2>/dev/null; then
  tmp=$(mktemp)
  sed '/^# BEGIN okd-lab/,/^# END okd-lab/d' /etc/hosts > "$tmp" && cat "$tmp" > /etc/hosts
  rm -f "$tmp"
fi
exit 0
