/*
 * fuzz_identity: certificate identity extraction over arbitrary bytes.
 *
 * The input is handed to identity_from_der() (as a whole DER certificate)
 * with the default order and with the reverse order, to
 * identity_role_parse() as a role extension value, and, as text, to
 * identity_order_parse().  The seed corpus (tests/fuzz/corpus/fuzz_identity)
 * holds the test PKI's certificates and the corner cases of
 * tests/unit/test_identity.c as DER.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/identity.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct identity_order reverse = {
		{ IDENTITY_SRC_CN, IDENTITY_SRC_DNS, IDENTITY_SRC_URI }
	};
	struct identity_order o;
	struct identity *id;
	char err[256], text[128];
	char *role = NULL;
	size_t n;

	id = identity_from_der(data, size, NULL, err, sizeof err);
	if (id != NULL) {
		/* Every string must be a terminated C string. */
		if ((id->name && strlen(id->name) > IDENTITY_NAME_MAX) ||
		    (id->role && strlen(id->role) > IDENTITY_ROLE_MAX) ||
		    (id->role != NULL) != (id->role_status == IDENTITY_ROLE_OK) ||
		    (id->name != NULL) != (id->source != IDENTITY_SRC_NONE))
			abort();
		identity_free(id);
		id = identity_from_der(data, size, &reverse, err, sizeof err);
		identity_free(id);
	}
	if (identity_role_parse(data, size, &role, err, sizeof err) ==
	    IDENTITY_ROLE_OK && (role == NULL || strlen(role) == 0))
		abort();
	free(role);
	n = size < sizeof text - 1 ? size : sizeof text - 1;
	memcpy(text, data, n);
	text[n] = '\0';
	identity_order_parse(text, &o, err, sizeof err);
	return 0;
}
