/*
 * identity: who a verified X.509 certificate says its holder is.
 *
 * Pure functions over one certificate: no I/O, no global state, no
 * logging.  The caller has already verified the certificate (the TLS layer
 * does that); this module only reads it.
 *
 * The identity is taken from the first source, in a configurable order,
 * that yields a usable name:
 *
 *   uri  the URI subjectAltName (SPIFFE style: spiffe://plant.example/hmi-1).
 *        Exactly one URI SAN is required: a certificate with several is
 *        ambiguous and the source is skipped (IDENTITY_F_AMBIGUOUS).
 *   dns  the first DNS subjectAltName.
 *   cn   the subject commonName.  Several CNs are ambiguous: skipped.
 *
 * Default order: uri, dns, cn.  A name is usable when it is non-empty, at
 * most IDENTITY_NAME_MAX bytes, and printable: SAN names are IA5 strings of
 * visible ASCII (0x21..0x7e); a CN must be valid UTF-8 without control
 * characters.  Unusable names are skipped and flagged
 * (IDENTITY_F_UNSAFE_NAME), never truncated or escaped, so that no two
 * certificates can map onto one identity by accident.
 *
 * The Modbus/TCP Security role is X.509 extension IDENTITY_ROLE_OID whose
 * value is a DER UTF8String; exactly one such extension is allowed.
 *   - no extension:            role NULL, role_status ABSENT (accepted:
 *                              the policy decides what a role-less peer may do)
 *   - one well-formed:         role set, role_status OK
 *   - two or more:             role NULL, role_status DUPLICATE
 *   - not a DER UTF8String, empty, invalid UTF-8, control characters,
 *     longer than IDENTITY_ROLE_MAX:   role NULL, role_status MALFORMED
 * DUPLICATE and MALFORMED carry role_detail (why) and are meant to be raised
 * as security events by the caller; the certificate itself is still valid.
 */
#ifndef ZG_IDENTITY_H
#define ZG_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

struct x509_st; /* X509 of both OpenSSL and BoringSSL */

#define IDENTITY_ROLE_OID "1.3.6.1.4.1.50316.802.1"
#define IDENTITY_NAME_MAX 1024 /* bytes, longer names are refused */
#define IDENTITY_ROLE_MAX 255  /* bytes of the role's UTF-8 */

enum identity_source {
	IDENTITY_SRC_NONE = 0, /* no usable name: the caller refuses */
	IDENTITY_SRC_URI = 1,
	IDENTITY_SRC_DNS = 2,
	IDENTITY_SRC_CN = 3,
};

enum identity_role_status {
	IDENTITY_ROLE_ABSENT = 0,
	IDENTITY_ROLE_OK = 1,
	IDENTITY_ROLE_DUPLICATE = 2,
	IDENTITY_ROLE_MALFORMED = 3,
};

/* Flags: why a source was skipped.  Informative; not errors. */
#define IDENTITY_F_UNSAFE_NAME 0x01 /* a name was empty/too long/unprintable */
#define IDENTITY_F_AMBIGUOUS 0x02   /* several URI SANs or several CNs */

/*
 * The order in which sources are tried: up to IDENTITY_SRC_MAX entries,
 * ended early by IDENTITY_SRC_NONE.  An all-zero order means the default
 * (uri, dns, cn).
 */
#define IDENTITY_SRC_MAX 3
struct identity_order {
	uint8_t src[IDENTITY_SRC_MAX]; /* enum identity_source */
};

/* Fill `o' with the default order uri, dns, cn. */
void identity_order_default(struct identity_order *o);

/*
 * Parse an order such as "uri,dns,cn" or "dns, cn" (names separated by
 * commas, blanks ignored).  Refuses unknown names, repeats and an empty
 * list, writing why into err.  Returns 0 or -1.
 */
int identity_order_parse(const char *s, struct identity_order *o, char *err,
			 size_t errlen);

/*
 * What a certificate says.  Every string is owned by the struct and freed
 * by identity_free(); all are NUL-terminated.
 */
struct identity {
	char *name;        /* the identity, or NULL when source is NONE */
	int source;        /* enum identity_source */
	char *role;        /* Modbus role; non-NULL iff role_status is OK */
	int role_status;   /* enum identity_role_status */
	char *role_detail; /* why DUPLICATE/MALFORMED, else NULL */
	unsigned flags;    /* IDENTITY_F_* */
	char *subject;     /* RFC 2253 string, non-ASCII escaped */
	char *issuer;      /* RFC 2253 string, non-ASCII escaped */
	char *serial;      /* upper-case hex, e.g. "1003" */
	int64_t not_before; /* seconds since the epoch (UTC) */
	int64_t not_after;  /* seconds since the epoch (UTC) */
};

/*
 * Read the identity of `cert' (borrowed, not modified) trying sources in
 * `order' (NULL or all-zero: default).  Returns a new struct identity, or
 * NULL with the reason in err (out of memory, unreadable certificate
 * fields).  A certificate without any usable name is not an error: the
 * result has source IDENTITY_SRC_NONE and name NULL.
 */
struct identity *identity_from_x509(const struct x509_st *cert,
				    const struct identity_order *order,
				    char *err, size_t errlen);

/*
 * As identity_from_x509() for a DER certificate in der[0..len).  Refuses
 * anything that is not exactly one DER certificate (trailing bytes
 * included).  The fuzzing entry point.
 */
struct identity *identity_from_der(const uint8_t *der, size_t len,
				   const struct identity_order *order,
				   char *err, size_t errlen);

/* Free an identity; NULL is fine. */
void identity_free(struct identity *id);

/*
 * Parse the value of a role extension (the DER inside the extension's
 * OCTET STRING).  On IDENTITY_ROLE_OK stores a new NUL-terminated copy in
 * *role (free() it); otherwise returns IDENTITY_ROLE_MALFORMED with why in
 * `why' and *role NULL.  Pure; exposed for tests.
 */
int identity_role_parse(const uint8_t *val, size_t len, char **role,
			char *why, size_t whylen);

/* "uri", "dns", "cn", "none". */
const char *identity_source_name(int source);
/* "absent", "ok", "duplicate", "malformed". */
const char *identity_role_status_name(int status);

#endif /* ZG_IDENTITY_H */
