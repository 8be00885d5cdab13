/*
 * fuzz_addr - addresses and CIDR networks (lib/addr.c), as the config
 * (client_networks, relay_networks, listen) and portmilter-report's
 * "ip" argument give them.
 *
 * Input: one text. Oracles: an address that parses prints and parses
 * back to itself; a network that parses says exactly what it holds and
 * round-trips (fuzz_check_cidr: no signed or padded prefix, no host
 * bits silently cleared), and matches its own network address.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "msg.h"
#include "oracle.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	msg_init("fuzz_addr", 0);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text, buf[64];
	struct pm_addr a, back;
	struct pm_cidr c;
	const char *why = NULL;

	if (size > 256)
		return 0;
	text = fuzz_text(data, size);
	if (addr_parse(text, &a)) {
		addr_to_text(&a, buf, sizeof(buf));
		if (!addr_parse(buf, &back) || back.family != a.family ||
		    memcmp(back.bytes, a.bytes, sizeof(a.bytes)) != 0)
			fuzz_fail("addr: \"%s\" prints as %s, which does not "
				  "parse back to it", fuzz_esc(text), buf);
	}
	if (cidr_parse(text, &c, &why))
		fuzz_check_cidr(text, &c);
	else if (why == NULL || *why == '\0')
		fuzz_fail("cidr: \"%s\" refused without a reason",
			  fuzz_esc(text));
	free(text);
	return 0;
}
