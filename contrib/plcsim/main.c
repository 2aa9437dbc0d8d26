/*
 * zg-plcsim: options, signals, readiness, start-up and shutdown.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "plcsim.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "dev"
#endif

#define DEFAULT_TABLE_SIZE 10000
#define DEFAULT_MAX_CLIENTS 64
#define DEFAULT_PORT 5020

volatile sig_atomic_t plcsim_stop_signal;
volatile sig_atomic_t plcsim_usr1;

static const char usage_text[] =
"NAME\n"
"    zg-plcsim - Modbus PLC simulator for zonegate tests and the quick start\n"
"\n"
"SYNOPSIS\n"
"    zg-plcsim [-a ADDR] [-p PORT] [options]            Modbus/TCP server\n"
"    zg-plcsim -r DEVICE [-b BAUD] [-P N|E|O] [-S 1|2] [options]\n"
"                                                       Modbus RTU slave\n"
"\n"
"DESCRIPTION\n"
"    Serves one register map (coils, discrete inputs, holding and input\n"
"    registers, 0-based PDU addresses) to many Modbus/TCP clients at once,\n"
"    or to the master on one serial line.  It can misbehave on demand (slow,\n"
"    silent, malformed or unsolicited answers, few clients, dropped\n"
"    connections), switchable at runtime.  It binds only the address it is\n"
"    given and never connects anywhere.\n"
"\n"
"OPTIONS\n"
"    -a, --address ADDR     numeric IPv4/IPv6 listen address (127.0.0.1)\n"
"    -p, --port PORT        TCP port (5020); 0 picks a free one, see\n"
"                           --ready-file and the \"listening on\" line\n"
"    -r, --rtu DEVICE       serve Modbus RTU on this serial line instead\n"
"    -b, --baud BAUD        RTU line speed (19200)\n"
"    -P, --parity N|E|O     RTU parity: none, even, odd (E); 8 data bits\n"
"    -S, --stop-bits 1|2    RTU stop bits (1)\n"
"    -u, --unit ID|any      unit id answered (1); TCP 0..255, RTU 1..247;\n"
"                           \"any\" answers every unit id.  Requests for\n"
"                           another unit get no answer (RTU unit 0 is a\n"
"                           broadcast: executed, never answered)\n"
"        --coils N          table sizes, 0..65536 each (10000)\n"
"        --discrete N\n"
"        --holding N\n"
"        --input N\n"
"    -s, --set SPEC         set initial values, repeatable (see VALUES)\n"
"    -f, --init FILE        read initial values, one SPEC per line, # comments\n"
"        --demo             run the demo pattern (see DEMO)\n"
"        --ready-file PATH  once serving, write the bound TCP port (or \"rtu\")\n"
"                           and a newline to PATH atomically (tmp + rename);\n"
"                           removed again at exit\n"
"        --control PATH     runtime control FIFO (created 0600 if missing)\n"
"        --log-writes FILE  append one line per write request received\n"
"    -v, --verbose          log every request (function, address, quantity)\n"
"    -h, --help             this text\n"
"    -V, --version          print the version\n"
"\n"
"MISBEHAVIOUR (all switchable at runtime, see CONTROL)\n"
"        --delay-ms N       hold every answer N ms; the client's next request\n"
"                           waits too (the request itself executes at once)\n"
"        --silent           read requests, never execute or answer them\n"
"        --malformed        answers lie about their length: byte count + 2\n"
"                           for reads, else MBAP length + 1 (TCP) or one data\n"
"                           byte short with a valid CRC (RTU)\n"
"        --unsolicited      follow every answer with a copy carrying a random\n"
"                           transaction id (RTU: an identical second frame)\n"
"        --max-clients N    serve N TCP clients at once (64); more are\n"
"                           accepted and closed at once\n"
"        --drop-after N     close a TCP client after N requests (once the\n"
"                           answers are sent)\n"
"\n"
"VALUES\n"
"    SPEC is TABLE:ADDR=VALUE[,VALUE...], consecutive from ADDR (0-based).\n"
"    TABLE: coil, discrete (di), holding (hr), input (ir).  Coils and\n"
"    discrete inputs take 0 or 1.  Registers take -32768..65535 or 0xHHHH,\n"
"    or two registers high word first: f32:FLOAT, u32:N, i32:N.\n"
"      --set holding:0=1234  --set input:10=0x4049,0x0FDB  --set coil:5=1\n"
"      --set hr:20=f32:21.5,u32:70000\n"
"    Order: demo pattern, then --init, then each --set.\n"
"\n"
"DEMO\n"
"    input 0-1    temperature, float32 ABCD, 20.0..25.0 C, +-0.1 C per second\n"
"                 (triangle wave, period 100 s)\n"
"    input 2-3    counter, uint32 ABCD, seconds since start\n"
"    discrete 0   heartbeat, toggles every second\n"
"    holding 0-99 writable set points (every holding register is writable)\n"
"\n"
"CONTROL\n"
"    SIGUSR1 toggles --silent.  With --control PATH, write lines such as\n"
"      echo 'silent on' > PATH\n"
"    Commands: silent|malformed|unsolicited|verbose on|off|toggle,\n"
"    delay MS, drop-after N, max-clients N, set SPEC, status.  Each line is\n"
"    acknowledged on stderr as \"plcsim: control: LINE\" (or \"plcsim:\n"
"    control: error: ...\"); wait for that line before relying on it.\n"
"    max-clients and drop-after apply to clients as they connect or send.\n"
"\n"
"OUTPUT\n"
"    stderr, one line each: \"plcsim: listening on 127.0.0.1:PORT unit 1\"\n"
"    (RTU: \"plcsim: listening on rtu DEVICE BAUD 8N1 unit 1\"), clients\n"
"    connecting, refused and leaving, control acknowledgements, and with -v\n"
"    every request and its outcome.\n"
"    --log-writes lines (FC 5, 6, 15, 16, 22 and the write half of 23):\n"
"      fc=16 unit=1 addr=0 count=3 values=1,2,3 peer=127.0.0.1:40000 result=applied\n"
"    result is applied, exception:N, silent, other-unit, broadcast or error;\n"
"    FC 22 values are the AND and OR masks.\n"
"\n"
"SIGNALS\n"
"    SIGTERM, SIGINT  exit 0 after closing everything\n"
"    SIGUSR1          toggle --silent\n"
"\n"
"EXIT STATUS\n"
"    0 after SIGTERM/SIGINT; 1 on a runtime or configuration error (port in\n"
"    use, bad --set or init file, serial line hung up); 2 on a usage error.\n"
"\n"
"EXAMPLES\n"
"    zg-plcsim --demo -p 5020 -v\n"
"    mbpoll -m tcp -a 1 -t 3:float -B -0 -r 0 -c 1 -1 -p 5020 127.0.0.1\n"
"    zg-plcsim -p 0 --ready-file /tmp/sim.port --max-clients 1 --silent\n"
"    zg-plcsim -r /dev/pts/5 -b 19200 -P N -S 1 --set holding:0=42\n";

enum {
	OPT_COILS = 256,
	OPT_DISCRETE,
	OPT_HOLDING,
	OPT_INPUT,
	OPT_DEMO,
	OPT_DELAY,
	OPT_SILENT,
	OPT_MALFORMED,
	OPT_UNSOLICITED,
	OPT_MAX_CLIENTS,
	OPT_DROP_AFTER,
	OPT_READY_FILE,
	OPT_CONTROL,
	OPT_LOG_WRITES,
};

static const struct option long_options[] = {
	{"address", required_argument, NULL, 'a'},
	{"port", required_argument, NULL, 'p'},
	{"rtu", required_argument, NULL, 'r'},
	{"baud", required_argument, NULL, 'b'},
	{"parity", required_argument, NULL, 'P'},
	{"stop-bits", required_argument, NULL, 'S'},
	{"unit", required_argument, NULL, 'u'},
	{"set", required_argument, NULL, 's'},
	{"init", required_argument, NULL, 'f'},
	{"verbose", no_argument, NULL, 'v'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{"coils", required_argument, NULL, OPT_COILS},
	{"discrete", required_argument, NULL, OPT_DISCRETE},
	{"holding", required_argument, NULL, OPT_HOLDING},
	{"input", required_argument, NULL, OPT_INPUT},
	{"demo", no_argument, NULL, OPT_DEMO},
	{"delay-ms", required_argument, NULL, OPT_DELAY},
	{"silent", no_argument, NULL, OPT_SILENT},
	{"malformed", no_argument, NULL, OPT_MALFORMED},
	{"unsolicited", no_argument, NULL, OPT_UNSOLICITED},
	{"max-clients", required_argument, NULL, OPT_MAX_CLIENTS},
	{"drop-after", required_argument, NULL, OPT_DROP_AFTER},
	{"ready-file", required_argument, NULL, OPT_READY_FILE},
	{"control", required_argument, NULL, OPT_CONTROL},
	{"log-writes", required_argument, NULL, OPT_LOG_WRITES},
	{NULL, 0, NULL, 0},
};

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt,
							      ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warnx("%s (try zg-plcsim -h)", msg);
	return -1;
}

/* Parse N|E|O, also none|even|odd, any case. */
static int parse_parity(const char *s, char *out)
{
	if (strcasecmp(s, "N") == 0 || strcasecmp(s, "none") == 0)
		*out = 'N';
	else if (strcasecmp(s, "E") == 0 || strcasecmp(s, "even") == 0)
		*out = 'E';
	else if (strcasecmp(s, "O") == 0 || strcasecmp(s, "odd") == 0)
		*out = 'O';
	else
		return -1;
	return 0;
}

/*
 * Parse the command line into cfg.  Refuses unknown options, stray
 * arguments, out-of-range numbers, and options that do not fit the mode
 * (-a/-p, --max-clients, --drop-after with -r), so a typo in a test
 * never silently runs a different simulator.  Returns 1 when -h/-V was
 * handled, 0 to run, -1 on a usage error (already reported).
 */
static int parse_args(int argc, char **argv, struct sim_config *cfg)
{
	const char *unit_arg = NULL;
	bool tcp_only = false;
	unsigned long v;
	char err[256];
	int opt;

	while ((opt = getopt_long(argc, argv, "a:p:r:b:P:S:u:s:f:vhV",
				  long_options, NULL)) != -1) {
		switch (opt) {
		case 'a':
			cfg->address = optarg;
			tcp_only = true;
			break;
		case 'p':
			if (parse_uint(optarg, 65535, &v) < 0)
				return usage_error("-p: bad port '%s' (0..65535)", optarg);
			cfg->port = (unsigned int)v;
			tcp_only = true;
			break;
		case 'r':
			cfg->rtu_device = optarg;
			break;
		case 'b':
			if (parse_uint(optarg, 4000000, &v) < 0 || v == 0)
				return usage_error("-b: bad baud rate '%s'", optarg);
			cfg->baud = (int)v;
			break;
		case 'P':
			if (parse_parity(optarg, &cfg->parity) < 0)
				return usage_error("-P: parity must be N, E or O, not '%s'", optarg);
			break;
		case 'S':
			if (strcmp(optarg, "1") != 0 && strcmp(optarg, "2") != 0)
				return usage_error("-S: stop bits must be 1 or 2, not '%s'", optarg);
			cfg->stop_bits = optarg[0] - '0';
			break;
		case 'u':
			unit_arg = optarg;
			break;
		case 's': {
			const char **grown = realloc(cfg->sets,
						     (cfg->nsets + 1) * sizeof(*cfg->sets));

			if (grown == NULL)
				return usage_error("out of memory");
			cfg->sets = grown;
			cfg->sets[cfg->nsets++] = optarg;
			break;
		}
		case 'f':
			cfg->init_file = optarg;
			break;
		case 'v':
			cfg->behaviour.verbose = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 1;
		case 'V':
			printf("zg-plcsim %s (libmodbus %s)\n", PACKAGE_VERSION,
			       LIBMODBUS_VERSION_STRING);
			return 1;
		case OPT_COILS:
		case OPT_DISCRETE:
		case OPT_HOLDING:
		case OPT_INPUT: {
			unsigned int *dst = opt == OPT_COILS ? &cfg->sizes.coils :
					    opt == OPT_DISCRETE ? &cfg->sizes.discrete :
					    opt == OPT_HOLDING ? &cfg->sizes.holding :
					    &cfg->sizes.input;

			if (regmap_parse_size(optarg, dst) < 0)
				return usage_error("bad table size '%s' (0..65536)", optarg);
			break;
		}
		case OPT_DEMO:
			cfg->demo = true;
			break;
		case OPT_DELAY:
			if (parse_uint(optarg, PLCSIM_DELAY_MAX_MS, &v) < 0)
				return usage_error("--delay-ms: want 0..%d, not '%s'",
						   PLCSIM_DELAY_MAX_MS, optarg);
			cfg->behaviour.delay_ms = (unsigned int)v;
			break;
		case OPT_SILENT:
			cfg->behaviour.silent = true;
			break;
		case OPT_MALFORMED:
			cfg->behaviour.malformed = true;
			break;
		case OPT_UNSOLICITED:
			cfg->behaviour.unsolicited = true;
			break;
		case OPT_MAX_CLIENTS:
			if (parse_uint(optarg, PLCSIM_CONN_MAX, &v) < 0 || v == 0)
				return usage_error("--max-clients: want 1..%d, not '%s'",
						   PLCSIM_CONN_MAX, optarg);
			cfg->behaviour.max_clients = (unsigned int)v;
			tcp_only = true;
			break;
		case OPT_DROP_AFTER:
			if (parse_uint(optarg, 1000000000UL, &v) < 0)
				return usage_error("--drop-after: bad number '%s'", optarg);
			cfg->behaviour.drop_after = (unsigned int)v;
			tcp_only = true;
			break;
		case OPT_READY_FILE:
			cfg->ready_file = optarg;
			break;
		case OPT_CONTROL:
			cfg->control_path = optarg;
			break;
		case OPT_LOG_WRITES:
			cfg->log_writes = optarg;
			break;
		default:
			return usage_error("unknown option");
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (cfg->rtu_device != NULL && tcp_only)
		return usage_error("-a, -p, --max-clients and --drop-after apply to "
				   "Modbus/TCP, not with -r");
	if (unit_arg != NULL) {
		bool rtu = cfg->rtu_device != NULL;

		if (strcmp(unit_arg, "any") == 0)
			cfg->unit = -1;
		else if (parse_uint(unit_arg, rtu ? 247 : 255, &v) < 0 ||
			 (rtu && v == 0))
			return usage_error("-u: unit id must be %s or any, not '%s'",
					   rtu ? "1..247" : "0..255", unit_arg);
		else
			cfg->unit = (int)v;
	}
	if (cfg->demo && regmap_demo_check(&cfg->sizes, err, sizeof(err)) < 0)
		return usage_error("%s", err);
	return 0;
}

/*
 * Publish readiness: write content to PATH.tmp.PID, then rename it over
 * PATH, so a test polling for PATH sees either nothing or the whole
 * content, never a partial write.
 */
static int write_ready_file(const char *path, const char *content)
{
	char tmp[4096];
	size_t len = strlen(content);
	ssize_t n;
	int fd;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path,
			     (long)getpid()) >= sizeof(tmp)) {
		log_warnx("--ready-file path too long: %s", path);
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		log_warn("cannot create %s", tmp);
		return -1;
	}
	n = write(fd, content, len);
	if (n < 0 || (size_t)n != len || close(fd) < 0) {
		log_warn("cannot write %s", tmp);
		if (n >= 0)
			close(fd);
		unlink(tmp);
		return -1;
	}
	if (rename(tmp, path) < 0) {
		log_warn("cannot rename %s to %s", tmp, path);
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* Signal handlers only set flags; the loop does the work. */
static void on_stop(int sig)
{
	plcsim_stop_signal = sig;
}

/* SIGUSR1: the loop toggles --silent. */
static void on_usr1(int sig)
{
	(void)sig;
	plcsim_usr1 = 1;
}

/*
 * Install the handlers without SA_RESTART and block the signals; the
 * loop unblocks them only inside ppoll() (waitmask), where they
 * interrupt the wait with EINTR.
 */
static int setup_signals(sigset_t *waitmask)
{
	struct sigaction sa;
	sigset_t block;

	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &block, waitmask) < 0)
		return -1;
	sigdelset(waitmask, SIGTERM);
	sigdelset(waitmask, SIGINT);
	sigdelset(waitmask, SIGUSR1);

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;
	sa.sa_handler = on_stop;
	if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0)
		return -1;
	sa.sa_handler = on_usr1;
	if (sigaction(SIGUSR1, &sa, NULL) < 0)
		return -1;
	sa.sa_handler = SIG_IGN;
	return sigaction(SIGPIPE, &sa, NULL);
}

/*
 * Parse, set up, serve until a stop signal, clean up.  The exit status
 * says which of usage (2), runtime/configuration (1) or none (0) failed.
 */
int main(int argc, char **argv)
{
	struct sim_config cfg = {
		.address = "127.0.0.1",
		.port = DEFAULT_PORT,
		.baud = 19200,
		.parity = 'E',
		.stop_bits = 1,
		.unit = 1,
		.sizes = {DEFAULT_TABLE_SIZE, DEFAULT_TABLE_SIZE,
			  DEFAULT_TABLE_SIZE, DEFAULT_TABLE_SIZE},
		.behaviour = {.max_clients = DEFAULT_MAX_CLIENTS},
	};
	struct sim sim;
	sigset_t waitmask;
	bool ready_written = false;
	int rc, status;

	rc = parse_args(argc, argv, &cfg);
	if (rc != 0) {
		free(cfg.sets);
		return rc > 0 ? PLCSIM_EXIT_OK : PLCSIM_EXIT_USAGE;
	}
	if (setup_signals(&waitmask) < 0) {
		log_warn("signals");
		free(cfg.sets);
		return PLCSIM_EXIT_RUNTIME;
	}
	/* a stale ready file from an earlier run must not look like ours */
	if (cfg.ready_file != NULL && unlink(cfg.ready_file) < 0 &&
	    errno != ENOENT)
		log_warn("cannot remove stale %s", cfg.ready_file);

	if (sim_init(&sim, &cfg) < 0) {
		status = PLCSIM_EXIT_RUNTIME;
	} else {
		status = PLCSIM_EXIT_OK;
		if (cfg.ready_file != NULL) {
			char content[32];

			if (cfg.rtu_device != NULL)
				snprintf(content, sizeof(content), "rtu\n");
			else
				snprintf(content, sizeof(content), "%u\n", sim.port);
			if (write_ready_file(cfg.ready_file, content) < 0)
				status = PLCSIM_EXIT_RUNTIME;
			else
				ready_written = true;
		}
		if (status == PLCSIM_EXIT_OK)
			status = sim_run(&sim, &waitmask);
	}
	sim_free(&sim);
	if (ready_written)
		unlink(cfg.ready_file);
	free(cfg.sets);
	return status;
}
