"""sse_server.py - a canned HTTP/1.1 server on a Unix socket for the client
tests of endpoints the daemon does not serve yet: it answers every request
with the next of its scripted replies, e.g. a Server-Sent Event stream sent
chunk by chunk (pieces split wherever the script says) or an error JSON.

    with CannedServer(path, [sse_reply(['data: {"a": 1}\\n\\n', 'data: [DONE]\\n\\n'])]) as srv:
        ...  srv.requests  # [(method, path, headers dict, body bytes), ...]
"""
import json
import os
import socket
import threading
import time


def sse_reply(pieces, pause_s=0.02):
    """A 200 text/event-stream reply, each piece one chunk written after a pause."""
    return {"status": 200, "type": "text/event-stream", "chunks": list(pieces), "pause_s": pause_s}


def json_reply(status, obj):
    return {"status": status, "type": "application/json", "body": json.dumps(obj).encode()}


class CannedServer:
    def __init__(self, path, replies):
        self.path = str(path)
        self.replies = list(replies)
        self.requests = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(8)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.connections = 0

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.sock.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def _serve(self):
        while self.replies:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                buf = b""
                while self.replies:
                    request, buf = self._read_request(conn, buf)
                    if request is None:
                        break
                    self.requests.append(request)
                    self._answer(conn, self.replies.pop(0))

    @staticmethod
    def _read_request(conn, buf):
        while b"\r\n\r\n" not in buf:
            data = conn.recv(65536)
            if not data:
                return None, b""
            buf += data
        head, buf = buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(buf) < length:
            data = conn.recv(65536)
            if not data:
                return None, b""
            buf += data
        return (method, path, headers, buf[:length]), buf[length:]

    @staticmethod
    def _answer(conn, reply):
        head = f"HTTP/1.1 {reply['status']} X\r\nContent-Type: {reply['type']}\r\n"
        if "chunks" in reply:
            conn.sendall((head + "Transfer-Encoding: chunked\r\n\r\n").encode())
            for piece in reply["chunks"]:
                time.sleep(reply["pause_s"])
                data = piece.encode() if isinstance(piece, str) else piece
                conn.sendall(b"%x\r\n%s\r\n" % (len(data), data))
            conn.sendall(b"0\r\n\r\n")
        else:
            body = reply["body"]
            conn.sendall((head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body)
