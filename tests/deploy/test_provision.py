"""``fedseal provision``: folder layout, modes, the X.509 profile, re-runs, audit, CLI, mTLS."""

from __future__ import annotations

import json
import socket
import ssl
import stat
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from fedseal.audit import AuditLog, verify_log
from fedseal.config import load_server_config, load_silo_config
from fedseal.deploy.cli import register
from fedseal.deploy.keyfile import load_identity_key
from fedseal.deploy.provision import ProvisionResult, provision
from fedseal.errors import ConfigError

SILOS = ("alpha", "beta", "gamma")


def make(root: Path, silos: tuple[str, ...] = SILOS, **kwargs: object) -> ProvisionResult:
    return provision(deployment="demo", silos=silos, out=root, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def dep(tmp_path_factory: pytest.TempPathFactory) -> ProvisionResult:
    return make(tmp_path_factory.mktemp("dep") / "deployment")


def cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


# -- layout, modes ---------------------------------------------------------------------------


def test_layout_and_modes(dep: ProvisionResult) -> None:
    root = dep.directory
    keys = ["ca/ca.key", "server/server.key", "server/identity.key"]
    keys += [f"silos/{s}/{f}" for s in SILOS for f in ("silo.key", "identity.key")]
    public = ["deployment.toml", "ca/ca.crt", "server/ca.crt", "server/server.crt"]
    public += ["server/server.toml", "server/audit.jsonl"]
    public += [f"silos/{s}/{f}" for s in SILOS for f in ("ca.crt", "silo.crt", "silo.toml")]
    for name in keys + public:
        assert (root / name).is_file(), name
    for name in [*keys, "server/audit.jsonl"]:
        assert stat.S_IMODE((root / name).stat().st_mode) == 0o600, name
    private_dirs = ["ca", "server", "server/state", *[f"silos/{s}" for s in SILOS]]
    private_dirs += [f"silos/{s}/state" for s in SILOS]
    for name in private_dirs:
        assert stat.S_IMODE((root / name).stat().st_mode) == 0o700, name
    assert dep.created and dep.added == SILOS and dep.existing == ()
    assert dict(dep.silo_configs) == {s: root / "silos" / s / "silo.toml" for s in SILOS}
    for s in SILOS:  # every party gets the same CA certificate
        assert (root / "silos" / s / "ca.crt").read_bytes() == (root / "ca/ca.crt").read_bytes()


# -- certificates (RFC 5280 profile) ---------------------------------------------------------


def test_certificates_chain_to_the_ca_with_the_right_names_and_usages(
    dep: ProvisionResult,
) -> None:
    import ipaddress

    root = dep.directory
    ca = cert(root / "ca/ca.crt")
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).critical
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and not usage.digital_signature
    assert isinstance(ca.public_key(), ec.EllipticCurvePublicKey)
    assert (ca.not_valid_after_utc - ca.not_valid_before_utc).days >= 3 * 365

    builder = PolicyBuilder().store(Store([ca]))
    server = cert(root / "server/server.crt")
    assert server.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "fedseal-server"
    sans = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["localhost"]
    assert set(sans.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    }
    for name in (x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("::1"))):
        builder.build_server_verifier(name).verify(server, [])
    eku = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    with pytest.raises(VerificationError):  # the server certificate is no client certificate
        builder.build_client_verifier().verify(server, [])

    for silo in SILOS:
        leaf = cert(root / "silos" / silo / "silo.crt")
        assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == silo
        eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
        builder.build_client_verifier().verify(leaf, [])
        with pytest.raises(VerificationError):  # a silo cannot pose as the server
            builder.build_server_verifier(x509.DNSName("localhost")).verify(leaf, [])


def test_server_certificate_names_a_custom_host(tmp_path: Path) -> None:
    result = make(tmp_path / "d", ("a", "b"), host="fl.example.org", port=443)
    server = cert(result.directory / "server/server.crt")
    sans = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "fl.example.org" in sans.get_values_for_type(x509.DNSName)
    silo = load_silo_config(result.silo_configs["a"])
    assert (silo.server_address, silo.server_name) == ("fl.example.org:443", "fl.example.org")
    assert load_server_config(result.server_config).listen == "fl.example.org:443"

    wildcard = make(tmp_path / "w", ("a", "b"), host="0.0.0.0")  # binds everywhere
    assert load_server_config(wildcard.server_config).listen == "0.0.0.0:50051"
    assert load_silo_config(wildcard.silo_configs["a"]).server_address == "127.0.0.1:50051"


# -- identity keys and the directory ---------------------------------------------------------


def test_identities_in_every_config_match_the_key_files(dep: ProvisionResult) -> None:
    root = dep.directory
    server = load_server_config(dep.server_config)
    server_key = load_identity_key(server.identity_key)
    assert server_key.public_key.fingerprint() == dep.server_fingerprint
    expected = {
        s: load_identity_key(root / "silos" / s / "identity.key").public_key.to_bytes().hex()
        for s in SILOS
    }
    assert dict(server.identities) == expected
    for s in SILOS:
        silo = load_silo_config(root / "silos" / s / "silo.toml")
        assert dict(silo.identities) == expected
        assert silo.server_identity == server_key.public_key.to_bytes().hex()
        assert dep.fingerprints[s] == load_identity_key(silo.identity_key).public_key.fingerprint()
    assert len(set(expected.values())) == len(SILOS)


def test_identity_key_is_standard_pkcs8(dep: ProvisionResult) -> None:
    data = (dep.directory / "silos/alpha/identity.key").read_bytes()
    assert data.startswith(b"-----BEGIN PRIVATE KEY-----")
    key = serialization.load_pem_private_key(data, password=None)
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    ours = load_identity_key(dep.directory / "silos/alpha/identity.key")
    assert key.public_key().public_bytes_raw() == ours.public_key.to_bytes()


# -- audit -----------------------------------------------------------------------------------


def test_provisioning_is_audited_without_key_material(dep: ProvisionResult) -> None:
    server_key = load_identity_key(dep.directory / "server/identity.key")
    report = verify_log(dep.audit_log, key=server_key.public_key)
    assert report.ok and report.party == "server"
    entries = [json.loads(line) for line in dep.audit_log.read_text().splitlines()]
    assert [e["event"] for e in entries] == ["provisioning"] * (2 + len(SILOS))
    subjects = [e["details"]["subject"] for e in entries]
    assert subjects == ["ca", "fedseal-server", *SILOS]
    assert entries[-1]["details"]["identity_fingerprint"] == dep.fingerprints["gamma"]
    text = dep.audit_log.read_text()
    assert "PRIVATE" not in text
    for path in dep.directory.rglob("identity.key"):
        assert load_identity_key(path).reveal().hex() not in text


# -- re-runs ---------------------------------------------------------------------------------


def test_rerun_adds_a_silo_and_never_touches_existing_keys(tmp_path: Path) -> None:
    root = tmp_path / "d"
    first = make(root)
    before = snapshot(root)
    second = make(root, ("beta", "delta"))
    after = snapshot(root)
    for name, data in before.items():
        if name.endswith((".key", ".crt")):
            assert after[name] == data, name
    assert not second.created and second.added == ("delta",) and second.existing == ("beta",)
    assert second.ca_fingerprint == first.ca_fingerprint
    assert second.server_fingerprint == first.server_fingerprint
    assert stat.S_IMODE((root / "silos/delta/silo.key").stat().st_mode) == 0o600
    server = load_server_config(root / "server/server.toml")
    assert server.silos == ("alpha", "beta", "delta", "gamma")
    delta = load_identity_key(root / "silos/delta/identity.key").public_key.to_bytes().hex()
    assert server.identities["delta"] == delta
    for silo in server.silos:  # every silo.toml's directory grew
        assert dict(load_silo_config(root / "silos" / silo / "silo.toml").identities) == dict(
            server.identities
        )
    assert "delta" in second.summary() and "already provisioned" in second.summary()
    events = [json.loads(line)["event"] for line in (root / "server/audit.jsonl").open()]
    assert events[-2:] == ["provisioning", "config_changed"]
    server_key = load_identity_key(server.identity_key)
    assert verify_log(root / "server/audit.jsonl", key=server_key.public_key).ok


def test_rerun_keeps_operator_settings(tmp_path: Path) -> None:
    root = tmp_path / "d"
    make(root, ("a", "b"))
    server_toml = root / "server/server.toml"
    server_toml.write_text(server_toml.read_text().replace("rounds = 10", "rounds = 42"))
    silo_toml = root / "silos/a/silo.toml"
    silo_toml.write_text(
        silo_toml.read_text().replace("epsilon_budget = 8.0", "epsilon_budget = 3.0")
    )
    make(root, ("c",))
    assert load_server_config(server_toml).rounds == 42
    silo = load_silo_config(silo_toml)
    assert silo.dp.epsilon_budget == 3.0 and set(silo.identities) == {"a", "b", "c"}


def test_rerun_with_the_same_silos_changes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "d"
    make(root)
    before = snapshot(root)
    again = make(root)
    assert snapshot(root) == before
    assert again.added == () and again.existing == SILOS and "unchanged" in again.summary()


def test_other_deployment_name_in_existing_folder_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "d"
    make(root)
    before = snapshot(root)
    with pytest.raises(ConfigError, match="holds deployment 'demo', not 'other'"):
        provision(deployment="other", silos=["delta", "eps"], out=root)
    with pytest.raises(ConfigError, match=r"provisioned for 127\.0\.0\.1:50051"):
        make(root, ("delta",), port=6000)
    assert snapshot(root) == before


def test_force_new_deployment_moves_the_old_one_aside(tmp_path: Path) -> None:
    root = tmp_path / "d"
    make(root)
    old_ca_key = (root / "ca/ca.key").read_bytes()
    new = provision(deployment="other", silos=["x", "y"], out=root, force_new=True)
    assert new.created and new.replaced is not None
    assert (new.replaced / "ca/ca.key").read_bytes() == old_ca_key
    assert (root / "ca/ca.key").read_bytes() != old_ca_key
    assert load_server_config(new.server_config).deployment_id == "other"
    assert stat.S_IMODE(new.replaced.stat().st_mode) == 0o700


def test_partial_or_interrupted_folders_are_refused(tmp_path: Path) -> None:
    (tmp_path / "p" / "ca").mkdir(parents=True)
    with pytest.raises(ConfigError, match="interrupted"):
        make(tmp_path / "p")
    root = tmp_path / "d"
    make(root)
    (root / "silos/delta").mkdir()
    with pytest.raises(ConfigError, match=r"delta.*interrupted"):
        make(root, ("delta",))


def test_adding_silos_while_the_audit_log_is_held_writes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "d"
    make(root, ("a", "b"))
    before = snapshot(root)
    key = load_identity_key(root / "server/identity.key")
    log = AuditLog(root / "server/audit.jsonl", party="server", identity=key)
    with log, pytest.raises(ConfigError, match="another process"):
        make(root, ("c",))
    assert snapshot(root) == before


def test_many_silos_switch_to_a_64_bit_modulus(tmp_path: Path) -> None:
    names = tuple(f"s{i:02d}" for i in range(70))  # 70 * 1000 * (2^16 - 1) >= 2^32
    result = make(tmp_path / "d", names)
    assert load_server_config(result.server_config).modulus_bits == 64
    assert any("modulus_bits" in note for note in result.notes)


# -- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "silos",
    [
        ["alpha", "Beta"],
        ["alpha", "-beta"],
        ["alpha", "be ta"],
        ["alpha", ""],
        ["alpha", "b" * 64],
        ["alpha", "server"],
        ["alpha", "b/c"],
    ],
)
def test_bad_silo_names_are_named(tmp_path: Path, silos: list[str]) -> None:
    with pytest.raises(ConfigError, match=repr(silos[1]).replace("/", ".")):
        make(tmp_path / "d", tuple(silos))
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"silos": ("a", "b", "a")}, "'a' is given twice"),
        ({"silos": ("a",)}, "at least 2 silos"),
        ({"silos": "ab"}, "string 'ab'"),
        ({"deployment": "bad name"}, "deployment name 'bad name'"),
        ({"port": 0}, "port"),
        ({"port": 70000}, "port"),
        ({"host": "bad host!"}, "host 'bad host!'"),
    ],
)
def test_bad_requests_are_refused(tmp_path: Path, kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"deployment": "demo", "silos": ("a", "b"), "out": tmp_path / "d"}
    with pytest.raises(ConfigError, match=match):
        provision(**(args | kwargs))  # type: ignore[arg-type]
    assert not (tmp_path / "d").exists()


# -- command line ----------------------------------------------------------------------------


def test_fedseal_provision_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from fedseal.cli import main

    out = tmp_path / "d"
    argv = ["provision", "--deployment", "demo", "--silos", "a, b,c", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "deployment 'demo'" in printed and "created" in printed
    for silo in ("a", "b", "c"):
        fingerprint = load_identity_key(out / "silos" / silo / "identity.key").public_key
        assert fingerprint.fingerprint() in printed
    assert "PRIVATE" not in printed
    assert main([*argv[:4], "d", "--out", str(out), "--port", "1"]) == 2
    assert "provisioned for 127.0.0.1:50051" in capsys.readouterr().err


def test_provision_subcommand_parser(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="fedseal")
    register(parser.add_subparsers(dest="command", required=True))
    out = tmp_path / "d"
    args = parser.parse_args(
        ["provision", "--deployment", "x", "--silos", "a,b", "--out", str(out), "--host", "::1"]
    )
    assert args.handler(args) == 0
    assert load_server_config(out / "server/server.toml").listen == "[::1]:50051"
    assert "deployment 'x'" in capsys.readouterr().out


# -- a real mutual-TLS handshake on loopback ---------------------------------------------------


def _handshake(
    server_files: tuple[Path, Path],
    client_files: tuple[Path, Path],
    ca: Path,
    *,
    check_hostname: bool = True,
) -> str:
    """Return the client CN the server saw; raise the client's error, else the server's."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(*server_files)
    server_ctx.load_verify_locations(ca)
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.load_verify_locations(ca)
    client_ctx.load_cert_chain(*client_files)
    client_ctx.check_hostname = check_hostname
    seen: list[object] = []
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(5)

        def serve() -> None:
            try:
                conn, _ = listener.accept()
                conn.settimeout(5)
                with server_ctx.wrap_socket(conn, server_side=True) as tls:
                    peer = tls.getpeercert()
                    seen.append(dict(x[0] for x in peer["subject"])["commonName"])
                    tls.sendall(b"ok")
            except (OSError, ssl.SSLError) as exc:
                seen.append(exc)

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        port = listener.getsockname()[1]
        try:
            raw = socket.create_connection(("127.0.0.1", port), timeout=5)
            with raw, client_ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                assert tls.recv(2) == b"ok"
        finally:
            thread.join(timeout=5)
    assert seen, "the server thread did not finish"
    if isinstance(seen[0], BaseException):
        raise seen[0]
    assert isinstance(seen[0], str)
    return seen[0]


def test_mutual_tls_handshake_with_the_generated_certificates(dep: ProvisionResult) -> None:
    root = dep.directory
    server = load_server_config(dep.server_config)
    silo = load_silo_config(dep.silo_configs["beta"])
    cn = _handshake(
        (server.tls.cert, server.tls.key), (silo.tls.cert, silo.tls.key), silo.tls.ca_cert
    )
    assert cn == "beta"
    # extendedKeyUsage: a silo's certificate cannot stand in for the server's, nor the
    # server's for a silo's (hostname checks off, so that only the purpose is tested).
    other = (root / "silos/gamma/silo.crt", root / "silos/gamma/silo.key")
    mine = (silo.tls.cert, silo.tls.key)
    with pytest.raises(ssl.SSLError, match="certificate purpose"):
        _handshake(other, mine, silo.tls.ca_cert, check_hostname=False)
    with pytest.raises(ssl.SSLError, match=r"certificate purpose|alert"):
        _handshake(
            (server.tls.cert, server.tls.key), (server.tls.cert, server.tls.key), silo.tls.ca_cert
        )
