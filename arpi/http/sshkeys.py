"""The authorized_keys file behind the SSH key endpoints: one key line per user.

A user's line is recognised by its comment, `<name with non-word chars -> _>_<id>@
<hostname>` (`key_comment`). Every other line is kept byte for byte. Functions
here block (file I/O, key generation): call them off the event loop. Writes are
atomic (temporary file in the same directory, then rename), the file is mode 0600
and a missing directory is created 0700; a process-wide lock serializes the
read-modify-write cycles. `cryptography` is imported lazily (it is large).
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import socket
import tempfile
import threading
from pathlib import Path

import structlog

__all__ = [
    "KEY_TYPES",
    "AuthorizedKeys",
    "BadPublicKey",
    "KeyFileError",
    "generate_key_pair",
    "key_comment",
    "parse_public_key",
]

log = structlog.get_logger("arpi.http.sshkeys")

# Requested type -> the OpenSSH key type names accepted for it.
KEY_TYPES = {
    "rsa": ("ssh-rsa",),
    "ed25519": ("ssh-ed25519",),
    "ecdsa": ("ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521"),
}
_ALLOWED = {name for names in KEY_TYPES.values() for name in names}
RSA_BITS = 3072
MIN_RSA_BITS = 2048
_LOCK = threading.Lock()


class KeyFileError(Exception):
    """The authorized_keys file cannot be read or written; the text says which."""


class BadPublicKey(ValueError):
    """The text is not one OpenSSH public key line of an allowed type."""


def key_comment(name: str, user_id: int, hostname: str | None = None) -> str:
    """The comment that names a user's key: `<name>_<id>@<hostname>`, every
    character of the name that is not an ASCII word character replaced by `_`."""
    safe = re.sub(r"\W", "_", name, flags=re.ASCII)
    return f"{safe}_{user_id}@{hostname or socket.gethostname()}"


def parse_public_key(text: str) -> str:
    """`<type> <base64>` of one OpenSSH public key line (a trailing comment is
    dropped). Raises BadPublicKey: several lines, options before the type, a type
    outside `KEY_TYPES`, a blob that does not decode to that type, or RSA below
    `MIN_RSA_BITS`."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_ssh_public_key

    text = text.strip()
    if not text or "\n" in text or "\r" in text:
        raise BadPublicKey("must be a single line")
    parts = text.split(None, 2)
    if len(parts) < 2:
        raise BadPublicKey("expected '<type> <base64 key> [comment]'")
    kind, blob = parts[0], parts[1]
    if kind not in _ALLOWED:
        raise BadPublicKey(f"key type must be one of {', '.join(sorted(_ALLOWED))}")
    try:
        base64.b64decode(blob, validate=True)
        key = load_ssh_public_key(f"{kind} {blob}".encode("ascii"))
    except (ValueError, UnicodeError, binascii.Error, UnsupportedAlgorithm):
        raise BadPublicKey(f"not a valid {kind} key") from None
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        raise BadPublicKey(f"RSA keys need at least {MIN_RSA_BITS} bits")
    return f"{kind} {blob}"


def generate_key_pair(key_type: str, passphrase: str | None) -> tuple[str, str]:
    """A new key pair of `key_type` (a `KEY_TYPES` name; RSA 3072 bits, ECDSA
    P-256): `(private, public)`. The private key is OpenSSH PEM, encrypted when
    `passphrase` is non-empty; the public one is `<type> <base64>`. Blocks (RSA
    takes up to a few seconds on a Pi). Raises ValueError for an unknown type."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if key_type == "rsa":
        private = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    elif key_type == "ed25519":
        private = ed25519.Ed25519PrivateKey.generate()
    elif key_type == "ecdsa":
        private = ec.generate_private_key(ec.SECP256R1())
    else:
        raise ValueError(f"unknown key type {key_type!r}")
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode())
        if passphrase
        else serialization.NoEncryption()
    )
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, encryption
    ).decode("ascii")
    public = (
        private.public_key()
        .public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
        .decode("ascii")
    )
    return pem, public


def _comment_of(line: str) -> str | None:
    if line.lstrip().startswith("#"):
        return None
    parts = line.split()
    return parts[-1] if len(parts) >= 3 else None


class AuthorizedKeys:
    """One authorized_keys file. Every method blocks and may be called from any
    thread; each raises KeyFileError (with the path and the OS reason) when the
    file or its directory cannot be read or written."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def _lines(self) -> list[str]:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise KeyFileError(
                f"cannot read {self.path}: {exc.strerror or exc}"
            ) from None
        return data.decode("utf-8", "surrogateescape").splitlines()

    def has(self, comment: str) -> bool:
        """Whether a line carries `comment` as its comment."""
        return any(_comment_of(line) == comment for line in self._lines())

    def put(self, comment: str, key: str) -> None:
        """Replace the lines carrying `comment` with `<key> <comment>` (appended
        after the other lines). `key` is `<type> <base64>`."""
        with _LOCK:
            kept = [line for line in self._lines() if _comment_of(line) != comment]
            self._write([*kept, f"{key} {comment}"])

    def remove(self, comment: str) -> bool:
        """Drop the lines carrying `comment`; False (and no write) if none did."""
        with _LOCK:
            lines = self._lines()
            kept = [line for line in lines if _comment_of(line) != comment]
            if len(kept) == len(lines):
                return False
            self._write(kept)
            return True

    def _write(self, lines: list[str]) -> None:
        data = "".join(f"{line}\n" for line in lines).encode("utf-8", "surrogateescape")
        directory = self.path.parent
        tmp: str | None = None
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=directory)
            with os.fdopen(fd, "wb") as handle:
                os.fchmod(handle.fileno(), 0o600)
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
            tmp = None
        except OSError as exc:
            raise KeyFileError(
                f"cannot write {self.path}: {exc.strerror or exc}"
            ) from None
        finally:
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
        log.info("authorized_keys_written", path=str(self.path), lines=len(lines))
