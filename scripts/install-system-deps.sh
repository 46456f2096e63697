#!/usr/bin/env bash
# Install the Debian packages the lab and the tests need. Idempotent; needs root.
# Services that packages would start (sshd, docker-registry) are kept from starting: the lab runs its own.
set -euo pipefail
# python3: the lab hosts share the machine's /usr, and the inventories use /usr/bin/python3 on them
pkgs=(openssh-server openssh-client docker-registry skopeo umoci iproute2 apache2-utils curl python3)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "install-system-deps: missing Debian packages: ${missing[*]} (run as root)" >&2
  exit 1
fi
echo "install-system-deps: installing ${missing[*]}"
cleanup() { rm -f /usr/sbin/policy-rc.d; }
trap cleanup EXIT
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
chmod +x /usr/sbin/policy-rc.d
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
