/*
 * identity: read who a certificate names, and its Modbus/TCP Security role.
 * See identity.h for the rules.  Written to the API subset OpenSSL 3 and
 * BoringSSL share.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "identity.h"

/* DER content octets of OID 1.3.6.1.4.1.50316.802.1 (IDENTITY_ROLE_OID). */
static const uint8_t role_oid_der[] = {
	0x2b, 0x06, 0x01, 0x04, 0x01, 0x83, 0x89, 0x0c, 0x86, 0x22, 0x01,
};

__attribute__((format(printf, 3, 4))) static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/*
 * Return the length of the UTF-8 sequence starting at s[0] (at most n
 * bytes available), or 0 when it is not well-formed UTF-8: overlong forms,
 * surrogates and code points above U+10FFFF are refused because they let
 * two byte strings display as the same name.
 */
static size_t
utf8_seq(const uint8_t *s, size_t n, uint32_t *cp)
{
	uint32_t c;
	size_t len, i;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		c = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		c = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		c = s[0] & 0x07;
	} else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
	    (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
		return 0;
	*cp = c;
	return len;
}

/*
 * Accept a UTF-8 text of len bytes that is non-empty, at most max bytes,
 * valid UTF-8 and free of C0/C1 control characters and DEL (they would let
 * a peer forge log lines or hide characters in policy names).
 */
static int
text_ok(const uint8_t *s, size_t len, size_t max)
{
	size_t i, k;
	uint32_t cp;

	if (len == 0 || len > max)
		return 0;
	for (i = 0; i < len; i += k) {
		k = utf8_seq(s + i, len - i, &cp);
		if (k == 0 || cp < 0x20 || cp == 0x7f ||
		    (cp >= 0x80 && cp < 0xa0))
			return 0;
	}
	return 1;
}

/* Accept a SAN (IA5String) of visible ASCII only: no space, no controls. */
static int
ia5_ok(const uint8_t *s, size_t len)
{
	size_t i;

	if (len == 0 || len > IDENTITY_NAME_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return 0;
	return 1;
}

static char *
memdup_str(const void *p, size_t len)
{
	char *s = malloc(len + 1);

	if (s == NULL)
		return NULL;
	memcpy(s, p, len);
	s[len] = '\0';
	return s;
}

void
identity_order_default(struct identity_order *o)
{
	o->src[0] = IDENTITY_SRC_URI;
	o->src[1] = IDENTITY_SRC_DNS;
	o->src[2] = IDENTITY_SRC_CN;
}

const char *
identity_source_name(int source)
{
	switch (source) {
	case IDENTITY_SRC_URI:
		return "uri";
	case IDENTITY_SRC_DNS:
		return "dns";
	case IDENTITY_SRC_CN:
		return "cn";
	default:
		return "none";
	}
}

const char *
identity_role_status_name(int status)
{
	switch (status) {
	case IDENTITY_ROLE_OK:
		return "ok";
	case IDENTITY_ROLE_DUPLICATE:
		return "duplicate";
	case IDENTITY_ROLE_MALFORMED:
		return "malformed";
	default:
		return "absent";
	}
}

/*
 * "uri,dns,cn": accepts the three source names once each, in any order,
 * separated by commas with optional blanks; refuses anything else so that
 * a typo in the config is an error, not a silently weaker identity.
 */
int
identity_order_parse(const char *s, struct identity_order *o, char *err,
		     size_t errlen)
{
	struct identity_order r;
	const char *p = s, *start;
	size_t n = 0, len, i;
	int src;

	memset(&r, 0, sizeof r);
	if (s == NULL) {
		seterr(err, errlen, "identity order is empty: use e.g. \"uri,dns,cn\"");
		return -1;
	}
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		start = p;
		while (*p != '\0' && *p != ',' && *p != ' ' && *p != '\t')
			p++;
		len = (size_t)(p - start);
		while (*p == ' ' || *p == '\t')
			p++;
		if (len == 0) {
			seterr(err, errlen, "identity order \"%s\": empty entry: "
			       "use names from uri, dns, cn separated by commas", s);
			return -1;
		}
		if (len == 3 && strncmp(start, "uri", 3) == 0)
			src = IDENTITY_SRC_URI;
		else if (len == 3 && strncmp(start, "dns", 3) == 0)
			src = IDENTITY_SRC_DNS;
		else if (len == 2 && strncmp(start, "cn", 2) == 0)
			src = IDENTITY_SRC_CN;
		else {
			seterr(err, errlen, "identity order \"%s\": unknown source "
			       "\"%.*s\": use uri, dns or cn", s, (int)len, start);
			return -1;
		}
		for (i = 0; i < n; i++)
			if (r.src[i] == src) {
				seterr(err, errlen, "identity order \"%s\": \"%s\" "
				       "appears twice", s, identity_source_name(src));
				return -1;
			}
		r.src[n++] = (uint8_t)src;
		if (*p == '\0')
			break;
		if (*p != ',') {
			seterr(err, errlen, "identity order \"%s\": expected a comma "
			       "after \"%.*s\"", s, (int)len, start);
			return -1;
		}
		p++;
		if (n == IDENTITY_SRC_MAX) {
			seterr(err, errlen, "identity order \"%s\": too many "
			       "entries", s);
			return -1;
		}
	}
	*o = r;
	return 0;
}

/*
 * Parse a DER length at p[0..n): short form, or long form with one or two
 * length octets in minimal encoding (a role is at most IDENTITY_ROLE_MAX
 * bytes, so anything longer is refused as malformed anyway).  Returns the
 * number of length octets, or 0 when not DER.
 */
static size_t
der_len(const uint8_t *p, size_t n, size_t *out)
{
	if (n < 1)
		return 0;
	if (p[0] < 0x80) {
		*out = p[0];
		return 1;
	}
	if (p[0] == 0x81 && n >= 2 && p[1] >= 0x80) {
		*out = p[1];
		return 2;
	}
	if (p[0] == 0x82 && n >= 3 && p[1] != 0) {
		*out = ((size_t)p[1] << 8) | p[2];
		return 3;
	}
	return 0;
}

static const char *
asn1_tag_name(uint8_t tag)
{
	switch (tag) {
	case 0x02:
		return "INTEGER";
	case 0x04:
		return "OCTET STRING";
	case 0x0c:
		return "UTF8String";
	case 0x13:
		return "PrintableString";
	case 0x14:
		return "T61String";
	case 0x16:
		return "IA5String";
	case 0x1e:
		return "BMPString";
	case 0x30:
		return "SEQUENCE";
	default:
		return "another type";
	}
}

/*
 * The value of the role extension must be exactly one DER UTF8String
 * (tag 0x0c, primitive, definite minimal length, no trailing bytes) whose
 * text is non-empty, valid UTF-8, without control characters and at most
 * IDENTITY_ROLE_MAX bytes.  Anything else is MALFORMED: a sender that
 * encodes the role differently is either broken or probing parsers.
 */
int
identity_role_parse(const uint8_t *val, size_t len, char **role, char *why,
		    size_t whylen)
{
	size_t nl, clen;

	*role = NULL;
	if (val == NULL || len < 2) {
		seterr(why, whylen, "role extension value is empty or truncated");
		return IDENTITY_ROLE_MALFORMED;
	}
	if (val[0] != 0x0c) {
		seterr(why, whylen, "role is encoded as %s (tag 0x%02x), not as a "
		       "UTF8String",
		       asn1_tag_name(val[0]), val[0]);
		return IDENTITY_ROLE_MALFORMED;
	}
	nl = der_len(val + 1, len - 1, &clen);
	if (nl == 0) {
		seterr(why, whylen, "role UTF8String has a bad or non-DER length");
		return IDENTITY_ROLE_MALFORMED;
	}
	if (clen != len - 1 - nl) {
		seterr(why, whylen, "role UTF8String length %zu does not match the "
		       "%zu bytes of the extension", clen, len - 1 - nl);
		return IDENTITY_ROLE_MALFORMED;
	}
	if (clen == 0) {
		seterr(why, whylen, "role is an empty string");
		return IDENTITY_ROLE_MALFORMED;
	}
	if (clen > IDENTITY_ROLE_MAX) {
		seterr(why, whylen, "role is %zu bytes long (at most %d)", clen,
		       IDENTITY_ROLE_MAX);
		return IDENTITY_ROLE_MALFORMED;
	}
	if (!text_ok(val + 1 + nl, clen, IDENTITY_ROLE_MAX)) {
		seterr(why, whylen, "role is not valid UTF-8 text (or holds "
		       "control characters)");
		return IDENTITY_ROLE_MALFORMED;
	}
	*role = memdup_str(val + 1 + nl, clen);
	if (*role == NULL) {
		seterr(why, whylen, "out of memory");
		return -1;
	}
	return IDENTITY_ROLE_OK;
}

/* Count role extensions and parse the one there is; fills id->role*. */
static int
read_role(const X509 *cert, struct identity *id, char *err, size_t errlen)
{
	X509_EXTENSION *ext, *found = NULL;
	ASN1_OBJECT *obj;
	const ASN1_OCTET_STRING *val;
	char why[160];
	int i, n, count = 0, st;

	n = X509_get_ext_count(cert);
	for (i = 0; i < n; i++) {
		ext = X509_get_ext(cert, i);
		if (ext == NULL)
			continue;
		obj = X509_EXTENSION_get_object(ext);
		if (obj == NULL || OBJ_length(obj) != sizeof role_oid_der ||
		    memcmp(OBJ_get0_data(obj), role_oid_der,
			   sizeof role_oid_der) != 0)
			continue;
		count++;
		found = ext;
	}
	id->role_status = IDENTITY_ROLE_ABSENT;
	if (count == 0)
		return 0;
	if (count > 1) {
		id->role_status = IDENTITY_ROLE_DUPLICATE;
		snprintf(why, sizeof why, "certificate carries %d role extensions "
			 "(%s): exactly one is allowed", count, IDENTITY_ROLE_OID);
		goto detail;
	}
	val = X509_EXTENSION_get_data(found);
	st = identity_role_parse(val ? ASN1_STRING_get0_data(val) : NULL,
				 val ? (size_t)ASN1_STRING_length(val) : 0,
				 &id->role, why, sizeof why);
	if (st < 0) {
		seterr(err, errlen, "identity: out of memory");
		return -1;
	}
	id->role_status = st;
	if (st == IDENTITY_ROLE_OK)
		return 0;
detail:
	id->role_detail = strdup(why);
	if (id->role_detail == NULL) {
		seterr(err, errlen, "identity: out of memory");
		return -1;
	}
	return 0;
}

/*
 * Take the identity from the subjectAltName: the single URI (several are
 * ambiguous, even when only one of them is usable: never guess) or the
 * first usable DNS name.  Returns 1 when found, 0 when not, -1 on
 * allocation failure.
 */
static int
from_san(const X509 *cert, int want, struct identity *id)
{
	GENERAL_NAMES *gens;
	const GENERAL_NAME *g;
	const ASN1_IA5STRING *s, *pick = NULL;
	int crit = -1, i, n, count = 0, type;

	gens = X509_get_ext_d2i(cert, NID_subject_alt_name, &crit, NULL);
	if (gens == NULL) {
		if (crit == -2) /* two SAN extensions: which one is meant? */
			id->flags |= IDENTITY_F_AMBIGUOUS;
		return 0;
	}
	type = want == IDENTITY_SRC_URI ? GEN_URI : GEN_DNS;
	n = sk_GENERAL_NAME_num(gens);
	for (i = 0; i < n; i++) {
		g = sk_GENERAL_NAME_value(gens, i);
		if (g->type != type)
			continue;
		s = type == GEN_URI ? g->d.uniformResourceIdentifier :
				      g->d.dNSName;
		count++;
		if (!ia5_ok(ASN1_STRING_get0_data(s),
			    (size_t)ASN1_STRING_length(s))) {
			id->flags |= IDENTITY_F_UNSAFE_NAME;
			continue;
		}
		if (pick == NULL)
			pick = s;
	}
	if (type == GEN_URI && count > 1) {
		id->flags |= IDENTITY_F_AMBIGUOUS;
		pick = NULL;
	}
	if (pick != NULL) {
		id->name = memdup_str(ASN1_STRING_get0_data(pick),
				      (size_t)ASN1_STRING_length(pick));
		if (id->name == NULL) {
			GENERAL_NAMES_free(gens);
			return -1;
		}
	}
	GENERAL_NAMES_free(gens);
	return pick != NULL;
}

/* The one subject commonName, as UTF-8.  1 found, 0 not, -1 no memory. */
static int
from_cn(const X509 *cert, struct identity *id)
{
	const X509_NAME *name = X509_get_subject_name(cert);
	const X509_NAME_ENTRY *e;
	unsigned char *utf8 = NULL;
	int idx, len;

	if (name == NULL)
		return 0;
	idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	if (idx < 0)
		return 0;
	if (X509_NAME_get_index_by_NID(name, NID_commonName, idx) >= 0) {
		id->flags |= IDENTITY_F_AMBIGUOUS;
		return 0;
	}
	e = X509_NAME_get_entry(name, idx);
	len = e ? ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e)) : -1;
	if (len < 0 || !text_ok(utf8, (size_t)len, IDENTITY_NAME_MAX)) {
		id->flags |= IDENTITY_F_UNSAFE_NAME;
		OPENSSL_free(utf8);
		return 0;
	}
	id->name = memdup_str(utf8, (size_t)len);
	OPENSSL_free(utf8);
	return id->name ? 1 : -1;
}

/* A name as an RFC 2253 string with control and non-ASCII bytes escaped. */
static char *
name_string(const X509_NAME *name)
{
	BIO *b;
	char *data = NULL, *s;
	long len;

	if (name == NULL)
		return strdup("");
	b = BIO_new(BIO_s_mem());
	if (b == NULL)
		return NULL;
	if (X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) < 0) {
		BIO_free(b);
		return strdup("");
	}
	len = BIO_get_mem_data(b, &data);
	s = memdup_str(data ? data : "", len > 0 ? (size_t)len : 0);
	BIO_free(b);
	return s;
}

static char *
serial_string(const X509 *cert)
{
	const ASN1_INTEGER *ai = X509_get0_serialNumber(cert);
	BIGNUM *bn;
	char *hex, *s;

	if (ai == NULL)
		return strdup("");
	bn = ASN1_INTEGER_to_BN(ai, NULL);
	if (bn == NULL)
		return NULL;
	hex = BN_bn2hex(bn);
	BN_free(bn);
	if (hex == NULL)
		return NULL;
	s = strdup(hex);
	OPENSSL_free(hex);
	return s;
}

/* Seconds from the epoch to t; 0 when the time cannot be read. */
static int64_t
time_epoch(const ASN1_TIME *t, const ASN1_TIME *epoch)
{
	int days = 0, secs = 0;

	if (t == NULL || epoch == NULL ||
	    !ASN1_TIME_diff(&days, &secs, epoch, t))
		return 0;
	return (int64_t)days * 86400 + secs;
}

void
identity_free(struct identity *id)
{
	if (id == NULL)
		return;
	free(id->name);
	free(id->role);
	free(id->role_detail);
	free(id->subject);
	free(id->issuer);
	free(id->serial);
	free(id);
}

/*
 * Try each source of `order' in turn (the first usable name wins), then
 * read the role and the descriptive fields.  Fails only on memory or a
 * NULL certificate; a certificate without usable name yields source NONE.
 */
struct identity *
identity_from_x509(const X509 *cert, const struct identity_order *order,
		   char *err, size_t errlen)
{
	struct identity_order def;
	struct identity *id;
	ASN1_TIME *epoch;
	int i, r = 0;

	if (cert == NULL) {
		seterr(err, errlen, "identity: no certificate");
		return NULL;
	}
	if (order == NULL || order->src[0] == IDENTITY_SRC_NONE) {
		identity_order_default(&def);
		order = &def;
	}
	id = calloc(1, sizeof *id);
	if (id == NULL)
		goto nomem;
	for (i = 0; i < IDENTITY_SRC_MAX && r == 0; i++) {
		switch (order->src[i]) {
		case IDENTITY_SRC_URI:
		case IDENTITY_SRC_DNS:
			r = from_san(cert, order->src[i], id);
			break;
		case IDENTITY_SRC_CN:
			r = from_cn(cert, id);
			break;
		default:
			i = IDENTITY_SRC_MAX; /* end of the list */
			continue;
		}
		if (r > 0)
			id->source = order->src[i];
	}
	if (r < 0)
		goto nomem;
	if (read_role(cert, id, err, errlen) < 0) {
		identity_free(id);
		return NULL;
	}
	id->subject = name_string(X509_get_subject_name(cert));
	id->issuer = name_string(X509_get_issuer_name(cert));
	id->serial = serial_string(cert);
	if (id->subject == NULL || id->issuer == NULL || id->serial == NULL)
		goto nomem;
	epoch = ASN1_TIME_set(NULL, 0);
	if (epoch == NULL)
		goto nomem;
	id->not_before = time_epoch(X509_get0_notBefore(cert), epoch);
	id->not_after = time_epoch(X509_get0_notAfter(cert), epoch);
	ASN1_TIME_free(epoch);
	return id;
nomem:
	identity_free(id);
	seterr(err, errlen, "identity: out of memory");
	return NULL;
}

/*
 * Accept exactly one DER certificate in der[0..len): d2i must consume all
 * bytes, so that appended data cannot ride along unnoticed.
 */
struct identity *
identity_from_der(const uint8_t *der, size_t len,
		  const struct identity_order *order, char *err, size_t errlen)
{
	const unsigned char *p = der;
	struct identity *id;
	X509 *x;

	if (der == NULL || len == 0 || len > (size_t)LONG_MAX) {
		seterr(err, errlen, "identity: empty or oversized certificate");
		return NULL;
	}
	x = d2i_X509(NULL, &p, (long)len);
	if (x == NULL) {
		seterr(err, errlen, "identity: not a DER X.509 certificate");
		return NULL;
	}
	if (p != der + len) {
		seterr(err, errlen, "identity: %zu bytes after the certificate",
		       (size_t)(der + len - p));
		X509_free(x);
		return NULL;
	}
	id = identity_from_x509(x, order, err, errlen);
	X509_free(x);
	return id;
}
