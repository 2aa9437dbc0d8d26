/*
 * test_identity: the pure identity functions.  Certificates come from the
 * test PKI (contrib/pki/mkpki.sh, made in a temporary folder) and from
 * certificates built here for the corner cases openssl's config cannot
 * express (several URIs, control characters, odd role encodings).
 *
 * ZG_WRITE_CORPUS=DIR also writes every certificate used here as DER into
 * DIR: that is how tests/fuzz/corpus/fuzz_identity/ was seeded.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "gateway/identity.h"
#include "tap.h"
#include "pki.h"

static EVP_PKEY *sign_key;

/* Write DER of x as DIR/name.der when ZG_WRITE_CORPUS=DIR is set. */
static void
corpus(X509 *x, const char *name)
{
	const char *dir = getenv("ZG_WRITE_CORPUS");
	unsigned char *der = NULL;
	char path[PATH_MAX];
	FILE *f;
	int len;

	if (dir == NULL || x == NULL)
		return;
	len = i2d_X509(x, &der);
	if (len <= 0)
		return;
	snprintf(path, sizeof path, "%s/%s.der", dir, name);
	f = fopen(path, "wb");
	if (f != NULL) {
		fwrite(der, 1, (size_t)len, f);
		fclose(f);
	}
	OPENSSL_free(der);
}

static X509 *
load_cert(const char *name)
{
	char path[PATH_MAX];
	BIO *b;
	X509 *x;

	snprintf(path, sizeof path, "%s/%s.crt", pki, name);
	b = BIO_new_file(path, "r");
	if (b == NULL)
		return NULL;
	x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	corpus(x, name);
	return x;
}

static struct identity *
id_of(const char *name, const char *order)
{
	struct identity_order o;
	struct identity *id;
	char err[256];
	X509 *x = load_cert(name);

	if (x == NULL) {
		diag("cannot read %s.crt", name);
		return NULL;
	}
	memset(&o, 0, sizeof o);
	if (order != NULL && identity_order_parse(order, &o, err, sizeof err) < 0)
		diag("order %s: %s", order, err);
	id = identity_from_x509(x, &o, err, sizeof err);
	if (id == NULL)
		diag("identity of %s: %s", name, err);
	X509_free(x);
	return id;
}

static int
streq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* -- certificates built here ------------------------------------------------ */

struct spec {
	const char *cn[2];     /* up to two CNs (UTF-8) */
	const char *uri[3];    /* URI SANs */
	const char *dns[2];    /* DNS SANs */
	const uint8_t *role[2]; /* raw DER role values */
	size_t role_len[2];
};

static int
add_san(GENERAL_NAMES *gens, int type, const char *v)
{
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_IA5STRING *s = ASN1_IA5STRING_new();

	if (gn == NULL || s == NULL ||
	    !ASN1_STRING_set(s, v, (int)strlen(v))) {
		GENERAL_NAME_free(gn);
		ASN1_IA5STRING_free(s);
		return -1;
	}
	GENERAL_NAME_set0_value(gn, type, s);
	if (!sk_GENERAL_NAME_push(gens, gn)) {
		GENERAL_NAME_free(gn);
		return -1;
	}
	return 0;
}

static X509 *
build(const struct spec *sp, const char *corpus_name)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	ASN1_OBJECT *obj = OBJ_txt2obj(IDENTITY_ROLE_OID, 1);
	ASN1_OCTET_STRING *oct;
	X509_EXTENSION *ext;
	int i, nsan = 0;

	if (x == NULL || name == NULL || gens == NULL || obj == NULL)
		goto fail;
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 4242);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
				   (const unsigned char *)"zonegate test", -1, -1, 0);
	for (i = 0; i < 2 && sp->cn[i]; i++)
		X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
					   (const unsigned char *)sp->cn[i],
					   (int)strlen(sp->cn[i]), -1, 0);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, name);
	X509_set_pubkey(x, sign_key);
	for (i = 0; i < 3 && sp->uri[i]; i++, nsan++)
		if (add_san(gens, GEN_URI, sp->uri[i]) < 0)
			goto fail;
	for (i = 0; i < 2 && sp->dns[i]; i++, nsan++)
		if (add_san(gens, GEN_DNS, sp->dns[i]) < 0)
			goto fail;
	if (nsan > 0 &&
	    X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0,
			      X509V3_ADD_DEFAULT) != 1)
		goto fail;
	for (i = 0; i < 2 && sp->role[i]; i++) {
		oct = ASN1_OCTET_STRING_new();
		if (oct == NULL ||
		    !ASN1_OCTET_STRING_set(oct, sp->role[i], (int)sp->role_len[i])) {
			ASN1_OCTET_STRING_free(oct);
			goto fail;
		}
		ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, oct);
		ASN1_OCTET_STRING_free(oct);
		if (ext == NULL || !X509_add_ext(x, ext, -1)) {
			X509_EXTENSION_free(ext);
			goto fail;
		}
		X509_EXTENSION_free(ext);
	}
	if (!X509_sign(x, sign_key, EVP_sha256()))
		goto fail;
	X509_NAME_free(name);
	GENERAL_NAMES_free(gens);
	ASN1_OBJECT_free(obj);
	corpus(x, corpus_name);
	return x;
fail:
	diag("cannot build certificate %s", corpus_name);
	X509_free(x);
	X509_NAME_free(name);
	GENERAL_NAMES_free(gens);
	ASN1_OBJECT_free(obj);
	return NULL;
}

/* Identity of a built certificate, through the DER entry point. */
static struct identity *
built_id(const struct spec *sp, const char *name, const char *order)
{
	struct identity_order o;
	struct identity *id = NULL;
	unsigned char *der = NULL;
	char err[256];
	X509 *x = build(sp, name);
	int len;

	memset(&o, 0, sizeof o);
	if (order != NULL)
		identity_order_parse(order, &o, err, sizeof err);
	if (x == NULL)
		return NULL;
	len = i2d_X509(x, &der);
	if (len > 0)
		id = identity_from_der(der, (size_t)len, &o, err, sizeof err);
	if (id == NULL)
		diag("identity of built %s: %s", name, len > 0 ? err : "i2d");
	OPENSSL_free(der);
	X509_free(x);
	return id;
}

/* -- tests ----------------------------------------------------------------- */

static void
test_order(void)
{
	struct identity_order o;
	char err[256];

	ok(identity_order_parse("uri,dns,cn", &o, err, sizeof err) == 0 &&
	   o.src[0] == IDENTITY_SRC_URI && o.src[1] == IDENTITY_SRC_DNS &&
	   o.src[2] == IDENTITY_SRC_CN, "order \"uri,dns,cn\"");
	ok(identity_order_parse(" dns , cn ", &o, err, sizeof err) == 0 &&
	   o.src[0] == IDENTITY_SRC_DNS && o.src[1] == IDENTITY_SRC_CN &&
	   o.src[2] == IDENTITY_SRC_NONE, "order \" dns , cn \" (blanks)");
	ok(identity_order_parse("cn", &o, err, sizeof err) == 0 &&
	   o.src[0] == IDENTITY_SRC_CN && o.src[1] == IDENTITY_SRC_NONE,
	   "order \"cn\"");
	ok(identity_order_parse("", &o, err, sizeof err) < 0,
	   "empty order refused: %s", err);
	ok(identity_order_parse("uri,uri", &o, err, sizeof err) < 0 &&
	   strstr(err, "twice"), "repeated source refused: %s", err);
	ok(identity_order_parse("uri,email", &o, err, sizeof err) < 0 &&
	   strstr(err, "email"), "unknown source refused: %s", err);
	ok(identity_order_parse("uri,,dns", &o, err, sizeof err) < 0,
	   "empty entry refused: %s", err);
	ok(identity_order_parse("uri dns", &o, err, sizeof err) < 0,
	   "missing comma refused: %s", err);
	ok(identity_order_parse("uri,dns,cn,", &o, err, sizeof err) < 0,
	   "trailing comma refused: %s", err);
	ok(identity_order_parse(NULL, &o, err, sizeof err) < 0, "NULL refused");
	identity_order_default(&o);
	ok(o.src[0] == IDENTITY_SRC_URI && o.src[1] == IDENTITY_SRC_DNS &&
	   o.src[2] == IDENTITY_SRC_CN, "default order uri, dns, cn");
}

static void
role_case(const char *what, const uint8_t *v, size_t len, int want,
	  const char *want_role, const char *want_why)
{
	char why[160] = "", *role = NULL;
	int st = identity_role_parse(v, len, &role, why, sizeof why);

	ok(st == want && streq(role, want_role) &&
	   (want_why == NULL || strstr(why, want_why) != NULL),
	   "role %s: %s%s%s", what, identity_role_status_name(st),
	   why[0] ? ": " : "", why);
	free(role);
}

static void
test_role_parse(void)
{
	static const uint8_t good[] = { 0x0c, 8, 'o', 'p', 'e', 'r', 'a', 't', 'o', 'r' };
	static const uint8_t utf8[] = { 0x0c, 6, 'o', 'p', 0xc3, 0xa9, 'r', 'a' };
	static const uint8_t printable[] = { 0x13, 8, 'o', 'p', 'e', 'r', 'a', 't', 'o', 'r' };
	static const uint8_t integer[] = { 0x02, 1, 7 };
	static const uint8_t empty[] = { 0x0c, 0 };
	static const uint8_t longer[] = { 0x0c, 9, 'o', 'p', 'e', 'r', 'a', 't', 'o', 'r' };
	static const uint8_t trailing[] = { 0x0c, 2, 'o', 'p', 0 };
	static const uint8_t nonmin[] = { 0x0c, 0x81, 2, 'o', 'p' };
	static const uint8_t indef[] = { 0x0c, 0x80, 'o', 'p', 0, 0 };
	static const uint8_t badutf8[] = { 0x0c, 2, 0xc3, 0x28 };
	static const uint8_t overlong[] = { 0x0c, 2, 0xc0, 0xaf };
	static const uint8_t surrogate[] = { 0x0c, 3, 0xed, 0xa0, 0x80 };
	static const uint8_t ctrl[] = { 0x0c, 3, 'a', '\n', 'b' };
	static const uint8_t nul[] = { 0x0c, 3, 'a', 0, 'b' };
	static const uint8_t c1[] = { 0x0c, 3, 'a', 0xc2, 0x85 };
	static const uint8_t constructed[] = { 0x2c, 4, 0x0c, 2, 'o', 'p' };
	uint8_t big[4 + 300];
	char max[256];

	role_case("UTF8String \"operator\"", good, sizeof good,
		  IDENTITY_ROLE_OK, "operator", NULL);
	role_case("UTF8String with e-acute", utf8, sizeof utf8,
		  IDENTITY_ROLE_OK, "op\xc3\xa9ra", NULL);
	role_case("PrintableString", printable, sizeof printable,
		  IDENTITY_ROLE_MALFORMED, NULL, "PrintableString");
	role_case("INTEGER", integer, sizeof integer, IDENTITY_ROLE_MALFORMED,
		  NULL, "INTEGER");
	role_case("empty UTF8String", empty, sizeof empty,
		  IDENTITY_ROLE_MALFORMED, NULL, "empty");
	role_case("length beyond the value", longer, sizeof longer,
		  IDENTITY_ROLE_MALFORMED, NULL, "length");
	role_case("trailing byte", trailing, sizeof trailing,
		  IDENTITY_ROLE_MALFORMED, NULL, "length");
	role_case("non-minimal length", nonmin, sizeof nonmin,
		  IDENTITY_ROLE_MALFORMED, NULL, "DER");
	role_case("indefinite length", indef, sizeof indef,
		  IDENTITY_ROLE_MALFORMED, NULL, "DER");
	role_case("invalid UTF-8", badutf8, sizeof badutf8,
		  IDENTITY_ROLE_MALFORMED, NULL, "UTF-8");
	role_case("overlong UTF-8", overlong, sizeof overlong,
		  IDENTITY_ROLE_MALFORMED, NULL, "UTF-8");
	role_case("UTF-8 surrogate", surrogate, sizeof surrogate,
		  IDENTITY_ROLE_MALFORMED, NULL, "UTF-8");
	role_case("newline inside", ctrl, sizeof ctrl, IDENTITY_ROLE_MALFORMED,
		  NULL, "control");
	role_case("NUL inside", nul, sizeof nul, IDENTITY_ROLE_MALFORMED, NULL,
		  "control");
	role_case("C1 control inside", c1, sizeof c1, IDENTITY_ROLE_MALFORMED,
		  NULL, "control");
	role_case("constructed UTF8String", constructed, sizeof constructed,
		  IDENTITY_ROLE_MALFORMED, NULL, NULL);
	role_case("one byte", good, 1, IDENTITY_ROLE_MALFORMED, NULL, NULL);
	role_case("NULL value", NULL, 0, IDENTITY_ROLE_MALFORMED, NULL, NULL);
	big[0] = 0x0c;
	big[1] = 0x82;
	big[2] = 0x01;
	big[3] = 0x2c; /* 300 */
	memset(big + 4, 'r', 300);
	role_case("300 bytes long", big, sizeof big, IDENTITY_ROLE_MALFORMED,
		  NULL, "long");
	big[2] = 0x00;
	big[3] = 0xff;
	role_case("0x82 long form for 255", big, 4 + 255,
		  IDENTITY_ROLE_MALFORMED, NULL, "DER");
	big[1] = 0x81;
	big[2] = 0xff;
	big[3] = 'r';
	memset(max, 'r', 255);
	max[255] = '\0';
	role_case("255 bytes (the maximum)", big, 3 + 255, IDENTITY_ROLE_OK,
		  max, NULL);
}

static void
test_pki_certs(void)
{
	struct identity *id;

	id = id_of("client-uri", NULL);
	ok(id && streq(id->name, "spiffe://plant.example/hmi-1") &&
	   id->source == IDENTITY_SRC_URI && id->flags == 0,
	   "client-uri: URI SAN first (%s)", id ? id->name : "-");
	ok(id && id->role == NULL && id->role_status == IDENTITY_ROLE_ABSENT &&
	   id->role_detail == NULL, "client-uri: no role, status absent");
	ok(id && streq(id->subject, "CN=hmi-1,O=zonegate test") &&
	   streq(id->issuer, "CN=zonegate test CA,O=zonegate test"),
	   "client-uri: subject %s, issuer %s", id ? id->subject : "-",
	   id ? id->issuer : "-");
	ok(id && streq(id->serial, "1001"), "client-uri: serial %s",
	   id ? id->serial : "-");
	identity_free(id);

	id = id_of("client-uri", "dns,cn");
	ok(id && streq(id->name, "hmi-1.plant.example") &&
	   id->source == IDENTITY_SRC_DNS, "client-uri, order dns,cn: %s",
	   id ? id->name : "-");
	identity_free(id);
	id = id_of("client-uri", "cn");
	ok(id && streq(id->name, "hmi-1") && id->source == IDENTITY_SRC_CN,
	   "client-uri, order cn: %s", id ? id->name : "-");
	identity_free(id);

	id = id_of("client-dns", NULL);
	ok(id && streq(id->name, "hmi-2.plant.example") &&
	   id->source == IDENTITY_SRC_DNS, "client-dns: DNS SAN (%s)",
	   id ? id->name : "-");
	identity_free(id);

	id = id_of("client-cn", NULL);
	ok(id && streq(id->name, "hmi-3") && id->source == IDENTITY_SRC_CN,
	   "client-cn: CN (%s)", id ? id->name : "-");
	identity_free(id);
	id = id_of("client-cn", "uri,dns");
	ok(id && id->name == NULL && id->source == IDENTITY_SRC_NONE,
	   "client-cn, order uri,dns: no identity (not an error)");
	identity_free(id);

	id = id_of("client-role", NULL);
	ok(id && streq(id->role, "operator") &&
	   id->role_status == IDENTITY_ROLE_OK && id->role_detail == NULL,
	   "client-role: role operator");
	identity_free(id);

	id = id_of("client-role2", NULL);
	ok(id && id->role == NULL && id->role_status == IDENTITY_ROLE_DUPLICATE &&
	   id->role_detail && strstr(id->role_detail, "2 role extensions"),
	   "client-role2: duplicate (%s)", id && id->role_detail ?
	   id->role_detail : "-");
	identity_free(id);

	id = id_of("client-badrole", NULL);
	ok(id && id->role == NULL && id->role_status == IDENTITY_ROLE_MALFORMED &&
	   id->role_detail && strstr(id->role_detail, "PrintableString"),
	   "client-badrole: malformed (%s)", id && id->role_detail ?
	   id->role_detail : "-");
	identity_free(id);

	id = id_of("client-badrole-int", NULL);
	ok(id && id->role == NULL && id->role_status == IDENTITY_ROLE_MALFORMED &&
	   id->role_detail && strstr(id->role_detail, "INTEGER"),
	   "client-badrole-int: malformed (%s)", id && id->role_detail ?
	   id->role_detail : "-");
	identity_free(id);

	id = id_of("client-expired", NULL);
	ok(id && id->not_before == 1577836800 && id->not_after == 1609459200,
	   "client-expired: validity 2020-01-01 .. 2021-01-01 (%lld .. %lld)",
	   id ? (long long)id->not_before : 0, id ? (long long)id->not_after : 0);
	identity_free(id);

	id = id_of("client-future", NULL);
	ok(id && id->not_before == 3786912000LL && id->not_after == 3818448000LL,
	   "client-future: validity 2090-01-01 .. 2091-01-01 (%lld .. %lld)",
	   id ? (long long)id->not_before : 0, id ? (long long)id->not_after : 0);
	identity_free(id);

	id = id_of("server", NULL);
	ok(id && streq(id->name, "localhost") && id->source == IDENTITY_SRC_DNS,
	   "server: DNS localhost (IP SAN ignored)");
	identity_free(id);
}

static void
test_built(void)
{
	static const uint8_t op[] = { 0x0c, 2, 'o', 'p' };
	static const uint8_t trail[] = { 0x0c, 2, 'o', 'p', 0x00 };
	struct identity *id;
	struct spec sp;
	char longname[IDENTITY_NAME_MAX + 16];

	memset(&sp, 0, sizeof sp);
	sp.cn[0] = "plc-7";
	sp.uri[0] = "spiffe://plant.example/a";
	sp.uri[1] = "spiffe://plant.example/b";
	sp.dns[0] = "plc-7.plant.example";
	id = built_id(&sp, "built-two-uris", NULL);
	ok(id && streq(id->name, "plc-7.plant.example") &&
	   id->source == IDENTITY_SRC_DNS && (id->flags & IDENTITY_F_AMBIGUOUS),
	   "two URI SANs are ambiguous: fall back to DNS (%s)",
	   id ? id->name : "-");
	identity_free(id);

	memset(&sp, 0, sizeof sp);
	sp.cn[0] = "plc-8";
	sp.uri[0] = "spiffe://plant.example/a b";
	id = built_id(&sp, "built-uri-space", NULL);
	ok(id && streq(id->name, "plc-8") && id->source == IDENTITY_SRC_CN &&
	   (id->flags & IDENTITY_F_UNSAFE_NAME),
	   "a URI with a space is unsafe: fall back to CN (%s)",
	   id ? id->name : "-");
	identity_free(id);

	memset(&sp, 0, sizeof sp);
	sp.cn[0] = "plc\x1b[31m-9";
	id = built_id(&sp, "built-cn-escape", NULL);
	ok(id && id->name == NULL && id->source == IDENTITY_SRC_NONE &&
	   (id->flags & IDENTITY_F_UNSAFE_NAME),
	   "a CN with an escape character yields no identity");
	ok(id && id->subject && strchr(id->subject, '\x1b') == NULL,
	   "  and the subject string escapes it (%s)", id ? id->subject : "-");
	identity_free(id);

	memset(&sp, 0, sizeof sp);
	sp.cn[0] = "plc-10";
	sp.cn[1] = "admin";
	id = built_id(&sp, "built-two-cns", NULL);
	ok(id && id->name == NULL && (id->flags & IDENTITY_F_AMBIGUOUS),
	   "two CNs are ambiguous: no identity");
	identity_free(id);

	memset(&sp, 0, sizeof sp);
	sp.cn[0] = "pl\xc3\xa4t-11";
	id = built_id(&sp, "built-cn-utf8", NULL);
	ok(id && streq(id->name, "pl\xc3\xa4t-11") && id->source == IDENTITY_SRC_CN,
	   "a UTF-8 CN is kept as UTF-8");
	identity_free(id);

	memset(&sp, 0, sizeof sp);
	memset(longname, 'a', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	sp.dns[0] = longname;
	sp.cn[0] = "plc-12";
	id = built_id(&sp, "built-dns-long", NULL);
	ok(id && streq(id->name, "plc-12") && (id->flags & IDENTITY_F_UNSAFE_NAME),
	   "a DNS name over %d bytes is refused: fall back to CN",
	   IDENTITY_NAME_MAX);
	identity_free(id);

	memset(&sp, 0, sizeof sp);
	sp.uri[0] = "spiffe://plant.example/r";
	sp.role[0] = trail;
	sp.role_len[0] = sizeof trail;
	id = built_id(&sp, "built-role-trailing", NULL);
	ok(id && id->role_status == IDENTITY_ROLE_MALFORMED && id->role == NULL,
	   "role with a trailing byte is malformed (%s)",
	   id && id->role_detail ? id->role_detail : "-");
	identity_free(id);

	memset(&sp, 0, sizeof sp);
	sp.uri[0] = "spiffe://plant.example/r";
	sp.role[0] = op;
	sp.role_len[0] = sizeof op;
	sp.role[1] = trail;
	sp.role_len[1] = sizeof trail;
	id = built_id(&sp, "built-role-two", NULL);
	ok(id && id->role_status == IDENTITY_ROLE_DUPLICATE && id->role == NULL,
	   "a good and a bad role extension: duplicate wins, no role");
	identity_free(id);

	memset(&sp, 0, sizeof sp);
	sp.uri[0] = "spiffe://plant.example/r";
	sp.role[0] = op;
	sp.role_len[0] = sizeof op;
	id = built_id(&sp, "built-role-op", NULL);
	ok(id && id->role_status == IDENTITY_ROLE_OK && streq(id->role, "op") &&
	   streq(id->serial, "1092"), "built role op, serial %s",
	   id ? id->serial : "-");
	identity_free(id);
}

static void
test_der_entry(void)
{
	static const uint8_t junk[] = { 0x30, 0x03, 0x02, 0x01, 0x01 };
	unsigned char *der = NULL, *buf;
	struct identity *id;
	char err[256];
	X509 *x = load_cert("client-role");
	int len = x ? i2d_X509(x, &der) : -1;

	ok(len > 0, "DER of client-role (%d bytes)", len);
	if (len <= 0) {
		X509_free(x);
		return;
	}
	id = identity_from_der(der, (size_t)len, NULL, err, sizeof err);
	ok(id && streq(id->role, "operator"), "identity_from_der: whole DER");
	identity_free(id);
	buf = malloc((size_t)len + 1);
	memcpy(buf, der, (size_t)len);
	buf[len] = 0;
	id = identity_from_der(buf, (size_t)len + 1, NULL, err, sizeof err);
	ok(id == NULL && strstr(err, "after"), "trailing byte refused: %s", err);
	id = identity_from_der(buf, (size_t)len - 1, NULL, err, sizeof err);
	ok(id == NULL, "truncated DER refused: %s", err);
	free(buf);
	id = identity_from_der(junk, sizeof junk, NULL, err, sizeof err);
	ok(id == NULL, "junk refused: %s", err);
	id = identity_from_der(junk, 0, NULL, err, sizeof err);
	ok(id == NULL, "empty input refused: %s", err);
	id = identity_from_x509(NULL, NULL, err, sizeof err);
	ok(id == NULL, "NULL certificate refused: %s", err);
	identity_free(NULL);
	ok(streq(identity_source_name(IDENTITY_SRC_URI), "uri") &&
	   streq(identity_source_name(IDENTITY_SRC_NONE), "none") &&
	   streq(identity_role_status_name(IDENTITY_ROLE_DUPLICATE), "duplicate") &&
	   streq(identity_role_status_name(IDENTITY_ROLE_ABSENT), "absent"),
	   "names of sources and role states");
	OPENSSL_free(der);
	X509_free(x);
}

int
main(void)
{
	char path[PATH_MAX];
	BIO *b;

	setvbuf(stdout, NULL, _IOLBF, 0);
	test_order();
	test_role_parse();
	if (make_pki("identity") < 0) {
		printf("Bail out! cannot make the test PKI with contrib/pki/mkpki.sh "
		       "(set top_srcdir)\n");
		rm_pki();
		return 1;
	}
	snprintf(path, sizeof path, "%s/ca.key", pki);
	b = BIO_new_file(path, "r");
	sign_key = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	test_pki_certs();
	if (sign_key != NULL)
		test_built();
	else
		ok(0, "cannot read %s to sign test certificates", path);
	test_der_entry();
	EVP_PKEY_free(sign_key);
	rm_pki();
	return done_testing();
}
