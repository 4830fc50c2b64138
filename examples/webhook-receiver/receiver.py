#!/usr/bin/env python3
"""A webhook receiver for Couponcactus, standard library only.

Listens on 127.0.0.1:PORT, checks every delivery's Standard Webhooks signature (HMAC-SHA256
over "{webhook-id}.{webhook-timestamp}.{raw body}", docs/events.md "Verifying a delivery")
and its 5-minute timestamp window, answers 204 to a valid one and 401 to anything else,
and prints one line per verified event (or the whole JSON with --json). Deliveries are at
least once: a repeated webhook-id is acknowledged and reported as a duplicate.

    python3 examples/webhook-receiver/receiver.py --port 8787 --secret-file secret.txt

The secret (whsec_...) is what `cactus webhooks add` printed; --secret-file is read again
on every delivery, so it can be written after the receiver started.
"""

import argparse
import base64
import hashlib
import hmac
import http.server
import json
import sys
import time

TOLERANCE_SECONDS = 5 * 60
MAX_BODY_BYTES = 1 << 20


def verify(secret, headers, body):
    """True when `body` (bytes, as received) is signed with `secret` (whsec_...) and fresh."""
    msg_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    if not msg_id or not timestamp.isdigit():
        return False
    if abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for candidate in headers.get("webhook-signature", "").split(" "):
        version, _, signature = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(signature, expected):
            return True
    return False


def summary(payload):
    """One line: id, type, and what the event (or the console's alert) concerns."""
    event = payload["data"]
    if payload.get("type") == "alert.triggered":
        return "  ".join([event["id"], "alert.triggered", event["rule_name"], event["message"]])
    parts = [event["id"], event["type"]]
    token = event.get("token")
    if token:
        parts.append(f"token {token['pool']}/{token['serial']}")
    elif event.get("pool"):
        parts.append(f"pool {event['pool']}")
    if event.get("store"):
        parts.append(f"store {event['store']}")
    amounts = event.get("amounts") or {}
    if amounts.get("discount_minor") is not None:
        parts.append(f"discount {amounts['discount_minor']} {amounts['currency']} minor units")
    rejection = (event.get("detail") or {}).get("rejection")
    if rejection:
        parts.append(f"rejected: {rejection['reason']}")
    return "  ".join(parts)


def handler(args):
    seen = set()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("content-length") or 0)
            if length > MAX_BODY_BYTES:
                self.send_response(413)
                self.end_headers()
                return
            body = self.rfile.read(length)
            with open(args.secret_file, encoding="utf-8") as f:
                secret = f.read().strip()
            headers = {k.lower(): v for k, v in self.headers.items()}
            if not verify(secret, headers, body):
                print(f"refused a delivery: bad signature or stale timestamp ({headers.get('webhook-id')})",
                      file=sys.stderr, flush=True)
                self.send_response(401)
                self.end_headers()
                return
            self.send_response(204)
            self.end_headers()
            msg_id = headers["webhook-id"]
            payload = json.loads(body)
            again = " (duplicate)" if msg_id in seen else ""
            seen.add(msg_id)
            line = json.dumps(payload["data"]) if args.json else summary(payload) + again
            print(line, flush=True)

        def log_message(self, *_):
            pass

    return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8787)
    parser.add_argument("--secret-file", required=True, help="file holding the whsec_... secret")
    parser.add_argument("--json", action="store_true", help="print each event's JSON")
    args = parser.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler(args))
    print(f"listening on http://127.0.0.1:{server.server_address[1]}/", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
