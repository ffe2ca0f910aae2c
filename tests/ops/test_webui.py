"""Serving a built web UI at / (fallback, traversal, types, caching) and HTTPS."""

from __future__ import annotations

import asyncio
import datetime
import ssl
import threading

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from arpi.http import webui
from arpi.http.webui import IMMUTABLE, REVALIDATE, WebUiError, setup_webui
from arpi.ops.tls import TlsConfigError, server_ssl_context, ssl_context_from_settings
from tests.ops.conftest import make_ctx
from tests.ops.front import served


@pytest.fixture
def ui(tmp_path):
    root = tmp_path / "ui"
    for lang in ("en", "hu", "it"):
        (root / lang / "assets").mkdir(parents=True)
        (root / lang / "index.html").write_text(f"<html>{lang} index</html>")
        (root / lang / "main.3f2a9c1b7d6e5f40.js").write_text("console.log(1)")
        (root / lang / "chunk-5XKJ3NQH.js").write_text("export {}")
        (root / lang / "styles.css").write_text("body{}")
        (root / lang / "assets" / "logo.svg").write_text("<svg/>")
        (root / lang / "manifest.webmanifest").write_text("{}")
    (tmp_path / "secret.txt").write_text("outside")
    (root / "en" / "escape").symlink_to(tmp_path / "secret.txt")
    (root / "en" / ".hidden").write_text("hidden")
    return root


def _run(ctx, ui, check, **kw):
    async def scenario():
        async with served(ctx, webui=ui, **kw) as s:
            await check(s)

    asyncio.run(scenario())


def test_files_fallback_and_redirects(db, ui):
    async def check(s):
        status, _, headers = await s.get("/")
        assert status == 302 and headers["Location"] == "/en/"
        status, _, headers = await s.get("/hu")
        assert status == 302 and headers["Location"] == "/hu/"

        status, text, headers = await s.get("/en/")
        assert (status, text) == (200, "<html>en index</html>")
        assert headers["Content-Type"].startswith("text/html")
        assert headers["Cache-Control"] == REVALIDATE

        for lang in ("en", "hu", "it"):
            status, text, _ = await s.get(f"/{lang}/sensors/12")
            assert (status, text) == (200, f"<html>{lang} index</html>")

        status, _, headers = await s.get("/en/main.3f2a9c1b7d6e5f40.js")
        assert status == 200 and headers["Cache-Control"] == IMMUTABLE
        assert headers["Content-Type"].startswith("text/javascript")
        status, _, headers = await s.get("/it/chunk-5XKJ3NQH.js")
        assert headers["Cache-Control"] == IMMUTABLE
        expected = {
            "/en/styles.css": "text/css",
            "/en/assets/logo.svg": "image/svg+xml",
            "/en/manifest.webmanifest": "application/manifest+json",
        }
        for path, kind in expected.items():
            status, _, headers = await s.get(path)
            assert status == 200 and headers["Content-Type"].startswith(kind), path
            assert headers["X-Content-Type-Options"] == "nosniff"

        # A missing asset is a 404, not the index under a script's name.
        assert (await s.get("/en/missing.js"))[0] == 404
        assert (await s.get("/fr/anything"))[0] == 404

        # The API is still the API.
        status, text, headers = await s.get("/api/version")
        assert status == 200 and text.startswith("v")
        status, _, headers = await s.get("/api/nope")
        assert status == 404 and headers["Content-Type"].startswith("application/json")

    _run(make_ctx(db), ui, check)


def test_file_lookups_run_off_the_loop(db, ui, monkeypatch):
    seen: list[int] = []
    pick = webui._Folder.pick

    def recording(self, relative, accepts_html):
        seen.append(threading.get_ident())
        return pick(self, relative, accepts_html)

    monkeypatch.setattr(webui._Folder, "pick", recording)

    async def check(s):
        loop_thread = threading.get_ident()
        assert (await s.get("/en/"))[0] == 200
        assert (await s.get("/en/sensors/12", headers={"Accept": "text/html"}))[
            0
        ] == 200
        assert (await s.get("/en/missing.js"))[0] == 404
        assert len(seen) == 3 and loop_thread not in seen

    _run(make_ctx(db), ui, check)


@pytest.mark.parametrize(
    "path",
    [
        "/en/../../secret.txt",
        "/en/%2e%2e/%2e%2e/secret.txt",
        "/en/..%2f..%2fsecret.txt",
        "/en/%2e%2e%5c%2e%2e%5csecret.txt",
        "/en/escape",
        "/en/.hidden",
        "/en/%00index.html",
        "//etc/passwd",
    ],
)
def test_path_traversal_is_refused(db, ui, path):
    async def check(s):
        async with s.session.get(s.base + path, allow_redirects=False) as resp:
            text = await resp.text()
        assert "outside" not in text and "hidden" not in text and "root:" not in text
        assert resp.status in (404, 400) or text.startswith("<html>")

    _run(make_ctx(db), ui, check)


def test_bad_folder_is_a_clear_error(tmp_path):
    from aiohttp import web

    with pytest.raises(WebUiError, match="does not exist"):
        setup_webui(web.Application(), tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(WebUiError, match="en/index.html"):
        setup_webui(web.Application(), tmp_path / "empty")


def _cert(tmp_path, name="cert"):
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_https_serves_ui_and_api(db, ui, tmp_path):
    cert, key = _cert(tmp_path)
    context = server_ssl_context(cert, key)
    client_ssl = ssl.create_default_context(cafile=str(cert))

    async def check(s):
        async with s.session.get(s.base + "/en/", ssl=client_ssl) as resp:
            assert resp.status == 200 and "en index" in await resp.text()
        async with s.session.get(s.base + "/api/version", ssl=client_ssl) as resp:
            assert resp.status == 200
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            async with s.session.get(s.base + "/en/"):
                pass  # not trusted without the certificate

    _run(make_ctx(db), ui, check, ssl_context=context)


def test_tls_errors_name_the_problem(tmp_path):
    cert, key = _cert(tmp_path)
    _other_cert, other_key = _cert(tmp_path, "other")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not pem")

    with pytest.raises(TlsConfigError, match="tls_cert: cannot read"):
        server_ssl_context(tmp_path / "missing.pem", key)
    with pytest.raises(TlsConfigError, match="tls_key: .* is a directory"):
        server_ssl_context(cert, tmp_path)
    with pytest.raises(TlsConfigError, match="tls_cert: .* PEM certificate"):
        server_ssl_context(garbage, key)
    with pytest.raises(TlsConfigError, match="tls_key: .* does not match"):
        server_ssl_context(cert, other_key)
    with pytest.raises(TlsConfigError, match="tls_key: .* usable PEM private key"):
        server_ssl_context(cert, garbage)
    assert ssl_context_from_settings(make_ctx().settings) is None
