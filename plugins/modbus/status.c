/*
 * status.c: what the Modbus plugin tells the operator (zg_plugin.status):
 * each client session with its identity and counters, and each device
 * with the state of its connection pool.  Read-only walks of the loop
 * thread's own structs; serial lines belong partly to their worker
 * thread, so their reachability is reported as unknown.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <string.h>
#include <time.h>

#include "plugins/modbus/mbproxy.h"

void
mb_status(void *state, const struct zg_status_out *out)
{
	struct mb_state *st = state;
	const struct mb_session *s;
	struct timespec now;
	int i, k;

	clock_gettime(CLOCK_MONOTONIC, &now);
	for (s = st->sessions; s != NULL && out->session != NULL; s = s->next) {
		struct zg_session_info si;

		memset(&si, 0, sizeof(si));
		si.peer = s->peer;
		si.identity = s->identity[0] ? s->identity : NULL;
		si.assurance = s->assurance;
		si.role = s->role;
		si.listener = s->lst ? s->lst->addr : NULL;
		si.transport = s->tls ? (s->handshaking ? "tls-handshake" : "tls")
				      : "tcp";
		si.age = (double)(now.tv_sec - s->started.tv_sec) +
			 (double)(now.tv_nsec - s->started.tv_nsec) / 1e9;
		si.requests = s->nrequests;
		si.denials = s->ndenied;
		si.outstanding = s->outstanding > 0 ? (unsigned)s->outstanding : 0;
		out->session(out->arg, &si);
	}
	for (i = 0; i < st->ndevices && out->device != NULL; i++) {
		const struct mb_device *d = &st->devices[i];
		struct zg_device_status ds;

		memset(&ds, 0, sizeof(ds));
		ds.identity = d->identity;
		ds.queued = d->qlen > 0 ? (unsigned)d->qlen : 0;
		ds.forwarded = d->forwarded;
		ds.timeouts = d->timeouts;
		ds.errors = d->bad_responses + d->unsolicited;
		if (d->serial.path[0] != '\0') {
			ds.address = d->serial.path;
			ds.online = -1;
			ds.conns = 1;
			ds.conns_up = -1;
		} else {
			ds.address = d->addr_str;
			ds.conns = d->nconns;
			for (k = 0; d->conns != NULL && k < d->nconns; k++)
				if (d->conns[k].state == MBC_UP)
					ds.conns_up++;
			ds.online = d->conns == NULL ? -1 : ds.conns_up > 0;
		}
		out->device(out->arg, &ds);
	}
}
