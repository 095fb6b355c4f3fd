"""range_server.py - a small HTTP/1.1 file server on 127.0.0.1 for the tests
of `edgectl pull`: serves files by name, honours `Range: bytes=N-` / `N-M`
(206 with Content-Range, 416 past the end), and can misbehave on purpose:
cut a transfer off after some bytes, ignore Range, or answer 404.

    with RangeServer({"model.gguf": path}, cut_after=100_000) as srv:
        url = srv.url("model.gguf")
        ... srv.requests  # [(path, Range header or None), ...]

Run as a script to serve files by hand: python3 range_server.py FILE... (port on stdout).
"""
import http.server
import os
import re
import sys
import threading
import time


class RangeServer:
    """files: {name: path}. cut_after: close the connection after that many
    body bytes (for the first `cuts` transfers only). ignore_range: always
    answer 200 with the whole file. stall_s: with cut_after, go silent for
    that long before closing (a stalled transfer)."""

    def __init__(self, files, cut_after=None, cuts=1, ignore_range=False, stall_s=0):
        self.files = dict(files)
        self.cut_after = cut_after
        self.cuts_left = cuts if cut_after is not None else 0
        self.ignore_range = ignore_range
        self.stall_s = stall_s
        self.requests = []
        self.lock = threading.Lock()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):
                pass

            def do_GET(self):
                server._handle(self)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, name):
        return f"http://127.0.0.1:{self.port}/{name}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def _handle(self, h):
        name = h.path.lstrip("/").split("?", 1)[0]
        range_header = h.headers.get("Range")
        with self.lock:
            self.requests.append((h.path, range_header))
        path = self.files.get(name)
        if path is None:
            body = b"not found\n"
            h.send_response(404, "Not Found")
            h.send_header("Content-Type", "text/plain")
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
            return
        with open(path, "rb") as f:
            data = f.read()
        size = len(data)
        start, end, status = 0, size - 1, 200
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", range_header or "")
        if m and not self.ignore_range:
            start = int(m.group(1))
            end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
            if start >= size:
                h.send_response(416, "Range Not Satisfiable")
                h.send_header("Content-Range", f"bytes */{size}")
                h.send_header("Content-Length", "0")
                h.end_headers()
                return
            status = 206
        body = data[start:end + 1]
        h.send_response(status)
        h.send_header("Content-Type", "application/octet-stream")
        h.send_header("Content-Length", str(len(body)))
        h.send_header("Accept-Ranges", "bytes")
        if status == 206:
            h.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        h.end_headers()
        with self.lock:
            cut = self.cuts_left > 0
            if cut:
                self.cuts_left -= 1
        if cut:
            h.wfile.write(body[:self.cut_after])
            h.wfile.flush()
            time.sleep(self.stall_s)
            h.close_connection = True
            h.connection.shutdown(2)
            return
        h.wfile.write(body)


def main(argv):
    files = {os.path.basename(p): p for p in argv[1:]}
    with RangeServer(files) as srv:
        print(srv.port, flush=True)
        try:
            srv.thread.join()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main(sys.argv)
