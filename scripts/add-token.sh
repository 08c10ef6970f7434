#!/usr/bin/env bash
# Adds a client to fsb-controller's --tokens-file: makes a random bearer token, appends
# its SHA-256 with the subject, role and namespaces, and writes the token itself to
# --token-out (mode 0600) or, without it, to stdout. The file keeps only the hash; the
# controller picks the new version up within a second (or on SIGHUP).
#
#   scripts/add-token.sh --file FILE --subject NAME --role admin|user|viewer
#       [--namespaces NS[,NS...]|*] [--expires 2027-01-01T00:00:00Z] [--token-out FILE]
#
# user and viewer need --namespaces ("*": every namespace); admin takes none. The file is
# created when missing and replaced atomically (a rename), so the controller never
# reads half of it. Revoking a token: delete its entry from the file.
set -euo pipefail

usage() {
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

file="" subject="" role="" namespaces="" expires="" token_out=""
while (($#)); do
  case "$1" in
    --file) file="${2:?--file needs a value}"; shift 2 ;;
    --subject) subject="${2:?--subject needs a value}"; shift 2 ;;
    --role) role="${2:?--role needs a value}"; shift 2 ;;
    --namespaces) namespaces="${2:?--namespaces needs a value}"; shift 2 ;;
    --expires) expires="${2:?--expires needs a value}"; shift 2 ;;
    --token-out) token_out="${2:?--token-out needs a value}"; shift 2 ;;
    -h|--help) usage ;;
    *) echo "add-token: unknown argument $1" >&2; usage ;;
  esac
done
[[ -n "${file}" && -n "${subject}" && -n "${role}" ]] || usage
if [[ ! "${subject}" =~ ^[[:graph:]]+$ ]]; then
  echo "add-token: --subject must be printable without spaces" >&2
  exit 2
fi
case "${role}" in
  admin)
    if [[ -n "${namespaces}" ]]; then
      echo "add-token: an admin has every namespace; drop --namespaces" >&2
      exit 2
    fi ;;
  user|viewer)
    if [[ -z "${namespaces}" ]]; then
      echo "add-token: --role ${role} needs --namespaces (\"*\" for all)" >&2
      exit 2
    fi ;;
  *) echo "add-token: --role must be admin, user or viewer" >&2; exit 2 ;;
esac

token="$(openssl rand -hex 32)"
sha="$(printf %s "${token}" | sha256sum | cut -d' ' -f1)"

entry="  - subject: ${subject}
    sha256: ${sha}
    role: ${role}"
if [[ -n "${namespaces}" ]]; then
  list=""
  IFS=, read -ra parts <<<"${namespaces}"
  for ns in "${parts[@]}"; do list+="${list:+, }\"${ns}\""; done
  entry+="
    namespaces: [${list}]"
fi
if [[ -n "${expires}" ]]; then entry+="
    expires: ${expires}"; fi

mkdir -p "$(dirname "${file}")"
tmp="$(mktemp "${file}.XXXXXX")"
trap 'rm -f "${tmp}"' EXIT
if [[ -s "${file}" ]]; then
  # An empty list ("tokens: []") cannot take a new item: start the list afresh.
  if grep -qE '^tokens:[[:space:]]*\[\][[:space:]]*$' "${file}"; then
    echo "tokens:" >"${tmp}"
  else
    cat "${file}" >"${tmp}"
  fi
else
  echo "tokens:" >"${tmp}"
fi
printf '%s\n' "${entry}" >>"${tmp}"
chmod 0600 "${tmp}"
mv "${tmp}" "${file}"
trap - EXIT

if [[ -n "${token_out}" ]]; then
  (umask 077 && printf '%s\n' "${token}" >"${token_out}")
  echo "add-token: ${subject} (${role}) added to ${file}; token in ${token_out}" >&2
else
  printf '%s\n' "${token}"
fi
