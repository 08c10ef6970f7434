#!/usr/bin/env bash
# Installs every Debian package fsb's build, tests and quickstart need, and unpacks
# containerd's API .proto files into a cache folder. Idempotent: safe to re-run.
#
# Usage: scripts/install-deps.sh [--protos-only]
#   FSB_PROTO_CACHE  where the containerd/gogo protos are unpacked
#                    (default: <repo>/.cache/protos)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
proto_cache="${FSB_PROTO_CACHE:-${repo_root}/.cache/protos}"

packages=(
  build-essential cmake pkg-config ninja-build
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libgoogle-glog-dev libgflags-dev libabsl-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libgoogle-perftools-dev google-perftools
  libcivetweb-dev libsqlite3-dev libyaml-dev
  containerd runc busybox-static
  curl ca-certificates jq
  # sandbox networks: CNI plugins (bridge, host-local, loopback, tuning, firewall,
  # portmap), the node's firewall tables, and iptables, which the firewall plugin runs
  containernetworking-plugins nftables iptables
  # promtool (metrics tests) and a Prometheus server (e2e scrape test)
  prometheus
  # scripts/profile.sh (ss) and scripts/flamegraph.sh (python3); the seed's generated
  # Python client (tests/seed: gRPC and protobuf for Python, protoc's grpc_python_plugin)
  iproute2 python3 python3-grpcio python3-protobuf
  # image pulls (libcurl, OpenSSL's SHA-256) and the registry pull test (a loopback
  # registry with htpasswd auth, skopeo to push to it)
  libcurl4-openssl-dev libssl-dev docker-registry skopeo apache2-utils
  # deploy/systemd's check (systemd-analyze verify) and the Debian package (CPack's
  # dpkg-shlibdeps, dpkg-deb)
  systemd dpkg-dev
  # the architecture check's formatting rule (scripts/check-architecture.sh) and git, which
  # lists the tracked files it checks
  clang-format git
  # scripts/fuzz.sh: clang with libFuzzer's runtime (libclang_rt.fuzzer) and the sanitizers'
  clang-14 libclang-rt-14-dev
  # the Helm chart's tests (tests/helm_render): Go's text/template with sprig, as Helm
  # renders, and node for the Kubernetes schema checks (npm packages in the build folder)
  golang-go golang-github-masterminds-sprig-dev golang-gopkg-yaml.v2-dev nodejs
  # scripts/build-images.sh: umoci writes the OCI images (jq, ldd and tar do the rest);
  # tests/images_test.sh loads them with podman
  umoci podman
)
# npm comes with NodeSource's nodejs; Debian's nodejs needs the npm package.
command -v npm >/dev/null || packages+=(npm)

if [[ "${1:-}" != "--protos-only" ]]; then
  missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$p")
  done
  if ((${#missing[@]})); then
    echo "install-deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
    # Debian's prometheus package enables a system Prometheus on :9090, the controller's
    # FastPath port; fsb's tests start their own on a free port.
    if [[ " ${missing[*]} " == *" prometheus "* ]] && [[ -d /run/systemd/system ]]; then
      echo "install-deps: disabling the system prometheus service (it listens on :9090)"
      systemctl disable --now prometheus.service || true
    fi
    # Likewise docker-registry's system service: tests run their own (scripts/registry.sh).
    if [[ " ${missing[*]} " == *" docker-registry "* ]] && [[ -d /run/systemd/system ]]; then
      systemctl disable --now docker-registry.service || true
    fi
  fi
fi

# containerd's API protos: downloaded as .deb files and unpacked, never installed
# (installing the golang -dev packages drags in hundreds of packages).
stamp="${proto_cache}/.unpacked"
if [[ ! -f "${stamp}" ]]; then
  echo "install-deps: unpacking containerd API protos into ${proto_cache}"
  tmp="$(mktemp -d)"
  trap 'rm -rf "${tmp}"' EXIT
  (cd "${tmp}" && { apt-get download golang-github-containerd-containerd-dev \
      golang-github-gogo-protobuf-dev >/dev/null 2>&1 || {
        apt-get update -qq && apt-get download golang-github-containerd-containerd-dev \
          golang-github-gogo-protobuf-dev; }; })
  mkdir -p "${proto_cache}"
  for deb in "${tmp}"/*.deb; do dpkg-deb -x "${deb}" "${tmp}/root"; done
  src="${tmp}/root/usr/share/gocode/src/github.com"
  rm -rf "${proto_cache}/github.com"
  mkdir -p "${proto_cache}/github.com/containerd/containerd" "${proto_cache}/github.com/gogo/protobuf"
  cp -r "${src}/containerd/containerd/api" "${proto_cache}/github.com/containerd/containerd/"
  mkdir -p "${proto_cache}/github.com/containerd/containerd/protobuf"
  cp -r "${src}/containerd/containerd/protobuf/plugin" "${proto_cache}/github.com/containerd/containerd/protobuf/"
  cp -r "${src}/gogo/protobuf/gogoproto" "${proto_cache}/github.com/gogo/protobuf/"
  touch "${stamp}"
fi
echo "install-deps: done"
