#!/usr/bin/env bash
# Installs the Debian packages the demos and the integration tests run for
# real (docker-registry, skopeo, htpasswd, openssl) if any is missing; with
# --tests also what only the tests need (unzip for the deployed-package test,
# chromium for the run page's browser test, busybox for packaging the source
# with the tools of the hashicorp/terraform image), so the demos stay light.
# A no-op when they are all there.
set -euo pipefail

tools=(docker-registry skopeo htpasswd openssl)
packages=(docker-registry skopeo apache2-utils openssl)
if [[ ${1:-} == --tests ]]; then
  tools+=(unzip chromium busybox)
  packages+=(unzip chromium busybox)
fi

missing=()
for tool in "${tools[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
((${#missing[@]} == 0)) && exit 0

echo "ensure-deps: installing Debian packages for: ${missing[*]}" >&2
if [[ $(id -u) -eq 0 ]]; then
  apt_get=(apt-get)
elif command -v sudo >/dev/null 2>&1; then
  apt_get=(sudo apt-get)
else
  echo "ensure-deps: need root or sudo to run: apt-get install -y ${packages[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${apt_get[@]}" update -qq
"${apt_get[@]}" install -y -qq "${packages[@]}" >/dev/null
