/*
 * test_tls_host: the TLS client service of the plugin API (tls_host.c):
 * client groups read with file:line errors, and tls_host_connect()
 * against a server context of the same layer on one event_base: IP SAN
 * verification when no name is given, "localhost:" as 127.0.0.1, the
 * ALPN the plugin fixed, a wrong name refused, a refused connect reported
 * as "io".  Real sockets on 127.0.0.1; every wait is on an event, a
 * watchdog only turns a hang into a failure.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "gateway/cfgutil.h"
#include "gateway/tls.h"
#include "gateway/tls_host.h"
#include "tests/unit/tap.h"
#include "tests/unit/pki.h"

static struct event_base *base;
static struct tls_ctx *server;
static int done, connected, failed, wait_fail;
static char alpn[32], fail_kind[32], fail_msg[400];

/* Does the error list hold a line containing `s'? */
static int
has_err(const struct cfg_errs *e, const char *s)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		if (strstr(e->msg[i], s) != NULL)
			return 1;
	for (i = 0; i < e->n; i++)
		diag("error: %s", e->msg[i]);
	return 0;
}

/* A client context from config text; errors left in e. */
static struct zg_tls_ctx *
client_ctx(const char *text, const char *const *fixed, struct cfg_errs *e,
	   char **sname)
{
	config_t cfg;
	struct zg_tls_ctx *ctx = NULL;

	cfg_errs_init(e);
	if (cfg_read_text(&cfg, text, "t.conf", e) == 0) {
		ctx = tls_host_client_ctx(e, config_lookup(&cfg, "tls"), fixed,
					  sname);
		config_destroy(&cfg);
	}
	return ctx;
}

static struct tls_conn *accepted;

static void
srv_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	(void)arg;
}

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
	  int salen, void *arg)
{
	char err[256];

	(void)l;
	(void)sa;
	(void)salen;
	(void)arg;
	if (accepted != NULL)
		tls_conn_free(accepted);
	accepted = tls_conn_new(server, base, fd, NULL, NULL, err, sizeof(err));
	if (accepted == NULL) {
		evutil_closesocket(fd);
		return;
	}
	bufferevent_setcb(tls_conn_bev(accepted), NULL, NULL, srv_event, NULL);
	bufferevent_enable(tls_conn_bev(accepted), EV_READ);
}

static void
cli_event(struct bufferevent *bev, short what, void *arg)
{
	struct zg_tls *t = arg;
	struct zg_peer_cert pc;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		connected = 1;
		if (tls_host_peer(t, &pc) == 0 && pc.alpn != NULL)
			snprintf(alpn, sizeof(alpn), "%s", pc.alpn);
	} else {
		failed = 1;
		snprintf(fail_kind, sizeof(fail_kind), "%s", tls_host_fail_kind(t));
		snprintf(fail_msg, sizeof(fail_msg), "%s", tls_host_error(t));
	}
	if (!wait_fail || failed) {
		done = 1;
		event_base_loopbreak(base);
	}
}

/* Connect with ctx to addr; run the loop until the outcome. */
static int
run_connect(struct zg_tls_ctx *ctx, const char *addr, const char *name)
{
	struct bufferevent *bev;
	struct zg_tls *t;
	struct timeval tv = { 20, 0 };
	char err[256];

	done = connected = failed = 0;
	alpn[0] = fail_kind[0] = fail_msg[0] = '\0';
	t = tls_host_connect(ctx, base, addr, name, &bev, err, sizeof(err));
	if (t == NULL) {
		diag("connect: %s", err);
		return -1;
	}
	bufferevent_setcb(bev, NULL, NULL, cli_event, t);
	bufferevent_enable(bev, EV_READ);
	event_base_loopexit(base, &tv); /* watchdog */
	while (!done && event_base_dispatch(base) == 0 && !event_base_got_exit(base))
		;
	tls_host_free(t);
	if (!done)
		diag("no outcome in 20 s");
	return done ? 0 : -1;
}

int
main(void)
{
	static const char *const h2[] = { "h2", NULL };
	static const char *const srv_alpn[] = { "h2", "http/1.1", NULL };
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	struct evconnlistener *lst;
	struct tls_config sc;
	struct zg_tls_ctx *ctx;
	struct cfg_errs e;
	char *sname = NULL, text[3 * PATH_MAX], addr[64], caf[PATH_MAX], crt[PATH_MAX], key[PATH_MAX];
	const char *cas[2] = { caf, NULL };
	int port, closed_port, fd;

	signal(SIGPIPE, SIG_IGN); /* as the daemon: a reset is an error, not death */
	plan(17);
	if (make_pki("tlshost") < 0) {
		printf("Bail out! cannot make the test PKI with "
		       "contrib/pki/mkpki.sh (set top_srcdir)\n");
		rm_pki();
		return 1;
	}
	snprintf(caf, sizeof(caf), "%s/ca.crt", pki);

	/* -- configuration -- */
	ctx = client_ctx("tls = { cert = \"x.crt\"; };\n", NULL, &e, &sname);
	ok(ctx == NULL && has_err(&e, ":1: tls.key: cert and key go together"),
	   "cert without key: error at file:line and key");
	cfg_errs_free(&e);
	ctx = client_ctx("tls = {\n  cert = \"a\"; key = \"b\"; };\n", NULL, &e, &sname);
	ok(ctx == NULL && has_err(&e, "tls.ca: required"), "ca is required");
	cfg_errs_free(&e);
	snprintf(text, sizeof(text), "tls = { ca = \"%s\";\n verify = \"none\"; };\n", caf);
	ctx = client_ctx(text, NULL, &e, &sname);
	ok(ctx == NULL && has_err(&e, ":2: tls.verify: unknown key"),
	   "server-only key refused in a client group");
	cfg_errs_free(&e);
	snprintf(text, sizeof(text), "tls = { ca = \"%s\";\n alpn = [\"h3\"]; };\n", caf);
	ctx = client_ctx(text, h2, &e, &sname);
	ok(ctx == NULL && has_err(&e, "this plugin offers \"h2\" itself"),
	   "alpn refused when the plugin fixes it");
	cfg_errs_free(&e);
	snprintf(text, sizeof(text), "tls = { ca = \"%s\"; server_name = \"\"; };\n", caf);
	ctx = client_ctx(text, NULL, &e, &sname);
	ok(ctx == NULL && has_err(&e, "tls.server_name"), "empty server_name refused");
	cfg_errs_free(&e);

	/* -- a server of the same layer on 127.0.0.1 -- */
	base = event_base_new();
	memset(&sc, 0, sizeof(sc));
	snprintf(crt, sizeof(crt), "%s/server.crt", pki);
	snprintf(key, sizeof(key), "%s/server.key", pki);
	sc.role = TLS_SERVER;
	sc.cert_file = crt;
	sc.key_file = key;
	sc.ca_files = cas;
	sc.verify = TLS_VERIFY_REQUIRE;
	sc.alpn = srv_alpn;
	server = tls_ctx_new(&sc, text, sizeof(text));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lst = evconnlistener_new_bind(base, on_accept, NULL,
				      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE,
				      16, (struct sockaddr *)&sin, sizeof(sin));
	if (server == NULL || lst == NULL) {
		printf("Bail out! cannot start the test server: %s\n", text);
		rm_pki();
		return 1;
	}
	getsockname(evconnlistener_get_fd(lst), (struct sockaddr *)&sin, &sl);
	port = ntohs(sin.sin_port);

	snprintf(text, sizeof(text), "tls = { ca = \"%s\"; cert = \"%s/client-uri.crt\";"
		 " key = \"%s/client-uri.key\"; };\n", caf, pki, pki);
	ctx = client_ctx(text, h2, &e, &sname);
	ok(ctx != NULL && e.n == 0 && sname == NULL, "client context with a "
	   "client certificate");
	cfg_errs_free(&e);

	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	ok(run_connect(ctx, addr, NULL) == 0 && connected,
	   "connect to 127.0.0.1 without a name: the IP SAN is verified");
	ok(strcmp(alpn, "h2") == 0, "  ... the fixed ALPN h2 was negotiated (%s)", alpn);
	snprintf(addr, sizeof(addr), "localhost:%d", port);
	ok(run_connect(ctx, addr, "localhost") == 0 && connected,
	   "localhost:port connects to 127.0.0.1, DNS SAN localhost verified");
	ok(run_connect(ctx, addr, "ingest.wrong.example") == 0 && failed &&
	   strcmp(fail_kind, "verify") == 0, "a name the certificate lacks: "
	   "refused as verify (%s)", fail_msg);
	tls_host_ctx_free(ctx);

	/* server_name from the group wins over the caller's name. */
	snprintf(text, sizeof(text), "tls = { ca = \"%s\"; server_name = \"other.example\"; };\n",
		 caf);
	ctx = client_ctx(text, NULL, &e, &sname);
	ok(ctx != NULL && sname != NULL && strcmp(sname, "other.example") == 0,
	   "server_name is handed back to the caller");
	cfg_errs_free(&e);
	ok(run_connect(ctx, addr, sname) == 0 && failed,
	   "  ... and used: refused (the server's certificate is for localhost)");
	free(sname);
	sname = NULL;
	tls_host_ctx_free(ctx);

	/* No client certificate: the mutual-TLS server refuses us. */
	snprintf(text, sizeof(text), "tls = { ca = \"%s\"; };\n", caf);
	ctx = client_ctx(text, NULL, &e, &sname);
	ok(ctx != NULL, "client context without a certificate");
	cfg_errs_free(&e);
	wait_fail = 1; /* TLS 1.3: CONNECTED first, then the server's alert */
	ok(run_connect(ctx, addr, "localhost") == 0 && failed,
	   "  ... the mutual-TLS server refuses it");
	wait_fail = 0;
	ok(strcmp(fail_kind, "alert") == 0 || strcmp(fail_kind, "truncated") == 0,
	   "  ... reported as the server's refusal: %s: %s", fail_kind, fail_msg);

	/* A port nobody listens on: io. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	sin.sin_port = 0;
	bind(fd, (struct sockaddr *)&sin, sizeof(sin));
	sl = sizeof(sin);
	getsockname(fd, (struct sockaddr *)&sin, &sl);
	closed_port = ntohs(sin.sin_port);
	close(fd);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", closed_port);
	ok(run_connect(ctx, addr, NULL) == 0 && failed &&
	   strcmp(fail_kind, "io") == 0, "refused connect reported as io (%s)",
	   fail_msg);
	ok(tls_host_connect(ctx, base, "ingest.example:443", NULL, NULL, text,
			    sizeof(text)) == NULL && strstr(text, "not a numeric") != NULL,
	   "a DNS name is not resolved (%s)", text);
	tls_host_ctx_free(ctx);

	if (accepted != NULL)
		tls_conn_free(accepted);
	evconnlistener_free(lst);
	tls_ctx_free(server);
	event_base_free(base);
	rm_pki();
	return done_testing();
}
