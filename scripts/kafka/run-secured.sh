#!/usr/bin/env bash
# A PRIVATE Apache Kafka with authentication, for a test that owns it (the pubsub.kafka auth tests):
# the same cached jars and configuration template as run-private.sh (scripts/kafka/kafka.sh,
# server.properties.in), plus one listener per way a client may authenticate, all on 127.0.0.1:
#
#   scripts/kafka/run-secured.sh PLAINTEXT_PORT SASL_PLAINTEXT_PORT SASL_SSL_PORT SSL_PORT CONTROLLER_PORT DATA_DIR
#
#   PLAINTEXT_PORT       no authentication: inter-broker traffic and the readiness check
#                        (`scripts/kafka/kafka.sh ready PLAINTEXT_PORT 90`)
#   SASL_PLAINTEXT_PORT  SASL PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, no TLS
#   SASL_SSL_PORT        the same SASL mechanisms inside TLS (no client certificate asked for)
#   SSL_PORT             TLS with a client certificate required (mutual TLS)
# The one user of every SASL mechanism is alice, password alice-secret.
#
# On its first use of DATA_DIR it makes, with openssl, into DATA_DIR/tls (PEM; keys unencrypted PKCS#8,
# EC P-256):
#   ca.pem, ca.key                   the CA the broker trusts (clients' caCert)
#   server.pem, server.key           the broker's certificate (SAN IP:127.0.0.1, DNS:localhost), by ca
#   server-keystore.pem              server.key, server.pem and ca.pem: the broker's PEM keystore
#   client.pem, client.key           a client certificate (CN=checkout) by ca: mTLS is accepted
#   untrusted-ca.pem, untrusted-ca.key             a CA nobody trusts (a wrong caCert)
#   untrusted-client.pem, untrusted-client.key     a client certificate by it: mTLS is refused
# then formats DATA_DIR (a new single-node KRaft cluster, alice's SCRAM credentials in it) and becomes
# the broker (exec): it runs in the FOREGROUND as this very process, its log on standard output. So
# the harness owns it, as run-private.sh describes: start it as a child, wait with a deadline until
# `scripts/kafka/kafka.sh ready PLAINTEXT_PORT 90` exits 0 while the child lives, kill it and always
# reap it. Remove DATA_DIR when the test is done.
set -euo pipefail

if [ $# -ne 6 ]; then
  echo "usage: $0 PLAINTEXT_PORT SASL_PLAINTEXT_PORT SASL_SSL_PORT SSL_PORT CONTROLLER_PORT DATA_DIR" >&2
  exit 2
fi
port=$1 sasl_plaintext_port=$2 sasl_ssl_port=$3 ssl_port=$4 controller_port=$5
mkdir -p "$6"
dir=$(cd "$6" && pwd)

# shellcheck source=scripts/kafka/kafka.sh
. "$(dirname "${BASH_SOURCE[0]}")/kafka.sh"

command -v openssl >/dev/null || { echo "kafka: no openssl on PATH (it makes the test certificates)" >&2; exit 1; }

# Certificates, made in a folder beside DATA_DIR/tls and renamed: the folder appears whole.
make_tls() {
  local tls=$dir/tls tmp=$dir/tls.partial
  [ -d "$tls" ] && return 0
  rm -rf "$tmp"
  mkdir -p "$tmp"
  cat >"$tmp/openssl.cnf" <<'EOF'
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
EOF
  # openssl's chatter goes to a log, shown if a step fails (set -e ends the script there).
  # shellcheck disable=SC2064 # $tmp is expanded now, while it is in scope.
  trap "echo 'kafka: making the test certificates in $tmp failed; openssl said:' >&2; cat '$tmp/openssl.log' >&2" EXIT
  key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/$1.key" 2>>"$tmp/openssl.log"; }
  # ca NAME SUBJECT: a self-signed CA.
  ca() {
    key "$1"
    openssl req -x509 -new -key "$tmp/$1.key" -subj "$2" -days 3650 -config "$tmp/openssl.cnf" -extensions ca -out "$tmp/$1.pem" \
      2>>"$tmp/openssl.log"
  }
  # leaf NAME SUBJECT CA EXTENSIONS: a certificate signed by CA.
  leaf() {
    key "$1"
    openssl req -new -key "$tmp/$1.key" -subj "$2" -config "$tmp/openssl.cnf" 2>>"$tmp/openssl.log" \
      | openssl x509 -req -CA "$tmp/$3.pem" -CAkey "$tmp/$3.key" -set_serial "0x$(openssl rand -hex 8)" -days 3650 \
        -extfile "$tmp/openssl.cnf" -extensions "$4" -out "$tmp/$1.pem" 2>>"$tmp/openssl.log"
  }
  ca ca "/CN=dapr-rs test CA"
  leaf server "/CN=localhost" ca server
  leaf client "/CN=checkout" ca client
  ca untrusted-ca "/CN=dapr-rs untrusted CA"
  leaf untrusted-client "/CN=checkout" untrusted-ca client
  cat "$tmp/server.key" "$tmp/server.pem" "$tmp/ca.pem" >"$tmp/server-keystore.pem"
  mv "$tmp" "$tls"
  trap - EXIT
}

make_tls
kafka_fetch
kafka_config "$port" "$controller_port" "$dir"
# Overrides of the template's listeners (java Properties: the last value of a key wins).
{
  echo
  echo "# run-secured.sh: one listener per way of authenticating."
  echo "listeners=PLAINTEXT://127.0.0.1:$port,SASL_PLAINTEXT://127.0.0.1:$sasl_plaintext_port,SASL_SSL://127.0.0.1:$sasl_ssl_port,SSL://127.0.0.1:$ssl_port,CONTROLLER://127.0.0.1:$controller_port"
  echo "advertised.listeners=PLAINTEXT://127.0.0.1:$port,SASL_PLAINTEXT://127.0.0.1:$sasl_plaintext_port,SASL_SSL://127.0.0.1:$sasl_ssl_port,SSL://127.0.0.1:$ssl_port"
  echo "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL"
  echo "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"
  for listener in sasl_plaintext sasl_ssl; do
    echo "listener.name.$listener.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_alice=\"alice-secret\";"
    echo "listener.name.$listener.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;"
    echo "listener.name.$listener.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;"
  done
  echo "ssl.keystore.type=PEM"
  echo "ssl.keystore.location=$dir/tls/server-keystore.pem"
  echo "ssl.truststore.type=PEM"
  echo "ssl.truststore.location=$dir/tls/ca.pem"
  echo "listener.name.ssl.ssl.client.auth=required"
} >>"$dir/server.properties"
kafka_format "$dir" \
  --add-scram 'SCRAM-SHA-256=[name=alice,password=alice-secret]' \
  --add-scram 'SCRAM-SHA-512=[name=alice,password=alice-secret]'
kafka_broker_argv "$dir"
exec "${KAFKA_BROKER_ARGV[@]}"
