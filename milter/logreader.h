/*
 * logreader - what only Postfix knows, from Postfix's own log: a
 * background thread of the milter (never on the SMTP path) follows the
 * file named by postfix_log (or, for "journal" / "journal:DIR", the
 * systemd journal through journalctl: logjournal.h) and journals,
 * through the recorder, one event per
 *   - failed AUTH (kind auth_failure: mechanism, the user name Postfix
 *     logged, client, port),
 *   - Postfix's own reject (kind refused, rule postfix_<stage>, reply),
 *   - MAIL refused for want of STARTTLS on a port that requires TLS
 *     (kind refused, rule require_tls: Postfix logs no reject line for
 *     it, the disconnect line's mail=0/N without starttls tells),
 *   - AUTH tried before STARTTLS on a port with tls_before_auth (kind
 *     exposure, credential_exposure true),
 *   - TLS handshake failure, e.g. plaintext on an implicit-TLS port
 *     (kind tls_failure),
 *   - qmgr's size of a message the milter accepted (kind size: the
 *     transaction's event_time and event_id from recent.h, the size;
 *     applied to the transaction's row by the database, never stored).
 * The port comes from the line's syslog tag: "postfix/LABEL/smtpd" is
 * the service portmilter-conf generated for the configured port whose
 * label is LABEL (cfg_port_label()); a plain "postfix/smtpd" is port
 * 25's (Debian's stock smtp service). Other tags: port 0, port_known
 * false.
 *
 * Nothing lost, nothing twice: the position (file identity dev/inode,
 * offset of the next line, length and hash of the last line read) is
 * kept in JOURNAL_DIRECTORY/logreader.pos (mode 0640, replaced
 * atomically) and only ever covers lines already journaled. Each
 * event's id is derived from (node, file identity, offset, line), and
 * its time is the line's, so a line read twice (a crash between journal
 * and position) is stored once (the shipper's ON CONFLICT). Rotation by
 * rename (a new file at the path: the old one is read to its end first)
 * and copytruncate (the file shrinks below the position, or the line
 * before the position is no longer the one read: start over at 0) are
 * followed; at start a changed file is looked for as PATH.1 (logrotate's
 * rename) so lines written while the milter was down are not lost.
 * Without a saved position the reader starts at the end of an existing
 * file (history is not imported), or at the start of a file that
 * appears later.
 * From the journal: the position is the cursor of the last entry
 * journaled ("2 CURSOR" in the same file), journalctl starts after it
 * (or at the journal's end without one) and is started again if it
 * ends; each event's id is derived from (node, cursor, line), so an
 * entry read twice is stored once; rotation is journald's business.
 *
 * Every line is counted by kind (maillog.h); the counts are logged at
 * stop and hourly, an unknown smtpd line is logged (escaped, rate
 * limited). A journal that refuses an event (full) stops the reader at
 * that line until it accepts again: nothing is skipped.
 *
 * logreader_start() starts the thread if cfg->postfix_log is set (call
 * after recorder_start()); it reads the configuration of each batch
 * with milter_config_get(), so a reload's ports apply at once (a new
 * postfix_log path needs a restart). logreader_stop() saves the
 * position and joins the thread.
 */
#ifndef PM_LOGREADER_H
#define PM_LOGREADER_H

#include <stdint.h>

#include "cfg.h"

void logreader_start(const struct cfg *cfg);
void logreader_stop(void);

#endif
