/*
 * netaddr: "host:port" strings <-> socket addresses.  Numeric addresses
 * only ("127.0.0.1:5020", "[::1]:802"): a gateway must not depend on DNS
 * to know where it listens or whom it talks to.
 */
#ifndef ZG_NETADDR_H
#define ZG_NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define NETADDR_STRLEN 64 /* "[ffff:...:ffff]:65535" fits */

/*
 * Parse `s' into ss.  Refuses names, missing or zero-length ports, ports
 * outside 0..65535 and anything longer than NETADDR_STRLEN.  On error
 * returns -1 with a message in err.
 */
int netaddr_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len,
		  char *err, size_t errlen);
/* "ip:port" or "[ip6]:port"; always NUL-terminated. */
const char *netaddr_format(const struct sockaddr *sa, char *buf, size_t len);
/* Same IP address (ports ignored): per-source connection limits. */
bool netaddr_same_host(const struct sockaddr_storage *a,
		       const struct sockaddr_storage *b);

#endif /* ZG_NETADDR_H */
