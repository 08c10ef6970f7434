#!/usr/bin/env bash
# Creates fsb's cluster PKI with openssl: a CA, the controller's certificate and one per
# agent, each an ECDSA P-256 key with a certificate signed by the CA.
#
# Usage: scripts/gen-certs.sh --dir DIR [--agent ID]... [--controller-san SAN]... [--days N]
#   --dir             where the files go (created; mode 0700). An existing CA there is
#                     reused, so that agents can be added later; existing certificates
#                     are kept unless --force.
#   --agent ID        an agent certificate for agent id ID (repeatable)
#   --controller-san  an extra subject alternative name of the controller, as openssl
#                     spells it: DNS:fsb.example.com or IP:10.0.0.5 (repeatable)
#   --days N          validity of the certificates (default 365; the CA gets 10 years)
#   --force           replace existing controller and agent certificates
#
# Files (PEM): ca.crt ca.key, controller.crt controller.key, agent-ID.crt agent-ID.key.
# Identities: the controller's certificate names DNS:fsb-controller (the name agents
# verify), DNS:localhost and IP:127.0.0.1 plus --controller-san; an agent's names
# DNS:ID, its agent id (the name the controller verifies when it dials the agent, and
# the id it may register as). Both may serve and dial (serverAuth, clientAuth).
set -euo pipefail

dir=""
agents=()
sans=()
days=365
force=0
while (($#)); do
  case "$1" in
    --dir) dir="$2"; shift 2 ;;
    --agent) agents+=("$2"); shift 2 ;;
    --controller-san) sans+=("$2"); shift 2 ;;
    --days) days="$2"; shift 2 ;;
    --force) force=1; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "gen-certs.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [[ -z "${dir}" ]]; then
  echo "gen-certs.sh: --dir is required" >&2
  exit 2
fi
if ! [[ "${days}" =~ ^[1-9][0-9]*$ ]]; then
  echo "gen-certs.sh: --days \"${days}\" is not a positive number" >&2
  exit 2
fi
# Agent ids are DNS subdomains (the agents' --agent-id rule).
for id in ${agents[@]+"${agents[@]}"}; do
  if ! [[ "${id}" =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$ ]] ||
      ((${#id} > 253)); then
    echo "gen-certs.sh: --agent \"${id}\" is not a DNS subdomain (lowercase letters, digits, '-', '.')" >&2
    exit 2
  fi
done
for san in ${sans[@]+"${sans[@]}"}; do
  if ! [[ "${san}" =~ ^(DNS|IP):[^,]+$ ]]; then
    echo "gen-certs.sh: --controller-san \"${san}\" must be DNS:NAME or IP:ADDRESS" >&2
    exit 2
  fi
done

mkdir -p "${dir}"
chmod 0700 "${dir}"
umask 077

if [[ ! -s "${dir}/ca.key" || ! -s "${dir}/ca.crt" ]]; then
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "${dir}/ca.key" -out "${dir}/ca.crt" -days 3650 -subj "/CN=fsb cluster CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  echo "gen-certs.sh: created the CA ${dir}/ca.crt"
fi

# issue NAME CN SAN...: NAME.key and NAME.crt signed by the CA.
issue() {
  local name="$1" cn="$2"
  shift 2
  if [[ -s "${dir}/${name}.crt" && -s "${dir}/${name}.key" ]] && ((!force)); then
    echo "gen-certs.sh: kept ${dir}/${name}.crt"
    return
  fi
  local san
  san="$(IFS=,; echo "$*")"
  local ext
  ext="$(mktemp)"
  printf '%s\n' "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=serverAuth,clientAuth" "subjectAltName=${san}" >"${ext}"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "${dir}/${name}.key" -out "${dir}/${name}.csr" -subj "/CN=${cn}" 2>/dev/null
  openssl x509 -req -in "${dir}/${name}.csr" -CA "${dir}/ca.crt" -CAkey "${dir}/ca.key" \
    -CAcreateserial -out "${dir}/${name}.crt" -days "${days}" -extfile "${ext}" 2>/dev/null
  rm -f "${dir}/${name}.csr" "${ext}"
  echo "gen-certs.sh: issued ${dir}/${name}.crt (CN=${cn}, ${san})"
}

issue controller fsb-controller DNS:fsb-controller DNS:localhost IP:127.0.0.1 \
  ${sans[@]+"${sans[@]}"}
for id in ${agents[@]+"${agents[@]}"}; do
  issue "agent-${id}" "${id}" "DNS:${id}"
done
chmod 0644 "${dir}"/*.crt
