#!/usr/bin/env bash
# The Debian package, built and installed without touching the host (ctest:
# deb_package_test; needs root, else it skips with code 77):
#   1. `cmake --build BUILD --target deb` makes fsb_<version>_amd64.deb; dpkg-deb
#      shows the expected files, conffiles and Depends;
#   2. dpkg installs it into an empty root (--root: its own dpkg database; --force-depends,
#      as that root has none of the dependencies), and every Depends is checked apart
#      against this machine's packages (installed, or a candidate apt would install);
#   3. the installed programs run on the host's libraries: fsb-agent --version,
#      fsb-controller --help, fsb --version, fsb completion bash (the same as the
#      installed completion file); the installed agent finds fsb-init and fsb-logger
#      through its /usr/bin symlink (it copies them to its --state-dir); the controller,
#      run with its unit's command line and /etc/default file as an unprivileged user,
#      serves an authenticated `fsb ls` and refuses a bad token;
#   4. systemd-analyze verify accepts the installed units, run from the root;
#   5. dpkg --purge removes every file again;
# and the host's /usr, /etc, /lib and dpkg database are as before.
#
# Usage: deb_package_test.sh --build-dir DIR --version X.Y.Z
set -euo pipefail

build_dir="" version=""
while (($#)); do
  case "$1" in
    --build-dir) build_dir="$2"; shift 2 ;;
    --version) version="$2"; shift 2 ;;
    *) echo "deb_package_test: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -d "${build_dir}" && -n "${version}" ]] || {
  echo "usage: $0 --build-dir DIR --version X.Y.Z" >&2
  exit 2
}
if ((EUID != 0)); then
  echo "SKIP: deb_package_test needs root (dpkg --root, the agent's start)"
  exit 77
fi

failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
tmp="$(mktemp -d)"
agent_pid="" controller_pid=""
cleanup() {
  local pid
  for pid in ${agent_pid} ${controller_pid}; do kill -KILL "${pid}" 2>/dev/null || true; done
  rm -rf "${tmp}"
}
trap cleanup EXIT

host_paths=(/usr/bin/fsb /usr/bin/fsb-agent /usr/bin/fsb-controller /usr/lib/fsb
  /lib/systemd/system/fsb-agent.service /lib/systemd/system/fsb-controller.service
  /etc/default/fsb-agent /etc/default/fsb-controller
  /usr/share/bash-completion/completions/fsb)
host_state() {
  local p
  for p in "${host_paths[@]}"; do
    if [[ -e "${p}" || -L "${p}" ]]; then stat -c '%n %s %Y' "${p}"; else echo "${p} absent"; fi
  done
  # Other packages may come and go meanwhile: only fsb's traces count.
  dpkg-query -W -f='${Package} ${Version} ${Status}\n' fsb 2>&1 || true
  ls /var/lib/dpkg/info/fsb.* 2>&1 || true
  grep -c ' fsb:' /var/log/dpkg.log 2>/dev/null || true
}
host_before="$(host_state)"

# 1. Build.
cmake --build "${build_dir}" --target deb >"${tmp}/package.log" 2>&1 || {
  cat "${tmp}/package.log"
  echo "FAIL: cmake --build ${build_dir} --target deb"
  exit 1
}
deb="${build_dir}/fsb_${version}_amd64.deb"
[[ -f "${deb}" ]] || { echo "FAIL: ${deb} was not made"; exit 1; }
echo "package: ${deb} ($(stat -c %s "${deb}") bytes)"

contents="$(dpkg-deb -c "${deb}" | awk '{print $6 ($7 == "->" ? " -> " $8 : "")}')"
for path in ./usr/bin/fsb ./usr/bin/fsb-controller "./usr/bin/fsb-agent -> ../lib/fsb/fsb-agent" \
    ./usr/lib/fsb/fsb-agent ./usr/lib/fsb/fsb-init ./usr/lib/fsb/fsb-logger \
    ./usr/bin/fsb-gen-certs ./usr/bin/fsb-add-token \
    ./lib/systemd/system/fsb-controller.service ./lib/systemd/system/fsb-agent.service \
    ./etc/default/fsb-controller ./etc/default/fsb-agent \
    ./usr/share/bash-completion/completions/fsb; do
  grep -qxF -- "${path}" <<<"${contents}" || fail "the package lacks ${path}"
done
[[ "$(dpkg-deb -f "${deb}" Package)" == fsb ]] || fail "Package: is not fsb"
[[ "$(dpkg-deb -f "${deb}" Version)" == "${version}" ]] || fail "Version: is not ${version}"
[[ "$(dpkg-deb -f "${deb}" Architecture)" == amd64 ]] || fail "Architecture: is not amd64"
depends="$(dpkg-deb -f "${deb}" Depends)"
for needed in containerd runc containernetworking-plugins nftables iptables libc6 \
    libgrpc++1.51 libstdc++6; do
  grep -qE "(^|, )${needed//+/\\+}( |,|$)" <<<"${depends}" ||
    fail "Depends: lacks ${needed} (${depends})"
done
mkdir -p "${tmp}/control"
dpkg-deb -e "${deb}" "${tmp}/control"
[[ "$(sort "${tmp}/control/conffiles")" == $'/etc/default/fsb-agent\n/etc/default/fsb-controller' ]] ||
  fail "conffiles: $(cat "${tmp}/control/conffiles")"

# 2. Install into an empty root with its own dpkg database.
root="${tmp}/root"
admin="${root}/var/lib/dpkg"
mkdir -p "${admin}/info" "${admin}/updates" "${root}/var/log"
touch "${admin}/status" "${admin}/available"
dpkg_root=(dpkg --root="${root}" --admindir="${admin}" --log="${root}/var/log/dpkg.log"
  --force-not-root --force-depends)
"${dpkg_root[@]}" -i "${deb}" >"${tmp}/dpkg-i.log" 2>&1 || {
  cat "${tmp}/dpkg-i.log"
  fail "dpkg --root -i"
}
status="$(dpkg-query --admindir="${admin}" -W -f='${Status} ${Version}' fsb 2>&1 || true)"
[[ "${status}" == "install ok installed ${version}" ]] || fail "dpkg status in the root: ${status}"
conffiles="$(dpkg-query --admindir="${admin}" -W -f='${Conffiles}' fsb)"
for c in /etc/default/fsb-agent /etc/default/fsb-controller; do
  grep -q " ${c} " <<<"${conffiles}" || fail "${c} is not a registered conffile"
done

# Every Depends is satisfiable here: installed in a version that satisfies it, else a
# candidate apt would install that does.
IFS=',' read -ra items <<<"${depends}"
for item in "${items[@]}"; do
  item="$(sed 's/^ *//; s/ *$//' <<<"${item}")"
  name="${item%% *}"
  relation="" wanted=""
  if [[ "${item}" =~ \(([<>=]+)\ *([^\)]+)\) ]]; then
    relation="${BASH_REMATCH[1]}"
    wanted="${BASH_REMATCH[2]}"
  fi
  have="$(dpkg-query -W -f='${Status} ${Version}' "${name}" 2>/dev/null | sed -n 's/^install ok installed //p')"
  if [[ -z "${have}" ]]; then
    have="$(apt-cache policy "${name}" 2>/dev/null | sed -n 's/^ *Candidate: //p')"
    [[ "${have}" == "(none)" ]] && have=""
  fi
  if [[ -z "${have}" ]]; then
    fail "Depends ${item}: neither installed nor installable here"
  elif [[ -n "${relation}" ]] && ! dpkg --compare-versions "${have}" "${relation}" "${wanted}"; then
    fail "Depends ${item}: this machine has ${have}"
  fi
done

# 3. The installed programs, on the host's libraries.
out="$("${root}/usr/bin/fsb-agent" --version 2>&1)" || fail "fsb-agent --version exited $?"
[[ "${out}" == "fsb-agent version ${version}"* ]] || fail "fsb-agent --version: ${out}"
out="$("${root}/usr/bin/fsb-controller" --version 2>&1)" || fail "fsb-controller --version exited $?"
[[ "${out}" == "fsb-controller version ${version}"* ]] || fail "fsb-controller --version: ${out}"
out="$("${root}/usr/bin/fsb-controller" --help 2>&1 || true)"
for flag in -tls_cert -tokens_file -data_dir -fastpath_bind_address; do
  grep -q -- "^    ${flag} " <<<"${out}" || fail "fsb-controller --help does not list ${flag}"
done
out="$("${root}/usr/bin/fsb" --version 2>&1)" || fail "fsb --version exited $?"
[[ "${out}" == "fsb version ${version}" ]] || fail "fsb --version: ${out}"
"${root}/usr/bin/fsb" completion bash >"${tmp}/completion" || fail "fsb completion bash"
cmp -s "${tmp}/completion" "${root}/usr/share/bash-completion/completions/fsb" ||
  fail "the installed completion is not what the installed fsb prints"
bash -n "${root}/usr/share/bash-completion/completions/fsb" || fail "the completion is not valid bash"
"${root}/usr/bin/fsb-gen-certs" --dir "${tmp}/pki" --agent node-a >/dev/null 2>&1 ||
  fail "fsb-gen-certs"
[[ -s "${tmp}/pki/controller.key" && -s "${tmp}/pki/agent-node-a.crt" ]] || fail "fsb-gen-certs made no files"
"${root}/usr/bin/fsb-add-token" --file "${tmp}/tokens.yaml" --subject admin --role admin \
  --token-out "${tmp}/token" 2>/dev/null || fail "fsb-add-token"
grep -q 'role: admin' "${tmp}/tokens.yaml" 2>/dev/null || fail "fsb-add-token wrote no entry"

# The installed agent copies its helpers from its own folder into --state-dir/bin before
# it reaches containerd; a socket that does not exist keeps it away from the host's.
state="${tmp}/agent-state"
"${root}/usr/bin/fsb-agent" --insecure --sandbox-network=host --state-dir="${state}" \
  --containerd-socket="${tmp}/no-containerd.sock" --listen-address=127.0.0.1:0 \
  --metrics-bind-address=127.0.0.1:0 --pprof-bind-address= --controller=127.0.0.1:1 \
  --agent-oom-score-adj=0 >"${tmp}/agent.log" 2>&1 &
agent_pid=$!
for _ in $(seq 1 300); do
  [[ -x "${state}/bin/fsb-init" && -x "${state}/bin/fsb-logger" ]] && break
  kill -0 "${agent_pid}" 2>/dev/null || break
  sleep 0.1
done
kill -TERM "${agent_pid}" 2>/dev/null || true
wait "${agent_pid}" 2>/dev/null || true
agent_pid=""
for helper in fsb-init fsb-logger; do
  cmp -s "${state}/bin/${helper}" "${root}/usr/lib/fsb/${helper}" ||
    { cat "${tmp}/agent.log"; fail "the installed fsb-agent did not find ${helper}"; }
done

# The installed controller, run the way its unit runs it: the unit's ExecStart= line with
# $FSB_CONTROLLER_OPTS from the installed /etc/default file and %d, the credentials
# directory, holding copies of the LoadCredential= files (from fsb-gen-certs and
# fsb-add-token), as an unprivileged user; only the listeners (free loopback ports) and
# --data-dir (the StateDirectory= stand-in) are overridden. It must serve an
# authenticated `fsb ls`.
unit="${root}/lib/systemd/system/fsb-controller.service"
chmod 0711 "${tmp}"
creds="${tmp}/credentials"
mkdir -p "${creds}"
while IFS=: read -r name source; do
  case "${source}" in
    /etc/fsb/pki/*) cp "${tmp}/pki/${source#/etc/fsb/pki/}" "${creds}/${name}" ;;
    /etc/fsb/tokens.yaml) cp "${tmp}/tokens.yaml" "${creds}/${name}" ;;
    *) fail "LoadCredential=${name}:${source} is not a file fsb-gen-certs or fsb-add-token makes" ;;
  esac
done < <(sed -n 's/^LoadCredential=//p' "${unit}")
[[ "$(ls "${creds}" | wc -l)" == 4 ]] || fail "the unit loads $(ls "${creds}" | wc -l) credentials, not 4"
data="${tmp}/controller-data"
mkdir -p "${data}"
chown -R nobody: "${creds}" "${data}"
chmod 0500 "${creds}"
chmod 0400 "${creds}"/*
opts="$(set -a; source "${root}/etc/default/fsb-controller"; echo "${FSB_CONTROLLER_OPTS}")"
line="$(sed -n 's/^ExecStart=//p' "${unit}")"
line="${line//%d/${creds}}"
line="${line//\$FSB_CONTROLLER_OPTS/${opts}}"
read -ra argv <<<"${line}"
[[ "${argv[0]}" == /usr/bin/fsb-controller ]] || fail "ExecStart= runs ${argv[0]}"
argv[0]="${root}/usr/bin/fsb-controller"
read -r api_port agent_api_port metrics_port < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])')
setpriv --reuid=nobody --regid=nogroup --clear-groups --no-new-privs -- "${argv[@]}" \
  --data-dir="${data}" --fastpath-bind-address="127.0.0.1:${api_port}" \
  --agent-bind-address="127.0.0.1:${agent_api_port}" \
  --metrics-bind-address="127.0.0.1:${metrics_port}" --pprof-bind-address= \
  >"${tmp}/controller.log" 2>&1 &
controller_pid=$!
ready=0
for _ in $(seq 1 300); do
  if curl -fsS "http://127.0.0.1:${metrics_port}/readyz" >/dev/null 2>&1; then ready=1; break; fi
  kill -0 "${controller_pid}" 2>/dev/null || break
  sleep 0.1
done
if ((ready)); then
  "${root}/usr/bin/fsb" --endpoint="127.0.0.1:${api_port}" --ca="${tmp}/pki/ca.crt" \
    --token="$(cat "${tmp}/token")" ls >"${tmp}/ls.out" 2>&1 ||
    fail "fsb ls against the unit's controller: $(cat "${tmp}/ls.out")"
  "${root}/usr/bin/fsb" --endpoint="127.0.0.1:${api_port}" --ca="${tmp}/pki/ca.crt" \
    --token=not-a-token ls >/dev/null 2>&1 && fail "the unit's controller took a bad token"
  [[ "$(stat -c %U "${data}/fsb.db")" == nobody ]] || fail "the store is not the service user's"
  echo "controller: ${argv[*]:1} as nobody: ready, fsb ls ok, a bad token refused"
else
  cat "${tmp}/controller.log"
  fail "the controller run as its unit runs it never became ready"
fi
kill -TERM "${controller_pid}" 2>/dev/null || true
wait "${controller_pid}" || fail "the controller exited $? on SIGTERM"
controller_pid=""

# 4. The installed units: systemd-analyze verify on copies whose ExecStart= runs the
# installed binaries (--root would need a whole systemd in the root).
mkdir -p "${tmp}/units"
for unit in fsb-controller.service fsb-agent.service; do
  sed "s#^ExecStart=/usr/bin/#ExecStart=${root}/usr/bin/#" "${root}/lib/systemd/system/${unit}" \
    >"${tmp}/units/${unit}"
  if ! out="$(systemd-analyze verify --man=no "${tmp}/units/${unit}" 2>&1)" || [[ -n "${out}" ]]; then
    fail "systemd-analyze verify ${unit}: ${out}"
  fi
done
grep -q "^EnvironmentFile=-/etc/default/fsb-agent$" "${root}/lib/systemd/system/fsb-agent.service" ||
  fail "fsb-agent.service does not read /etc/default/fsb-agent"

# 5. Purge.
"${dpkg_root[@]}" --purge fsb >"${tmp}/dpkg-purge.log" 2>&1 || {
  cat "${tmp}/dpkg-purge.log"
  fail "dpkg --root --purge"
}
left="$(find "${root}" \( -path "${root}/var" -prune \) -o \( -type f -o -type l \) -print)"
[[ -z "${left}" ]] || fail "dpkg --purge left: ${left}"

host_after="$(host_state)"
[[ "${host_before}" == "${host_after}" ]] ||
  fail "the host changed: before: ${host_before}; after: ${host_after}"

if ((failures)); then
  echo "deb_package_test: ${failures} failure(s)"
  exit 1
fi
echo "deb_package_test: fsb_${version}_amd64.deb installed, run, verified and purged in ${root}"
