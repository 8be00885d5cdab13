#!/usr/bin/env python3
"""webhook-receiver.py - the webhook receiver of tests/watch/notify.sh.

An HTTPS server (plain HTTP without --cert and --key: the loopback
receiver of tools/demo) on 127.0.0.1 that plays an abuse team's receiver of
portmilter-watch alerts and checks each POST as doc/watch-alerts.md
says one must be checked:

  - X-Portmilter-Signature is "sha256=" and the hex HMAC-SHA256 of the
    body keyed with the shared secret (compared in constant time);
  - the body is a JSON object with exactly the documented keys, of the
    documented types, its delivery_id equal to "alert-" + alert_id and
    to the X-Portmilter-Delivery header;
  - X-Portmilter-Attempt is a number >= 1.

It answers 401 to a bad signature, 400 to a bad document, else --status
(default 200), after --delay-ms. Each request is one JSON line in --log
(written and flushed before the answer): {"delivery", "attempt", "sig":
"ok"|"bad", "problems": [...], "status", "body": the parsed document or
null}. It binds --port (0: any free port) and writes the port it got to
--port-file once it listens. It runs until killed.

  webhook-receiver.py [--cert C --key K] --secret-file S --log L
                      --port-file P [--port N] [--status N] [--delay-ms N]
"""
import argparse
import hashlib
import hmac
import http.server
import json
import os
import ssl
import sys
import threading
import time

KEYS = {
    "delivery_id": str, "alert_id": int, "fired_at": str, "detector": str,
    "subject_kind": str, "subject": str, "state": str, "summary": str,
    "evidence": (dict, list), "suspended": bool, "node": str, "sent_by": str,
}


def problems_of(doc, delivery):
    """What is wrong with the parsed document (a list of strings)."""
    if not isinstance(doc, dict):
        return ["the body is not a JSON object"]
    out = []
    if set(doc) != set(KEYS):
        out.append("keys %s" % sorted(doc))
    for k, t in KEYS.items():
        if k in doc and (not isinstance(doc[k], t) or
                         (t is int and isinstance(doc[k], bool))):
            out.append("%s is %r" % (k, doc[k]))
    if isinstance(doc.get("alert_id"), int) and \
            doc.get("delivery_id") != "alert-%d" % doc["alert_id"]:
        out.append("delivery_id %r for alert %r" % (doc.get("delivery_id"),
                                                   doc["alert_id"]))
    if doc.get("delivery_id") != delivery:
        out.append("X-Portmilter-Delivery %r, body %r" %
                   (delivery, doc.get("delivery_id")))
    if doc.get("state") not in ("fired", "resolved"):
        out.append("state %r" % doc.get("state"))
    if doc.get("subject_kind") not in ("user", "address"):
        out.append("subject_kind %r" % doc.get("subject_kind"))
    return out


def main():
    ap = argparse.ArgumentParser()
    for opt in ("--secret-file", "--log", "--port-file"):
        ap.add_argument(opt, required=True)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--status", type=int, default=200)
    ap.add_argument("--delay-ms", type=int, default=0)
    args = ap.parse_args()
    if (args.cert is None) != (args.key is None):
        ap.error("--cert and --key go together")
    with open(args.secret_file, "rb") as f:
        secret = f.read()
    if secret.endswith(b"\n"):
        secret = secret[:-1]
    log = open(args.log, "a", encoding="utf-8")
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):  # quiet: the log file says it all
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            want = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
            sig_ok = hmac.compare_digest(
                want, self.headers.get("X-Portmilter-Signature", ""))
            delivery = self.headers.get("X-Portmilter-Delivery")
            attempt = self.headers.get("X-Portmilter-Attempt", "")
            try:
                doc = json.loads(body.decode("utf-8"))
            except ValueError as e:
                doc, probs = None, ["not JSON: %s" % e]
            else:
                probs = problems_of(doc, delivery)
            if not attempt.isdigit() or int(attempt) < 1:
                probs.append("X-Portmilter-Attempt %r" % attempt)
            if self.headers.get("Content-Type") != "application/json":
                probs.append("Content-Type %r" % self.headers.get("Content-Type"))
            status = 401 if not sig_ok else 400 if probs else args.status
            if args.delay_ms:
                time.sleep(args.delay_ms / 1000.0)
            with lock:
                log.write(json.dumps({
                    "delivery": delivery, "attempt": attempt,
                    "sig": "ok" if sig_ok else "bad", "problems": probs,
                    "status": status, "body": doc}) + "\n")
                log.flush()
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    if args.cert is not None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, args.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
