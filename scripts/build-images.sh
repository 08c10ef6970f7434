#!/usr/bin/env bash
# Builds fsb's container images offline, as OCI image archives, from a Release build and
# deploy/docker/images.conf (what goes into each image: the one source of truth). No
# base image and no registry: each image is one layer holding the programs, the shared
# libraries they load (found with ldd, the dynamic loader included), CA certificates and
# /etc/passwd, /etc/group. umoci (Debian's) writes the image; the archive holds the OCI
# layout (index.json, for `ctr images import`, `podman load`, `docker load` of Docker
# 25+, `skopeo copy oci-archive:...`) and a Docker manifest.json beside it (for older
# `docker load` and `skopeo copy docker-archive:...`).
#
# Usage: scripts/build-images.sh [--image NAME]... [--output-dir DIR]
#        scripts/build-images.sh --rootfs NAME DIR      only assemble NAME's root filesystem
#        scripts/build-images.sh --dockerfiles [--check] write (check) deploy/docker/*/Dockerfile
#        scripts/build-images.sh --version               print the images' version
#   --image       fsb-controller, fsb-agent or fsb (default: all three)
#   --output-dir  where <name>.tar goes (default: <build dir>/images)
#   FSB_BUILD_DIR the build folder (default: <repo>/build-release; configure it with
#                 cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release)
#
# Image references: docker.io/fsb/<name>:<version>, the version from CMakeLists.txt's
# project(... VERSION ...). Labels: org.opencontainers.image.{title,description,version,
# revision (the git commit),source,created}. Needs root (or fakeroot): the layer
# records file owners. The archives are reproducible for the same build and commit.
set -euo pipefail

orig_args=("$@")
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
conf="${repo_root}/deploy/docker/images.conf"
build_dir="${FSB_BUILD_DIR:-${repo_root}/build-release}"
registry_prefix=docker.io/fsb
# org.opencontainers.image.source: FSB_SOURCE_URL, else the git remote "origin" (no
# label when neither is set).
source_url="${FSB_SOURCE_URL:-$(git -C "${repo_root}" remote get-url origin 2>/dev/null || true)}"
all_images=(fsb-controller fsb-agent fsb)

die() { echo "build-images.sh: $*" >&2; exit 1; }

# The version: CMakeLists.txt's project(fsb VERSION x.y.z), else 0.1.0.
version="$(sed -nE 's/^project\(fsb[^)]*VERSION ([0-9][0-9.]*).*/\1/p' "${repo_root}/CMakeLists.txt")"
version="${version:-0.1.0}"

# Prints the values of IMAGE's KEY lines of images.conf, one line each.
conf_values() {
  awk -v image="$1" -v key="$2" '
    $1 == image && $2 == key { sub(/^[^ ]+ +[^ ]+ */, ""); print }' "${conf}"
}

# Prints a JSON array of the words of $1.
json_words() { jq -cn --arg s "$1" '$s | split(" ") | map(select(. != ""))'; }

# --- root filesystem -------------------------------------------------------------------

# Copies the file SRC of the build machine to DEST in the root filesystem $rootfs,
# following SRC's symlinks into the content; then its shared libraries.
copy_with_libs() {
  local src="$1" dest="$2"
  mkdir -p "${rootfs}$(dirname "${dest}")"
  cp -L --preserve=mode "${src}" "${rootfs}${dest}"
  copy_libs "${src}"
}

# Copies the shared libraries that ldd says ELF file $1 loads (and the loader), each to
# its real folder (the root filesystem has Debian's merged /usr: /lib -> usr/lib).
copy_libs() {
  local lib
  ldd "$1" >/dev/null 2>&1 || return 0  # static, or not a program
  while read -r lib; do
    local dest
    dest="$(realpath "$(dirname "${lib}")")/$(basename "${lib}")"
    [[ -e "${rootfs}${dest}" ]] && continue
    mkdir -p "${rootfs}$(dirname "${dest}")"
    cp -L --preserve=mode "${lib}" "${rootfs}${dest}"
  done < <(ldd "$1" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
}

# Copies the build machine's PATH (a file, folder or symlink chain) to the same path.
copy_host() {
  local path="$1"
  [[ -e "${path}" ]] || die "${path} missing on this machine (see deploy/docker/images.conf)"
  local dir
  dir="$(realpath "$(dirname "${path}")")"
  path="${dir}/$(basename "${path}")"
  if [[ -L "${path}" ]]; then
    local target
    target="$(readlink "${path}")"
    mkdir -p "${rootfs}${dir}"
    ln -sfn "${target}" "${rootfs}${path}"
    [[ "${target}" == /* ]] || target="${dir}/${target}"
    copy_host "${target}"
  elif [[ -d "${path}" ]]; then
    local f
    for f in "${path}"/*; do copy_host "${f}"; done
  else
    copy_with_libs "${path}" "${path}"
  fi
}

# Assembles image $1's root filesystem in folder $2.
assemble_rootfs() {
  local image="$1"
  rootfs="$2"
  grep -q "^${image} " "${conf}" || die "no image ${image} in ${conf}"
  mkdir -p "${rootfs}"/{usr/bin,usr/sbin,usr/lib,usr/lib64,etc/ssl/certs,tmp}
  local l
  for l in bin sbin lib lib64; do ln -sfn "usr/${l}" "${rootfs}/${l}"; done
  chmod 1777 "${rootfs}/tmp"
  local src dest
  while read -r src dest; do
    [[ -x "${build_dir}/${src}" ]] ||
      die "${build_dir}/${src} missing: build it (cmake --build ${build_dir}) or set FSB_BUILD_DIR"
    copy_with_libs "${build_dir}/${src}" "${dest}"
  done < <(conf_values "${image}" binary)
  local path
  while read -r path _; do copy_host "${path}"; done < <(conf_values "${image}" host)
  cp -L /etc/ssl/certs/ca-certificates.crt "${rootfs}/etc/ssl/certs/" ||
    die "no CA certificates: apt-get install ca-certificates"
  printf '%s\n' 'root:x:0:0:root:/root:/usr/sbin/nologin' \
    'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin' >"${rootfs}/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' >"${rootfs}/etc/group"
  local name uid
  while read -r name uid; do
    echo "${name}:x:${uid}:${uid}:${name}:/nonexistent:/usr/sbin/nologin" >>"${rootfs}/etc/passwd"
    echo "${name}:x:${uid}:" >>"${rootfs}/etc/group"
  done < <(conf_values "${image}" user)
  chown -R 0:0 "${rootfs}"
  local owner
  while read -r path owner; do
    mkdir -p "${rootfs}${path}"
    chown "${owner}:${owner}" "${rootfs}${path}"
    chmod 700 "${rootfs}${path}"
  done < <(conf_values "${image}" dir)
}

# --- Dockerfiles -----------------------------------------------------------------------

# Prints image $1's Dockerfile.
dockerfile() {
  local image="$1" uid entrypoint cmd
  uid="$(conf_values "${image}" user | awk '{ print $2 }')"
  entrypoint="$(json_words "$(conf_values "${image}" entrypoint)")"
  cmd="$(conf_values "${image}" cmd)"
  cat <<EOF
# syntax=docker/dockerfile:1
# Generated by scripts/build-images.sh --dockerfiles from deploy/docker/images.conf:
# edit that file, not this one. Build from the repository's root:
#   docker build -f deploy/docker/${image}/Dockerfile -t ${registry_prefix}/${image}:${version} .
FROM debian:bookworm AS build
WORKDIR /src
COPY . .
RUN scripts/install-deps.sh \\
 && cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release \\
 && cmake --build build-release --target $(conf_values "${image}" binary |
      awk '{ n = split($1, p, "/"); printf "%s%s", sep, p[n]; sep = " " }') \\
 && FSB_BUILD_DIR=/src/build-release scripts/build-images.sh --rootfs ${image} /rootfs

FROM scratch
# docker build --build-arg FSB_REVISION=\$(git rev-parse HEAD) --build-arg FSB_SOURCE_URL=...
ARG FSB_REVISION=unknown
ARG FSB_SOURCE_URL=""
COPY --from=build /rootfs/ /
LABEL org.opencontainers.image.title="${image}" \\
      org.opencontainers.image.description="$(conf_values "${image}" description)" \\
      org.opencontainers.image.version="${version}" \\
      org.opencontainers.image.revision="\${FSB_REVISION}" \\
      org.opencontainers.image.source="\${FSB_SOURCE_URL}"
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
EOF
  local port
  while read -r port; do echo "EXPOSE ${port}"; done < <(conf_values "${image}" port)
  [[ -z "${uid}" ]] || echo "USER ${uid}:${uid}"
  echo "ENTRYPOINT ${entrypoint}"
  [[ -z "${cmd}" ]] || echo "CMD $(json_words "${cmd}")"
}

write_dockerfiles() {
  local check="$1" image status=0
  for image in "${all_images[@]}"; do
    local file="${repo_root}/deploy/docker/${image}/Dockerfile"
    if ((check)); then
      if ! diff -u "${file}" <(dockerfile "${image}"); then
        echo "build-images.sh: ${file} is out of date: run scripts/build-images.sh --dockerfiles" >&2
        status=1
      fi
    else
      mkdir -p "$(dirname "${file}")"
      dockerfile "${image}" >"${file}"
      echo "build-images.sh: wrote ${file}"
    fi
  done
  return "${status}"
}

# --- OCI archive -----------------------------------------------------------------------

# Builds image $1 into archive $2.
build_archive() {
  local image="$1" archive="$2" ref="${registry_prefix}/$1:${version}"
  local work
  work="$(mktemp -d)"
  # shellcheck disable=SC2064
  trap "rm -rf '${work}'" RETURN
  assemble_rootfs "${image}" "${work}/rootfs"
  tar --sort=name --mtime='@0' --numeric-owner -C "${work}/rootfs" -cf "${work}/layer.tar" .

  local layout="${work}/layout" revision created arch
  revision="$(git -C "${repo_root}" rev-parse HEAD 2>/dev/null || echo unknown)"
  created="$(git -C "${repo_root}" log -1 --format=%cI 2>/dev/null || date -u +%FT%TZ)"
  case "$(uname -m)" in
    x86_64) arch=amd64 ;;
    aarch64) arch=arm64 ;;
    *) die "unsupported machine $(uname -m)" ;;
  esac
  umoci init --layout "${layout}"
  umoci new --image "${layout}:${version}"
  umoci raw add-layer --image "${layout}:${version}" --history.created "${created}" \
    --history.created_by "scripts/build-images.sh ${image}" "${work}/layer.tar"
  local args=(--image "${layout}:${version}" --created "${created}" --author fsb
    --os linux --architecture "${arch}"
    --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    --config.workingdir /
    --config.label "org.opencontainers.image.title=${image}"
    --config.label "org.opencontainers.image.description=$(conf_values "${image}" description)"
    --config.label "org.opencontainers.image.version=${version}"
    --config.label "org.opencontainers.image.revision=${revision}"
    --config.label "org.opencontainers.image.created=${created}"
    --history.created "${created}" --history.created_by "scripts/build-images.sh config")
  [[ -z "${source_url}" ]] || args+=(--config.label "org.opencontainers.image.source=${source_url}")
  local word uid port
  for word in $(conf_values "${image}" entrypoint); do args+=(--config.entrypoint "${word}"); done
  for word in $(conf_values "${image}" cmd); do args+=(--config.cmd "${word}"); done
  uid="$(conf_values "${image}" user | awk '{ print $2 }')"
  [[ -z "${uid}" ]] || args+=(--config.user "${uid}:${uid}")
  while read -r port; do args+=(--config.exposedports "${port}"); done < <(conf_values "${image}" port)
  umoci config "${args[@]}"
  umoci gc --layout "${layout}"

  # The full reference in index.json, where containerd, Docker and podman look for it.
  local index="${layout}/index.json"
  jq -c --arg ref "${ref}" '.manifests[0].annotations = {
      "io.containerd.image.name": $ref, "org.opencontainers.image.ref.name": $ref }' \
    "${index}" >"${work}/index.json"
  mv "${work}/index.json" "${index}"
  # Docker's manifest.json, naming the same blobs.
  local manifest
  manifest="$(jq -r '.manifests[0].digest | sub("sha256:"; "")' "${index}")"
  jq -c --arg ref "${ref}" '[{Config: ("blobs/sha256/" + (.config.digest | sub("sha256:"; ""))),
      RepoTags: [$ref], Layers: [.layers[].digest | "blobs/sha256/" + sub("sha256:"; "")]}]' \
    "${layout}/blobs/sha256/${manifest}" >"${layout}/manifest.json"

  mkdir -p "$(dirname "${archive}")"
  tar --sort=name --mtime='@0' --owner=0 --group=0 --numeric-owner -C "${layout}" \
    -cf "${archive}" oci-layout index.json manifest.json blobs
  echo "build-images.sh: ${archive}: ${ref} ($(du -h "${archive}" | cut -f1), manifest sha256:${manifest})"
}

# --- main ------------------------------------------------------------------------------

images=()
output_dir=""
rootfs_image=""
rootfs_dir=""
dockerfiles=0
check=0
while (($#)); do
  case "$1" in
    --image) images+=("$2"); shift 2 ;;
    --output-dir) output_dir="$2"; shift 2 ;;
    --rootfs) rootfs_image="$2"; rootfs_dir="$3"; shift 3 ;;
    --dockerfiles) dockerfiles=1; shift ;;
    --check) check=1; shift ;;
    --version) echo "${version}"; exit 0 ;;
    *) echo "build-images.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
command -v jq >/dev/null || die "jq missing: apt-get install jq"

if ((dockerfiles)); then
  write_dockerfiles "${check}"
  exit
fi
if [[ -n "${rootfs_image}" ]]; then
  assemble_rootfs "${rootfs_image}" "${rootfs_dir}"
  exit
fi
command -v umoci >/dev/null || die "umoci missing: apt-get install umoci"
if ((EUID != 0)); then
  command -v fakeroot >/dev/null || die "needs root or fakeroot (the layer records file owners)"
  exec fakeroot "$0" "${orig_args[@]}"
fi
((${#images[@]})) || images=("${all_images[@]}")
output_dir="${output_dir:-${build_dir}/images}"
for image in "${images[@]}"; do
  grep -q "^${image} " "${conf}" || die "no image ${image} in ${conf}"
  build_archive "${image}" "${output_dir}/${image}.tar"
done
