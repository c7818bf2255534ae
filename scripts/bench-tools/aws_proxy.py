"""A counting proxy in front of the moto server, for scripts/bench.

Every AWS request that passes is counted by service and operation (`kms.GenerateDataKey`), so a
benchmark can say how many calls a step made: it reads `GET /__bench/counts` before and after.
Counting requests on the wire, rather than trusting a fake's counter, also catches calls made by
code paths nobody remembered. Bedrock's Converse, which moto lacks, is answered here with a fixed
reply, so the chat Lambda's real Bedrock adapter can complete a turn.

    .venv/bin/python scripts/bench-tools/aws_proxy.py --upstream http://127.0.0.1:PORT \\
        --port-file FILE [--exit-with-stdin]
"""

import argparse
import http.client
import json
import os
import re
import sys
import threading
import urllib.parse
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")
RPC_V2 = re.compile(r"/service/[^/]+/operation/([^/?]+)")
CONVERSE = re.compile(r"^/model/[^/]+/converse$")
# Hop-by-hop headers, and the length, which is set again for the body actually sent.
DROPPED = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection"}

CONVERSE_REPLY = json.dumps(
    {
        "output": {"message": {"role": "assistant", "content": [{"text": "A benchmark reply from the proxy."}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 40, "outputTokens": 8, "totalTokens": 48},
        "metrics": {"latencyMs": 1},
    }
).encode()

counts: Counter = Counter()
counts_lock = threading.Lock()


def operation(method: str, path: str, headers, body: bytes) -> str:
    """`service.Operation`, from the signature's scope and whichever protocol the request speaks."""
    scope = SCOPE.search(headers.get("Authorization", ""))
    service = scope.group(1) if scope else "unsigned"
    target = headers.get("X-Amz-Target")  # JSON protocols: DynamoDB, KMS, SSM
    if target:
        return f"{service}.{target.rsplit('.', 1)[-1]}"
    rpc = RPC_V2.search(path)  # RPC v2 CBOR: CloudWatch
    if rpc:
        return f"{service}.{rpc.group(1)}"
    bare = urllib.parse.urlsplit(path).path
    if CONVERSE.match(bare):
        return f"{service}.Converse"
    if headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):  # query protocol
        action = urllib.parse.parse_qs(body.decode(errors="replace")).get("Action")
        if action:
            return f"{service}.{action[0]}"
    return f"{service}.{method} {bare}"


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream: urllib.parse.SplitResult

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass  # a line per request would bury the benchmark's own output

    def read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def reply(self, status: int, body: bytes, content_type: str, headers=()) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_any(self) -> None:
        body = self.read_body()
        if self.path == "/__bench/counts":
            with counts_lock:
                snapshot = dict(counts)
            return self.reply(200, json.dumps(snapshot).encode(), "application/json")
        op = operation(self.command, self.path, self.headers, body)
        with counts_lock:
            counts[op] += 1
        if op.endswith(".Converse"):
            return self.reply(200, CONVERSE_REPLY, "application/json")
        upstream = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=120)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in DROPPED}
            upstream.request(self.command, self.path, body=body, headers=headers)
            response = upstream.getresponse()
            data = response.read()
            # send_response writes its own Server and Date.
            own = DROPPED | {"content-type", "server", "date"}
            kept = [(k, v) for k, v in response.getheaders() if k.lower() not in own]
            self.reply(response.status, data, response.getheader("Content-Type", "application/octet-stream"), kept)
        finally:
            upstream.close()

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = handle_any


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, help="the moto server, e.g. http://127.0.0.1:5000")
    parser.add_argument("--port-file", required=True, help="where to write the port this proxy listens on")
    parser.add_argument("--exit-with-stdin", action="store_true", help="exit when stdin reaches end of file")
    args = parser.parse_args()

    if args.exit_with_stdin:
        # The parent holds the pipe: however it ends, the pipe closes and this proxy goes with it.
        def exit_at_eof() -> None:
            while sys.stdin.buffer.read(65536):
                pass
            os._exit(0)

        threading.Thread(target=exit_at_eof, daemon=True).start()

    Proxy.upstream = urllib.parse.urlsplit(args.upstream)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    server.daemon_threads = True
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(args.port_file + ".tmp", args.port_file)  # the reader never sees half a number
    server.serve_forever()


if __name__ == "__main__":
    main()
