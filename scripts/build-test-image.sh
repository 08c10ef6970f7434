#!/usr/bin/env bash
# Builds fsb's test image, a tiny OCI image made from Debian's busybox-static with no
# network (layer tar + config + manifest + index in an OCI archive), and imports it into
# a containerd namespace.
#
# Usage: scripts/build-test-image.sh [--address SOCK] [--namespace NS] [--name REF]
#                                    [--output FILE.tar] [--no-import]
#   --address    containerd socket (default /run/containerd/containerd.sock)
#   --namespace  containerd namespace (default fsb)
#   --name       image reference (default docker.io/fsb/busybox:latest)
#   --output     where the OCI archive is written (default: a temp file, removed)
#   --no-import  only write the archive (needs --output)
#   --user       the image config's User (default: none)
#   --passwd     what /etc/passwd is: file (default), fifo, or symlink:TARGET (tests of
#                the agent's safe user lookup)
#
# The archive is reproducible: the same busybox gives the same digests.
set -euo pipefail

address=/run/containerd/containerd.sock
namespace=fsb
name=docker.io/fsb/busybox:latest
output=""
import=1
user=""
passwd=file
while (($#)); do
  case "$1" in
    --address) address="$2"; shift 2 ;;
    --namespace) namespace="$2"; shift 2 ;;
    --name) name="$2"; shift 2 ;;
    --output) output="$2"; shift 2 ;;
    --no-import) import=0; shift ;;
    --user) user="$2"; shift 2 ;;
    --passwd) passwd="$2"; shift 2 ;;
    *) echo "build-test-image.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if ((!import)) && [[ -z "${output}" ]]; then
  echo "build-test-image.sh: --no-import needs --output" >&2
  exit 2
fi
busybox=/bin/busybox
if [[ ! -x "${busybox}" ]]; then
  echo "build-test-image.sh: ${busybox} missing: apt-get install busybox-static" >&2
  exit 1
fi

case "$(uname -m)" in
  x86_64) arch=amd64 ;;
  aarch64) arch=arm64 ;;
  *) echo "build-test-image.sh: unsupported machine $(uname -m)" >&2; exit 1 ;;
esac

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT

# Root filesystem: busybox, one symlink per applet, and the files programs expect.
rootfs="${work}/rootfs"
mkdir -p "${rootfs}"/{bin,etc,tmp,root,proc,sys,dev,home}
cp "${busybox}" "${rootfs}/bin/busybox"
for applet in $("${busybox}" --list); do
  [[ "${applet}" == busybox ]] || ln -s busybox "${rootfs}/bin/${applet}"
done
chmod 1777 "${rootfs}/tmp"
chmod 700 "${rootfs}/root"
cat >"${rootfs}/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/home:/bin/false
EOF
cat >"${rootfs}/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
EOF
case "${passwd}" in
  file) ;;
  fifo) rm "${rootfs}/etc/passwd"; mkfifo "${rootfs}/etc/passwd" ;;
  symlink:*) ln -sfn "${passwd#symlink:}" "${rootfs}/etc/passwd" ;;
  *) echo "build-test-image.sh: --passwd ${passwd}: not file, fifo or symlink:TARGET" >&2; exit 2 ;;
esac
user_json=""
[[ -z "${user}" ]] || user_json=",\"User\":\"${user}\""

blobs="${work}/layout/blobs/sha256"
mkdir -p "${blobs}"
layer="${work}/layer.tar"
tar --sort=name --mtime='@0' --owner=0 --group=0 --numeric-owner -C "${rootfs}" -cf "${layer}" .
layer_digest="$(sha256sum "${layer}" | cut -d' ' -f1)"
layer_size="$(stat -c %s "${layer}")"
mv "${layer}" "${blobs}/${layer_digest}"

# Writes stdin as a blob; sets blob_digest and blob_size.
put_blob() {
  local tmp="${work}/blob"
  cat >"${tmp}"
  blob_digest="$(sha256sum "${tmp}" | cut -d' ' -f1)"
  blob_size="$(stat -c %s "${tmp}")"
  mv "${tmp}" "${blobs}/${blob_digest}"
}

put_blob <<EOF
{"architecture":"${arch}","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"],"WorkingDir":"/"${user_json}},"rootfs":{"type":"layers","diff_ids":["sha256:${layer_digest}"]},"history":[{"created_by":"fsb scripts/build-test-image.sh from busybox-static"}]}
EOF
config_digest="${blob_digest}" config_size="${blob_size}"
put_blob <<EOF
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:${config_digest}","size":${config_size}},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:${layer_digest}","size":${layer_size}}]}
EOF
manifest_digest="${blob_digest}" manifest_size="${blob_size}"
tag="${name##*:}"
[[ "${name}" == *:* && "${tag}" != */* ]] || tag=latest
cat >"${work}/layout/index.json" <<EOF
{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:${manifest_digest}","size":${manifest_size},"platform":{"architecture":"${arch}","os":"linux"},"annotations":{"io.containerd.image.name":"${name}","org.opencontainers.image.ref.name":"${tag}"}}]}
EOF
echo '{"imageLayoutVersion":"1.0.0"}' >"${work}/layout/oci-layout"

archive="${output:-${work}/image.tar}"
tar --sort=name --mtime='@0' --owner=0 --group=0 --numeric-owner -C "${work}/layout" \
  -cf "${archive}" oci-layout index.json blobs

if ((import)); then
  ctr --address "${address}" --namespace "${namespace}" images import "${archive}" >/dev/null
  echo "build-test-image.sh: imported ${name} (manifest sha256:${manifest_digest}) into namespace ${namespace}"
else
  echo "build-test-image.sh: wrote ${archive} (${name}, manifest sha256:${manifest_digest})"
fi
