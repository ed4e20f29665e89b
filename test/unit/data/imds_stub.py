#!/usr/bin/python3
"""Stand-in for EC2 instance metadata (IMDSv2 only) and a container credentials endpoint, for the unit tests of
core/storage/s3/credentials. Listens on 127.0.0.1 on an ephemeral port, prints the port on stdout, and serves
until killed or until its stdin closes (so it cannot outlive a test that crashed).

  PUT /latest/api/token                              needs X-aws-ec2-metadata-token-ttl-seconds (1..21600)
  GET /latest/meta-data/iam/security-credentials/    needs X-aws-ec2-metadata-token, else 401; the role name
  GET /latest/meta-data/iam/security-credentials/R   likewise; the role's credentials as JSON
  GET /container/...                                 needs "Authorization: <--container-token>" if one is given
  GET /stats                                         request counts as JSON
Every credentials answer carries new keys (ASIA<KIND><n>) and an Expiration --expires-in seconds from now.
"""
import argparse
import datetime
import http.server
import json
import os
import sys
import threading
import time

IMDS_TOKEN_PATH = "/latest/api/token"
IMDS_CREDENTIALS_PATH = "/latest/meta-data/iam/security-credentials/"
IMDS_MAX_TTL = 21600  # seconds, the EC2 limit


def parse_args():
    parser = argparse.ArgumentParser()
    parser.add_argument("--imds-token", default="stub-imds-session-token-0123456789")
    parser.add_argument("--role", default="walvault-test-role")
    parser.add_argument("--no-role", action="store_true", help="no IAM role attached: 404 on the role list")
    parser.add_argument("--container-token", default="")
    parser.add_argument("--expires-in", type=int, default=3600, help="seconds from now; negative for the past")
    parser.add_argument("--delay-ms", type=int, default=0, help="delay of every credentials answer")
    parser.add_argument("--broken", action="store_true", help="credentials answers lack SecretAccessKey")
    return parser.parse_args()


ARGS = parse_args()
LOCK = threading.Lock()
STATS = {"token_puts": 0, "token_puts_without_ttl": 0, "unauthorized": 0, "role_lists": 0, "role_gets": 0,
         "container_gets": 0}
SERIAL = {"imds": 0, "container": 0}


def count(name):
    with LOCK:
        STATS[name] += 1


def credentials(kind):
    with LOCK:
        SERIAL[kind] += 1
        n = SERIAL[kind]
    if ARGS.delay_ms:
        time.sleep(ARGS.delay_ms / 1000.0)
    expiration = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=ARGS.expires_in)
    answer = {
        "Code": "Success",
        "Type": "AWS-HMAC",
        "AccessKeyId": "ASIA%s%06d" % (kind.upper(), n),
        "SecretAccessKey": "stub-secret-%s-%d" % (kind, n),
        "Token": "stub-session-token-%s-%d" % (kind, n),
        "Expiration": expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if ARGS.broken:
        del answer["SecretAccessKey"]
    return answer


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, format, *args):  # quiet: the test output is gtest's
        pass

    def reply(self, status, body, content_type="text/plain"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def reply_json(self, value):
        self.reply(200, json.dumps(value), "application/json")

    def do_PUT(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if self.path != IMDS_TOKEN_PATH:
            return self.reply(404, "not found")
        count("token_puts")
        ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
        if ttl is None or not ttl.isdigit() or not 1 <= int(ttl) <= IMDS_MAX_TTL:
            count("token_puts_without_ttl")
            return self.reply(400, "missing or invalid X-aws-ec2-metadata-token-ttl-seconds")
        self.reply(200, ARGS.imds_token)

    def do_GET(self):
        if self.path == "/stats":
            with LOCK:
                return self.reply_json(dict(STATS))
        if self.path.startswith(IMDS_CREDENTIALS_PATH):
            if self.headers.get("X-aws-ec2-metadata-token") != ARGS.imds_token:
                count("unauthorized")
                return self.reply(401, "unauthorized")
            role = self.path[len(IMDS_CREDENTIALS_PATH):]
            if role == "":
                count("role_lists")
                if ARGS.no_role:
                    return self.reply(404, "not found")
                return self.reply(200, ARGS.role + "\n")
            if role != ARGS.role:
                return self.reply(404, "not found")
            count("role_gets")
            return self.reply_json(credentials("imds"))
        if self.path.startswith("/container/"):
            if ARGS.container_token and self.headers.get("Authorization") != ARGS.container_token:
                count("unauthorized")
                return self.reply(401, json.dumps({"code": "AccessDenied", "message": "bad token"}))
            count("container_gets")
            answer = credentials("container")
            del answer["Code"], answer["Type"]
            return self.reply_json(answer)
        self.reply(404, "not found")


def exit_when_stdin_closes():
    while sys.stdin.buffer.read(4096):
        pass
    os._exit(0)


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
