/*
 * tls: TLS over libevent bufferevents with memory BIOs.  See tls.h for the
 * contract.  Written to the API subset OpenSSL 3 and BoringSSL share; the
 * few differences are behind OPENSSL_IS_BORINGSSL (never the version
 * number: BoringSSL says it is 1.1.1).
 *
 * Data path of one connection:
 *
 *   sock (socket bufferevent)      ciphertext; owns the fd
 *     -> rbio -> SSL_read ->       inner (our end of a bufferevent_pair)
 *                                    -> outer (the user's plaintext end)
 *   outer -> inner input -> SSL_write -> wbio -> sock output
 *
 * Every byte is moved by a callback of the loop; none of our functions
 * calls into the user (the pair defers its callbacks), so the user may
 * close or free a connection from any of its callbacks.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>

#include <openssl/bio.h>
#include <openssl/buffer.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tls.h"

#define CHUNK 16384 /* one TLS record of plaintext */
#define TLS_BIO_KEEP 4096 /* a drained memory BIO larger than this is replaced */

struct tls_ctx {
	SSL_CTX *ssl;
	int role;
	unsigned refs;
	unsigned hs_timeout_ms;
	struct identity_order order;
	uint8_t *alpn; /* server: accepted list in wire format */
	size_t alpn_len;
};

enum conn_state {
	ST_HANDSHAKE = 0,
	ST_OPEN,    /* established; peer_closed tells whether input ended */
	ST_FAILED,  /* failure reported, waiting for tls_conn_close/free */
	ST_CLOSING, /* tls_conn_close(): flushing plaintext, close_notify */
	ST_LINGER,  /* write side shut down: waiting for the peer's EOF */
};

struct tls_conn {
	struct tls_ctx *ctx;
	SSL *ssl;
	BIO *rbio, *wbio;          /* owned by ssl */
	struct bufferevent *sock;  /* ciphertext, owns the fd */
	struct bufferevent *inner; /* our end of the pair */
	struct bufferevent *outer; /* the user's end */
	struct event *timer;       /* handshake timeout, then close timeout */
	int state;                 /* enum conn_state */
	unsigned in_blocked : 1;   /* plaintext backlog full: socket not read */
	unsigned peer_closed : 1;  /* close_notify received */
	unsigned sock_eof : 1;     /* TCP EOF seen */
	unsigned shutdown_sent : 1;
	tls_unit_fn unit;          /* NULL: records of up to CHUNK bytes */
	size_t unit_left;          /* bytes of the current unit not yet sent */
	int fail;                  /* enum tls_fail */
	long verify_result;
	char verify_detail[256];
	struct identity *id;
	char *alpn;
	char peer[INET6_ADDRSTRLEN + 16];
	char err[384];
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
 * The peer's leaf certificate as a new reference.  BoringSSL lacks
 * SSL_get1_peer_certificate; OpenSSL 3 built without deprecated APIs
 * lacks SSL_get_peer_certificate.  Both return a new reference.
 */
static X509 *
peer_certificate(const SSL *ssl)
{
#ifdef OPENSSL_IS_BORINGSSL
	return SSL_get_peer_certificate(ssl);
#else
	return SSL_get1_peer_certificate(ssl);
#endif
}

/* Reason of the oldest queued library error, then clear the queue. */
static void
ssl_reason(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	if (r != NULL)
		snprintf(buf, len, "%s", r);
	else if (e != 0)
		ERR_error_string_n(e, buf, len);
	else
		snprintf(buf, len, "unknown error");
	ERR_clear_error();
}

const char *
tls_engine(void)
{
#ifdef OPENSSL_IS_BORINGSSL
	return "BoringSSL";
#else
	return OpenSSL_version(OPENSSL_VERSION);
#endif
}

/* ------------------------------------------------------------------ */
/* Contexts                                                           */
/* ------------------------------------------------------------------ */

/* Refuse a missing or unreadable file with the system's reason. */
static int
file_readable(const char *path, const char *what, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");

	if (f == NULL) {
		seterr(err, errlen, "tls: cannot open %s %s: %s", what, path,
		       strerror(errno));
		return -1;
	}
	fclose(f);
	return 0;
}

/*
 * Add every PEM certificate of `path' to the store (and, for servers that
 * ask for client certificates, to the CA names sent to clients).  A file
 * without any certificate is refused: it is almost always the wrong file.
 */
static int
load_ca_file(SSL_CTX *sctx, X509_STORE *st, const char *path, int send_names,
	     char *err, size_t errlen)
{
	char why[200];
	BIO *b;
	X509 *x;
	unsigned long e;
	int n = 0;

	if (file_readable(path, "CA file", err, errlen) < 0)
		return -1;
	b = BIO_new_file(path, "r");
	if (b == NULL) {
		ssl_reason(why, sizeof why);
		seterr(err, errlen, "tls: cannot open CA file %s: %s", path, why);
		return -1;
	}
	ERR_clear_error();
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		if (!X509_STORE_add_cert(st, x) ||
		    (send_names && !SSL_CTX_add_client_CA(sctx, x))) {
			X509_free(x);
			BIO_free(b);
			ssl_reason(why, sizeof why);
			seterr(err, errlen, "tls: cannot add CA certificate %d of "
			       "%s: %s", n + 1, path, why);
			return -1;
		}
		X509_free(x);
		n++;
	}
	BIO_free(b);
	e = ERR_peek_last_error();
	if (n > 0 && ERR_GET_LIB(e) == ERR_LIB_PEM &&
	    ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
		ERR_clear_error(); /* the normal end of the file */
		return 0;
	}
	if (n == 0)
		seterr(err, errlen, "tls: CA file %s holds no PEM certificate: "
		       "check it is the CA certificate in PEM form", path);
	else {
		ssl_reason(why, sizeof why);
		seterr(err, errlen, "tls: CA file %s: certificate %d is damaged: "
		       "%s", path, n + 1, why);
	}
	ERR_clear_error();
	return -1;
}

/* Add every PEM CRL of `path'; a file without any CRL is refused. */
static int
load_crl_file(X509_STORE *st, const char *path, char *err, size_t errlen)
{
	char why[200];
	BIO *b;
	X509_CRL *crl;
	unsigned long e;
	int n = 0;

	if (file_readable(path, "CRL file", err, errlen) < 0)
		return -1;
	b = BIO_new_file(path, "r");
	if (b == NULL) {
		ssl_reason(why, sizeof why);
		seterr(err, errlen, "tls: cannot open CRL file %s: %s", path, why);
		return -1;
	}
	ERR_clear_error();
	while ((crl = PEM_read_bio_X509_CRL(b, NULL, NULL, NULL)) != NULL) {
		if (!X509_STORE_add_crl(st, crl)) {
			X509_CRL_free(crl);
			BIO_free(b);
			ssl_reason(why, sizeof why);
			seterr(err, errlen, "tls: cannot add CRL %d of %s: %s",
			       n + 1, path, why);
			return -1;
		}
		X509_CRL_free(crl);
		n++;
	}
	BIO_free(b);
	e = ERR_peek_last_error();
	if (n > 0 && ERR_GET_LIB(e) == ERR_LIB_PEM &&
	    ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
		ERR_clear_error();
		return 0;
	}
	if (n == 0)
		seterr(err, errlen, "tls: CRL file %s holds no PEM CRL "
		       "(-----BEGIN X509 CRL-----): check the file", path);
	else {
		ssl_reason(why, sizeof why);
		seterr(err, errlen, "tls: CRL file %s: CRL %d is damaged: %s",
		       path, n + 1, why);
	}
	ERR_clear_error();
	return -1;
}

/* Load the certificate chain and its key, and check they belong together. */
static int
load_cert_key(SSL_CTX *sctx, const char *cert, const char *key, char *err,
	      size_t errlen)
{
	char why[200];
	unsigned long e;

	if (file_readable(cert, "certificate", err, errlen) < 0 ||
	    file_readable(key, "key", err, errlen) < 0)
		return -1;
	ERR_clear_error();
	if (SSL_CTX_use_certificate_chain_file(sctx, cert) != 1) {
		ssl_reason(why, sizeof why);
		seterr(err, errlen, "tls: cannot load certificate %s: %s: check "
		       "the file is a PEM certificate (leaf first, then "
		       "intermediates)", cert, why);
		return -1;
	}
	if (SSL_CTX_use_PrivateKey_file(sctx, key, SSL_FILETYPE_PEM) != 1) {
		e = ERR_peek_last_error();
		if (ERR_GET_LIB(e) == ERR_LIB_X509 &&
		    (ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH ||
		     ERR_GET_REASON(e) == X509_R_KEY_TYPE_MISMATCH)) {
			ERR_clear_error();
			seterr(err, errlen, "tls: key %s does not match certificate "
			       "%s: use the key the certificate was issued for",
			       key, cert);
			return -1;
		}
		ssl_reason(why, sizeof why);
		seterr(err, errlen, "tls: cannot load key %s: %s: check the file "
		       "is a PEM private key matching the certificate", key, why);
		return -1;
	}
	if (SSL_CTX_check_private_key(sctx) != 1) {
		ssl_reason(why, sizeof why);
		seterr(err, errlen, "tls: key %s does not match certificate %s: "
		       "%s", key, cert, why);
		return -1;
	}
	return 0;
}

/*
 * Accept only TLS 1.2 suites with ECDHE key exchange and an AEAD cipher
 * (TLS 1.3 suites are all AEAD and show key exchange "any").  A cipher
 * string that lets in RSA key exchange or CBC suites is refused rather than
 * quietly weakening the gateway.
 */
static int
check_ciphers(SSL_CTX *sctx, const char *list, char *err, size_t errlen)
{
	STACK_OF(SSL_CIPHER) *sk = SSL_CTX_get_ciphers(sctx);
	const SSL_CIPHER *ci;
	size_t i, n;
	int kx;

	n = sk ? (size_t)sk_SSL_CIPHER_num(sk) : 0;
	for (i = 0; i < n; i++) {
		ci = sk_SSL_CIPHER_value(sk, i);
		kx = SSL_CIPHER_get_kx_nid(ci);
		if (kx == NID_kx_any)
			continue;
		if (kx != NID_kx_ecdhe || !SSL_CIPHER_is_aead(ci)) {
			seterr(err, errlen, "tls: cipher list \"%s\" allows %s: "
			       "only ECDHE key exchange with AES-GCM or "
			       "ChaCha20-Poly1305 is accepted", list,
			       SSL_CIPHER_get_name(ci));
			return -1;
		}
	}
	return 0;
}

/* Encode a NULL-terminated list as ALPN wire format (length-prefixed). */
static int
alpn_encode(const char *const *list, uint8_t **out, size_t *outlen,
	    char *err, size_t errlen)
{
	size_t total = 0, len, i;
	uint8_t *p;

	for (i = 0; list[i] != NULL; i++) {
		len = strlen(list[i]);
		if (len == 0 || len > 255) {
			seterr(err, errlen, "tls: ALPN protocol \"%s\" must be 1 to "
			       "255 bytes", list[i]);
			return -1;
		}
		total += 1 + len;
	}
	if (total == 0 || total > 65535) {
		seterr(err, errlen, "tls: ALPN list is empty or too long");
		return -1;
	}
	p = malloc(total);
	if (p == NULL) {
		seterr(err, errlen, "tls: out of memory");
		return -1;
	}
	*out = p;
	*outlen = total;
	for (i = 0; list[i] != NULL; i++) {
		len = strlen(list[i]);
		*p++ = (uint8_t)len;
		memcpy(p, list[i], len);
		p += len;
	}
	return 0;
}

/*
 * Server ALPN choice: our first protocol (in configured preference order)
 * that the client offers.  No overlap is a fatal no_application_protocol
 * alert (RFC 7301): a listener that names protocols speaks nothing else.
 * A client offering no ALPN at all does not reach this callback.
 */
static int
alpn_select_cb(SSL *ssl, const uint8_t **out, uint8_t *outlen,
	       const uint8_t *in, unsigned inlen, void *arg)
{
	const struct tls_ctx *t = arg;
	size_t i, j;

	(void)ssl;
	for (i = 0; i < t->alpn_len; i += 1 + (size_t)t->alpn[i]) {
		for (j = 0; j < inlen; j += 1 + (size_t)in[j]) {
			if (j + 1 + in[j] > inlen)
				return SSL_TLSEXT_ERR_ALERT_FATAL; /* malformed */
			if (in[j] == t->alpn[i] &&
			    memcmp(in + j + 1, t->alpn + i + 1, in[j]) == 0) {
				*out = t->alpn + i + 1;
				*outlen = t->alpn[i];
				return SSL_TLSEXT_ERR_OK;
			}
		}
	}
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

/* Write an RFC 2253 form of a name into buf (always NUL-terminated). */
static void
name_oneline(const X509_NAME *name, char *buf, size_t len)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data = NULL;
	long n;

	buf[0] = '\0';
	if (b == NULL)
		return;
	if (name != NULL && X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) >= 0) {
		n = BIO_get_mem_data(b, &data);
		if (n > 0 && data != NULL)
			snprintf(buf, len, "%.*s", (int)n, data);
	}
	BIO_free(b);
}

/*
 * Remember the first verification error with the subject and depth of the
 * certificate it concerns, so that the failure message names it.  Never
 * overrides the library's verdict.
 */
static int
verify_cb(int ok, X509_STORE_CTX *st)
{
	struct tls_conn *c;
	SSL *ssl;
	X509 *x;
	char subject[200];

	if (ok)
		return ok;
	ssl = X509_STORE_CTX_get_ex_data(st, SSL_get_ex_data_X509_STORE_CTX_idx());
	c = ssl ? SSL_get_app_data(ssl) : NULL;
	if (c == NULL || c->verify_result != X509_V_OK)
		return ok;
	c->verify_result = X509_STORE_CTX_get_error(st);
	x = X509_STORE_CTX_get_current_cert(st);
	name_oneline(x ? X509_get_subject_name(x) : NULL, subject, sizeof subject);
	snprintf(c->verify_detail, sizeof c->verify_detail,
		 " (certificate \"%s\", depth %d)", subject,
		 X509_STORE_CTX_get_error_depth(st));
	return ok;
}

/*
 * Build an SSL_CTX from cfg.  Refuses: servers without certificate/key,
 * half a client certificate, verification without CA files, weak cipher
 * lists, unknown curves, malformed ALPN names and unreadable files.
 */
struct tls_ctx *
tls_ctx_new(const struct tls_config *cfg, char *err, size_t errlen)
{
	struct tls_ctx *t;
	SSL_CTX *s;
	X509_STORE *st;
	const char *ciphers, *curves;
	char why[200];
	int mode, i, verify_peer;

	if (cfg == NULL || (cfg->role != TLS_SERVER && cfg->role != TLS_CLIENT)) {
		seterr(err, errlen, "tls: role must be server or client");
		return NULL;
	}
	if (cfg->role == TLS_SERVER && (cfg->cert_file == NULL ||
					cfg->key_file == NULL)) {
		seterr(err, errlen, "tls: a server needs cert and key files");
		return NULL;
	}
	if ((cfg->cert_file == NULL) != (cfg->key_file == NULL)) {
		seterr(err, errlen, "tls: cert and key go together: set both or "
		       "neither");
		return NULL;
	}
	if (cfg->role == TLS_SERVER && cfg->verify != TLS_VERIFY_REQUIRE &&
	    cfg->verify != TLS_VERIFY_OPTIONAL && cfg->verify != TLS_VERIFY_NONE) {
		seterr(err, errlen, "tls: verify must be require, optional or none");
		return NULL;
	}
	verify_peer = cfg->role == TLS_CLIENT || cfg->verify != TLS_VERIFY_NONE;
	if (verify_peer && (cfg->ca_files == NULL || cfg->ca_files[0] == NULL)) {
		seterr(err, errlen, cfg->role == TLS_CLIENT ?
		       "tls: a client needs ca files to verify the server" :
		       "tls: verifying clients needs ca files: name the CA(s) "
		       "that issue client certificates, or set verify none");
		return NULL;
	}
	if (cfg->min_version != TLS_MIN_1_2 && cfg->min_version != TLS_MIN_1_3) {
		seterr(err, errlen, "tls: minimum version must be TLS 1.2 or 1.3");
		return NULL;
	}

	t = calloc(1, sizeof *t);
	if (t == NULL) {
		seterr(err, errlen, "tls: out of memory");
		return NULL;
	}
	t->refs = 1;
	t->role = cfg->role;
	t->hs_timeout_ms = cfg->handshake_timeout_ms ?
		cfg->handshake_timeout_ms : TLS_DEFAULT_HANDSHAKE_TIMEOUT_MS;
	t->order = cfg->identity_order;
	if (t->order.src[0] == IDENTITY_SRC_NONE)
		identity_order_default(&t->order);

	ERR_clear_error();
	s = t->ssl = SSL_CTX_new(TLS_method());
	if (s == NULL) {
		ssl_reason(why, sizeof why);
		seterr(err, errlen, "tls: cannot create a TLS context: %s", why);
		goto fail;
	}
	if (!SSL_CTX_set_min_proto_version(s, cfg->min_version == TLS_MIN_1_3 ?
					   TLS1_3_VERSION : TLS1_2_VERSION) ||
	    !SSL_CTX_set_max_proto_version(s, TLS1_3_VERSION)) {
		seterr(err, errlen, "tls: cannot set the protocol versions");
		goto fail;
	}
	/* No renegotiation, no compression, no session resumption: every
	 * connection is verified in full against the CAs and CRLs in force. */
	SSL_CTX_set_options(s, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
			    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_TICKET);
	SSL_CTX_set_session_cache_mode(s, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(s, 0);
	SSL_CTX_set_mode(s, SSL_MODE_RELEASE_BUFFERS);

	ciphers = cfg->ciphers ? cfg->ciphers : TLS_DEFAULT_CIPHERS;
	if (!SSL_CTX_set_cipher_list(s, ciphers)) {
		ssl_reason(why, sizeof why);
		seterr(err, errlen, "tls: cipher list \"%s\" is not usable with "
		       "%s: %s", ciphers, tls_engine(), why);
		goto fail;
	}
	if (check_ciphers(s, ciphers, err, errlen) < 0)
		goto fail;
	curves = cfg->curves ? cfg->curves : TLS_DEFAULT_CURVES;
	if (!SSL_CTX_set1_curves_list(s, curves)) {
		ssl_reason(why, sizeof why);
		seterr(err, errlen, "tls: curve list \"%s\" is not usable with "
		       "%s: %s", curves, tls_engine(), why);
		goto fail;
	}

	if (cfg->cert_file != NULL &&
	    load_cert_key(s, cfg->cert_file, cfg->key_file, err, errlen) < 0)
		goto fail;

	st = SSL_CTX_get_cert_store(s);
	for (i = 0; verify_peer && cfg->ca_files[i] != NULL; i++)
		if (load_ca_file(s, st, cfg->ca_files[i],
				 cfg->role == TLS_SERVER, err, errlen) < 0)
			goto fail;
	for (i = 0; cfg->crl_files != NULL && cfg->crl_files[i] != NULL; i++)
		if (load_crl_file(st, cfg->crl_files[i], err, errlen) < 0)
			goto fail;
	if (cfg->crl_files != NULL && cfg->crl_files[0] != NULL)
		X509_STORE_set_flags(st, X509_V_FLAG_CRL_CHECK |
				     X509_V_FLAG_CRL_CHECK_ALL);

	if (cfg->role == TLS_CLIENT)
		mode = SSL_VERIFY_PEER;
	else if (cfg->verify == TLS_VERIFY_REQUIRE)
		mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
	else if (cfg->verify == TLS_VERIFY_OPTIONAL)
		mode = SSL_VERIFY_PEER;
	else
		mode = SSL_VERIFY_NONE;
	SSL_CTX_set_verify(s, mode, verify_cb);
	SSL_CTX_set_verify_depth(s, cfg->verify_depth > 0 ? cfg->verify_depth :
				 TLS_DEFAULT_VERIFY_DEPTH);
	if (cfg->role == TLS_SERVER &&
	    !SSL_CTX_set_session_id_context(s, (const unsigned char *)"zonegate",
					    8)) {
		seterr(err, errlen, "tls: cannot set the session id context");
		goto fail;
	}

	if (cfg->alpn != NULL && cfg->alpn[0] != NULL) {
		if (alpn_encode(cfg->alpn, &t->alpn, &t->alpn_len, err, errlen) < 0)
			goto fail;
		if (cfg->role == TLS_SERVER)
			SSL_CTX_set_alpn_select_cb(s, alpn_select_cb, t);
		else if (SSL_CTX_set_alpn_protos(s, t->alpn,
						 (unsigned)t->alpn_len) != 0) {
			seterr(err, errlen, "tls: cannot set the ALPN list");
			goto fail;
		}
	}
	ERR_clear_error();
	return t;
fail:
	ERR_clear_error();
	SSL_CTX_free(t->ssl);
	free(t->alpn);
	free(t);
	return NULL;
}

void
tls_ctx_free(struct tls_ctx *t)
{
	if (t == NULL || --t->refs > 0)
		return;
	SSL_CTX_free(t->ssl);
	free(t->alpn);
	free(t);
}

int
tls_ctx_role(const struct tls_ctx *t)
{
	return t->role;
}

/* ------------------------------------------------------------------ */
/* Connections                                                        */
/* ------------------------------------------------------------------ */

static void pump_in(struct tls_conn *c);
static int pump_out(struct tls_conn *c);
static void close_progress(struct tls_conn *c);

void
tls_conn_free(struct tls_conn *c)
{
	if (c == NULL)
		return;
	if (c->timer != NULL)
		event_free(c->timer);
	if (c->outer != NULL)
		bufferevent_free(c->outer);
	if (c->inner != NULL)
		bufferevent_free(c->inner);
	if (c->sock != NULL)
		bufferevent_free(c->sock); /* closes the fd */
	SSL_free(c->ssl);                  /* frees both BIOs */
	identity_free(c->id);
	free(c->alpn);
	tls_ctx_free(c->ctx);
	free(c);
}

/*
 * A memory BIO keeps the largest size it ever held: the handshake flights
 * (certificate chains) and, later, every burst of records.  Once drained,
 * a BIO grown past TLS_BIO_KEEP is replaced by an empty one, so that an
 * idle session holds no buffer at all.  Small request/answer exchanges
 * (Modbus) never reach TLS_BIO_KEEP and never pay for a replacement.
 * Returns 0, or -1 when out of memory (the old BIO is then kept).
 */
static int
trim_bio(struct tls_conn *c, int wbio)
{
	BIO *b = wbio ? c->wbio : c->rbio, *n;
	BUF_MEM *bm = NULL;

	if (BIO_ctrl_pending(b) > 0 || BIO_get_mem_ptr(b, &bm) <= 0 ||
	    bm == NULL || bm->max <= TLS_BIO_KEEP)
		return 0;
	if ((n = BIO_new(BIO_s_mem())) == NULL)
		return -1;
	if (wbio) {
		SSL_set0_wbio(c->ssl, n); /* frees the old one */
		c->wbio = n;
	} else {
		BIO_set_mem_eof_return(n, -1);
		SSL_set0_rbio(c->ssl, n);
		c->rbio = n;
	}
	return 0;
}

/*
 * Move everything SSL wrote into the wbio to the socket.  When nothing is
 * queued ahead of it the ciphertext is sent at once: queued in the
 * bufferevent it would cost a turn of the loop and two epoll_ctl() calls
 * (arm and disarm the write event) per record, which on a request/answer
 * protocol was most of the layer's cost.  What the kernel does not take,
 * and any send error, goes through the bufferevent as before (in order,
 * with its back-pressure and error reporting).
 */
static int
flush_wbio(struct tls_conn *c)
{
	struct evbuffer *out = bufferevent_get_output(c->sock);
	struct evbuffer_iovec v;
	evutil_socket_t fd = bufferevent_getfd(c->sock);
	size_t pending;
	int n;

	if (fd >= 0 && evbuffer_get_length(out) == 0) {
		unsigned char buf[CHUNK];

		while (BIO_ctrl_pending(c->wbio) > 0) {
			ssize_t w;

			n = BIO_read(c->wbio, buf, (int)sizeof(buf));
			if (n <= 0)
				return -1;
			w = send(fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (w == (ssize_t)n)
				continue;
			if (w < 0)
				w = 0;
			if (evbuffer_add(out, buf + w, (size_t)(n - w)) < 0)
				return -1;
			break;
		}
	}
	while ((pending = BIO_ctrl_pending(c->wbio)) > 0) {
		if (evbuffer_reserve_space(out, (ev_ssize_t)(pending < CHUNK ?
					   pending : CHUNK), &v, 1) < 1)
			return -1;
		n = BIO_read(c->wbio, v.iov_base,
			     (int)(v.iov_len < CHUNK ? v.iov_len : CHUNK));
		if (n <= 0)
			return -1;
		v.iov_len = (size_t)n;
		if (evbuffer_commit_space(out, &v, 1) < 0)
			return -1;
	}
	return trim_bio(c, 1);
}

/* Move the ciphertext the socket received into the rbio. */
static int
feed_rbio(struct tls_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->sock);
	struct evbuffer_iovec v;

	while (evbuffer_get_length(in) > 0) {
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			return -1;
		if (v.iov_len > CHUNK)
			v.iov_len = CHUNK;
		if (BIO_write(c->rbio, v.iov_base, (int)v.iov_len) != (int)v.iov_len)
			return -1;
		evbuffer_drain(in, v.iov_len);
	}
	return 0;
}

/*
 * Report a failure: stop reading, send any alert SSL produced, hand over
 * the plaintext received so far and raise BEV_EVENT_ERROR|what on the
 * user's bufferevent.  A connection the user already closed is freed
 * instead (nobody is listening); callers must not touch c afterwards.
 */
__attribute__((format(printf, 4, 5))) static void
conn_fail(struct tls_conn *c, int kind, short what, const char *fmt, ...)
{
	va_list ap;

	if (c->state >= ST_CLOSING) {
		tls_conn_free(c);
		return;
	}
	if (c->state == ST_FAILED)
		return;
	c->state = ST_FAILED;
	c->fail = kind;
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof c->err, fmt, ap);
	va_end(ap);
	event_del(c->timer);
	bufferevent_disable(c->sock, EV_READ);
	flush_wbio(c);
	bufferevent_flush(c->inner, EV_WRITE, BEV_FLUSH);
	bufferevent_trigger_event(c->outer, (short)(BEV_EVENT_ERROR | what), 0);
}

/* Alert names, including TLS 1.3 ones older tables lack. */
static const char *
alert_name(int alert)
{
	switch (alert) {
	case 109:
		return "missing extension";
	case 116:
		return "certificate required";
	case 120:
		return "no application protocol";
	default:
		return SSL_alert_desc_string_long(alert);
	}
}

/* bad/unsupported/revoked/expired/unknown certificate, unknown CA,
 * certificate required: the peer did not accept our credentials. */
static int
alert_about_cert(int alert)
{
	return (alert >= 42 && alert <= 46) || alert == 48 || alert == 116;
}

/*
 * Classify a failed SSL call: a rejected certificate (verify callback saw
 * it), a client without certificate, an alert from the peer, or any other
 * protocol error.  Words for people go to c->err.
 */
static void
ssl_fail(struct tls_conn *c)
{
	unsigned long e = ERR_peek_error();
	const char *stage = c->state == ST_HANDSHAKE ? "handshake failed: " : "";
	const char *r;
	int lib = ERR_GET_LIB(e), reason = ERR_GET_REASON(e), alert;
	char why[200];

	if (c->verify_result == X509_V_OK && lib == ERR_LIB_SSL &&
	    reason == SSL_R_CERTIFICATE_VERIFY_FAILED)
		c->verify_result = SSL_get_verify_result(c->ssl);
	if (c->verify_result != X509_V_OK) {
		ERR_clear_error();
		conn_fail(c, TLS_FAIL_VERIFY, BEV_EVENT_READING,
			  "%s%s certificate rejected: %s%s", stage,
			  c->ctx->role == TLS_SERVER ? "client" : "server",
			  X509_verify_cert_error_string(c->verify_result),
			  c->verify_detail);
		return;
	}
	if (lib == ERR_LIB_SSL && reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
		ERR_clear_error();
		conn_fail(c, TLS_FAIL_NO_PEER_CERT, BEV_EVENT_READING,
			  "%sclient sent no certificate: this listener requires "
			  "mutual TLS (a client certificate from a trusted CA)",
			  stage);
		return;
	}
	if (lib == ERR_LIB_SSL && reason >= SSL_AD_REASON_OFFSET &&
	    reason < SSL_AD_REASON_OFFSET + 256) {
		alert = reason - SSL_AD_REASON_OFFSET;
		ERR_clear_error();
		conn_fail(c, TLS_FAIL_ALERT, BEV_EVENT_READING,
			  "%speer sent fatal alert \"%s\"%s", stage,
			  alert_name(alert), alert_about_cert(alert) ?
			  ": it refused our certificate or does not trust our CA" :
			  "");
		return;
	}
	r = e ? ERR_reason_error_string(e) : NULL;
	if (r == NULL)
		ssl_reason(why, sizeof why);
	else
		snprintf(why, sizeof why, "%s", r);
	ERR_clear_error();
	conn_fail(c, TLS_FAIL_PROTOCOL, BEV_EVENT_READING, "%sTLS error: %s",
		  stage, why);
}

/*
 * The handshake completed and the library verified the peer: read its
 * identity and the negotiated protocol, stop the timer, tell the user and
 * send what it wrote meanwhile.  Returns 0, or -1 when c failed.
 */
static int
handshake_done(struct tls_conn *c)
{
	const unsigned char *p = NULL;
	unsigned len = 0;
	char why[200];
	X509 *x;

	event_del(c->timer);
	x = peer_certificate(c->ssl);
	if (x != NULL) {
		c->id = identity_from_x509(x, &c->ctx->order, why, sizeof why);
		X509_free(x);
		if (c->id == NULL) {
			conn_fail(c, TLS_FAIL_INTERNAL, 0, "%s", why);
			return -1;
		}
	} else if (c->ctx->role == TLS_CLIENT) {
		conn_fail(c, TLS_FAIL_VERIFY, 0, "server sent no certificate");
		return -1;
	}
	SSL_get0_alpn_selected(c->ssl, &p, &len);
	if (len > 0) {
		c->alpn = malloc(len + 1);
		if (c->alpn == NULL) {
			conn_fail(c, TLS_FAIL_INTERNAL, 0, "out of memory");
			return -1;
		}
		memcpy(c->alpn, p, len);
		c->alpn[len] = '\0';
	}
	c->state = ST_OPEN;
	bufferevent_trigger_event(c->outer, BEV_EVENT_CONNECTED, 0);
	return pump_out(c);
}

/* Drive the handshake with what the rbio holds.  1 done, 0 more, -1 failed. */
static int
handshake_step(struct tls_conn *c)
{
	int r;

	ERR_clear_error();
	r = SSL_do_handshake(c->ssl);
	if (flush_wbio(c) < 0) {
		conn_fail(c, TLS_FAIL_INTERNAL, 0, "out of memory");
		return -1;
	}
	if (r == 1)
		return handshake_done(c) < 0 ? -1 : 1;
	if (SSL_get_error(c->ssl, r) == SSL_ERROR_WANT_READ) {
		ERR_clear_error();
		return 0;
	}
	ssl_fail(c);
	return -1;
}

/*
 * Decrypt what the rbio holds into the pair, up to TLS_PLAIN_BUFFER bytes
 * not yet taken by the user; then stop reading the socket until the user
 * drains (inner_writecb).  Also finishes the handshake and notices the
 * peer's close_notify, or a TCP EOF without it.
 */
static void
pump_in(struct tls_conn *c)
{
	struct evbuffer *out = bufferevent_get_output(c->inner);
	struct evbuffer_iovec v;
	int n, e;

	if (c->state == ST_HANDSHAKE) {
		n = handshake_step(c);
		if (n < 0)
			return;
		if (n == 0) {
			if (c->sock_eof)
				conn_fail(c, TLS_FAIL_PROTOCOL, BEV_EVENT_EOF,
					  "handshake failed: peer closed the "
					  "connection");
			return;
		}
	}
	if (c->state != ST_OPEN || c->peer_closed)
		return;
	while (evbuffer_get_length(out) < TLS_PLAIN_BUFFER) {
		/* Nothing to decrypt: reserving a record's worth of space
		 * anyway would leave an empty 16 KiB chain in every idle
		 * session. */
		if (BIO_ctrl_pending(c->rbio) == 0 && SSL_pending(c->ssl) == 0)
			break;
		if (evbuffer_reserve_space(out, CHUNK, &v, 1) < 1) {
			conn_fail(c, TLS_FAIL_INTERNAL, 0, "out of memory");
			return;
		}
		ERR_clear_error();
		n = SSL_read(c->ssl, v.iov_base,
			     (int)(v.iov_len < CHUNK ? v.iov_len : CHUNK));
		if (n > 0) {
			v.iov_len = (size_t)n;
			evbuffer_commit_space(out, &v, 1);
			continue;
		}
		e = SSL_get_error(c->ssl, n);
		if (e == SSL_ERROR_WANT_READ) {
			ERR_clear_error();
			break;
		}
		if (e == SSL_ERROR_ZERO_RETURN) {
			/* close_notify: all the peer's data is here. */
			c->peer_closed = 1;
			flush_wbio(c);
			bufferevent_flush(c->inner, EV_WRITE, BEV_FLUSH);
			bufferevent_trigger_event(c->outer,
						  BEV_EVENT_EOF | BEV_EVENT_READING, 0);
			return;
		}
		ssl_fail(c);
		return;
	}
	if (flush_wbio(c) < 0 || trim_bio(c, 0) < 0) {
		conn_fail(c, TLS_FAIL_INTERNAL, 0, "out of memory");
		return;
	}
	if (evbuffer_get_length(out) >= TLS_PLAIN_BUFFER) {
		c->in_blocked = 1;
		bufferevent_disable(c->sock, EV_READ);
		return;
	}
	if (c->sock_eof)
		conn_fail(c, TLS_FAIL_TRUNCATED, BEV_EVENT_READING,
			  "peer closed the connection without close_notify: "
			  "its last data may be truncated");
}

/*
 * Length of the next TLS record: up to CHUNK bytes of what the user wrote
 * (len bytes wait), or with a unit function never past the end of the
 * current unit, so that a record never carries the end of one unit and
 * the start of the next.  0: the unit's length is not known yet (its
 * header is incomplete: the rest follows, the user writes whole units).
 * Returns (size_t)-1 when out of memory.
 */
static size_t
record_len(struct tls_conn *c, struct evbuffer *src, size_t len)
{
	size_t hl, u;
	unsigned char *p;

	if (len > CHUNK)
		len = CHUNK;
	if (c->unit == NULL)
		return len;
	if (c->unit_left == 0) {
		hl = len < TLS_UNIT_HEADER ? len : TLS_UNIT_HEADER;
		if ((p = evbuffer_pullup(src, (ev_ssize_t)hl)) == NULL)
			return (size_t)-1;
		if ((u = c->unit(p, hl)) == 0)
			return 0;
		c->unit_left = u;
	}
	return len < c->unit_left ? len : c->unit_left;
}

/*
 * Encrypt the plaintext the user wrote while the socket's output holds
 * less than TLS_SOCK_BUFFER; the socket's write callback resumes.  The
 * records are sent together at the end (one send() for many small
 * records).  Returns 0, or -1 when c failed (and may be freed).
 */
static int
pump_out(struct tls_conn *c)
{
	struct evbuffer *src = bufferevent_get_input(c->inner);
	struct evbuffer *dst = bufferevent_get_output(c->sock);
	size_t len;
	unsigned char *p;
	int n;

	if (c->state != ST_OPEN && c->state != ST_CLOSING)
		return 0;
	while ((len = evbuffer_get_length(src)) > 0 &&
	       evbuffer_get_length(dst) + BIO_ctrl_pending(c->wbio) <
	       TLS_SOCK_BUFFER) {
		len = record_len(c, src, len);
		if (len == 0)
			break;
		if (len == (size_t)-1 ||
		    (p = evbuffer_pullup(src, (ev_ssize_t)len)) == NULL) {
			conn_fail(c, TLS_FAIL_INTERNAL, 0, "out of memory");
			return -1;
		}
		ERR_clear_error();
		n = SSL_write(c->ssl, p, (int)len);
		if (n <= 0) {
			ssl_fail(c);
			return -1;
		}
		evbuffer_drain(src, (size_t)n);
		if (c->unit != NULL)
			c->unit_left -= (size_t)n;
		if (BIO_ctrl_pending(c->wbio) >= CHUNK && flush_wbio(c) < 0) {
			conn_fail(c, TLS_FAIL_INTERNAL, 0, "out of memory");
			return -1;
		}
	}
	if (flush_wbio(c) < 0) {
		conn_fail(c, TLS_FAIL_INTERNAL, 0, "out of memory");
		return -1;
	}
	return 0;
}

/* -- callbacks of the socket bufferevent (ciphertext) -- */

static void
sock_readcb(struct bufferevent *bev, void *arg)
{
	struct tls_conn *c = arg;

	if (c->state >= ST_FAILED || c->peer_closed) {
		/* Closing, failed, or after close_notify: nothing more is
		 * wanted, and nothing may pile up in the rbio. */
		evbuffer_drain(bufferevent_get_input(bev),
			       evbuffer_get_length(bufferevent_get_input(bev)));
		return;
	}
	if (feed_rbio(c) < 0) {
		conn_fail(c, TLS_FAIL_INTERNAL, 0, "out of memory");
		return;
	}
	if (!c->in_blocked)
		pump_in(c);
}

static void
sock_writecb(struct bufferevent *bev, void *arg)
{
	struct tls_conn *c = arg;

	(void)bev;
	if (c->state == ST_OPEN)
		pump_out(c);
	else if (c->state == ST_CLOSING)
		close_progress(c);
}

static void
sock_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct tls_conn *c = arg;
	int e = EVUTIL_SOCKET_ERROR();

	(void)bev;
	if (what & BEV_EVENT_CONNECTED)
		return; /* the ClientHello is queued already */
	if (c->state == ST_CLOSING && (what & BEV_EVENT_EOF) &&
	    !(what & BEV_EVENT_ERROR)) {
		/* The peer may have half-closed and still read our answer. */
		c->sock_eof = 1;
		return;
	}
	if (c->state >= ST_CLOSING) {
		tls_conn_free(c); /* peer closed or reset: we are done */
		return;
	}
	if (c->state == ST_FAILED)
		return;
	if (what & BEV_EVENT_EOF) {
		c->sock_eof = 1;
		if (c->peer_closed)
			return;
		if (feed_rbio(c) < 0) {
			conn_fail(c, TLS_FAIL_INTERNAL, 0, "out of memory");
			return;
		}
		if (!c->in_blocked)
			pump_in(c);
		return;
	}
	if (what & BEV_EVENT_ERROR)
		conn_fail(c, TLS_FAIL_IO, (short)(what & (BEV_EVENT_READING |
							  BEV_EVENT_WRITING)),
			  "%s: %s", c->state == ST_HANDSHAKE ?
			  "connection failed during the handshake" :
			  "connection failed",
			  evutil_socket_error_to_string(e));
}

/* -- callbacks of our end of the pair (plaintext) -- */

/* The user wrote: encrypt. */
static void
inner_readcb(struct bufferevent *bev, void *arg)
{
	struct tls_conn *c = arg;

	(void)bev;
	if (c->state == ST_CLOSING)
		close_progress(c);
	else
		pump_out(c);
}

/* The user took all decrypted data: resume reading when we had stopped. */
static void
inner_writecb(struct bufferevent *bev, void *arg)
{
	struct tls_conn *c = arg;

	(void)bev;
	if (!c->in_blocked || c->state != ST_OPEN)
		return;
	c->in_blocked = 0;
	bufferevent_enable(c->sock, EV_READ);
	pump_in(c);
}

/* Handshake timeout, or the bound on a graceful close. */
static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tls_conn *c = arg;

	(void)fd;
	(void)what;
	if (c->state >= ST_CLOSING) {
		tls_conn_free(c);
		return;
	}
	if (c->state == ST_HANDSHAKE)
		conn_fail(c, TLS_FAIL_TIMEOUT, BEV_EVENT_TIMEOUT,
			  "handshake not finished after %u ms",
			  c->ctx->hs_timeout_ms);
}

/* "192.0.2.7:50211" or "[2001:db8::1]:802" for a socket address. */
static void
format_addr(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];
	const struct sockaddr_in *in4;
	const struct sockaddr_in6 *in6;

	buf[0] = '\0';
	if (sa->sa_family == AF_INET) {
		in4 = (const struct sockaddr_in *)(const void *)sa;
		if (evutil_inet_ntop(AF_INET, &in4->sin_addr, host, sizeof host))
			snprintf(buf, len, "%s:%u", host, ntohs(in4->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		in6 = (const struct sockaddr_in6 *)(const void *)sa;
		if (evutil_inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host))
			snprintf(buf, len, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else if (sa->sa_family == AF_UNIX)
		snprintf(buf, len, "unix");
}

/* An IP literal is checked against IP SANs and never sent as SNI. */
static int
is_ip_literal(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return evutil_inet_pton(AF_INET, s, buf) == 1 ||
	       evutil_inet_pton(AF_INET6, s, buf) == 1;
}

/*
 * Create a connection on fd (see tls.h).  Refuses a client without
 * servername: a server certificate that is not checked against the name
 * we meant to reach proves nothing.
 */
struct tls_conn *
tls_conn_new(struct tls_ctx *ctx, struct event_base *base, evutil_socket_t fd,
	     const char *servername, const char *peer, char *err, size_t errlen)
{
	struct bufferevent *pair[2];
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	X509_VERIFY_PARAM *param;
	struct tls_conn *c;
	char why[200];
	struct timeval tv;
	int r;

	if (ctx == NULL || base == NULL) {
		seterr(err, errlen, "tls: no context or event base");
		return NULL;
	}
	if (ctx->role == TLS_CLIENT && (servername == NULL || *servername == '\0')) {
		seterr(err, errlen, "tls: a client connection needs the server's "
		       "name (DNS name or IP address) to verify its certificate");
		return NULL;
	}
	c = calloc(1, sizeof *c);
	if (c == NULL)
		goto nomem;
	c->ctx = ctx;
	ctx->refs++;
	c->verify_result = X509_V_OK;
	if (peer != NULL)
		snprintf(c->peer, sizeof c->peer, "%s", peer);
	else if (fd >= 0 && getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
		format_addr((struct sockaddr *)&ss, c->peer, sizeof c->peer);

	ERR_clear_error();
	c->ssl = SSL_new(ctx->ssl);
	c->rbio = BIO_new(BIO_s_mem());
	c->wbio = BIO_new(BIO_s_mem());
	if (c->ssl == NULL || c->rbio == NULL || c->wbio == NULL) {
		BIO_free(c->rbio);
		BIO_free(c->wbio);
		c->rbio = c->wbio = NULL;
		goto nomem;
	}
	BIO_set_mem_eof_return(c->rbio, -1); /* empty = "retry", not EOF */
	SSL_set_bio(c->ssl, c->rbio, c->wbio);
	SSL_set_app_data(c->ssl, c);

	if (ctx->role == TLS_CLIENT) {
		param = SSL_get0_param(c->ssl);
		if (is_ip_literal(servername))
			r = X509_VERIFY_PARAM_set1_ip_asc(param, servername);
		else {
			X509_VERIFY_PARAM_set_hostflags(param,
				X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
			r = X509_VERIFY_PARAM_set1_host(param, servername,
							strlen(servername)) &&
			    SSL_set_tlsext_host_name(c->ssl, servername);
		}
		if (!r) {
			ssl_reason(why, sizeof why);
			seterr(err, errlen, "tls: server name \"%s\" is not usable: %s",
			       servername, why);
			goto fail;
		}
		SSL_set_connect_state(c->ssl);
		/* Write the ClientHello into the wbio now. */
		r = SSL_do_handshake(c->ssl);
		if (r != 1 && SSL_get_error(c->ssl, r) != SSL_ERROR_WANT_READ) {
			ssl_reason(why, sizeof why);
			seterr(err, errlen, "tls: cannot start the handshake: %s", why);
			goto fail;
		}
		ERR_clear_error();
	} else
		SSL_set_accept_state(c->ssl);

	if (bufferevent_pair_new(base, 0, pair) < 0)
		goto nomem;
	c->inner = pair[0];
	c->outer = pair[1];
	bufferevent_setcb(c->inner, inner_readcb, inner_writecb, NULL, c);
	bufferevent_setwatermark(c->inner, EV_READ, 0, TLS_SOCK_BUFFER);
	bufferevent_enable(c->inner, EV_READ | EV_WRITE);

	c->timer = evtimer_new(base, timer_cb, c);
	if (c->timer == NULL)
		goto nomem;

	/* Last step that can fail: from here on the fd is ours. */
	if (fd >= 0 && evutil_make_socket_nonblocking(fd) < 0) {
		seterr(err, errlen, "tls: cannot make the socket non-blocking: %s",
		       evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		goto fail;
	}
	c->sock = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->sock == NULL)
		goto nomem;
	bufferevent_setcb(c->sock, sock_readcb, sock_writecb, sock_eventcb, c);
	bufferevent_setwatermark(c->sock, EV_READ, 0, TLS_SOCK_BUFFER);
	bufferevent_setwatermark(c->sock, EV_WRITE, TLS_SOCK_BUFFER / 2, 0);
	if (flush_wbio(c) < 0)
		goto nomem_sock;
	if (fd >= 0 && bufferevent_enable(c->sock, EV_READ | EV_WRITE) < 0)
		goto nomem_sock;
	tv.tv_sec = ctx->hs_timeout_ms / 1000;
	tv.tv_usec = (ctx->hs_timeout_ms % 1000) * 1000;
	evtimer_add(c->timer, &tv);
	return c;

nomem_sock:
	/* The fd must survive: the caller still owns it on failure. */
	bufferevent_setfd(c->sock, -1);
nomem:
	seterr(err, errlen, "tls: out of memory");
fail:
	ERR_clear_error();
	tls_conn_free(c);
	return NULL;
}

int
tls_conn_connect(struct tls_conn *c, const struct sockaddr *sa, int salen)
{
	int one = 1;

	if (c->ctx->role != TLS_CLIENT || bufferevent_getfd(c->sock) >= 0 ||
	    c->state != ST_HANDSHAKE) {
		c->fail = TLS_FAIL_INTERNAL;
		snprintf(c->err, sizeof c->err, "tls_conn_connect: not a fresh "
			 "client connection without socket");
		return -1;
	}
	if (c->peer[0] == '\0')
		format_addr(sa, c->peer, sizeof c->peer);
	if (bufferevent_socket_connect(c->sock, sa, salen) < 0 ||
	    bufferevent_enable(c->sock, EV_READ | EV_WRITE) < 0) {
		c->fail = TLS_FAIL_IO;
		snprintf(c->err, sizeof c->err, "cannot connect to %s: %s",
			 c->peer, evutil_socket_error_to_string(
				 EVUTIL_SOCKET_ERROR()));
		return -1;
	}
	/* Request/response protocols over TLS (HTTP/2 above all) would
	 * otherwise meet Nagle's algorithm and the peer's delayed ACK: tens
	 * of milliseconds per exchange. */
	if (sa->sa_family == AF_INET || sa->sa_family == AF_INET6)
		(void)setsockopt(bufferevent_getfd(c->sock), IPPROTO_TCP,
				 TCP_NODELAY, &one, sizeof one);
	return 0;
}

/*
 * Graceful close (tls.h).  The user's callbacks go first so that nothing
 * reaches a caller that has let go; plaintext it queued is still sent.
 */
void
tls_conn_close(struct tls_conn *c)
{
	struct timeval tv;
	int was_open;

	if (c == NULL || c->state >= ST_CLOSING)
		return;
	was_open = c->state == ST_OPEN;
	/* The unit function may belong to a plugin that is going away: the
	 * rest of the current unit, then full records. */
	c->unit = NULL;
	bufferevent_setcb(c->outer, NULL, NULL, NULL, NULL);
	bufferevent_disable(c->outer, EV_READ);
	c->state = ST_CLOSING;
	if (!was_open)
		c->shutdown_sent = 1; /* nothing to flush, no close_notify */
	else
		bufferevent_flush(c->outer, EV_WRITE, BEV_FLUSH);
	bufferevent_setwatermark(c->sock, EV_WRITE, 0, 0);
	tv.tv_sec = TLS_CLOSE_TIMEOUT_MS / 1000;
	tv.tv_usec = (TLS_CLOSE_TIMEOUT_MS % 1000) * 1000;
	evtimer_add(c->timer, &tv);
	close_progress(c);
}

/*
 * Next step of a graceful close: encrypt the rest, send close_notify once,
 * wait for the socket output to drain, then shut down our write side and
 * wait (bounded by the timer) for the peer's EOF, so that closing with
 * unread input does not reset the connection under data still in flight.
 */
static void
close_progress(struct tls_conn *c)
{
	evutil_socket_t fd;

	if (!c->shutdown_sent) {
		if (pump_out(c) < 0)
			return; /* freed */
		if (evbuffer_get_length(bufferevent_get_input(c->inner)) > 0)
			return; /* sock_writecb calls again */
		ERR_clear_error();
		SSL_shutdown(c->ssl);
		ERR_clear_error();
		flush_wbio(c);
		c->shutdown_sent = 1;
	}
	if (evbuffer_get_length(bufferevent_get_output(c->sock)) > 0)
		return;
	fd = bufferevent_getfd(c->sock);
	if (fd < 0 || c->sock_eof) {
		tls_conn_free(c);
		return;
	}
	shutdown(fd, SHUT_WR);
	c->state = ST_LINGER;
	bufferevent_enable(c->sock, EV_READ);
}

void
tls_conn_set_unit(struct tls_conn *c, tls_unit_fn unit)
{
	if (c->state < ST_CLOSING && c->unit_left == 0)
		c->unit = unit;
}

struct bufferevent *
tls_conn_bev(struct tls_conn *c)
{
	return c->outer;
}

int
tls_conn_established(const struct tls_conn *c)
{
	return c->state == ST_OPEN;
}

const struct identity *
tls_conn_identity(const struct tls_conn *c)
{
	return c->id;
}

const char *
tls_conn_alpn(const struct tls_conn *c)
{
	return c->alpn;
}

const char *
tls_conn_version(const struct tls_conn *c)
{
	return c->id != NULL || c->state == ST_OPEN ? SSL_get_version(c->ssl) : "";
}

const char *
tls_conn_cipher(const struct tls_conn *c)
{
	const SSL_CIPHER *ci = SSL_get_current_cipher(c->ssl);

	return ci != NULL ? SSL_CIPHER_get_name(ci) : "";
}

const char *
tls_conn_peer(const struct tls_conn *c)
{
	return c->peer;
}

int
tls_conn_fail(const struct tls_conn *c)
{
	return c->fail;
}

long
tls_conn_verify_result(const struct tls_conn *c)
{
	return c->verify_result;
}

const char *
tls_conn_error(const struct tls_conn *c)
{
	return c->err;
}
