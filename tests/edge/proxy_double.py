"""TEST DOUBLE: a TCP proxy on 127.0.0.1 that can freeze the network path without closing it.

It stands between the edge client and the real local AssemblyAI server to simulate what a broken
Wi-Fi/VPN/NAT path looks like to a client: packets stop flowing, but no FIN or RST ever arrives.

* `freeze()`: stop moving bytes in both directions. Open connections stay open and unread; new
  connections are still accepted (the kernel would complete the TCP handshake anyway) but never
  reach the server, so a WebSocket handshake gets no answer (a "black hole").
* `resume()`: forward again. Connections the client has given up on meanwhile see their EOF and are
  closed; a connection accepted while frozen is connected to the server only now.
* `connections`: the monotonic time each client connection was accepted (attempts, in order).
"""

from __future__ import annotations

import select
import socket
import threading
import time


class FreezableTcpProxyDouble:
    def __init__(self, upstream_port: int, *, frozen: bool = False):
        self.upstream = ("127.0.0.1", upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._forwarding = threading.Event()
        if not frozen:
            self._forwarding.set()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self.connections: list[float] = []
        self._threads = [threading.Thread(target=self._accept_loop, name="proxy-double-accept", daemon=True)]
        self._threads[0].start()

    def ws_url(self, path: str = "/v3/ws") -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    @property
    def frozen(self) -> bool:
        return not self._forwarding.is_set()

    def freeze(self) -> None:
        self._forwarding.clear()

    def resume(self) -> None:
        self._forwarding.set()

    def close(self) -> None:
        self._closed.set()
        self._forwarding.set()  # wake the waiters so they see _closed
        self._listener.close()
        with self._lock:
            socks = list(self._socks)
        for s in socks:
            try:
                s.close()
            except OSError:
                pass
        for t in list(self._threads):
            t.join(2)

    # -------------------------------------------------------------------------------------- internals

    def _track(self, s: socket.socket) -> socket.socket:
        with self._lock:
            self._socks.append(s)
        return s

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                ready, _, _ = select.select([self._listener], [], [], 0.05)
                if not ready:
                    continue
                client, _ = self._listener.accept()
            except OSError:
                return
            self.connections.append(time.monotonic())
            t = threading.Thread(target=self._serve, args=(self._track(client),), name="proxy-double-conn",
                                 daemon=True)
            self._threads.append(t)
            t.start()

    def _serve(self, client: socket.socket) -> None:
        upstream = None
        try:
            while not self._forwarding.wait(0.05):  # frozen: the handshake goes nowhere
                if self._closed.is_set():
                    return
            if self._closed.is_set():
                return
            upstream = self._track(socket.create_connection(self.upstream, timeout=5))
            upstream.settimeout(None)
            peer = {client: upstream, upstream: client}
            while not self._closed.is_set():
                if not self._forwarding.is_set():
                    time.sleep(0.02)  # frozen: read nothing, send nothing, close nothing
                    continue
                ready, _, _ = select.select([client, upstream], [], [], 0.05)
                for s in ready:
                    if not self._forwarding.is_set():
                        break
                    data = s.recv(65536)
                    if not data:
                        return
                    peer[s].sendall(data)
        except OSError:
            return
        finally:
            for s in (client, upstream):
                if s is not None:
                    try:
                        s.close()
                    except OSError:
                        pass
