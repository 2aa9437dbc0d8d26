/*
 * zg-plcsim: the runtime control FIFO (--control PATH).
 *
 * A test writes one command per line into the FIFO, e.g.
 *   echo 'silent on' > "$fifo"
 * and waits for the acknowledgement on stderr ("plcsim: control: ...").
 * The simulator keeps a write descriptor of its own open on the FIFO so
 * that a writer closing it never turns into an endless end-of-file.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plcsim.h"

/* A control command: 0, or -1 with the reason in err (nothing changed). */
typedef int (*control_fn)(struct sim *s, const char *arg, char *err,
			  size_t errlen);

/* Parse on|off|toggle against the current value. */
static int parse_switch(const char *arg, bool cur, bool *out)
{
	if (strcmp(arg, "on") == 0 || strcmp(arg, "1") == 0)
		*out = true;
	else if (strcmp(arg, "off") == 0 || strcmp(arg, "0") == 0)
		*out = false;
	else if (strcmp(arg, "toggle") == 0)
		*out = !cur;
	else
		return -1;
	return 0;
}

/* Apply on|off|toggle to one switch, refusing anything else. */
static int set_switch(bool *field, const char *arg, char *err, size_t errlen)
{
	if (parse_switch(arg, *field, field) < 0) {
		snprintf(err, errlen, "want on, off or toggle");
		return -1;
	}
	return 0;
}

/* The switches: on, off or toggle. */
static int cmd_silent(struct sim *s, const char *arg, char *err,
		      size_t errlen)
{
	return set_switch(&s->bhv.silent, arg, err, errlen);
}

static int cmd_malformed(struct sim *s, const char *arg, char *err,
			 size_t errlen)
{
	return set_switch(&s->bhv.malformed, arg, err, errlen);
}

static int cmd_unsolicited(struct sim *s, const char *arg, char *err,
			   size_t errlen)
{
	return set_switch(&s->bhv.unsolicited, arg, err, errlen);
}

/* verbose also turns request logging on or off at once. */
static int cmd_verbose(struct sim *s, const char *arg, char *err,
		       size_t errlen)
{
	if (set_switch(&s->bhv.verbose, arg, err, errlen) < 0)
		return -1;
	log_set_verbose(s->bhv.verbose);
	return 0;
}

/* delay MS: 0..PLCSIM_DELAY_MAX_MS, applies to answers from now on. */
static int cmd_delay(struct sim *s, const char *arg, char *err,
		     size_t errlen)
{
	unsigned long v;

	if (parse_uint(arg, PLCSIM_DELAY_MAX_MS, &v) < 0) {
		snprintf(err, errlen, "want milliseconds 0..%d",
			 PLCSIM_DELAY_MAX_MS);
		return -1;
	}
	s->bhv.delay_ms = (unsigned int)v;
	return 0;
}

/* drop-after N: TCP only; counts the requests each client has sent. */
static int cmd_drop_after(struct sim *s, const char *arg, char *err,
			  size_t errlen)
{
	unsigned long v;

	if (s->cfg->rtu_device != NULL) {
		snprintf(err, errlen, "applies to Modbus/TCP only");
		return -1;
	}
	if (parse_uint(arg, 1000000000UL, &v) < 0) {
		snprintf(err, errlen, "want a number of requests (0: never)");
		return -1;
	}
	s->bhv.drop_after = (unsigned int)v;
	return 0;
}

/* max-clients N: TCP only, 1..PLCSIM_CONN_MAX; clients already in stay. */
static int cmd_max_clients(struct sim *s, const char *arg, char *err,
			   size_t errlen)
{
	unsigned long v;

	if (s->cfg->rtu_device != NULL) {
		snprintf(err, errlen, "applies to Modbus/TCP only");
		return -1;
	}
	if (parse_uint(arg, PLCSIM_CONN_MAX, &v) < 0 || v == 0) {
		snprintf(err, errlen, "want 1..%d", PLCSIM_CONN_MAX);
		return -1;
	}
	s->bhv.max_clients = (unsigned int)v;
	return 0;
}

/* set SPEC: the --set syntax; a bad spec changes nothing. */
static int cmd_set(struct sim *s, const char *arg, char *err,
		   size_t errlen)
{
	return regmap_set(s->map, arg, err, errlen);
}

/* status: one line on stderr; takes no argument. */
static int cmd_status(struct sim *s, const char *arg, char *err,
		      size_t errlen)
{
	(void)arg;
	(void)err;
	(void)errlen;
	sim_log_status(s);
	return 0;
}

static const struct {
	const char *name;
	bool takes_arg;
	control_fn fn;
} control_cmds[] = {
	{"silent", true, cmd_silent},
	{"malformed", true, cmd_malformed},
	{"unsolicited", true, cmd_unsolicited},
	{"verbose", true, cmd_verbose},
	{"delay", true, cmd_delay},
	{"drop-after", true, cmd_drop_after},
	{"max-clients", true, cmd_max_clients},
	{"set", true, cmd_set},
	{"status", false, cmd_status},
};

/* Log the current behaviour settings on one line. */
void sim_log_status(const struct sim *s)
{
	log_info("status: silent %s malformed %s unsolicited %s delay-ms %u "
		 "drop-after %u max-clients %u clients %zu verbose %s",
		 s->bhv.silent ? "on" : "off",
		 s->bhv.malformed ? "on" : "off",
		 s->bhv.unsolicited ? "on" : "off", s->bhv.delay_ms,
		 s->bhv.drop_after, s->bhv.max_clients, s->nconns,
		 s->bhv.verbose ? "on" : "off");
}

/*
 * Apply one control line: "COMMAND [ARGUMENT]", surrounding blanks and
 * '#' comments ignored.  Unknown commands, a missing or extra argument
 * are refused; nothing changes on a refusal.  Every line gets one log
 * line, "control: <line>" or "control: error: ...", which is what a
 * test waits for.  Returns 0 or -1.
 */
int control_apply(struct sim *s, char *line)
{
	char *hash = strchr(line, '#');
	char *cmd, *arg, *end;
	char err[256] = "";
	size_t i;

	if (hash != NULL)
		*hash = '\0';
	cmd = line + strspn(line, " \t\r");
	end = cmd + strlen(cmd);
	while (end > cmd && strchr(" \t\r", end[-1]) != NULL)
		*--end = '\0';
	if (*cmd == '\0')
		return 0;
	arg = cmd + strcspn(cmd, " \t");
	if (*arg != '\0') {
		*arg++ = '\0';
		arg += strspn(arg, " \t");
	}
	for (i = 0; i < sizeof(control_cmds) / sizeof(control_cmds[0]); i++) {
		if (strcmp(cmd, control_cmds[i].name) != 0)
			continue;
		if (control_cmds[i].takes_arg != (*arg != '\0') ||
		    strpbrk(arg, " \t") != NULL) {
			log_warnx("control: error: %s %s", cmd,
				  control_cmds[i].takes_arg ?
				  "takes one argument" : "takes no argument");
			return -1;
		}
		if (control_cmds[i].fn(s, arg, err, sizeof(err)) < 0) {
			log_warnx("control: error: %s %s: %s", cmd, arg, err);
			return -1;
		}
		log_info("control: %s%s%s", cmd, *arg ? " " : "", arg);
		return 0;
	}
	log_warnx("control: error: unknown command '%s' (silent, malformed, "
		  "unsolicited, verbose, delay, drop-after, max-clients, set, status)",
		  cmd);
	return -1;
}

/*
 * Create (mode 0600) or reuse the control FIFO at path and open it.
 * Refuses a path that exists and is not a FIFO: the simulator never
 * replaces a file it did not make.  Returns 0 or -1 after logging why.
 */
int control_open(struct sim *s, const char *path)
{
	struct stat st;

	if (mkfifo(path, 0600) == 0) {
		s->control_owned = true;
	} else if (errno != EEXIST) {
		log_warn("cannot create control FIFO %s", path);
		return -1;
	}
	if (lstat(path, &st) < 0 || !S_ISFIFO(st.st_mode)) {
		log_warnx("control path %s exists and is not a FIFO", path);
		return -1;
	}
	s->control_rd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (s->control_rd < 0) {
		log_warn("cannot open control FIFO %s", path);
		return -1;
	}
	s->control_wr = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (s->control_wr < 0) {
		log_warn("cannot open control FIFO %s for writing", path);
		return -1;
	}
	return 0;
}

/*
 * Read what is available on the FIFO and apply every complete line.
 * A line longer than the buffer is refused whole (its tail too, up to
 * the next newline) instead of being cut into two commands.
 */
void control_read(struct sim *s)
{
	char buf[512];
	ssize_t n;
	size_t i;

	for (;;) {
		n = read(s->control_rd, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_warn("control FIFO read");
			return;
		}
		if (n == 0)
			return;
		for (i = 0; i < (size_t)n; i++) {
			if (buf[i] == '\n') {
				if (s->control_overlong) {
					log_warnx("control: error: line too long");
				} else {
					s->control_buf[s->control_len] = '\0';
					control_apply(s, s->control_buf);
				}
				s->control_len = 0;
				s->control_overlong = false;
			} else if (s->control_len + 1 < sizeof(s->control_buf)) {
				s->control_buf[s->control_len++] = buf[i];
			} else {
				s->control_overlong = true;
			}
		}
	}
}

/* Close the FIFO; unlink it only if this process created it. */
void control_close(struct sim *s)
{
	if (s->control_rd >= 0)
		close(s->control_rd);
	if (s->control_wr >= 0)
		close(s->control_wr);
	s->control_rd = s->control_wr = -1;
	if (s->control_owned && s->cfg->control_path != NULL)
		unlink(s->cfg->control_path);
	s->control_owned = false;
}
