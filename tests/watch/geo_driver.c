/*
 * geo_driver - geo_open() and geo_lookup() from the command line, for
 * tests/watch/geo.sh.
 *
 *   geo_driver [-c COUNTRY_DB] [-a ASN_DB] ADDR...
 *
 * One line an address: "ADDR COUNTRY ASN found" or "ADDR - 0 missing"
 * (COUNTRY "-" when unknown). A geo_open() failure: its message on
 * stderr, exit 1.
 */
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#include "geo.h"
#include "msg.h"

int main(int argc, char **argv)
{
	const char *cdb = NULL, *adb = NULL;
	char err[512], country[3];
	struct geo *g;
	uint32_t asn;
	int c;

	msg_init("geo_driver", MSG_TO_STDERR);
	while ((c = getopt(argc, argv, "c:a:")) != -1) {
		if (c == 'c')
			cdb = optarg;
		else if (c == 'a')
			adb = optarg;
		else
			return 2;
	}
	if ((g = geo_open(cdb, adb, err, sizeof(err))) == NULL) {
		fprintf(stderr, "geo_driver: %s\n", err);
		return 1;
	}
	for (int i = optind; i < argc; i++) {
		bool found = geo_lookup(g, argv[i], country, &asn);

		printf("%s %s %" PRIu32 " %s\n", argv[i],
		       country[0] ? country : "-", asn, found ? "found" : "missing");
	}
	geo_close(g);
	return 0;
}
