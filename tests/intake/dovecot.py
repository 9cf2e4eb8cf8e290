"""A real IMAP server for the tests: Debian's dovecot on loopback, a throwaway mailbox, real TLS.

Each session gets its own dovecot (own config, runtime and mail folders in a temporary directory, a passwd-file
user, free ports for IMAPS and for IMAP with STARTTLS) whose certificate is signed by a throwaway authority: the
client trusts it only through INTAKE_IMAP_CA_FILE, as an office with a private CA would. A system dovecot started
by the package install listens on 143/993 and is never touched. `CuttingProxy` stands between the poller and
the server and drops the connection after a number of bytes, like a network that fails mid-download.
"""

import imaplib
import ctypes
import grp
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

DOVECOT = Path("/usr/sbin/dovecot")
DH_PARAMS = Path("/usr/share/dovecot/dh.pem")
USER = "oficina"
PASSWORD = "clave-del-buzon-1"
PR_SET_PDEATHSIG = 1
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None


def stop_with_parent() -> None:
    """A test run killed outright takes its dovecot with it (SIGTERM: the master stops its own processes)."""
    if _prctl is not None:
        _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def imap_missing(reason: str):
    if os.environ.get("PREGONERO_REQUIRE_IMAP") == "1":
        pytest.fail(f"{reason} (PREGONERO_REQUIRE_IMAP=1)", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_certificates(folder: Path) -> None:
    """ca.pem (a throwaway authority) and server.pem/server.key for 127.0.0.1 and localhost, signed by it."""
    curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"]
    run = lambda *args: subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)  # noqa: E731
    run("req", "-x509", *curve, "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=Pregonero test CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", "-x509", "-CA", "ca.pem", "-CAkey", "ca.key", *curve, "-keyout", "server.key", "-out", "server.pem",
        "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        "-addext", "basicConstraints=critical,CA:FALSE", "-addext", "keyUsage=critical,digitalSignature",
        "-addext", "extendedKeyUsage=serverAuth")


class Dovecot:
    host = "127.0.0.1"
    user = USER
    password = PASSWORD

    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="pregonero-dovecot-"))
        self.root.chmod(0o755)  # the mail processes run as another user and must reach the maildir
        self.port = free_port()  # IMAPS (TLS from the first byte)
        self.starttls_port = free_port()  # IMAP, STARTTLS required before the password
        self.ca_file = str(self.root / "ca.pem")
        self.process = None

    # ------------------------------------------------------------------ life cycle

    def _accounts(self) -> tuple[int, int, str]:
        """(mail uid, mail gid, service settings). As root, dovecot's own users run the services and the mail
        belongs to nobody (dovecot refuses mail as root); otherwise everything runs as the current user."""
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            return nobody.pw_uid, nobody.pw_gid, "default_internal_user = dovecot\ndefault_login_user = dovenull\n"
        me = pwd.getpwuid(os.geteuid()).pw_name
        group = grp.getgrgid(os.getegid()).gr_name
        return os.geteuid(), os.getegid(), (
            f"default_internal_user = {me}\ndefault_login_user = {me}\ndefault_internal_group = {group}\n"
            f"service anvil {{\n  chroot =\n}}\nservice auth {{\n  user = {me}\n}}\n")

    def _configure(self) -> Path:
        uid, gid, accounts = self._accounts()
        for name in ("run", "state", "mail"):
            (self.root / name).mkdir()
        os.chown(self.root / "mail", uid, gid)
        (self.root / "users").write_text(
            f"{self.user}:{{PLAIN}}{self.password}:{uid}:{gid}::{self.root}/mail/{self.user}::\n")
        dh = f"ssl_dh = <{DH_PARAMS}\n" if DH_PARAMS.exists() else ""
        config = self.root / "dovecot.conf"
        config.write_text(f"""\
base_dir = {self.root}/run
state_dir = {self.root}/state
log_path = {self.root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <{self.root}/server.pem
ssl_key = <{self.root}/server.key
{dh}ssl_min_protocol = TLSv1.2
auth_mechanisms = plain
first_valid_uid = 1
{accounts}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.root}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {self.root}/users
}}
mail_location = maildir:~/Maildir
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.starttls_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.port}
    ssl = yes
  }}
}}
""")
        return config

    def start(self) -> "Dovecot":
        make_certificates(self.root)
        config = self._configure()
        with open(self.root / "dovecot.out", "wb") as output:  # start-up errors, before log_path is open
            self.process = subprocess.Popen([str(DOVECOT), "-F", "-c", str(config)], stdin=subprocess.DEVNULL,
                                            stdout=output, stderr=subprocess.STDOUT, preexec_fn=stop_with_parent)
        deadline = time.monotonic() + 15
        while True:
            try:
                self.client().logout()
                return self
            except (OSError, imaplib.IMAP4.error):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    log = self.log()
                    self.stop()
                    raise RuntimeError(f"dovecot did not start:\n{log}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        paths = (self.root / "dovecot.out", self.root / "dovecot.log")
        return "".join(path.read_text(errors="replace")[-4000:] for path in paths if path.exists())

    # ------------------------------------------------------------------ what the tests do with the mailbox

    def client(self, mailbox: str | None = "INBOX") -> imaplib.IMAP4_SSL:
        context = ssl.create_default_context(cafile=self.ca_file)
        client = imaplib.IMAP4_SSL(self.host, self.port, ssl_context=context, timeout=10)
        client.login(self.user, self.password)
        if mailbox:
            client.select(f'"{mailbox}"')
        return client

    def append(self, raw: bytes, mailbox: str = "INBOX", flags: str = "") -> int:
        """Delivers a message as a mail server would put it in the mailbox; returns its UID."""
        client = self.client(mailbox=None)
        try:
            status, data = client.append(f'"{mailbox}"', f"({flags})" if flags else None, None, raw)
        finally:
            client.logout()
        assert status == "OK", data
        return int(re.search(rb"APPENDUID \d+ (\d+)", data[0]).group(1))

    def flags(self, mailbox: str = "INBOX") -> dict[int, set[str]]:
        client = self.client(mailbox)
        try:
            _status, data = client.uid("FETCH", "1:*", "(UID FLAGS)")
        finally:
            client.logout()
        found = {}
        for line in data:
            match = re.search(rb"UID (\d+) FLAGS \(([^)]*)\)", line or b"")
            if match:
                found[int(match.group(1))] = set(match.group(2).decode().split()) - {"\\Recent"}
        return found

    def empty(self) -> None:
        """Removes every message and folder but INBOX, so each test starts from an empty mailbox."""
        client = self.client()
        try:
            client.uid("STORE", "1:*", "+FLAGS.SILENT", r"(\Deleted)")
            client.expunge()
            _status, folders = client.list()
            for line in folders or []:
                match = re.match(r'\(.*?\) (?:"[^"]*"|NIL) "?(.*?)"?$', (line or b"").decode())
                name = match.group(1) if match else ""
                if name and name != "INBOX":
                    client.delete(f'"{name}"')
        finally:
            client.logout()

    def use(self, settings, *, port: int | None = None, security: str = "ssl", mailbox: str = "INBOX",
            password: str | None = None, ca_file: str | None = None) -> None:
        """Points Pregonero's INTAKE_IMAP_* settings at this server (or at a proxy in front of it)."""
        settings.INTAKE_IMAP_HOST = self.host
        settings.INTAKE_IMAP_PORT = port or (self.port if security == "ssl" else self.starttls_port)
        settings.INTAKE_IMAP_SECURITY = security
        settings.INTAKE_IMAP_USER = self.user
        settings.INTAKE_IMAP_PASSWORD = self.password if password is None else password
        settings.INTAKE_IMAP_MAILBOX = mailbox
        settings.INTAKE_IMAP_CA_FILE = self.ca_file if ca_file is None else ca_file


class CuttingProxy:
    """A TCP relay to the server that, on its first connection only, closes both sides once ``cut_after`` bytes
    went from the server to the client (TLS records included: the client sees a connection reset mid-fetch)."""

    def __init__(self, upstream_port: int, cut_after: int):
        self.upstream_port = upstream_port
        self.cut_after = cut_after
        self.connections = 0
        self.cuts = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _address = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            server = socket.create_connection(("127.0.0.1", self.upstream_port))
            limit = self.cut_after if self.connections == 1 else None
            threading.Thread(target=self._pipe, args=(client, server, None), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, limit), daemon=True).start()

    def _pipe(self, source: socket.socket, target: socket.socket, limit: int | None) -> None:
        sent = 0
        try:
            while data := source.recv(16384):
                if limit is not None and sent + len(data) >= limit:
                    target.sendall(data[: limit - sent])
                    self.cuts += 1
                    break
                target.sendall(data)
                sent += len(data)
        except OSError:
            pass
        for sock in (source, target):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def close(self) -> None:
        self.listener.close()
