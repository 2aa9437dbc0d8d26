/*
 * sbprobe: a test plugin (built only for make check, never installed)
 * that plays a compromised parser.  tests/integration/sandbox.sh sends it
 * one command per connection and reads one answer line:
 *
 *   id          "uid R E S gid R E S groups N"
 *   open PATH   "ok" or "error: <strerror>" (open(PATH, O_RDONLY))
 *   fork        "fork ok" or "fork error: ..." (the child _exits at once)
 *   exec PATH   execve(PATH): on success the daemon *is* PATH from here
 *   setuid      "setuid ok" or "setuid error: ..." (setuid(0))
 *
 * Under the seccomp filter, fork/exec kill the whole process with SIGSYS
 * before answering: that is what the test looks for.
 *
 *   plugins = ( { name = "sbprobe"; config = { listen = "127.0.0.1:N"; }; } );
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include <zonegate/plugin.h>

struct sb_state {
	const struct zg_host_api *api;
	struct zg_host *h;
	struct zg_listener *lst;
};

static const char *const sb_keys[] = { "listen", NULL };

static int
sb_check(const struct zg_host_api *api, struct zg_host *h,
	 const struct zg_cfg *cfg)
{
	const char *listen;

	if (api->cfg_known_keys(h, cfg, sb_keys) < 0 ||
	    api->cfg_string(h, cfg, "listen", NULL, &listen) < 0)
		return -1;
	if (listen == NULL) {
		api->cfg_error(h, cfg, "listen", "is required");
		return -1;
	}
	return 0;
}

/* Run one command; the answer goes to out. */
static void
sb_run(const char *cmd, struct evbuffer *out)
{
	if (strcmp(cmd, "id") == 0) {
		uid_t r, e, s;
		gid_t gr, ge, gs;

		getresuid(&r, &e, &s);
		getresgid(&gr, &ge, &gs);
		evbuffer_add_printf(out, "uid %ld %ld %ld gid %ld %ld %ld groups %d\n",
				    (long)r, (long)e, (long)s, (long)gr,
				    (long)ge, (long)gs, getgroups(0, NULL));
	} else if (strncmp(cmd, "open ", 5) == 0) {
		int fd = open(cmd + 5, O_RDONLY | O_CLOEXEC);

		if (fd < 0) {
			evbuffer_add_printf(out, "error: %s\n", strerror(errno));
		} else {
			close(fd);
			evbuffer_add_printf(out, "ok\n");
		}
	} else if (strcmp(cmd, "fork") == 0) {
		pid_t pid = fork();

		if (pid == 0)
			_exit(0);
		if (pid < 0) {
			evbuffer_add_printf(out, "fork error: %s\n",
					    strerror(errno));
		} else {
			waitpid(pid, NULL, 0);
			evbuffer_add_printf(out, "fork ok\n");
		}
	} else if (strncmp(cmd, "exec ", 5) == 0) {
		char *argv[] = { (char *)(cmd + 5), NULL };
		char *envp[] = { NULL };

		execve(cmd + 5, argv, envp);
		evbuffer_add_printf(out, "exec error: %s\n", strerror(errno));
	} else if (strcmp(cmd, "setuid") == 0) {
		if (setuid(0) < 0)
			evbuffer_add_printf(out, "setuid error: %s\n",
					    strerror(errno));
		else
			evbuffer_add_printf(out, "setuid ok\n");
	} else {
		evbuffer_add_printf(out, "unknown command\n");
	}
}

static void
sb_done(struct bufferevent *bev, void *arg)
{
	(void)arg;
	bufferevent_free(bev);
}

static void
sb_event(struct bufferevent *bev, short what, void *arg)
{
	(void)what;
	(void)arg;
	bufferevent_free(bev);
}

static void
sb_read(struct bufferevent *bev, void *arg)
{
	char *line;
	size_t n;

	(void)arg;
	line = evbuffer_readln(bufferevent_get_input(bev), &n,
			       EVBUFFER_EOL_CRLF);
	if (line == NULL)
		return;
	bufferevent_disable(bev, EV_READ);
	sb_run(line, bufferevent_get_output(bev));
	free(line);
	bufferevent_setcb(bev, NULL, sb_done, sb_event, NULL);
}

static void
sb_accept(int fd, const struct sockaddr *peer, socklen_t peerlen, void *arg)
{
	struct sb_state *st = arg;
	struct bufferevent *bev;

	(void)peer;
	(void)peerlen;
	bev = bufferevent_socket_new(st->api->event_base(st->h), fd,
				     BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		close(fd);
		return;
	}
	bufferevent_setcb(bev, sb_read, NULL, sb_event, NULL);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static int
sb_init(const struct zg_host_api *api, struct zg_host *h,
	const struct zg_cfg *cfg, void **state)
{
	struct sb_state *st;
	const char *listen;

	if (api->cfg_string(h, cfg, "listen", NULL, &listen) < 0 ||
	    listen == NULL || (st = calloc(1, sizeof(*st))) == NULL)
		return -1;
	st->api = api;
	st->h = h;
	st->lst = api->listen(h, listen, sb_accept, st);
	if (st->lst == NULL) {
		free(st);
		return -1;
	}
	*state = st;
	return 0;
}

static void
sb_fini(void *state)
{
	struct sb_state *st = state;

	st->api->listener_free(st->lst);
	free(st);
}

static const struct zg_plugin sb_plugin = {
	.abi_version = ZG_PLUGIN_ABI_VERSION,
	.name = "sbprobe",
	.version = "0.0.0",
	.check = sb_check,
	.init = sb_init,
	.fini = sb_fini,
};

ZG_PLUGIN_DECLARE(sb_plugin);
