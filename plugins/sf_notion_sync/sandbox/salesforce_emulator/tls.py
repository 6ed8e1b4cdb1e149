"""A sandbox CA and server certificate under the state dir, and a CA bundle clients can trust.

The bundle is certifi's roots (plus the system bundle named by REQUESTS_CA_BUNDLE or SSL_CERT_FILE,
which may hold a corporate proxy's CA) plus the sandbox CA, so REQUESTS_CA_BUNDLE pointing at it keeps
every other HTTPS site working. Existing files are reused so a restarted emulator stays trusted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import certifi
import trustme


@dataclass(frozen=True)
class TlsFiles:
    ca_cert: Path
    server_cert: Path
    server_key: Path
    ca_bundle: Path


def ensure_tls(state_dir: Path) -> TlsFiles:
    tls_dir = Path(state_dir) / "tls"
    files = TlsFiles(tls_dir / "sandbox-ca.pem", tls_dir / "server-chain.pem", tls_dir / "server-key.pem",
                     tls_dir / "ca-bundle.pem")
    if all(p.exists() for p in (files.ca_cert, files.server_cert, files.server_key, files.ca_bundle)):
        return files
    tls_dir.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="sf-notion-sync sandbox")
    cert = ca.issue_cert("127.0.0.1", "localhost", "::1")
    ca.cert_pem.write_to_path(str(files.ca_cert))
    cert.private_key_pem.write_to_path(str(files.server_key))
    files.server_key.chmod(0o600)
    with open(files.server_cert, "wb") as out:
        for blob in cert.cert_chain_pems:
            out.write(blob.bytes())
    sources = [Path(certifi.where())]
    for var in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        path = Path(os.environ.get(var) or "/nonexistent")
        if path.is_file() and path.resolve() not in {p.resolve() for p in sources} and tls_dir not in path.parents:
            sources.append(path)
    parts = [p.read_bytes().rstrip(b"\n") + b"\n" for p in sources]
    files.ca_bundle.write_bytes(b"".join(parts) + ca.cert_pem.bytes())
    return files
