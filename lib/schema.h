/*
 * schema - the version of the portmilter database schema this build
 * knows: the highest NNN of the sql/NNN_*.sql files it ships (checked by
 * tests/sql/report.sh). portmilter-report refuses to query a database
 * whose schema_version is higher, and the milter's shipper writes
 * nothing into one: a newer schema may have changed what a column means.
 * Raise it with every new migration file.
 */
#ifndef PM_SCHEMA_H
#define PM_SCHEMA_H

#define PM_SCHEMA_VERSION 29

#endif
