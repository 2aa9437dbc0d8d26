/*
 * zg-plcsim: a PLC simulator built on libmodbus, for integration tests
 * and the quick start.  Internal header shared by the simulator's files.
 *
 *   main.c     options, usage, signals, start-up and shutdown
 *   server.c   the event loop: TCP listener and clients, RTU line,
 *              request handling and the misbehaviours
 *   regmap.c   the register map: sizes, --set / init file values, demo
 *   control.c  the runtime control FIFO
 *   log.c      stderr logging and the --log-writes file
 *   frame.c    pure Modbus framing helpers (frame.h)
 */
#ifndef ZG_PLCSIM_H
#define ZG_PLCSIM_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <modbus.h>

#include "frame.h"

#define PLCSIM_CONN_MAX 1024		/* hard cap on TCP clients */
#define PLCSIM_DELAY_MAX_MS 600000	/* ten minutes */
#define PLCSIM_IN_MAX (8 * FRAME_MAX_ADU)
#define PLCSIM_OUT_MAX (8 * FRAME_MAX_ADU)

/* Exit statuses. */
#define PLCSIM_EXIT_OK 0
#define PLCSIM_EXIT_RUNTIME 1
#define PLCSIM_EXIT_USAGE 2

/* Register table selector used by --set and the control FIFO. */
enum regmap_table {
	REG_COILS,
	REG_DISCRETE,
	REG_HOLDING,
	REG_INPUT,
};

struct regmap_sizes {
	unsigned int coils, discrete, holding, input;
};

/* What can be switched at runtime (options, SIGUSR1, control FIFO). */
struct sim_behaviour {
	bool silent;		/* read requests, never execute or answer */
	bool malformed;		/* answers carry a wrong length field */
	bool unsolicited;	/* each answer is followed by a stray copy */
	bool verbose;		/* log every request */
	unsigned int delay_ms;	/* hold every answer this long */
	unsigned int drop_after;	/* close a client after N requests */
	unsigned int max_clients;	/* TCP clients served at once */
};

/* Everything fixed at start-up (options). */
struct sim_config {
	const char *address;	/* numeric listen address */
	unsigned int port;	/* 0: ephemeral */
	const char *rtu_device;	/* non-NULL: RTU mode on this line */
	int baud;
	char parity;		/* 'N', 'E' or 'O' */
	int stop_bits;
	int unit;		/* -1: answer any unit id */
	struct regmap_sizes sizes;
	bool demo;
	const char *init_file;
	const char **sets;	/* --set specs, in order */
	size_t nsets;
	const char *ready_file;
	const char *control_path;
	const char *log_writes;
	struct sim_behaviour behaviour;
};

/* One Modbus peer: a TCP client, or the RTU serial line. */
struct conn {
	int fd;
	bool rtu;
	bool closing;		/* close once out[] is flushed */
	char peer[64];
	uint8_t in[PLCSIM_IN_MAX];
	size_t in_len;
	uint8_t out[PLCSIM_OUT_MAX];
	size_t out_len;
	struct timespec hold_until;	/* --delay-ms: no output before */
	struct timespec last_rx;	/* RTU: time of the last byte read */
	unsigned long nreq;
	bool eof;		/* the client closed its side: read no more */
	bool dead;		/* removed after this loop pass */
};

/* The running simulator. */
struct sim {
	struct sim_config *cfg;
	struct sim_behaviour bhv;
	modbus_mapping_t *map;
	modbus_t *builder;	/* builds answers into builder_fd[0] */
	int builder_fd[2];
	modbus_t *rtu_ctx;	/* RTU mode: owns the serial line */
	int listen_fd;
	unsigned int port;	/* the bound TCP port */
	struct conn *rtu_line;
	struct conn **conns;	/* TCP clients */
	size_t nconns;
	bool accept_paused;	/* out of descriptors: retry after a close */
	struct timespec accept_retry;	/* ... or at this time */
	int control_rd, control_wr;
	bool control_owned;	/* we created the FIFO: unlink it at exit */
	char control_buf[512];
	size_t control_len;
	bool control_overlong;
	int writes_fd;
	struct timespec started;
	uint32_t ticks;		/* demo: seconds since start */
	unsigned int rtu_gap_ms;
	uint32_t rng;
};

/* main.c: flags set by the signal handlers. */
extern volatile sig_atomic_t plcsim_stop_signal;
extern volatile sig_atomic_t plcsim_usr1;

/* log.c */
void log_set_verbose(bool on);
__attribute__((format(printf, 1, 2))) void log_info(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void log_warn(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void log_warnx(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void log_debug(const char *fmt, ...);
int log_writes_open(const char *path);
void log_write_request(int fd, const char *peer, uint8_t unit,
		       const uint8_t *pdu, size_t len, const char *result);

/* regmap.c */
modbus_mapping_t *regmap_new(const struct regmap_sizes *sizes);
int regmap_set(modbus_mapping_t *map, const char *spec, char *err,
	       size_t errlen);
int regmap_load_file(modbus_mapping_t *map, const char *path);
int regmap_demo_check(const struct regmap_sizes *sizes, char *err,
		      size_t errlen);
void regmap_demo_update(modbus_mapping_t *map, uint32_t seconds);
int regmap_parse_size(const char *s, unsigned int *out);
int parse_uint(const char *s, unsigned long max, unsigned long *out);

/* control.c */
int control_open(struct sim *s, const char *path);
void control_read(struct sim *s);
void control_close(struct sim *s);
int control_apply(struct sim *s, char *line);
void sim_log_status(const struct sim *s);

/* server.c */
int sim_init(struct sim *s, struct sim_config *cfg);
int sim_run(struct sim *s, const sigset_t *waitmask);
void sim_free(struct sim *s);

#endif /* ZG_PLCSIM_H */
