"""Servers on 127.0.0.1 that stand in for the internet in download tests.

    >>> with silent_server() as server:      # accepts connections, never answers
    ...     download(f"{server.url}/cifar-10-python.tar.gz", ...)
    >>> with http_server({"/x.tar.gz": (200, b"...")}) as server:
    ...     server.requests                   # the paths asked for, in order
"""
import http.server
import socket
import threading
from contextlib import contextmanager
from types import SimpleNamespace


@contextmanager
def silent_server():
    """A server that accepts every connection and never sends a byte; `.connections` counts them."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    server = SimpleNamespace(url=f"http://127.0.0.1:{listener.getsockname()[1]}", connections=0)
    held, stop = [], threading.Event()

    def accept():
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            held.append(connection)  # kept open, unanswered, until the test ends
            server.connections += 1

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        thread.join()
        for connection in held:
            connection.close()
        listener.close()


@contextmanager
def http_server(routes: dict):
    """An HTTP server answering GET path with routes[path] = (status, body); 404 for other paths."""
    server = SimpleNamespace(requests=[])

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            server.requests.append(self.path)
            status, body = routes.get(self.path, (404, b"not found"))
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass  # keep the test output clean

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
