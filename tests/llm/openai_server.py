"""A small real HTTP server speaking the OpenAI chat-completions protocol, for tests.

Replies come from a queue the test fills (status code + content); an empty queue echoes the last
user message. Requests are recorded, so tests can count retries. `/v1/completions` with `echo` and
`logprobs` (vLLM's prompt logprobs) answers from `server.scorer(prompt, top)` when a test sets one.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GOOD_KEY = "sk-test-secret-123"


class Server:
    def __init__(self) -> None:
        self.replies: list[tuple[int, str | dict]] = []
        self.requests: list[dict] = []
        self.scorer = None  # (prompt, top) -> (tokens, offsets, top_logprobs)
        self.echo_key = False  # a 401 reply that quotes the key it was sent (as some servers do)
        self.delay = 0.0  # seconds to wait before answering (a hung server)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # quiet
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                outer.requests.append(body)
                if outer.delay:
                    time.sleep(outer.delay)
                auth = self.headers.get("Authorization", "")
                if auth != f"Bearer {GOOD_KEY}":
                    told = f"Incorrect API key provided: {auth.removeprefix('Bearer ')}" if outer.echo_key else \
                        "Incorrect API key provided"
                    return self._send(401, {"error": {"message": told, "type": "invalid_request_error"}})
                status, content = outer.replies.pop(0) if outer.replies else (200, None)
                if status != 200:
                    return self._send(status, {"error": {"message": content or "error", "type": "server_error"}})
                if self.path.endswith("/completions") and "messages" not in body:
                    return self._completion(body)
                if content is None:
                    content = "you said: " + str(body["messages"][-1]["content"])
                # A dict reply is a whole assistant message, e.g. {"content": None, "tool_calls": [...]}.
                message = {"role": "assistant", **content} if isinstance(content, dict) else \
                    {"role": "assistant", "content": content}
                content = str(message.get("content") or "")
                prompt = sum(len(str(m.get("content") or "").split()) for m in body["messages"])
                self._send(200, {
                    "id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()),
                    "model": body.get("model", "test"),
                    "choices": [{"index": 0, "finish_reason": "tool_calls" if message.get("tool_calls") else "stop",
                                 "message": message}],
                    "usage": {"prompt_tokens": prompt, "completion_tokens": len(content.split()),
                              "total_tokens": prompt + len(content.split())},
                })

            def _completion(self, body):
                if outer.scorer is None or not body.get("echo"):
                    return self._send(400, {"error": {"message": "echo is not supported", "type": "invalid_request_error"}})
                tokens, offsets, top = outer.scorer(body["prompt"], int(body.get("logprobs") or 1))
                self._send(200, {
                    "id": "cmpl-test", "object": "text_completion", "created": int(time.time()),
                    "model": body.get("model", "test"),
                    "choices": [{"index": 0, "finish_reason": "length", "text": body["prompt"],
                                 "logprobs": {"tokens": tokens, "text_offset": offsets, "top_logprobs": top,
                                              "token_logprobs": [None] + [top[i].get(t) for i, t in
                                                                          enumerate(tokens) if i]}}],
                    "usage": {"prompt_tokens": len(tokens), "completion_tokens": 0, "total_tokens": len(tokens)},
                })

            def _send(self, status, obj):
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
