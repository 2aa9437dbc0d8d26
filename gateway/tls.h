/*
 * tls: zonegate's own TLS over libevent, server and client side.
 *
 * Why our own: BoringSSL (the default engine) and OpenSSL 3 cannot share a
 * process, and libevent_openssl links OpenSSL 3.  This layer is written to
 * the API subset both engines share and never uses libevent_openssl.
 *
 * Shape.  A connection is three bufferevents on ONE event_base:
 *
 *     socket fd <-> [sock: ciphertext] <-> SSL (memory BIOs) <-> [pair] <-> user
 *
 * The user gets a plaintext `struct bufferevent' (one end of a
 * bufferevent_pair, see tls_conn_bev()) and uses it like any other: read
 * callbacks, evbuffers, watermarks, enable/disable.  TLS specifics (peer
 * identity, ALPN, errors, graceful close) go through the struct tls_conn.
 *
 * Events delivered to the plaintext bufferevent's event callback (always
 * from the loop, never from inside a call into this module):
 *   BEV_EVENT_CONNECTED   handshake done, peer verified; tls_conn_identity()
 *                         and tls_conn_alpn() are now valid.  With TLS 1.3 a
 *                         client learns that the server refused its
 *                         certificate only after this: as an ERROR next.
 *   BEV_EVENT_EOF|READING the peer sent close_notify (clean end of its data),
 *                         after every byte before it was delivered.  Writing
 *                         is still possible until tls_conn_close().
 *   BEV_EVENT_ERROR|...   the connection failed: tls_conn_fail() says how,
 *                         tls_conn_error() says why in words.  Includes
 *                         BEV_EVENT_TIMEOUT for the handshake timeout and
 *                         BEV_EVENT_READING for a peer that closed TCP
 *                         without close_notify (possible truncation).
 * After EOF or ERROR no more data arrives; call tls_conn_close().
 *
 * Back-pressure.  Set watermarks on the plaintext bufferevent as usual.
 * When its input reaches the read high-water mark (or reading is disabled),
 * at most TLS_PLAIN_BUFFER bytes are decrypted ahead and the socket is no
 * longer read: TCP flow control reaches the peer.  Plaintext written is
 * encrypted while the socket's output holds less than TLS_SOCK_BUFFER
 * bytes; beyond that it waits in the plaintext bufferevent's output, where
 * its write callback and low-water mark tell the writer when to continue.
 * Data written before the handshake completes is sent after it (no early
 * data).
 *
 * Ownership.
 *   - struct tls_ctx is reference counted: every tls_conn holds one, so
 *     tls_ctx_free() may be called as soon as no new connection needs it
 *     (e.g. right after swapping in a new context on reload).
 *   - tls_conn_new() takes the socket fd on success (closed when the
 *     connection is freed); on failure the caller still owns fd.
 *   - The plaintext bufferevent belongs to the tls_conn: never
 *     bufferevent_free() it; it stays valid until tls_conn_close/free().
 *   - Strings returned by tls_conn_*() are borrowed, valid until the
 *     connection is closed or freed.
 *
 * Not thread-safe: every call for one connection (and its context while
 * connections are created) happens on the loop thread.
 */
#ifndef ZG_TLS_H
#define ZG_TLS_H

#include <stddef.h>
#include <sys/socket.h>

#include <event2/util.h> /* evutil_socket_t */

#include "identity.h"

struct event_base;
struct bufferevent;
struct tls_ctx;
struct tls_conn;

/*
 * TLS 1.2 suites allowed by default: ECDHE with AEAD only.  The first two
 * are required by Modbus/TCP Security.  TLS 1.3 suites are the engine's
 * (all AEAD).  tls_ctx_new() refuses a list that lets in any suite without
 * ECDHE key exchange or without AEAD.
 */
#define TLS_DEFAULT_CIPHERS                                   \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define TLS_DEFAULT_CURVES "X25519:P-256:P-384"
#define TLS_DEFAULT_HANDSHAKE_TIMEOUT_MS 10000
#define TLS_DEFAULT_VERIFY_DEPTH 4
#define TLS_CLOSE_TIMEOUT_MS 5000 /* bound on a graceful close */
#define TLS_PLAIN_BUFFER 65536    /* plaintext decrypted ahead, at most */
#define TLS_SOCK_BUFFER 65536     /* ciphertext queued to the socket */

enum tls_role { TLS_SERVER = 0, TLS_CLIENT = 1 };

/* What a server asks of clients.  Clients always verify servers. */
enum tls_verify {
	TLS_VERIFY_REQUIRE = 0,  /* mutual TLS: a valid client cert is required */
	TLS_VERIFY_OPTIONAL = 1, /* verified if sent; none is accepted */
	TLS_VERIFY_NONE = 2,     /* not requested */
};

enum tls_min_version { TLS_MIN_1_2 = 0, TLS_MIN_1_3 = 1 };

/* How a connection failed (tls_conn_fail()). */
enum tls_fail {
	TLS_FAIL_NONE = 0,
	TLS_FAIL_TIMEOUT = 1,      /* handshake did not finish in time */
	TLS_FAIL_VERIFY = 2,       /* peer certificate rejected: see
				      tls_conn_verify_result() */
	TLS_FAIL_NO_PEER_CERT = 3, /* client sent no certificate (mTLS) */
	TLS_FAIL_ALERT = 4,        /* peer sent a fatal alert (it refused us) */
	TLS_FAIL_PROTOCOL = 5,     /* handshake/record error, no shared
				      version, cipher or ALPN protocol */
	TLS_FAIL_TRUNCATED = 6,    /* TCP closed without close_notify */
	TLS_FAIL_IO = 7,           /* socket error, or connect() failed */
	TLS_FAIL_INTERNAL = 8,     /* out of memory and the like */
};

/*
 * Configuration of one context, as plain data (the config layer maps its
 * keys onto it).  Lists are NULL-terminated arrays; every pointer is
 * borrowed for the duration of tls_ctx_new() only.
 */
struct tls_config {
	int role;                     /* enum tls_role */
	const char *cert_file;        /* PEM chain, leaf first (servers: required) */
	const char *key_file;         /* PEM private key of cert_file */
	const char *const *ca_files;  /* PEM CA certificates to trust */
	const char *const *crl_files; /* PEM CRLs; when given, every certificate
					 of a peer chain must be covered by a
					 current CRL (CRL_CHECK | CRL_CHECK_ALL) */
	int verify;                   /* servers: enum tls_verify */
	int min_version;              /* enum tls_min_version */
	const char *ciphers;          /* TLS 1.2 list; NULL: TLS_DEFAULT_CIPHERS */
	const char *curves;           /* NULL: TLS_DEFAULT_CURVES */
	const char *const *alpn;      /* server: accepted, in preference order;
					 client: offered.  NULL: no ALPN */
	unsigned handshake_timeout_ms; /* 0: TLS_DEFAULT_HANDSHAKE_TIMEOUT_MS */
	int verify_depth;             /* 0: TLS_DEFAULT_VERIFY_DEPTH */
	struct identity_order identity_order; /* all zero: uri, dns, cn */
};

/* Name and version of the TLS engine, e.g. "BoringSSL" or "OpenSSL 3.0.19". */
const char *tls_engine(void);

/*
 * Build a context.  Loads and checks every file now, so that a bad
 * certificate, key, CA or CRL is reported at startup/reload, not at the
 * first connection.  Returns NULL with a message naming the file and what
 * to do in err, e.g.
 *   "tls: cannot load key /x/y.key: ...: check the file is a PEM private
 *    key matching the certificate".
 * Reloading (SIGHUP, new CRL) = building a new context and using it for new
 * connections; existing ones keep the old one until they end.
 */
struct tls_ctx *tls_ctx_new(const struct tls_config *cfg, char *err,
			    size_t errlen);
/* Drop the caller's reference; freed when the last connection ends. */
void tls_ctx_free(struct tls_ctx *ctx);
int tls_ctx_role(const struct tls_ctx *ctx);

/*
 * Start TLS on socket fd (non-blocking is set here).  Servers: fd is an
 * accepted socket.  Clients: fd is connected or connecting, or -1 followed
 * by tls_conn_connect().  `servername' (clients only, required) is the DNS
 * name or IP address the server's certificate must match; a DNS name is
 * also sent as SNI.  `peer' is a label for messages ("192.0.2.7:50211"),
 * NULL to derive it from the socket.  The handshake timeout starts now.
 * Returns NULL with why in err.
 */
struct tls_conn *tls_conn_new(struct tls_ctx *ctx, struct event_base *base,
			      evutil_socket_t fd, const char *servername,
			      const char *peer, char *err, size_t errlen);

/*
 * Clients created with fd -1: connect to sa.  0, or -1 when the connect
 * cannot even start (the reason is in tls_conn_error()); a connect that
 * fails later is reported as BEV_EVENT_ERROR with TLS_FAIL_IO.
 */
int tls_conn_connect(struct tls_conn *c, const struct sockaddr *sa,
		     int salen);

/*
 * Record boundaries.  By default plaintext goes out in records of up to
 * 16 KiB, whatever it holds.  With a unit function every record carries
 * at most one application unit (or a part of a large one), as mosquitto
 * writes MQTT: some TLS clients (libmosquitto) only look for the next
 * packet when the socket is readable, so packets behind the first one in
 * a record could wait there for the next record.  unit(p, len) gets the
 * first len (at most TLS_UNIT_HEADER) bytes of a unit and returns its
 * total length, or 0 when len bytes do not tell it yet.  The user must
 * write whole units.  tls_conn_close() forgets the function (it may
 * belong to a plugin being unloaded): what is left goes in full records.
 */
#define TLS_UNIT_HEADER 8
typedef size_t (*tls_unit_fn)(const unsigned char *p, size_t len);
void tls_conn_set_unit(struct tls_conn *c, tls_unit_fn unit);

/* The plaintext bufferevent (borrowed: see Ownership above). */
struct bufferevent *tls_conn_bev(struct tls_conn *c);

/* 1 once the handshake completed and the peer was verified. */
int tls_conn_established(const struct tls_conn *c);
/* Peer certificate identity, or NULL (before the handshake, or a server
 * with TLS_VERIFY_OPTIONAL/NONE and no client certificate). */
const struct identity *tls_conn_identity(const struct tls_conn *c);
/* Negotiated ALPN protocol, or NULL when none was. */
const char *tls_conn_alpn(const struct tls_conn *c);
/* "TLSv1.3", cipher name: "" before the handshake. */
const char *tls_conn_version(const struct tls_conn *c);
const char *tls_conn_cipher(const struct tls_conn *c);
/* The label given to or derived by tls_conn_new(). */
const char *tls_conn_peer(const struct tls_conn *c);
/* enum tls_fail; TLS_FAIL_NONE while all is well. */
int tls_conn_fail(const struct tls_conn *c);
/* X509_V_OK (0) or the X509_V_ERR_* code of a rejected peer certificate
 * (same numbers in both engines: 10 expired, 9 not yet valid, 23 revoked,
 * 20 unknown issuer, 62 host name mismatch). */
long tls_conn_verify_result(const struct tls_conn *c);
/* Why it failed, for people: "" while all is well. */
const char *tls_conn_error(const struct tls_conn *c);

/*
 * Graceful close: the user's callbacks are removed at once; plaintext
 * still queued is encrypted and sent, then close_notify, then the write
 * side is shut down and the socket closed once the peer closes or after
 * TLS_CLOSE_TIMEOUT_MS.  After a failure, any pending alert is sent first.
 * The connection frees itself; `c' must not be used after this call.
 */
void tls_conn_close(struct tls_conn *c);

/* Abortive close: free everything now, close the socket, send nothing. */
void tls_conn_free(struct tls_conn *c);

#endif /* ZG_TLS_H */
