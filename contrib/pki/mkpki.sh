#!/usr/bin/env bash
# mkpki.sh OUTDIR [--force]
#
# Build zonegate's test PKI with the openssl CLI: a CA, a server
# certificate for localhost, and client certificates covering every case the
# TLS layer, the identity extraction and the Modbus/TCP Security role have to
# handle.  All keys are ECDSA P-256 (fast).  FOR TESTS AND THE QUICK START
# ONLY: the keys are unencrypted.
#
# Idempotent: when OUTDIR already holds a complete PKI made by this version
# of the script, nothing is done (pass --force to rebuild).  A run builds
# into a temporary folder and moves the result into place, so an interrupted
# run never leaves a half-made PKI behind.
#
# Files (every .crt is PEM, every .key a PEM PKCS#8 private key):
#   ca.crt ca.key                 test CA "zonegate test CA"
#   ca.crl                        CRL of the test CA (revokes client-revoked)
#   server.crt server.key         CN localhost, SAN DNS:localhost, IP:127.0.0.1
#   client-uri.*                  SAN URI spiffe://plant.example/hmi-1
#   client-dns.*                  SAN DNS hmi-2.plant.example (no URI)
#   client-cn.*                   CN hmi-3 only, no SAN at all
#   client-role.*                 URI .../operator-1, Modbus role "operator"
#   client-role2.*                URI .../engineer-1, TWO role extensions
#   client-badrole.*              URI .../badrole-1, role as PrintableString
#   client-badrole-int.*          URI .../badrole-2, role as an INTEGER
#   client-expired.*              valid 2020-01-01 .. 2021-01-01
#   client-future.*               valid 2090-01-01 .. 2091-01-01
#   client-revoked.*              URI .../revoked-1, listed in ca.crl
#   wrongca.crt wrongca.key       a second, untrusted CA
#   client-wrongca.*              URI .../hmi-1 issued by the wrong CA
#
# The Modbus/TCP Security role is X.509 extension 1.3.6.1.4.1.50316.802.1
# holding a DER UTF8String.  openssl's config files cannot put the same
# extension twice into one certificate, so client-role2 is made by issuing a
# certificate with a placeholder OID (...802.2), patching the OID in the
# to-be-signed part and signing that with the CA key again.
set -euo pipefail

VERSION=3
OPENSSL=${OPENSSL:-openssl}

usage() {
	echo "usage: $0 OUTDIR [--force]" >&2
	exit 2
}

[ $# -ge 1 ] || usage
OUT=$1
FORCE=0
[ "${2:-}" = "--force" ] && FORCE=1

if ! command -v "$OPENSSL" >/dev/null 2>&1; then
	echo "mkpki: openssl not found: install the Debian package openssl" >&2
	exit 1
fi
if ! command -v perl >/dev/null 2>&1; then
	echo "mkpki: perl not found: install the Debian package perl-base" >&2
	exit 1
fi

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
# Concurrent runs on one OUTDIR (parallel make check) must not mix the files
# of two PKIs: the first builds, the others wait and find it complete.
if command -v flock >/dev/null 2>&1; then
	exec 9>"$OUT/.mkpki.lock"
	flock 9
fi
if [ "$FORCE" = 0 ] && [ -f "$OUT/.mkpki-complete" ] &&
   [ "$(cat "$OUT/.mkpki-complete")" = "$VERSION" ]; then
	exit 0
fi
rm -f "$OUT/.mkpki-complete"

WORK=$(mktemp -d "$OUT/.mkpki.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
umask 077

# -- configuration -------------------------------------------------------
cat > openssl.cnf <<'EOF'
[ req ]
distinguished_name = req_dn
prompt = no
[ req_dn ]
CN = unused

[ ca ]
default_ca = test_ca
[ test_ca ]
database = db/index.txt
new_certs_dir = db/new
serial = db/serial
crlnumber = db/crlnumber
default_md = sha256
default_crl_days = 3650
policy = policy_any
unique_subject = no
copy_extensions = none
email_in_dn = no
preserve = yes
[ policy_any ]
organizationName = optional
commonName = supplied

[ v3_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[ server ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:localhost, IP:127.0.0.1

[ client_uri ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = URI:spiffe://plant.example/hmi-1, DNS:hmi-1.plant.example

[ client_dns ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:hmi-2.plant.example

[ client_cn ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[ client_role ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = URI:spiffe://plant.example/operator-1
1.3.6.1.4.1.50316.802.1 = ASN1:UTF8String:operator

# Second role extension under a placeholder OID, patched afterwards.
[ client_role2 ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = URI:spiffe://plant.example/engineer-1
1.3.6.1.4.1.50316.802.1 = ASN1:UTF8String:operator
1.3.6.1.4.1.50316.802.2 = ASN1:UTF8String:engineer

[ client_badrole ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = URI:spiffe://plant.example/badrole-1
1.3.6.1.4.1.50316.802.1 = ASN1:PRINTABLESTRING:operator

[ client_badrole_int ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = URI:spiffe://plant.example/badrole-2
1.3.6.1.4.1.50316.802.1 = ASN1:INTEGER:7

[ client_revoked ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = URI:spiffe://plant.example/revoked-1
EOF
export OPENSSL_CONF="$WORK/openssl.cnf"

# -- helpers ---------------------------------------------------------------

# newkey NAME: ECDSA P-256 private key NAME.key
newkey() {
	"$OPENSSL" genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		-out "$1.key" 2>/dev/null
}

# newca NAME SUBJECT: a self-signed CA in its own database folder.
newca() {
	newkey "$1"
	"$OPENSSL" req -new -x509 -config openssl.cnf -key "$1.key" \
		-subj "$2" -days 3650 -extensions v3_ca -set_serial 1 \
		-out "$1.crt"
	mkdir -p "db-$1/new"
	: > "db-$1/index.txt"
}

# issue CA NAME SUBJECT SECTION [openssl ca options...]
# A key and a certificate NAME.{key,crt} issued by CA with the extension
# SECTION of openssl.cnf.  Serials come from a per-CA counter, so they are
# the same on every run.
issue() {
	local ca=$1 name=$2 subj=$3 section=$4
	shift 4
	newkey "$name"
	"$OPENSSL" req -new -config openssl.cnf -key "$name.key" -subj "$subj" \
		-out "$name.csr"
	rm -rf db && ln -s "db-$ca" db
	"$OPENSSL" ca -batch -config openssl.cnf -cert "$ca.crt" \
		-keyfile "$ca.key" -in "$name.csr" -out "$name.crt" \
		-extensions "$section" -notext "$@" 2>/dev/null
	rm -f "$name.csr"
}

# dupe_role NAME CA: replace the placeholder OID 1.3.6.1.4.1.50316.802.2 in
# NAME.crt by the role OID ...802.1 and sign the result with CA's key.
dupe_role() {
	local name=$1 ca=$2
	"$OPENSSL" x509 -in "$name.crt" -outform DER -out "$name.der"
	perl -e '
		use strict; use warnings;
		my ($in) = @ARGV;
		open(my $f, "<:raw", $in) or die "$in: $!";
		local $/; my $c = <$f>; close $f;
		# DER length at offset $o: returns (header length, content length).
		sub dlen { my ($s, $o) = @_; my $b = ord(substr($s, $o + 1, 1));
			return (2, $b) if $b < 0x80; my $n = $b & 0x7f; my $l = 0;
			$l = ($l << 8) | ord(substr($s, $o + 2 + $_, 1)) for 0 .. $n - 1;
			return (2 + $n, $l); }
		my ($h, undef) = dlen($c, 0);
		my ($th, $tl) = dlen($c, $h);
		my $tbs = substr($c, $h, $th + $tl);
		my $rest = substr($c, $h + $th + $tl);
		my ($ah, $al) = dlen($rest, 0);
		my $alg = substr($rest, 0, $ah + $al);
		my $from = "\x2b\x06\x01\x04\x01\x83\x89\x0c\x86\x22\x02";
		my $to   = "\x2b\x06\x01\x04\x01\x83\x89\x0c\x86\x22\x01";
		my $n = ($tbs =~ s/\Q$from\E/$to/g);
		die "placeholder OID found $n times\n" unless $n == 1;
		open(my $t, ">:raw", "tbs.der") or die; print $t $tbs; close $t;
		open(my $a, ">:raw", "alg.der") or die; print $a $alg; close $a;
	' "$name.der"
	"$OPENSSL" dgst -sha256 -sign "$ca.key" -out sig.der tbs.der
	perl -e '
		use strict; use warnings;
		sub slurp { open(my $f, "<:raw", $_[0]) or die "$_[0]: $!";
			local $/; my $d = <$f>; close $f; return $d; }
		sub enc { my ($tag, $body) = @_; my $l = length $body; my $len;
			if ($l < 0x80) { $len = chr($l) }
			elsif ($l < 0x100) { $len = "\x81" . chr($l) }
			else { $len = "\x82" . pack("n", $l) }
			return chr($tag) . $len . $body; }
		my $cert = enc(0x30, slurp("tbs.der") . slurp("alg.der") .
			enc(0x03, "\x00" . slurp("sig.der")));
		open(my $o, ">:raw", $ARGV[0]) or die; print $o $cert; close $o;
	' "$name.der"
	"$OPENSSL" x509 -inform DER -in "$name.der" -out "$name.crt"
	rm -f "$name.der" tbs.der alg.der sig.der
}

# -- the PKI -------------------------------------------------------------
newca ca "/O=zonegate test/CN=zonegate test CA"
echo 1000 > db-ca/serial
echo 1000 > db-ca/crlnumber

issue ca server "/O=zonegate test/CN=localhost" server -days 3650
issue ca client-uri "/O=zonegate test/CN=hmi-1" client_uri -days 3650
issue ca client-dns "/O=zonegate test/CN=hmi-2" client_dns -days 3650
issue ca client-cn "/O=zonegate test/CN=hmi-3" client_cn -days 3650
issue ca client-role "/O=zonegate test/CN=operator-1" client_role -days 3650
issue ca client-role2 "/O=zonegate test/CN=engineer-1" client_role2 -days 3650
dupe_role client-role2 ca
issue ca client-badrole "/O=zonegate test/CN=badrole-1" client_badrole -days 3650
issue ca client-badrole-int "/O=zonegate test/CN=badrole-2" client_badrole_int \
	-days 3650
issue ca client-expired "/O=zonegate test/CN=expired-1" client_uri \
	-startdate 20200101000000Z -enddate 20210101000000Z
issue ca client-future "/O=zonegate test/CN=future-1" client_uri \
	-startdate 20900101000000Z -enddate 20910101000000Z
issue ca client-revoked "/O=zonegate test/CN=revoked-1" client_revoked -days 3650

rm -rf db && ln -s db-ca db
"$OPENSSL" ca -batch -config openssl.cnf -cert ca.crt -keyfile ca.key \
	-revoke client-revoked.crt -crl_reason keyCompromise 2>/dev/null
"$OPENSSL" ca -batch -config openssl.cnf -cert ca.crt -keyfile ca.key \
	-gencrl -out ca.crl 2>/dev/null

newca wrongca "/O=zonegate test/CN=zonegate wrong CA"
echo 2000 > db-wrongca/serial
echo 2000 > db-wrongca/crlnumber
issue wrongca client-wrongca "/O=zonegate test/CN=hmi-1" client_uri -days 3650

# Certificates are public: readable by the test peers.
chmod 644 ./*.crt ca.crl

# -- move into place -----------------------------------------------------
for f in ./*.key ./*.crt ca.crl; do
	mv -f "$f" "$OUT/"
done
echo "$VERSION" > "$OUT/.mkpki-complete"
