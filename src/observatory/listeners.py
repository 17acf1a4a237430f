"""The network side of the composite: two HTTP listeners and the gRPC server, started
together and stopped gracefully (requests in flight finish before anything below stops)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import uvicorn
from grpc import aio
from starlette.applications import Starlette
from starlette.routing import BaseRoute


class _Listener(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the composite."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass(frozen=True)
class ListenerConfig:
    host: str
    log_level: str
    graceful_seconds: float = 30.0


class Listeners:
    def __init__(self, config: ListenerConfig, grpc_server: aio.Server) -> None:
        self.config = config
        self.grpc_server = grpc_server
        self._http: list[_Listener] = []
        self._tasks: list[asyncio.Task[None]] = []

    def add_http(self, routes: list[BaseRoute], port: int) -> None:
        config = uvicorn.Config(
            Starlette(routes=routes),
            host=self.config.host,
            port=port,
            lifespan="off",
            access_log=False,
            log_level=self.config.log_level,
            timeout_graceful_shutdown=int(self.config.graceful_seconds),
        )
        self._http.append(_Listener(config))

    async def start(self) -> None:
        await self.grpc_server.start()
        self._tasks = [asyncio.create_task(listener.serve()) for listener in self._http]
        while not all(listener.started for listener in self._http):
            if any(task.done() for task in self._tasks):
                raise SystemExit("a listener failed to start (is its port already in use?)")
            await asyncio.sleep(0.02)

    async def wait(self, stop: asyncio.Event) -> None:
        """Until `stop` is set or a listener ends on its own."""
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait([stopped, *self._tasks], return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()

    async def stop(self) -> None:
        for listener in self._http:
            listener.should_exit = True
        await self.grpc_server.stop(grace=self.config.graceful_seconds)
        await asyncio.gather(*self._tasks, return_exceptions=True)
