"""Serving a built ArPI web UI from a folder, beside the API, at `/`.

Layout expected: one folder per language (`en/`, `hu/`, `it/`), each with its
`index.html` and assets. `/` redirects to `/en/`. A path inside a language folder
that names no file and looks like an app route (no file extension, or a browser
asking for HTML) gets that language's `index.html`, as a single-page app needs.
`/api/...` and `/socket.io/...` are never answered from the folder.

Paths are resolved inside the folder only: `..`, hidden names, backslashes, NUL
and symbolic links leading outside are refused with 404. Files whose name carries
a content hash (`main.3f2a9c1b.js`, `main-5XKJ3NQH.js`) are cached for a year;
everything else must be revalidated (`no-cache`), so a new build shows at once.
"""

from __future__ import annotations

import asyncio
import mimetypes
import re
from pathlib import Path

from aiohttp import web

__all__ = ["LANGUAGES", "WebUiError", "setup_webui"]

LANGUAGES = ("en", "hu", "it")
DEFAULT_LANGUAGE = "en"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"

# Content types we set ourselves, independent of the machine's /etc/mime.types.
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".ico": "image/x-icon",
    ".webp": "image/webp",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
    ".txt": "text/plain; charset=utf-8",
    ".xml": "application/xml",
    ".wasm": "application/wasm",
}
# Angular: `name.<16 hex>.ext` (webpack) or `name-<8 base32>.ext` (esbuild).
_HASHED = re.compile(r"[.-]([0-9a-f]{8,}|[0-9A-Z]{8})\.[A-Za-z0-9]+$")
_NOT_OURS = ("/api/", "/socket.io/")


class WebUiError(ValueError):
    """The configured web UI folder cannot be served; the message names it."""


def _content_type(path: Path) -> str:
    known = _TYPES.get(path.suffix.lower())
    if known:
        return known
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"


def _headers(path: Path) -> dict[str, str]:
    return {
        "Content-Type": _content_type(path),
        "Cache-Control": IMMUTABLE if _HASHED.search(path.name) else REVALIDATE,
        "X-Content-Type-Options": "nosniff",
    }


class _Folder:
    def __init__(self, root: Path) -> None:
        self.root = root

    def resolve(self, relative: str) -> Path | None:
        """The existing file for `relative` inside the folder, or None."""
        if "\x00" in relative or "\\" in relative:
            return None
        parts = [p for p in relative.split("/") if p]
        if any(p in (".", "..") or p.startswith(".") for p in parts):
            return None
        candidate = self.root.joinpath(*parts)
        try:
            resolved = candidate.resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        if not resolved.is_relative_to(self.root):
            return None  # a symbolic link leading out of the folder
        if resolved.is_dir():
            index = resolved / "index.html"
            return index if index.is_file() else None
        return resolved if resolved.is_file() else None

    def pick(
        self, relative: str, accepts_html: bool
    ) -> tuple[Path, dict[str, str]] | None:
        """`resolve`, else `fallback`, with the file's response headers; None when
        neither finds a file. Blocks (file system): call it off the loop."""
        found = self.resolve(relative)
        if found is None:
            found = self.fallback(relative, accepts_html)
        return None if found is None else (found, _headers(found))

    def fallback(self, relative: str, accepts_html: bool) -> Path | None:
        """The language's `index.html` for an app route under a language folder."""
        parts = [p for p in relative.split("/") if p]
        if not parts or parts[0] not in LANGUAGES:
            return None
        if "." in parts[-1] and not accepts_html:
            return None  # a missing asset: 404, not HTML under a script's name
        index = self.root / parts[0] / "index.html"
        return index if index.is_file() else None


def setup_webui(app: web.Application, folder: Path | str) -> None:
    """Serve the UI in `folder` at `/`. Call last in `build_app`, after every API
    route (the catch-all route must come after them). Raises WebUiError when the
    folder does not exist or has no `en/index.html`."""
    root = Path(folder).expanduser()
    try:
        root = root.resolve(strict=True)
    except OSError:
        raise WebUiError(f"webui_dir: {folder} does not exist") from None
    if not root.is_dir():
        raise WebUiError(f"webui_dir: {folder} is not a folder")
    if not (root / DEFAULT_LANGUAGE / "index.html").is_file():
        raise WebUiError(
            f"webui_dir: {folder} has no {DEFAULT_LANGUAGE}/index.html "
            "(expected a built ArPI web UI)"
        )
    files = _Folder(root)

    async def to_default_language(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(f"/{DEFAULT_LANGUAGE}/")

    async def serve(request: web.Request) -> web.StreamResponse:
        path = request.path
        if path.startswith(_NOT_OURS) or path in ("/api", "/socket.io"):
            raise web.HTTPNotFound()
        relative = request.match_info["path"]
        parts = [p for p in relative.split("/") if p]
        if len(parts) == 1 and parts[0] in LANGUAGES and not path.endswith("/"):
            raise web.HTTPFound(f"/{parts[0]}/")
        accepts_html = "text/html" in request.headers.get("Accept", "")
        # File system lookups (and the first mimetypes read) stay off the loop.
        found = await asyncio.to_thread(files.pick, relative, accepts_html)
        if found is None:
            raise web.HTTPNotFound()
        target, headers = found
        return web.FileResponse(target, headers=headers)

    app.router.add_get("/", to_default_language)
    app.router.add_get("/{path:.+}", serve)
