#!/usr/bin/env bash
# scripts/build-images.sh's archives load where users load images: skopeo reads each
# both as an OCI archive (index.json) and as a Docker archive (manifest.json), podman
# loads it (when installed), and the image config says what deploy/docker/images.conf
# says (user, entrypoint, labels; its default arguments are real flags). Two builds give the same digests. Bad arguments are
# refused. (ctr images import, and running the images, are containerised_stack_test's.)
#
# Usage: tests/images_test.sh BUILD_DIR    (ctest passes it; needs root, jq, skopeo, umoci:
# without them it exits 77, a skip)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${1:?usage: $0 BUILD_DIR}"
build="${repo_root}/scripts/build-images.sh"
for tool in skopeo umoci jq; do
  command -v "${tool}" >/dev/null || { echo "SKIP: needs ${tool} (scripts/install-deps.sh)"; exit 77; }
done
((EUID == 0)) || { echo "SKIP: needs root (the layers record file owners)"; exit 77; }

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

FSB_BUILD_DIR="${build_dir}" "${build}" --output-dir "${work}/a" >"${work}/build.log" 2>&1 ||
  { cat "${work}/build.log" >&2; fail "build-images.sh failed"; exit 1; }
version="$("${build}" --version)"
revision="$(git -C "${repo_root}" rev-parse HEAD)"

for image in fsb-controller fsb-agent fsb; do
  archive="${work}/a/${image}.tar"
  ref="docker.io/fsb/${image}:${version}"
  echo "${image}: $(du -h "${archive}" | cut -f1) compressed"
  skopeo copy -q "oci-archive:${archive}:${ref}" "oci:${work}/oci-${image}:x" ||
    fail "${image}: skopeo cannot read it as an OCI archive named ${ref}"
  skopeo copy -q "docker-archive:${archive}:${ref}" "dir:${work}/dir-${image}" ||
    fail "${image}: skopeo cannot read it as a Docker archive tagged ${ref}"
  config="$(skopeo inspect --config "oci-archive:${archive}")"
  [[ "$(jq -r '.config.Labels["org.opencontainers.image.version"]' <<<"${config}")" == "${version}" ]] ||
    fail "${image}: version label"
  [[ "$(jq -r '.config.Labels["org.opencontainers.image.revision"]' <<<"${config}")" == "${revision}" ]] ||
    fail "${image}: revision label is not ${revision}"
  [[ "$(jq -r '.config.Labels["org.opencontainers.image.title"]' <<<"${config}")" == "${image}" ]] ||
    fail "${image}: title label"
  [[ "$(jq -c '.config.Entrypoint' <<<"${config}")" == "[\"/usr/bin/${image}\"]" ]] ||
    fail "${image}: entrypoint $(jq -c '.config.Entrypoint' <<<"${config}")"
  # The root filesystem: the loader, libc, CA certificates, passwd.
  layer="$(jq -r '.layers[0].digest | sub("sha256:"; "")' "${work}/oci-${image}/blobs/sha256/$(
    jq -r '.manifests[0].digest | sub("sha256:"; "")' "${work}/oci-${image}/index.json")")"
  tar -tzf "${work}/oci-${image}/blobs/sha256/${layer}" >"${work}/files-${image}"
  for f in ./usr/bin/"${image}" ./usr/lib64/ld-linux-x86-64.so.2 ./usr/lib/x86_64-linux-gnu/libc.so.6 \
    ./etc/ssl/certs/ca-certificates.crt ./etc/passwd ./etc/group ./tmp/; do
    grep -qxF "${f}" "${work}/files-${image}" || fail "${image}: ${f} missing from the layer"
  done
done
for helper in fsb-init fsb-logger nft ip iptables; do
  grep -qE "^\./usr/s?bin/${helper}\$" "${work}/files-fsb-agent" ||
    fail "fsb-agent: ${helper} missing"
done
[[ "$(skopeo inspect --config "oci-archive:${work}/a/fsb-controller.tar" | jq -r .config.User)" == 65532:65532 ]] ||
  fail "fsb-controller: not the non-root user 65532"
[[ "$(skopeo inspect --config "oci-archive:${work}/a/fsb-agent.tar" | jq -r '.config.User // ""')" == "" ]] ||
  fail "fsb-agent: the agent runs as root"

# The default arguments are the programs' real flags (gflags spells them with _).
conf="${repo_root}/deploy/docker/images.conf"
while read -r image _ args; do
  src="$(awk -v image="${image}" '$1 == image && $2 == "binary" { print $3; exit }' "${conf}")"
  help="$("${build_dir}/${src}" --helpfull 2>&1 || true)"
  for arg in ${args}; do
    flag="${arg%%=*}"
    flag="${flag#--}"
    grep -qE "^ +-${flag//-/_} " <<<"${help}" || fail "${image}: ${arg}: no flag ${flag} in ${src} --helpfull"
  done
done < <(awk '$1 !~ /^#/ && $2 == "cmd"' "${conf}")

# Reproducible: the same build gives the same images.
FSB_BUILD_DIR="${build_dir}" "${build}" --output-dir "${work}/b" --image fsb-controller >/dev/null
cmp -s "${work}/a/fsb-controller.tar" "${work}/b/fsb-controller.tar" ||
  fail "two builds of fsb-controller differ"

if command -v podman >/dev/null; then
  podman=(podman --root "${work}/podman/root" --runroot "${work}/podman/run" --storage-driver vfs)
  for image in fsb-controller fsb-agent fsb; do
    "${podman[@]}" load -q -i "${work}/a/${image}.tar" >/dev/null || fail "${image}: podman load"
    "${podman[@]}" image exists "docker.io/fsb/${image}:${version}" ||
      fail "${image}: podman load did not name it docker.io/fsb/${image}:${version}"
  done
else
  echo "podman not installed: podman load not checked"
fi

# Refusals.
expect_refusal() {
  local want_code="$1" want_text="$2"
  shift 2
  local out code=0
  out="$(FSB_BUILD_DIR="${build_dir}" "${build}" "$@" 2>&1)" || code=$?
  [[ "${code}" == "${want_code}" && "${out}" == *"${want_text}"* ]] ||
    fail "build-images.sh $*: exit ${code} (want ${want_code}), said: ${out}"
}
expect_refusal 1 "no image nope" --image nope --output-dir "${work}/c"
expect_refusal 2 "unknown argument --bogus" --bogus
out="$(FSB_BUILD_DIR="${work}/nothing" "${build}" --image fsb --output-dir "${work}/c" 2>&1)" &&
  fail "a build folder without programs was accepted"
[[ "${out}" == *"cli/fsb missing"* ]] || fail "a missing program is not named: ${out}"

if ((failures)); then
  echo "${failures} failure(s)" >&2
  exit 1
fi
echo "PASS"
