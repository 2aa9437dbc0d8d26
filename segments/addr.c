/*
 * addr.c: numeric addresses for device bindings and targets, and the
 * lookup of a legacy peer's identity by source address.
 *
 * Only numeric addresses: the policy must not depend on DNS.  IPv4-mapped
 * IPv6 addresses (::ffff:a.b.c.d) are folded to IPv4 both when a binding
 * is declared and when a peer is looked up, so a dual-stack listener
 * cannot be used to slip past an IPv4 binding.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "segments/seg_int.h"

static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* 4 (out[0..3]) or 6 (out[0..15], folded to 4 when v4-mapped); 0. */
int
seg_parse_ip(const char *s, uint8_t out[16])
{
	memset(out, 0, 16);
	if (s == NULL || strlen(s) >= INET6_ADDRSTRLEN)
		return 0;
	if (inet_pton(AF_INET, s, out) == 1)
		return 4;
	if (inet_pton(AF_INET6, s, out) == 1) {
		if (memcmp(out, v4mapped, 12) == 0) {
			memmove(out, out + 12, 4);
			memset(out + 4, 0, 12);
			return 4;
		}
		return 6;
	}
	return 0;
}

/* "a.b.c.d:port" or "[v6]:port", port 1..65535. */
int
seg_parse_hostport(const char *s, char *err, size_t errlen)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon, *port;
	uint8_t ip[16];
	size_t hl;
	char *end;
	unsigned long pv;

	if (s == NULL || strlen(s) > 64) {
		snprintf(err, errlen, "address is missing or too long");
		return -1;
	}
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (rb == NULL || rb[1] != ':') {
			snprintf(err, errlen, "\"%s\" is not \"[ipv6]:port\"", s);
			return -1;
		}
		hl = (size_t)(rb - s - 1);
		if (hl >= sizeof(host)) {
			snprintf(err, errlen, "\"%s\": address too long", s);
			return -1;
		}
		memcpy(host, s + 1, hl);
		host[hl] = '\0';
		port = rb + 2;
		if (seg_parse_ip(host, ip) == 0 || strchr(host, ':') == NULL) {
			snprintf(err, errlen, "\"%s\" is not a numeric IPv6 address",
				 host);
			return -1;
		}
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || strchr(s, ':') != colon) {
			snprintf(err, errlen,
				 "\"%s\" is not \"ip:port\" (IPv6 goes in brackets: \"[::1]:502\")",
				 s);
			return -1;
		}
		hl = (size_t)(colon - s);
		if (hl >= sizeof(host)) {
			snprintf(err, errlen, "\"%s\": address too long", s);
			return -1;
		}
		memcpy(host, s, hl);
		host[hl] = '\0';
		port = colon + 1;
		if (seg_parse_ip(host, ip) != 4) {
			snprintf(err, errlen,
				 "\"%s\" is not a numeric IPv4 address (no host names)",
				 host);
			return -1;
		}
	}
	if (port[0] < '0' || port[0] > '9') {
		snprintf(err, errlen, "\"%s\": missing port", s);
		return -1;
	}
	pv = strtoul(port, &end, 10);
	if (*end != '\0' || pv == 0 || pv > 65535) {
		snprintf(err, errlen, "\"%s\": port must be 1..65535", s);
		return -1;
	}
	return 0;
}

static int
bind_key_cmp(uint8_t fam, const uint8_t *addr, uint16_t port,
	     const struct seg_bind *b)
{
	int c;

	if (fam != b->family)
		return fam < b->family ? -1 : 1;
	c = memcmp(addr, b->addr, 16);
	if (c != 0)
		return c;
	if (port < b->plo)
		return -1;
	if (port > b->phi)
		return 1;
	return 0;
}

/*
 * Binary search over the bindings, sorted by (family, address, first
 * port) and disjoint per address (seg_compile checked that).
 */
int
seg_identify_addr(const struct seg_policy *p, const struct sockaddr *sa,
		  socklen_t salen, char *buf, size_t buflen)
{
	uint8_t addr[16];
	uint8_t fam;
	uint16_t port;
	uint32_t lo = 0, hi;
	const struct seg_device *dv;

	if (p == NULL || p->magic != SEG_MAGIC || sa == NULL || buf == NULL ||
	    buflen == 0)
		return -1;
	memset(addr, 0, sizeof(addr));
	if (sa->sa_family == AF_INET && salen >= (socklen_t)sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;

		fam = 4;
		memcpy(addr, &s4->sin_addr, 4);
		port = ntohs(s4->sin_port);
	} else if (sa->sa_family == AF_INET6 &&
		   salen >= (socklen_t)sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;

		fam = 6;
		memcpy(addr, &s6->sin6_addr, 16);
		port = ntohs(s6->sin6_port);
		if (memcmp(addr, v4mapped, 12) == 0) {
			fam = 4;
			memmove(addr, addr + 12, 4);
			memset(addr + 4, 0, 12);
		}
	} else {
		return -1;
	}
	hi = p->nbinds;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = bind_key_cmp(fam, addr, port, &p->binds[mid]);

		if (c == 0) {
			dv = &p->devs[p->binds[mid].dev];
			if (dv->idlen + 1 > buflen)
				return -1;
			memcpy(buf, dv->identity, dv->idlen + 1);
			return 0;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}
