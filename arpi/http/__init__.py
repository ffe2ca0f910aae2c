"""The web front: aiohttp REST API and python-socketio events for the ArPI web UI."""

from arpi.http.app import FRONT, FrontStartError, build_app, start_front, stop_front
from arpi.http.front import Front
from arpi.http.limiter import AttemptLimiter, LimiterPolicy, Verdict

__all__ = [
    "FRONT",
    "AttemptLimiter",
    "Front",
    "FrontStartError",
    "LimiterPolicy",
    "Verdict",
    "build_app",
    "start_front",
    "stop_front",
]
