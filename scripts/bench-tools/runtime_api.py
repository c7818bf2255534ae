"""The Lambda Runtime API (2018-06-01), as much of it as one function process needs, for
scripts/bench: `next` hands out the events a benchmark queues, responses and errors are collected,
and the moment a process first asks for `next` is recorded. That moment is the end of its cold
start: Lambda sends the first event only once init has finished and the runtime polls.
"""

import json
import queue
import re
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NEXT = "/2018-06-01/runtime/invocation/next"
RESULT = re.compile(r"^/2018-06-01/runtime/invocation/([^/]+)/(response|error)$")
INIT_ERROR = "/2018-06-01/runtime/init/error"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:chatbot-chat-bench"


class Run:
    """One function process: its events, its results, and when it first polled."""

    def __init__(self) -> None:
        self.events: queue.Queue = queue.Queue()
        self.results: queue.Queue = queue.Queue()
        self.first_poll: float | None = None
        self.polled = threading.Event()

    def poll(self) -> None:
        if self.first_poll is None:
            self.first_poll = time.perf_counter()
            self.polled.set()


def answer_of(result: tuple[bool, bytes]) -> dict:
    """A function's answer as an HTTP integration response: {statusCode, headers, body}. A
    streamed one (the chat Lambda's) is its JSON metadata, 8 NUL bytes, then the body."""
    streamed, body = result
    if not streamed:
        return json.loads(body)
    metadata, sep, payload = body.partition(b"\0" * 8)
    if not sep:
        raise RuntimeError(f"a streamed response without its metadata delimiter: {body[:200]!r}")
    answer = json.loads(metadata)
    answer["body"] = payload.decode("utf-8")
    return answer


class RuntimeApi:
    def __init__(self) -> None:
        self.run = Run()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.run.events.put(None)
        self.server.shutdown()
        self.server.server_close()

    def start(self, command: list[str], env: dict[str, str], log_path: str, timeout: float = 60.0):
        """Spawns `command`; returns the process and its cold start in ms, from just before the
        spawn to the moment its first `next` arrived."""
        self.run = run = Run()
        log = open(log_path, "wb")
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()  # the child holds its own copy
        deadline = started + timeout
        while not run.polled.wait(0.01):
            if process.poll() is not None or time.perf_counter() > deadline:
                self.stop(process)
                with open(log_path, "rb") as f:
                    tail = f.read()[-2000:].decode(errors="replace")
                raise RuntimeError(
                    f"{command[0]} exited ({process.returncode}) or did not poll the Runtime API "
                    f"within {timeout:.0f} s; its output ends with:\n{tail}"
                )
        return process, (run.first_poll - started) * 1e3

    def stop(self, process: subprocess.Popen) -> None:
        process.kill()
        process.wait()
        self.run.events.put(None)  # releases the `next` the process was blocked in

    def invoke(self, event: dict, timeout: float = 60.0) -> dict:
        """Sends one event to the running process and returns what it answered."""
        request_id = str(uuid.uuid4())
        self.run.events.put((request_id, event))
        try:
            answered_id, kind, body = self.run.results.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(f"the function did not answer within {timeout:.0f} s") from None
        if kind != "response" or answered_id != request_id:
            raw = body[1] if isinstance(body, tuple) else body
            raise RuntimeError(f"the function reported an {kind.replace('_', ' ')}: {raw[:2000]!r}")
        return answer_of(body)

    def _handler(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):  # noqa: A002 (the base class's name)
                pass

            def send(self, status: int, body: bytes, headers=()) -> None:
                try:
                    self.send_response(status)
                    for name, value in headers:
                        self.send_header(name, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # a process killed while it waited for `next`: nobody is listening

            def do_GET(self) -> None:
                if self.path != NEXT:
                    return self.send(404, b'{"errorMessage":"unknown path"}')
                run = api.run
                run.poll()
                item = run.events.get()
                if item is None:
                    return self.send(410, b'{"errorMessage":"the benchmark is over"}')
                request_id, event = item
                deadline = str(int(time.time() * 1000) + 60_000)
                self.send(
                    200,
                    json.dumps(event).encode(),
                    [
                        ("Lambda-Runtime-Aws-Request-Id", request_id),
                        ("Lambda-Runtime-Deadline-Ms", deadline),
                        ("Lambda-Runtime-Invoked-Function-Arn", FUNCTION_ARN),
                        ("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000;Sampled=0"),
                    ],
                )

            def read_body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
                    return self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = b""
                while size := int(self.rfile.readline().split(b";")[0], 16):
                    body += self.rfile.read(size)
                    self.rfile.readline()
                self.rfile.readline()
                return body

            def do_POST(self) -> None:
                body = self.read_body()
                result = RESULT.match(self.path)
                if result:
                    streamed = self.headers.get("Lambda-Runtime-Function-Response-Mode", "") == "streaming"
                    api.run.results.put((result.group(1), result.group(2), (streamed, body)))
                elif self.path == INIT_ERROR:
                    api.run.results.put((None, "init_error", body))
                else:
                    return self.send(404, b'{"errorMessage":"unknown path"}')
                self.send(202, b'{"status":"OK"}')

        return Handler
