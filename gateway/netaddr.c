/*
 * netaddr.c: see netaddr.h.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/netaddr.h"

int
netaddr_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len,
	      char *err, size_t errlen)
{
	char host[NETADDR_STRLEN];
	const char *port, *colon;
	size_t hl;
	char *end;
	long p;

	memset(ss, 0, sizeof(*ss));
	if (s == NULL || strlen(s) >= NETADDR_STRLEN) {
		snprintf(err, errlen, "address too long or missing");
		return -1;
	}
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (rb == NULL || rb[1] != ':') {
			snprintf(err, errlen,
				 "\"%s\": expected [ipv6-address]:port", s);
			return -1;
		}
		hl = (size_t)(rb - s - 1);
		memcpy(host, s + 1, hl);
		host[hl] = '\0';
		port = rb + 2;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || strchr(s, ':') != colon) {
			snprintf(err, errlen,
				 "\"%s\": expected ipv4-address:port or [ipv6-address]:port",
				 s);
			return -1;
		}
		hl = (size_t)(colon - s);
		memcpy(host, s, hl);
		host[hl] = '\0';
		port = colon + 1;
	}
	if (*port == '\0') {
		snprintf(err, errlen, "\"%s\": missing port", s);
		return -1;
	}
	p = strtol(port, &end, 10);
	if (*end != '\0' || p < 0 || p > 65535 || port[0] == '-' ||
	    port[0] == '+') {
		snprintf(err, errlen, "\"%s\": port must be 0..65535", s);
		return -1;
	}
	if (s[0] != '[') {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
			snprintf(err, errlen,
				 "\"%s\": \"%s\" is not a numeric IPv4 address (names are not resolved)",
				 s, host);
			return -1;
		}
		sin->sin_family = AF_INET;
		sin->sin_port = htons((unsigned short)p);
		*len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1) {
			snprintf(err, errlen,
				 "\"%s\": \"%s\" is not a numeric IPv6 address",
				 s, host);
			return -1;
		}
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((unsigned short)p);
		*len = sizeof(*sin6);
	}
	return 0;
}

const char *
netaddr_format(const struct sockaddr *sa, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if (len == 0)
		return buf;
	if (sa == NULL) {
		snprintf(buf, len, "?");
	} else if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, ntohs(sin->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 =
			(const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, ntohs(sin6->sin6_port));
	} else if (sa->sa_family == AF_UNIX) {
		snprintf(buf, len, "unix");
	} else {
		snprintf(buf, len, "af%d", sa->sa_family);
	}
	return buf;
}

bool
netaddr_same_host(const struct sockaddr_storage *a,
		  const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	if (a->ss_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
			      &((const struct sockaddr_in6 *)b)->sin6_addr,
			      sizeof(struct in6_addr)) == 0;
	return false;
}
