#!/usr/bin/env bash
# Makes the TLS material of a QstOrleans cluster: a CA, and one certificate + key per silo or client it names, signed by
# that CA (usable as TLS server and client: silos are both). Silos take Qst:Tls:Certificate/Key/Ca, clients
# --tls-cert/--tls-key/--tls-ca (or QST_TLS_CERT/KEY/CA). Identity is "signed by this CA": keep ca.key off the cluster.
#
#   deploy/make-certs.sh OUT_DIR NAME [NAME...]      e.g. deploy/make-certs.sh /etc/qst/tls silo-a silo-b alice
#
# Re-running keeps an existing CA in OUT_DIR (so new names join the same cluster) and refuses to overwrite a name.
set -euo pipefail
if [[ $# -lt 2 ]]; then
  echo "usage: $0 OUT_DIR NAME [NAME...]" >&2
  exit 2
fi
out=$1; shift
days=${QST_CERT_DAYS:-825}
mkdir -p "$out"
umask 077
if [[ ! -f "$out/ca.pem" ]]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$days" \
    -subj "/CN=qst-cluster-ca" -keyout "$out/ca.key" -out "$out/ca.pem" 2>/dev/null
  echo "made CA $out/ca.pem"
fi
for name in "$@"; do
  if [[ ! "$name" =~ ^[A-Za-z0-9._-]+$ ]]; then echo "error: '$name' is not a plain name (letters, digits, . _ -)" >&2; exit 2; fi
  if [[ -e "$out/$name.pem" ]]; then echo "error: $out/$name.pem exists; remove it to re-issue" >&2; exit 2; fi
  ext=$(mktemp)
  trap 'rm -f "$ext"' EXIT
  printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:%s,DNS:qst-cluster\n' "$name" > "$ext"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$name" \
    -keyout "$out/$name.key" -out "$out/$name.csr" 2>/dev/null
  openssl x509 -req -in "$out/$name.csr" -CA "$out/ca.pem" -CAkey "$out/ca.key" -CAcreateserial \
    -days "$days" -extfile "$ext" -out "$out/$name.pem" 2>/dev/null
  rm -f "$out/$name.csr" "$ext"
  echo "made $out/$name.pem + $out/$name.key"
done
