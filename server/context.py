"""What the request handlers may use of the server: its parts and a few services, as a protocol.

`handlers` types against this instead of importing `app.Server`, so the dependency runs one way
(app -> handlers -> context) and the handlers can be driven by any object with these members.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Protocol

from .cache import AnalysisCache
from .clips import ClipRegistry
from .config import Limits, ServerConfig
from .inflight import InFlight
from .jobs import FairQueue, Job
from .outbox import Outbox
from .security import Roots
from .sessions import Sessions
from .tasks import TaskContext
from .wire import Request


class ServerContext(Protocol):
    config: ServerConfig
    limits: Limits
    instance: str
    engine: Any
    roots: Roots
    sessions: Sessions
    clips: ClipRegistry
    queue: FairQueue
    inflight: InFlight
    outbox: Outbox
    cache: AnalysisCache
    tasks: TaskContext
    effect: Dict[str, Any]

    def request_stop(self, reason: str = ...) -> None:
        """Ask the server to stop once this message is handled."""

    def hello_info(self, version: int) -> Dict[str, Any]:
        """The `hello` result."""

    def status(self, session: str) -> Dict[str, Any]:
        """The `status` result as `session` may see it."""

    def queue_job(self, request: Request, op: str, body: Callable, label: str, credit: int = 0,
                  cached: Optional[Callable[[], bool]] = None) -> Job:
        """Queue a job for the device workers (refusing duplicate ids and sessions over their limit)."""

    def submit_light(self, request: Request, work: Callable[[Callable[[], None]], Dict[str, Any]]) -> None:
        """Run `work(touch)` on the probe pool; its result or error becomes the request's final reply."""

    def ack_put(self, token: Any, error: Optional[BaseException]) -> None:
        """The final reply of a put, once its frames are on disk (or failed)."""
