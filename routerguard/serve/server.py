"""waitress on every `listen` address, in a thread beside the meter loop."""

from __future__ import annotations

import threading

WAITRESS_THREADS = 4


class Server:
    def __init__(self, daemon) -> None:
        from waitress import create_server

        from routerguard.serve.app import create_app

        listen = " ".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in daemon.config.main.listen)
        self._server = create_server(create_app(daemon), listen=listen, threads=WAITRESS_THREADS, ident="routerguard")
        self._thread = threading.Thread(target=self._server.run, name="http", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.close()
