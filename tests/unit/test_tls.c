/*
 * test_tls: the TLS layer end to end over loopback, on one event_base, with
 * the test PKI from contrib/pki/mkpki.sh (made in a temporary folder), and
 * against the openssl CLI as a real peer (s_client to our server, our
 * client to s_server).  Runs against whichever engine the build uses.
 *
 * Every wait is on an event (a callback, a line on a child's stdout, a
 * child's EOF); a watchdog only turns a hang into a failure.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "gateway/tls.h"
#include "tap.h"
#include "pki.h"

#define WATCHDOG_S 30
#define DATA_N (1u << 20)       /* both ways at once: many TLS records */
#define BP_N (24u << 20)        /* more than loopback socket buffers hold */
#define BP_HIGH 8192            /* the reader's read high-water mark */

/* X509_V_ERR_* values, equal in both engines. */
#define V_NOT_YET_VALID 9
#define V_EXPIRED 10
#define V_UNKNOWN_ISSUER 20
#define V_REVOKED 23
#define V_HOSTNAME_MISMATCH 62

struct peer {
	const char *name;
	struct tls_conn *c;
	int connected, eof, error;
	short what;
	int fail;
	long verify;
	char err[384];
	/* identity and ALPN copied at CONNECTED (the conn may be gone later) */
	char ident[256], role[64], alpn[32], version[32], cipher[64];
	int source, role_status, have_id;
	/* received data: checked against a pattern, or kept as text */
	int seed;              /* >= 0: pattern check; -1: keep text */
	size_t nrecv, bad;
	char text[4096];
	size_t max_input;      /* largest input buffer seen in readcb */
	int paused;            /* do not read (back-pressure test) */
	const char *send_text; /* text to send at CONNECTED */
};

static struct event_base *base;
static struct evconnlistener *lis;
static struct sockaddr_in lis_addr;
static struct tls_ctx *accept_ctx;
static struct peer srv, cli;
static int (*done_pred)(void);
static int watchdog_fired;
static struct event *watchdog;
static unsigned char *pattern_buf;

static uint8_t
pat(size_t i, int seed)
{
	return (uint8_t)((i * 131u + (i >> 13) + (size_t)seed) & 0xff);
}

static void
check_done(void)
{
	if (done_pred != NULL && done_pred())
		event_base_loopbreak(base);
}

static void
peer_reset(struct peer *p, const char *name)
{
	memset(p, 0, sizeof *p);
	p->name = name;
	p->seed = -1;
}

static void
peer_readcb(struct bufferevent *bev, void *arg)
{
	struct peer *p = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	unsigned char buf[16384];
	size_t n, i, len;

	if (p->paused)
		return;
	len = evbuffer_get_length(in);
	if (len > p->max_input)
		p->max_input = len;
	while ((n = evbuffer_remove(in, buf, sizeof buf)) > 0 && n != (size_t)-1) {
		if (p->seed >= 0) {
			for (i = 0; i < n; i++)
				if (buf[i] != pat(p->nrecv + i, p->seed))
					p->bad++;
		} else if (p->nrecv + n < sizeof p->text)
			memcpy(p->text + p->nrecv, buf, n);
		p->nrecv += n;
	}
	check_done();
}

static void
send_pattern(struct bufferevent *bev, size_t n, int seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		pattern_buf[i] = pat(i, seed);
	bufferevent_write(bev, pattern_buf, n);
}

static void
peer_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct peer *p = arg;
	const struct identity *id;
	const char *alpn;

	if (what & BEV_EVENT_CONNECTED) {
		p->connected = 1;
		id = tls_conn_identity(p->c);
		if (id != NULL) {
			p->have_id = 1;
			snprintf(p->ident, sizeof p->ident, "%s",
				 id->name ? id->name : "(null)");
			p->source = id->source;
			snprintf(p->role, sizeof p->role, "%s",
				 id->role ? id->role : "(null)");
			p->role_status = id->role_status;
		}
		alpn = tls_conn_alpn(p->c);
		snprintf(p->alpn, sizeof p->alpn, "%s", alpn ? alpn : "(none)");
		snprintf(p->version, sizeof p->version, "%s",
			 tls_conn_version(p->c));
		snprintf(p->cipher, sizeof p->cipher, "%s", tls_conn_cipher(p->c));
		if (p->send_text != NULL)
			bufferevent_write(bev, p->send_text, strlen(p->send_text));
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		/* drain what came with the event */
		if (!p->paused)
			peer_readcb(bev, p);
		p->what = what;
		if (what & BEV_EVENT_ERROR)
			p->error = 1;
		else
			p->eof = 1;
		p->fail = tls_conn_fail(p->c);
		p->verify = tls_conn_verify_result(p->c);
		snprintf(p->err, sizeof p->err, "%s", tls_conn_error(p->c));
		tls_conn_close(p->c);
		p->c = NULL;
	}
	check_done();
}

static void
peer_attach(struct peer *p)
{
	struct bufferevent *bev = tls_conn_bev(p->c);

	bufferevent_setcb(bev, peer_readcb, NULL, peer_eventcb, p);
	if (!p->paused)
		bufferevent_enable(bev, EV_READ);
}

static void
accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
	  int salen, void *arg)
{
	char err[256];

	(void)l;
	(void)sa;
	(void)salen;
	(void)arg;
	if (srv.c != NULL || accept_ctx == NULL) {
		close(fd);
		return;
	}
	srv.c = tls_conn_new(accept_ctx, base, fd, NULL, NULL, err, sizeof err);
	if (srv.c == NULL) {
		diag("server tls_conn_new: %s", err);
		close(fd);
		return;
	}
	if (srv.paused)
		bufferevent_setwatermark(tls_conn_bev(srv.c), EV_READ, 0, BP_HIGH);
	peer_attach(&srv);
}

static void
watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	watchdog_fired = 1;
	event_base_loopbreak(base);
}

/* Run the loop until done_pred() holds; 0, or -1 on the watchdog. */
static int
run(int (*pred)(void))
{
	struct timeval tv = { WATCHDOG_S, 0 };

	done_pred = pred;
	watchdog_fired = 0;
	if (!pred()) {
		evtimer_add(watchdog, &tv);
		event_base_dispatch(base);
		event_del(watchdog);
	}
	done_pred = NULL;
	if (watchdog_fired)
		diag("watchdog: no progress for %d s", WATCHDOG_S);
	return watchdog_fired ? -1 : 0;
}

/* Close what a scenario left open (gracefully: the loop finishes it). */
static void
scenario_end(void)
{
	if (srv.c != NULL)
		tls_conn_close(srv.c);
	if (cli.c != NULL)
		tls_conn_close(cli.c);
	srv.c = cli.c = NULL;
	accept_ctx = NULL;
}

static void
pki_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", pki, name);
}

static struct tls_ctx *
server_ctx(int verify, const char *const *alpn, unsigned timeout_ms)
{
	char cert[PATH_MAX], key[PATH_MAX], ca[PATH_MAX], crl[PATH_MAX];
	char err[512];
	const char *cas[2], *crls[2];
	struct tls_config cfg;
	struct tls_ctx *t;

	pki_path(cert, sizeof cert, "server.crt");
	pki_path(key, sizeof key, "server.key");
	pki_path(ca, sizeof ca, "ca.crt");
	pki_path(crl, sizeof crl, "ca.crl");
	cas[0] = ca;
	cas[1] = NULL;
	crls[0] = crl;
	crls[1] = NULL;
	memset(&cfg, 0, sizeof cfg);
	cfg.role = TLS_SERVER;
	cfg.cert_file = cert;
	cfg.key_file = key;
	cfg.ca_files = cas;
	cfg.crl_files = crls;
	cfg.verify = verify;
	cfg.alpn = alpn;
	cfg.handshake_timeout_ms = timeout_ms;
	t = tls_ctx_new(&cfg, err, sizeof err);
	if (t == NULL)
		diag("server ctx: %s", err);
	return t;
}

/* A client context with certificate `name' (NULL: none) and ALPN list. */
static struct tls_ctx *
client_ctx(const char *name, const char *const *alpn)
{
	char cert[PATH_MAX], key[PATH_MAX], ca[PATH_MAX], err[512];
	const char *cas[2];
	struct tls_config cfg;
	struct tls_ctx *t;

	memset(&cfg, 0, sizeof cfg);
	cfg.role = TLS_CLIENT;
	if (name != NULL) {
		snprintf(cert, sizeof cert, "%s/%s.crt", pki, name);
		snprintf(key, sizeof key, "%s/%s.key", pki, name);
		cfg.cert_file = cert;
		cfg.key_file = key;
	}
	pki_path(ca, sizeof ca, "ca.crt");
	cas[0] = ca;
	cas[1] = NULL;
	cfg.ca_files = cas;
	cfg.alpn = alpn;
	t = tls_ctx_new(&cfg, err, sizeof err);
	if (t == NULL)
		diag("client ctx %s: %s", name ? name : "(no cert)", err);
	return t;
}

static int
start_client(struct tls_ctx *ctx, const char *servername,
	     const struct sockaddr_in *to)
{
	char err[256];

	cli.c = tls_conn_new(ctx, base, -1, servername, NULL, err, sizeof err);
	if (cli.c == NULL) {
		diag("client tls_conn_new: %s", err);
		return -1;
	}
	peer_attach(&cli);
	if (tls_conn_connect(cli.c, (const struct sockaddr *)to,
			     sizeof *to) < 0) {
		diag("connect: %s", tls_conn_error(cli.c));
		tls_conn_free(cli.c);
		cli.c = NULL;
		return -1;
	}
	return 0;
}

/* -- predicates ---------------------------------------------------------- */

static int
both_connected_or_failed(void)
{
	return (srv.connected || srv.error) && (cli.connected || cli.error);
}

static int
server_verdict(void)
{
	/* The server decided (connected or failed), and the client saw the
	 * outcome: connected, or failed (it gets the server's alert). */
	return (srv.connected || srv.error) && (cli.error || cli.eof ||
						(srv.connected && cli.connected));
}

static int
client_failed(void)
{
	return cli.error || cli.eof;
}

static int
server_ended(void)
{
	return srv.error || srv.eof;
}

static int
data_both_ways(void)
{
	return (srv.nrecv >= DATA_N && cli.nrecv >= DATA_N) || srv.error ||
	       cli.error;
}

static int
bp_received(void)
{
	return srv.nrecv >= BP_N || srv.error || cli.error;
}

/* -- scenarios ----------------------------------------------------------- */

/*
 * One handshake of client certificate `name' against `sctx'; returns
 * after the server's verdict.
 */
static void
handshake_case(struct tls_ctx *sctx, const char *name)
{
	struct tls_ctx *cctx;

	peer_reset(&srv, "server");
	peer_reset(&cli, "client");
	accept_ctx = sctx;
	cctx = client_ctx(name, NULL);
	if (cctx == NULL || start_client(cctx, "localhost", &lis_addr) < 0 ||
	    run(server_verdict) < 0)
		diag("%s: scenario did not complete", name ? name : "no cert");
	tls_ctx_free(cctx);
	scenario_end();
}

static void
test_refused(struct tls_ctx *sctx, const char *name, int fail, long verify,
	     const char *what)
{
	handshake_case(sctx, name);
	ok(srv.error && !srv.connected && srv.fail == fail &&
	   (verify < 0 || srv.verify == verify),
	   "%s: server refuses (fail %d, verify %ld: %s)", what, srv.fail,
	   srv.verify, srv.err);
	ok(cli.error && cli.fail == TLS_FAIL_ALERT,
	   "%s: client learns it was refused (%s)", what, cli.err);
}

static void
test_identity_case(struct tls_ctx *sctx, const char *name, const char *ident,
		   int source, const char *role, int role_status)
{
	handshake_case(sctx, name);
	ok(srv.connected && srv.have_id && strcmp(srv.ident, ident) == 0 &&
	   srv.source == source,
	   "%s: identity %s (%s) [got %s (%s)%s%s]", name, ident,
	   identity_source_name(source), srv.ident,
	   identity_source_name(srv.source), srv.error ? ": " : "", srv.err);
	ok(srv.connected && srv.role_status == role_status &&
	   strcmp(srv.role, role) == 0,
	   "%s: role %s status %s [got %s %s]", name, role,
	   identity_role_status_name(role_status), srv.role,
	   identity_role_status_name(srv.role_status));
}

static void
test_data_and_shutdown(struct tls_ctx *sctx)
{
	static const char *const h2[] = { "h2", NULL };
	struct tls_ctx *cctx;

	peer_reset(&srv, "server");
	peer_reset(&cli, "client");
	srv.seed = 29; /* the server checks the client's pattern (seed 29) */
	cli.seed = 11; /* and the client the server's (seed 11) */
	accept_ctx = sctx;
	cctx = client_ctx("client-uri", h2);
	if (cctx == NULL || start_client(cctx, "localhost", &lis_addr) < 0) {
		ok(0, "valid mutual TLS: client starts");
		return;
	}
	if (run(both_connected_or_failed) < 0 || !srv.connected ||
	    !cli.connected) {
		ok(0, "valid mutual TLS: handshake (%s / %s)", srv.err, cli.err);
		tls_ctx_free(cctx);
		scenario_end();
		return;
	}
	ok(1, "valid mutual TLS: both sides connected (%s, %s)",
	   tls_conn_version(cli.c), tls_conn_cipher(cli.c));
	ok(strcmp(srv.ident, "spiffe://plant.example/hmi-1") == 0 &&
	   srv.source == IDENTITY_SRC_URI &&
	   srv.role_status == IDENTITY_ROLE_ABSENT,
	   "server sees client identity %s (%s), no role", srv.ident,
	   identity_source_name(srv.source));
	ok(strcmp(cli.ident, "localhost") == 0 && cli.source == IDENTITY_SRC_DNS,
	   "client sees server identity %s (%s)", cli.ident,
	   identity_source_name(cli.source));
	ok(strcmp(srv.alpn, "h2") == 0 && strcmp(cli.alpn, "h2") == 0,
	   "ALPN h2 negotiated (server %s, client %s)", srv.alpn, cli.alpn);

	/* 1 MiB each way at the same time. */
	send_pattern(tls_conn_bev(cli.c), DATA_N, 29);
	send_pattern(tls_conn_bev(srv.c), DATA_N, 11);
	run(data_both_ways);
	ok(srv.nrecv == DATA_N && srv.bad == 0 && cli.nrecv == DATA_N &&
	   cli.bad == 0,
	   "1 MiB both ways intact (server got %zu, %zu bad; client got %zu, "
	   "%zu bad)", srv.nrecv, srv.bad, cli.nrecv, cli.bad);

	/* Clean shutdown: data queued right before close still arrives,
	 * then the server sees close_notify as EOF. */
	srv.seed = -1;
	srv.nrecv = 0;
	bufferevent_write(tls_conn_bev(cli.c), "bye\n", 4);
	tls_conn_close(cli.c);
	cli.c = NULL;
	run(server_ended);
	ok(srv.eof && !srv.error && srv.fail == TLS_FAIL_NONE &&
	   srv.nrecv == 4 && memcmp(srv.text, "bye\n", 4) == 0,
	   "clean shutdown: server gets the last bytes, then EOF "
	   "(close_notify) [eof %d error %d: %s]", srv.eof, srv.error, srv.err);
	tls_ctx_free(cctx);
	scenario_end();
}

static size_t bp_last;
static int bp_still, bp_stalled;
static struct event *bp_timer;

static void
bp_tick(evutil_socket_t fd, short what, void *arg)
{
	struct timeval tv = { 0, 20000 };
	size_t now;

	(void)fd;
	(void)what;
	(void)arg;
	if (cli.c == NULL || srv.c == NULL) {
		event_base_loopbreak(base);
		return;
	}
	now = evbuffer_get_length(bufferevent_get_output(tls_conn_bev(cli.c)));
	if (now == bp_last && cli.connected)
		bp_still++;
	else
		bp_still = 0;
	bp_last = now;
	if (bp_still >= 10) {
		bp_stalled = 1;
		event_base_loopbreak(base);
		return;
	}
	evtimer_add(bp_timer, &tv);
}

static int
bp_stall_pred(void)
{
	return bp_stalled || srv.error || cli.error;
}

/*
 * Back-pressure: the server does not read; the client writes 24 MiB.  Once
 * the writer's backlog stops shrinking, the data must be waiting at the
 * writer (not piled up inside the TLS layers), and the reader's input must
 * respect its high-water mark.  Then the reader resumes and gets every
 * byte intact.
 */
static void
test_backpressure(struct tls_ctx *sctx)
{
	struct tls_ctx *cctx;
	struct timeval tv = { 0, 20000 };
	size_t held;

	peer_reset(&srv, "server");
	peer_reset(&cli, "client");
	srv.paused = 1;
	srv.seed = 5;
	accept_ctx = sctx;
	cctx = client_ctx("client-uri", NULL);
	if (cctx == NULL || start_client(cctx, "localhost", &lis_addr) < 0 ||
	    run(both_connected_or_failed) < 0 || !srv.connected ||
	    !cli.connected) {
		ok(0, "back-pressure: connect");
		ok(0, "back-pressure: data intact");
		tls_ctx_free(cctx);
		scenario_end();
		return;
	}
	send_pattern(tls_conn_bev(cli.c), BP_N, 5);
	bp_last = SIZE_MAX;
	bp_still = bp_stalled = 0;
	bp_timer = evtimer_new(base, bp_tick, NULL);
	evtimer_add(bp_timer, &tv);
	run(bp_stall_pred);
	event_free(bp_timer);
	held = cli.c ? evbuffer_get_length(bufferevent_get_output(
					 tls_conn_bev(cli.c))) : 0;
	ok(bp_stalled && held > 0 &&
	   evbuffer_get_length(bufferevent_get_input(tls_conn_bev(srv.c))) <=
		   BP_HIGH,
	   "back-pressure: a reader that does not read stalls the writer "
	   "(%zu of %u bytes still at the writer)", held, BP_N);
	srv.paused = 0;
	bufferevent_enable(tls_conn_bev(srv.c), EV_READ);
	peer_readcb(tls_conn_bev(srv.c), &srv);
	run(bp_received);
	ok(srv.nrecv == BP_N && srv.bad == 0 && srv.max_input <= BP_HIGH,
	   "back-pressure: reader gets %zu bytes intact (%zu bad), its input "
	   "never above the high-water mark (max %zu)", srv.nrecv, srv.bad,
	   srv.max_input);
	tls_ctx_free(cctx);
	scenario_end();
}

static void
test_alpn_mismatch(struct tls_ctx *sctx)
{
	static const char *const other[] = { "zg-other", NULL };
	struct tls_ctx *cctx = client_ctx("client-uri", other);

	peer_reset(&srv, "server");
	peer_reset(&cli, "client");
	accept_ctx = sctx;
	if (cctx == NULL || start_client(cctx, "localhost", &lis_addr) < 0 ||
	    run(server_verdict) < 0)
		diag("alpn mismatch did not complete");
	ok(srv.error && srv.fail == TLS_FAIL_PROTOCOL && cli.error,
	   "ALPN: no common protocol is refused (%s)", srv.err);
	tls_ctx_free(cctx);
	scenario_end();
}

static void
test_hostname(void)
{
	struct tls_ctx *cctx = client_ctx("client-uri", NULL);
	struct tls_ctx *sctx = server_ctx(TLS_VERIFY_REQUIRE, NULL, 0);

	peer_reset(&srv, "server");
	peer_reset(&cli, "client");
	accept_ctx = sctx;
	if (cctx == NULL || sctx == NULL ||
	    start_client(cctx, "plc.wrong.example", &lis_addr) < 0 ||
	    run(client_failed) < 0)
		diag("hostname case did not complete");
	ok(cli.error && cli.fail == TLS_FAIL_VERIFY &&
	   cli.verify == V_HOSTNAME_MISMATCH,
	   "client refuses a server certificate for another name (%s)", cli.err);
	scenario_end();

	peer_reset(&srv, "server");
	peer_reset(&cli, "client");
	accept_ctx = sctx;
	if (start_client(cctx, "127.0.0.1", &lis_addr) < 0 ||
	    run(both_connected_or_failed) < 0)
		diag("IP name case did not complete");
	ok(cli.connected && srv.connected,
	   "client accepts the server by its IP address SAN (%s)", cli.err);
	scenario_end();
	tls_ctx_free(cctx);
	tls_ctx_free(sctx);
}

static void
test_truncation(struct tls_ctx *sctx)
{
	struct tls_ctx *cctx = client_ctx("client-uri", NULL);

	peer_reset(&srv, "server");
	peer_reset(&cli, "client");
	accept_ctx = sctx;
	if (cctx == NULL || start_client(cctx, "localhost", &lis_addr) < 0 ||
	    run(both_connected_or_failed) < 0)
		diag("truncation case did not connect");
	if (cli.c != NULL) {
		tls_conn_free(cli.c); /* abortive: TCP FIN, no close_notify */
		cli.c = NULL;
	}
	run(server_ended);
	ok(srv.error && srv.fail == TLS_FAIL_TRUNCATED,
	   "TCP close without close_notify is reported as truncation (%s)",
	   srv.err);
	tls_ctx_free(cctx);
	scenario_end();
}

static void
test_timeout(void)
{
	struct tls_ctx *sctx = server_ctx(TLS_VERIFY_REQUIRE, NULL, 300);
	int fd;

	peer_reset(&srv, "server");
	peer_reset(&cli, "client");
	accept_ctx = sctx;
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (sctx == NULL || fd < 0 ||
	    connect(fd, (struct sockaddr *)&lis_addr, sizeof lis_addr) < 0) {
		ok(0, "handshake timeout: connect: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		tls_ctx_free(sctx);
		return;
	}
	run(server_ended);
	ok(srv.error && (srv.what & BEV_EVENT_TIMEOUT) &&
	   srv.fail == TLS_FAIL_TIMEOUT,
	   "a client that sends nothing hits the handshake timeout (%s)",
	   srv.err);
	close(fd);
	tls_ctx_free(sctx);
	scenario_end();
}

static void
test_ctx_errors(void)
{
	char err[512], path[PATH_MAX], bad[PATH_MAX];
	const char *cas[2];
	struct tls_config cfg;
	struct tls_ctx *t;

	memset(&cfg, 0, sizeof cfg);
	cfg.role = TLS_SERVER;
	pki_path(path, sizeof path, "server.crt");
	cfg.cert_file = path;
	pki_path(bad, sizeof bad, "client-uri.key");
	cfg.key_file = bad;
	pki_path(err, sizeof err, "ca.crt");
	cas[0] = strdup(err);
	cas[1] = NULL;
	cfg.ca_files = cas;
	t = tls_ctx_new(&cfg, err, sizeof err);
	ok(t == NULL && strstr(err, "does not match") != NULL &&
	   strstr(err, "client-uri.key") != NULL,
	   "a key that does not match the certificate is named: %s", err);
	tls_ctx_free(t);

	pki_path(bad, sizeof bad, "ca.crl");
	cfg.key_file = bad;
	t = tls_ctx_new(&cfg, err, sizeof err);
	ok(t == NULL && strstr(err, "cannot load key") != NULL &&
	   strstr(err, "ca.crl") != NULL && strstr(err, "PEM private key"),
	   "a file that is not a key is named: %s", err);
	tls_ctx_free(t);

	pki_path(bad, sizeof bad, "server.key");
	cfg.key_file = bad;
	cfg.ciphers = "AES128-SHA:ECDHE-RSA-AES128-GCM-SHA256";
	t = tls_ctx_new(&cfg, err, sizeof err);
	ok(t == NULL && strstr(err, "cipher") != NULL,
	   "a cipher list with non-ECDHE/non-AEAD suites is refused: %s", err);
	tls_ctx_free(t);
	cfg.ciphers = NULL;

	cfg.crl_files = (const char *const[]){ "/nonexistent/zg.crl", NULL };
	t = tls_ctx_new(&cfg, err, sizeof err);
	ok(t == NULL && strstr(err, "/nonexistent/zg.crl") != NULL,
	   "a missing CRL file is named: %s", err);
	tls_ctx_free(t);
	cfg.crl_files = NULL;

	t = tls_ctx_new(&cfg, err, sizeof err);
	ok(t != NULL, "the same config without the faults loads (%s)",
	   t ? tls_engine() : err);
	tls_ctx_free(t);
	free((void *)cas[0]);
}

/* -- the openssl CLI as a real peer ---------------------------------------- */

struct child {
	pid_t pid;
	int in, out;          /* its stdin (write end), stdout (read end) */
	struct event *ev;
	char buf[65536];
	size_t len;
	int eof;
	int (*line)(struct child *ch, const char *line);
};

static struct child kid;

static int
have_openssl(void)
{
	return system("openssl version >/dev/null 2>&1") == 0;
}

static void
child_readcb(evutil_socket_t fd, short what, void *arg)
{
	struct child *ch = arg;
	ssize_t n;
	char *nl;

	(void)what;
	n = read(fd, ch->buf + ch->len, sizeof ch->buf - 1 - ch->len);
	if (n <= 0) {
		ch->eof = 1;
		event_del(ch->ev);
		check_done();
		return;
	}
	ch->len += (size_t)n;
	ch->buf[ch->len] = '\0';
	while ((nl = strchr(ch->buf, '\n')) != NULL) {
		*nl = '\0';
		if (ch->line)
			ch->line(ch, ch->buf);
		memmove(ch->buf, nl + 1, ch->len - (size_t)(nl + 1 - ch->buf) + 1);
		ch->len -= (size_t)(nl + 1 - ch->buf);
	}
	if (ch->len == sizeof ch->buf - 1)
		ch->len = 0; /* a very long line: drop it */
	check_done();
}

/* Start argv with pipes on stdin/stdout; stderr goes to errfile. */
static int
child_start(struct child *ch, char *const argv[], const char *errfile)
{
	int pin[2], pout[2], fd;

	memset(ch, 0, sizeof *ch);
	ch->pid = -1;
	if (pipe(pin) < 0 || pipe(pout) < 0)
		return -1;
	ch->pid = fork();
	if (ch->pid < 0)
		return -1;
	if (ch->pid == 0) {
		dup2(pin[0], 0);
		dup2(pout[1], 1);
		fd = open(errfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0)
			dup2(fd, 2);
		for (fd = 3; fd < 256; fd++)
			close(fd);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(pin[0]);
	close(pout[1]);
	ch->in = pin[1];
	ch->out = pout[0];
	evutil_make_socket_nonblocking(ch->out);
	ch->ev = event_new(base, ch->out, EV_READ | EV_PERSIST, child_readcb, ch);
	event_add(ch->ev, NULL);
	return 0;
}

/* Reap the child: it should be exiting; if not, end it by its pid. */
static int
child_end(struct child *ch)
{
	int st = -1, i;

	if (ch->ev) {
		event_free(ch->ev);
		ch->ev = NULL;
	}
	if (ch->in >= 0)
		close(ch->in);
	close(ch->out);
	ch->in = ch->out = -1;
	if (ch->pid <= 0)
		return -1;
	for (i = 0; i < 500; i++) { /* up to 5 s, then kill */
		if (waitpid(ch->pid, &st, WNOHANG) == ch->pid)
			return st;
		usleep(10000);
	}
	kill(ch->pid, SIGTERM);
	waitpid(ch->pid, &st, 0);
	return -1;
}

static int sc_got_world;

static int
s_client_line(struct child *ch, const char *line)
{
	(void)ch;
	if (strcmp(line, "world") == 0)
		sc_got_world = 1;
	return 0;
}

static void
srv_echo_world(void)
{
	if (srv.c != NULL && srv.nrecv >= 6 && memcmp(srv.text, "hello\n", 6) == 0) {
		bufferevent_write(tls_conn_bev(srv.c), "world\n", 6);
		srv.nrecv = 0;
		memset(srv.text, 0, 8);
	}
}

static int
sc_pred_world(void)
{
	srv_echo_world();
	return sc_got_world || srv.error || srv.eof || kid.eof;
}

static int
sc_pred_eof(void)
{
	return srv.eof || srv.error;
}

/*
 * openssl s_client -> our server: mutual TLS, ALPN, data both ways.  With
 * tls12, TLS 1.2 with ECDHE-ECDSA-AES128-GCM-SHA256, the suite Modbus/TCP
 * Security requires.
 */
static void
test_s_client(struct tls_ctx *sctx, int tls12)
{
	const char *how = tls12 ? "TLS 1.2 Modbus suite" : "default";
	char port[16], cert[PATH_MAX], key[PATH_MAX], ca[PATH_MAX];
	char errfile[PATH_MAX];
	char connect_to[64];
	char *argv[24];
	int i = 0;

	peer_reset(&srv, "server");
	peer_reset(&cli, "client");
	accept_ctx = sctx;
	sc_got_world = 0;
	snprintf(port, sizeof port, "%u", ntohs(lis_addr.sin_port));
	snprintf(connect_to, sizeof connect_to, "127.0.0.1:%s", port);
	pki_path(cert, sizeof cert, "client-uri.crt");
	pki_path(key, sizeof key, "client-uri.key");
	pki_path(ca, sizeof ca, "ca.crt");
	pki_path(errfile, sizeof errfile, "s_client.err");
	argv[i++] = "openssl";
	argv[i++] = "s_client";
	argv[i++] = "-connect";
	argv[i++] = connect_to;
	argv[i++] = "-servername";
	argv[i++] = "localhost";
	argv[i++] = "-verify_hostname";
	argv[i++] = "localhost";
	argv[i++] = "-verify_return_error";
	argv[i++] = "-CAfile";
	argv[i++] = ca;
	argv[i++] = "-cert";
	argv[i++] = cert;
	argv[i++] = "-key";
	argv[i++] = key;
	argv[i++] = "-alpn";
	argv[i++] = "h2";
	argv[i++] = "-quiet";
	argv[i++] = "-no_ign_eof"; /* -quiet implies -ign_eof */
	if (tls12) {
		argv[i++] = "-tls1_2";
		argv[i++] = "-cipher";
		argv[i++] = "ECDHE-ECDSA-AES128-GCM-SHA256";
	}
	argv[i] = NULL;
	if (child_start(&kid, argv, errfile) < 0) {
		ok(0, "s_client: start");
		return;
	}
	kid.line = s_client_line;
	if (write(kid.in, "hello\n", 6) != 6)
		diag("write to s_client: %s", strerror(errno));
	run(sc_pred_world);
	ok(srv.connected && strcmp(srv.ident, "spiffe://plant.example/hmi-1") == 0 &&
	   strcmp(srv.alpn, "h2") == 0 &&
	   (!tls12 || (strcmp(srv.version, "TLSv1.2") == 0 &&
		       strcmp(srv.cipher, "ECDHE-ECDSA-AES128-GCM-SHA256") == 0)),
	   "openssl s_client -> our server (%s): mutual TLS, identity %s, "
	   "ALPN %s, %s %s (%s)", how, srv.ident, srv.alpn, srv.version,
	   srv.cipher, srv.err);
	ok(sc_got_world, "openssl s_client -> our server (%s): data both ways",
	   how);
	close(kid.in); /* s_client sees EOF on stdin: close_notify */
	kid.in = -1;
	run(sc_pred_eof);
	ok(srv.eof && srv.fail == TLS_FAIL_NONE,
	   "openssl s_client -> our server (%s): clean close_notify (%s)", how,
	   srv.err);
	scenario_end();
	child_end(&kid);
}

static int ss_port, ss_got_reply;

static int
s_server_line(struct child *ch, const char *line)
{
	const char *colon;

	(void)ch;
	if (strncmp(line, "ACCEPT ", 7) == 0 &&
	    (colon = strrchr(line, ':')) != NULL)
		ss_port = atoi(colon + 1);
	return 0;
}

static int
ss_pred_listening(void)
{
	return ss_port > 0 || kid.eof;
}

static int
ss_pred_reply(void)
{
	if (cli.nrecv >= 6 && memcmp(cli.text, "olleh\n", 6) == 0)
		ss_got_reply = 1;
	return ss_got_reply || cli.error || cli.eof;
}

static int
ss_pred_exit(void)
{
	return kid.eof;
}

/* Our client -> openssl s_server -Verify (mutual TLS), ALPN, data. */
static void
test_s_server(void)
{
	static const char *const h2[] = { "h2", NULL };
	char cert[PATH_MAX], key[PATH_MAX], ca[PATH_MAX], errfile[PATH_MAX];
	struct sockaddr_in to;
	struct tls_ctx *cctx;
	char *argv[24];
	int i = 0;

	peer_reset(&srv, "server");
	peer_reset(&cli, "client");
	ss_port = 0;
	ss_got_reply = 0;
	pki_path(cert, sizeof cert, "server.crt");
	pki_path(key, sizeof key, "server.key");
	pki_path(ca, sizeof ca, "ca.crt");
	pki_path(errfile, sizeof errfile, "s_server.err");
	argv[i++] = "openssl";
	argv[i++] = "s_server";
	argv[i++] = "-accept";
	argv[i++] = "127.0.0.1:0";
	argv[i++] = "-cert";
	argv[i++] = cert;
	argv[i++] = "-key";
	argv[i++] = key;
	argv[i++] = "-CAfile";
	argv[i++] = ca;
	argv[i++] = "-Verify";
	argv[i++] = "2";
	argv[i++] = "-verify_return_error";
	argv[i++] = "-alpn";
	argv[i++] = "h2";
	argv[i++] = "-rev";
	argv[i++] = "-naccept";
	argv[i++] = "1";
	argv[i] = NULL;
	if (child_start(&kid, argv, errfile) < 0) {
		ok(0, "s_server: start");
		return;
	}
	kid.line = s_server_line;
	run(ss_pred_listening);
	if (ss_port <= 0) {
		ok(0, "openssl s_server: listening");
		child_end(&kid);
		return;
	}
	memset(&to, 0, sizeof to);
	to.sin_family = AF_INET;
	to.sin_port = htons((uint16_t)ss_port);
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cli.send_text = "hello\n";
	cctx = client_ctx("client-uri", h2);
	if (cctx == NULL || start_client(cctx, "localhost", &to) < 0) {
		ok(0, "our client -> openssl s_server: start");
		tls_ctx_free(cctx);
		child_end(&kid);
		return;
	}
	run(ss_pred_reply);
	ok(cli.connected && strcmp(cli.ident, "localhost") == 0 &&
	   strcmp(cli.alpn, "h2") == 0,
	   "our client -> openssl s_server: mutual TLS, server %s, ALPN %s (%s)",
	   cli.ident, cli.alpn, cli.err);
	ok(ss_got_reply, "our client -> openssl s_server: data both ways");
	if (cli.c != NULL) {
		tls_conn_close(cli.c);
		cli.c = NULL;
	}
	run(ss_pred_exit); /* s_server -naccept 1 exits after our close */
	ok(kid.eof, "openssl s_server ends after our close_notify");
	child_end(&kid);
	tls_ctx_free(cctx);
	scenario_end();
}

/* -- setup -------------------------------------------------------------- */

int
main(void)
{
	static const char *const srv_alpn[] = { "h2", "http/1.1", NULL };
	struct tls_ctx *sctx, *sctx_opt;
	socklen_t sl = sizeof lis_addr;
	struct sockaddr_in sin;
	int rc;

	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (make_pki("tls") < 0) {
		printf("Bail out! cannot make the test PKI with contrib/pki/mkpki.sh "
		       "(set top_srcdir)\n");
		rm_pki();
		return 1;
	}
	diag("TLS engine: %s; PKI in %s", tls_engine(), pki);
	pattern_buf = malloc(BP_N);
	base = event_base_new();
	watchdog = evtimer_new(base, watchdog_cb, NULL);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lis = evconnlistener_new_bind(base, accept_cb, NULL,
				      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE,
				      16, (struct sockaddr *)&sin, sizeof sin);
	if (pattern_buf == NULL || base == NULL || lis == NULL ||
	    getsockname(evconnlistener_get_fd(lis), (struct sockaddr *)&lis_addr,
			&sl) < 0) {
		printf("Bail out! cannot listen on loopback\n");
		rm_pki();
		return 1;
	}
	sctx = server_ctx(TLS_VERIFY_REQUIRE, srv_alpn, 5000);
	sctx_opt = server_ctx(TLS_VERIFY_OPTIONAL, NULL, 5000);
	ok(sctx != NULL && sctx_opt != NULL,
	   "server contexts with CA, CRL and ALPN load");
	if (sctx == NULL || sctx_opt == NULL) {
		printf("Bail out! no server context\n");
		rm_pki();
		return 1;
	}

	test_data_and_shutdown(sctx);
	test_backpressure(sctx);

	test_refused(sctx, "client-expired", TLS_FAIL_VERIFY, V_EXPIRED,
		     "expired client certificate");
	test_refused(sctx, "client-future", TLS_FAIL_VERIFY, V_NOT_YET_VALID,
		     "not-yet-valid client certificate");
	test_refused(sctx, "client-wrongca", TLS_FAIL_VERIFY, V_UNKNOWN_ISSUER,
		     "client certificate from an untrusted CA");
	test_refused(sctx, "client-revoked", TLS_FAIL_VERIFY, V_REVOKED,
		     "client certificate revoked by the CRL");
	test_refused(sctx, NULL, TLS_FAIL_NO_PEER_CERT, -1,
		     "no client certificate (mutual TLS required)");

	handshake_case(sctx_opt, NULL);
	ok(srv.connected && !srv.have_id,
	   "verify optional: a client without certificate is let in, without "
	   "identity (%s)", srv.err);

	test_identity_case(sctx, "client-uri", "spiffe://plant.example/hmi-1",
			   IDENTITY_SRC_URI, "(null)", IDENTITY_ROLE_ABSENT);
	test_identity_case(sctx, "client-dns", "hmi-2.plant.example",
			   IDENTITY_SRC_DNS, "(null)", IDENTITY_ROLE_ABSENT);
	test_identity_case(sctx, "client-cn", "hmi-3", IDENTITY_SRC_CN, "(null)",
			   IDENTITY_ROLE_ABSENT);
	test_identity_case(sctx, "client-role", "spiffe://plant.example/operator-1",
			   IDENTITY_SRC_URI, "operator", IDENTITY_ROLE_OK);
	test_identity_case(sctx, "client-role2",
			   "spiffe://plant.example/engineer-1", IDENTITY_SRC_URI,
			   "(null)", IDENTITY_ROLE_DUPLICATE);
	test_identity_case(sctx, "client-badrole",
			   "spiffe://plant.example/badrole-1", IDENTITY_SRC_URI,
			   "(null)", IDENTITY_ROLE_MALFORMED);
	test_identity_case(sctx, "client-badrole-int",
			   "spiffe://plant.example/badrole-2", IDENTITY_SRC_URI,
			   "(null)", IDENTITY_ROLE_MALFORMED);

	test_alpn_mismatch(sctx);
	test_hostname();
	test_truncation(sctx);
	test_timeout();
	test_ctx_errors();

	if (have_openssl()) {
		test_s_client(sctx, 0);
		test_s_client(sctx, 1);
		test_s_server();
	} else {
		printf("ok %d # SKIP openssl CLI not found (Debian package openssl)\n",
		       ++tap_run_);
	}

	/* Let every lingering close finish, then free everything. */
	evconnlistener_free(lis);
	event_free(watchdog);
	event_base_dispatch(base);
	tls_ctx_free(sctx);
	tls_ctx_free(sctx_opt);
	event_base_free(base);
	free(pattern_buf);
	rm_pki();
	rc = done_testing();
	return rc;
}
