"""SSH keys (authorized_keys in a temp dir) and MCP tokens, over real HTTP."""

from __future__ import annotations

import os
import socket
import stat

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from arpi.config import ensure_secret, load_settings
from tests.http.conftest import ADMIN_ID, serve

MCP_SECRET = "mcp-test-secret-0123456789abcdef0123"
HOST = socket.gethostname()
ADMIN_COMMENT = f"Administrator_{ADMIN_ID}@{HOST}"
FOREIGN = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIForeignKeyForeignKeyForeignKeyForei x@y"

SSH_CALLS = [
    ("GET", "has_ssh_key", None),
    ("POST", "ssh_key", {"keyType": "ed25519", "passphrase": ""}),
    ("PUT", "ssh_key", {"publicKey": "ssh-ed25519 AAAA"}),
    ("DELETE", "ssh_key", None),
]
MCP_CALLS = [
    ("GET", "mcp_token", None),
    ("POST", "mcp_token", {}),
    ("DELETE", "mcp_token", None),
]


@pytest.fixture
def keys_file(ctx, tmp_path):
    path = tmp_path / "home" / ".ssh" / "authorized_keys"
    ctx.settings.ssh_authorized_keys = path
    return path


def _public_line(private) -> str:
    return (
        private.public_key()
        .public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
        .decode()
    )


async def _new_user(api, name: str = "Chuck", role: str = "user") -> int:
    status, user, _ = await api.admin(
        "POST", "/api/users", json={"name": name, "role": role, "accessCode": "1111"}
    )
    assert status == 201, user
    return user["id"]


def _call(api, method, endpoint, body, user_id=ADMIN_ID, **kw):
    path = f"/api/user/{user_id}/{endpoint}"
    if body is None:
        return api.call(method, path, **kw)
    return api.call(method, path, json=body, **kw)


def test_only_admins_reach_the_endpoints(ctx, keys_file):
    async def scenario(api):
        uid = await _new_user(api)
        user = api.token("user", uid, "Chuck")
        for method, endpoint, body in SSH_CALLS + MCP_CALLS:
            for token in (None, api.device(uid), user):
                # Also on the user's own id: self is not enough.
                for target in (ADMIN_ID, uid):
                    status, answer, _ = await _call(
                        api, method, endpoint, body, target, token=token
                    )
                    assert status == 403, (method, endpoint, token, answer)
                    assert "error" in answer
        assert not keys_file.exists()
        status, answer, _ = await _call(
            api, "GET", "has_ssh_key", None, token=api.token()
        )
        assert (status, answer) == (200, False)

    serve(ctx, scenario)


def test_unknown_user_is_404(ctx, keys_file):
    async def scenario(api):
        for method, endpoint, body in SSH_CALLS + MCP_CALLS:
            status, answer, _ = await _call(
                api, method, endpoint, body, 4242, token=api.token()
            )
            assert (status, answer) == (404, {"error": "User not found"}), endpoint
        assert not keys_file.exists()

    serve(ctx, scenario)


# --- MCP -----------------------------------------------------------------------


def test_mcp_token_lifecycle(ctx):
    async def scenario(api):
        path = f"/api/user/{ADMIN_ID}/mcp_token"
        assert (await api.admin("GET", path))[:2] == (200, {"has_mcp_token": False})

        status, token, _ = await api.admin("POST", path, json={})
        assert status == 200 and isinstance(token, str)
        claims = jwt.decode(token, MCP_SECRET, algorithms=["HS256"])
        assert set(claims) == {"id", "secret", "timestamp", "ttl"}
        assert claims["id"] == ADMIN_ID and claims["ttl"] == 0
        assert claims["timestamp"] == int(api.front.tokens.now())
        key = claims["secret"]
        assert len(key) == 64 and int(key, 16) >= 0
        with pytest.raises(jwt.InvalidSignatureError):
            jwt.decode(token, "another-secret-0123456789abcdef0123", ["HS256"])
        assert (await api.admin("GET", path))[1] == {"has_mcp_token": True}

        # A second token reuses the key; ttl comes from the query.
        status, again, _ = await api.admin("POST", f"{path}?ttl=3600")
        assert status == 200
        claims = jwt.decode(again, MCP_SECRET, algorithms=["HS256"])
        assert (claims["secret"], claims["ttl"]) == (key, 3600)

        for bad in ("-1", "abc", "1.5", "99999999999"):
            status, body, _ = await api.admin("POST", f"{path}?ttl={bad}")
            assert status == 400 and "ttl" in body["error"], (bad, body)

        assert (await api.admin("DELETE", path))[:2] == (200, None)
        assert (await api.admin("GET", path))[1] == {"has_mcp_token": False}
        assert (await api.admin("DELETE", path))[:2] == (200, None)
        status, fresh, _ = await api.admin("POST", path)
        assert status == 200
        assert jwt.decode(fresh, MCP_SECRET, ["HS256"])["secret"] != key

    serve(ctx, scenario)


def test_mcp_without_secret_is_503(ctx):
    ctx.settings.mcp_secret = ""

    async def scenario(api):
        status, body, _ = await api.admin("POST", f"/api/user/{ADMIN_ID}/mcp_token")
        assert (status, body) == (503, {"error": "MCP not configured"})

    serve(ctx, scenario)


def test_mcp_secret_is_kept_in_the_data_dir(tmp_path):
    settings = load_settings(env={"ARPI_DATA_DIR": str(tmp_path / "data")})
    first = ensure_secret(settings)
    stored = tmp_path / "data" / "mcp_secret"
    assert first.mcp_secret == stored.read_text() and len(first.mcp_secret) == 64
    assert first.mcp_secret != first.secret
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert ensure_secret(settings).mcp_secret == first.mcp_secret
    configured = load_settings(
        env={"ARPI_DATA_DIR": str(tmp_path / "other"), "ARPI_MCP_SECRET": "given"}
    )
    assert ensure_secret(configured).mcp_secret == "given"
    assert not (tmp_path / "other" / "mcp_secret").exists()


# --- SSH -------------------------------------------------------------------------


def test_generated_keys_are_installed(ctx, keys_file):
    keys_file.parent.mkdir(parents=True)
    keys_file.write_text(f"# managed by hand {ADMIN_COMMENT}\n{FOREIGN}\n")

    async def scenario(api):
        path = f"/api/user/{ADMIN_ID}/ssh_key"
        assert (await api.admin("GET", f"/api/user/{ADMIN_ID}/has_ssh_key"))[1] is False
        loaded = {}
        for key_type, kind in (
            ("ed25519", ed25519.Ed25519PrivateKey),
            ("ecdsa", ec.EllipticCurvePrivateKey),
            ("rsa", rsa.RSAPrivateKey),
        ):
            status, pem, _ = await api.admin(
                "POST", path, json={"keyType": key_type, "passphrase": None}
            )
            assert status == 200, pem
            assert pem.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
            private = serialization.load_ssh_private_key(pem.encode(), None)
            assert isinstance(private, kind)
            loaded[key_type] = private
            lines = keys_file.read_text().splitlines()
            # The hand-written lines stay; the user's one line is the new key.
            assert lines == [
                f"# managed by hand {ADMIN_COMMENT}",
                FOREIGN,
                f"{_public_line(private)} {ADMIN_COMMENT}",
            ]
        assert loaded["rsa"].key_size >= 3072
        assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
        assert (await api.admin("GET", f"/api/user/{ADMIN_ID}/has_ssh_key"))[1] is True

        status, pem, _ = await api.admin(
            "POST", path, json={"keyType": "ed25519", "passphrase": "open sesame"}
        )
        assert status == 200
        with pytest.raises(TypeError):
            serialization.load_ssh_private_key(pem.encode(), None)
        private = serialization.load_ssh_private_key(pem.encode(), b"open sesame")
        assert keys_file.read_text().splitlines()[-1] == (
            f"{_public_line(private)} {ADMIN_COMMENT}"
        )

        for body in ({}, {"keyType": "dsa"}, {"keyType": 1}, {"passphrase": "x"}):
            status, answer, _ = await api.admin("POST", path, json=body)
            assert status == 400 and "keyType" in answer["error"], (body, answer)
        status, answer, _ = await api.admin(
            "POST", path, json={"keyType": "rsa", "passphrase": "x" * 257}
        )
        assert status == 400 and "passphrase" in answer["error"]

    serve(ctx, scenario)


def test_directory_is_created_private(ctx, keys_file):
    async def scenario(api):
        status, _, _ = await api.admin(
            "POST", f"/api/user/{ADMIN_ID}/ssh_key", json={"keyType": "ed25519"}
        )
        assert status == 200
        assert stat.S_IMODE(keys_file.parent.stat().st_mode) == 0o700
        assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
        assert [p.name for p in keys_file.parent.iterdir()] == ["authorized_keys"]

    serve(ctx, scenario)


def test_public_key_upload_replace_and_delete(ctx, keys_file):
    ed = _public_line(ed25519.Ed25519PrivateKey.generate())
    ecdsa = _public_line(ec.generate_private_key(ec.SECP384R1()))
    rsa_small = _public_line(rsa.generate_private_key(65537, 1024))
    dss = "ssh-dss AAAAB3NzaC1kc3MAAACBAP" + "A" * 40

    async def scenario(api):
        uid = await _new_user(api, "Jó Doe-x")
        comment = f"J__Doe_x_{uid}@{HOST}"
        path = f"/api/user/{uid}/ssh_key"
        has = f"/api/user/{uid}/has_ssh_key"

        assert (await api.admin("PUT", path, json={"publicKey": ed + " me@laptop"}))[
            :2
        ] == (200, True)
        assert keys_file.read_text() == f"{ed} {comment}\n"
        assert (await api.admin("GET", has))[1] is True
        assert (await api.admin("GET", f"/api/user/{ADMIN_ID}/has_ssh_key"))[1] is False

        # The admin's key goes next to it; replacing the user's keeps the admin's.
        assert (
            await api.admin(
                "PUT", f"/api/user/{ADMIN_ID}/ssh_key", json={"publicKey": ed}
            )
        )[1] is True
        assert (await api.admin("PUT", path, json={"publicKey": f"  {ecdsa}\n"}))[
            :2
        ] == (200, True)
        assert keys_file.read_text().splitlines() == [
            f"{ed} {ADMIN_COMMENT}",
            f"{ecdsa} {comment}",
        ]

        before = keys_file.read_text()
        for bad in (
            "",
            "ssh-ed25519",
            "ssh-ed25519 AAAA",
            "ssh-ed25519 not*base64",
            f"{ed}\n{ecdsa}",
            f'from="10.0.0.1" {ed}',
            dss,
            rsa_small,
            ed.replace("ssh-ed25519", "ssh-rsa"),
            f"{ed} a\rb",
            "-----BEGIN OPENSSH PRIVATE KEY-----",
        ):
            status, answer, _ = await api.admin("PUT", path, json={"publicKey": bad})
            assert status == 400 and "publicKey" in answer["error"], (bad, answer)
        for body in ({}, {"publicKey": None}, {"publicKey": 5}, [ed]):
            status, answer, _ = await api.admin("PUT", path, json=body)
            assert status == 400 and "error" in answer, (body, answer)
        assert keys_file.read_text() == before

        assert (await api.admin("DELETE", path))[:2] == (200, True)
        assert keys_file.read_text() == f"{ed} {ADMIN_COMMENT}\n"
        assert (await api.admin("GET", has))[1] is False
        stamp = keys_file.stat().st_mtime_ns
        assert (await api.admin("DELETE", path))[:2] == (200, True)
        assert keys_file.stat().st_mtime_ns == stamp

    serve(ctx, scenario)


def test_unusable_file_is_503(ctx, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    target = blocker / "authorized_keys"
    ctx.settings.ssh_authorized_keys = target
    ed = _public_line(ed25519.Ed25519PrivateKey.generate())

    async def scenario(api):
        base = f"/api/user/{ADMIN_ID}"
        status, body, _ = await api.admin("GET", f"{base}/has_ssh_key")
        assert status == 503 and body["error"].startswith(f"cannot read {target}: ")
        for method, body_json in (
            ("PUT", {"publicKey": ed}),
            ("POST", {"keyType": "ed25519"}),
        ):
            status, body, _ = await api.admin(method, f"{base}/ssh_key", json=body_json)
            assert status == 503, body
            assert body["error"].startswith("cannot "), body
            assert str(target) in body["error"]
        assert os.listdir(tmp_path) == ["not-a-dir"]

    serve(ctx, scenario)


def test_without_the_setting_ssh_is_503(ctx):
    assert getattr(ctx.settings, "ssh_authorized_keys", None) is None

    async def scenario(api):
        for method, endpoint, body in SSH_CALLS:
            status, answer, _ = await _call(
                api, method, endpoint, body, token=api.token()
            )
            assert (status, answer) == (
                503,
                {"error": "ssh key management not available"},
            ), endpoint

    serve(ctx, scenario)


def test_openapi_describes_the_bodies(ctx):
    async def scenario(api):
        status, doc, _ = await api.call("GET", "/api/openapi.json")
        assert status == 200
        ops = doc["paths"]["/api/user/{id}/ssh_key"]
        post = ops["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert post["properties"]["keyType"]["enum"] == ["rsa", "ed25519", "ecdsa"]
        assert "keyType" in post["required"]
        assert post["properties"]["passphrase"]["description"]
        put = ops["put"]["requestBody"]["content"]["application/json"]["schema"]
        assert put["required"] == ["publicKey"]
        assert "OpenSSH" in put["properties"]["publicKey"]["description"]
        mcp = doc["paths"]["/api/user/{id}/mcp_token"]["post"]
        assert any(p["name"] == "ttl" for p in mcp["parameters"])

    serve(ctx, scenario)
