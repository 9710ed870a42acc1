"""Mail through real programs: the server's MAIL_COMMAND is Debian's msmtp
(`msmtp -t -C FILE`, the recipe of docs/mail.md without TLS), and the
relay is a real SMTP server on loopback (aiosmtpd, from PyPI). Checked end
to end: a registration's verification mail, a reset mail and
`admin mail-test` arrive with the right From, To, Subject (RFC 2047 for a
non-ASCII SITE_NAME), Date and Message-ID, and their links work; then the
SMTP server stops, a message fails and shows in `admin outbox --failed`
with msmtp's complaint, the server comes back, `admin outbox retry --all`
delivers it, exactly once.

    python3 e2e/mail_delivery.py target/debug/auth-server

(.ci/run runs it in a virtualenv with aiosmtpd, after installing msmtp.)
"""

import email
import email.header
import email.utils
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

from aiosmtpd.controller import Controller

PASSWORD = "correct horse battery staple"
SITE = "Famille Dupré"
FROM = "accounts@example.com"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mailbox:
    """What the SMTP server received: (envelope recipients, parsed message)."""

    def __init__(self):
        self.received = []

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content)
        self.received.append((list(envelope.rcpt_tos), message))
        return "250 OK"

    def wait_for_subject(self, to, subject):
        """The first message to `to` whose decoded subject is `subject`, in
        whatever order the outbox and the admin command delivered them."""
        deadline = time.time() + 30
        while True:
            for rcpt, message in self.received:
                decoded = str(email.header.make_header(email.header.decode_header(message["Subject"])))
                if rcpt == [to] and decoded == subject:
                    return message
            assert time.time() < deadline, f"no {subject!r} to {to}"
            time.sleep(0.05)


def post(base, path, body):
    request = urllib.request.Request(base + path, json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request) as reply:
            return reply.status
    except urllib.error.HTTPError as error:
        return error.code


def check_headers(message, to, subject):
    assert message["From"] == FROM, message["From"]
    assert message["To"] == to, message["To"]
    raw_subject = message["Subject"]
    decoded = str(email.header.make_header(email.header.decode_header(raw_subject)))
    assert decoded == subject, (raw_subject, decoded)
    assert raw_subject.startswith("=?UTF-8?B?"), f"a non-ASCII subject is an RFC 2047 word: {raw_subject}"
    assert email.utils.parsedate_to_datetime(message["Date"]) is not None, message["Date"]
    assert re.fullmatch(r"<[^<>@\s]+@example\.com>", message["Message-ID"]), message["Message-ID"]


def body(message):
    return message.get_payload(decode=True).decode("utf-8")


def main(binary):
    work = tempfile.mkdtemp(prefix="auth-server-mail-")
    smtp_port, port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    msmtprc = os.path.join(work, "msmtprc")
    with open(msmtprc, "w") as f:
        f.write(f"defaults\nauth off\ntls off\nsyslog off\n\naccount relay\nhost 127.0.0.1\nport {smtp_port}\n"
                f"from {FROM}\n\naccount default : relay\n")
    os.chmod(msmtprc, 0o600)
    env = {
        "DATABASE_PATH": os.path.join(work, "auth.db"), "BCRYPT_COST": "4", "PUBLIC_URL": base,
        "SITE_NAME": SITE, "MAIL_FROM": FROM, "MAIL_COMMAND": f"msmtp -t -C {msmtprc}",
        "PATH": "/usr/local/bin:/usr/bin:/bin", "HASH_QUEUE_WAIT_SECS": "60",
    }
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    server = subprocess.Popen([binary], env={**env, "HOST": "127.0.0.1", "PORT": str(port)},
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    admin = lambda *args: subprocess.run([binary, "admin", *args], env=env, capture_output=True, text=True)
    try:
        assert "listening on" in server.stdout.readline()

        # A registration's verification mail; its link confirms the address.
        assert post(base, "/api/register", {"username": "alice", "email": "alice@example.com",
                                             "password": PASSWORD}) == 201
        message = mailbox.wait_for_subject("alice@example.com", f"Confirm your email address for {SITE}")
        check_headers(message, "alice@example.com", f"Confirm your email address for {SITE}")
        token = re.search(rf"{re.escape(base)}/verify-email#token=(\S+)", body(message)).group(1)
        assert post(base, "/api/email/verify", {"token": token}) == 200

        # A reset mail; its link sets a new password.
        assert post(base, "/api/password/forgot", {"email": "alice@example.com"}) == 202
        message = mailbox.wait_for_subject("alice@example.com", f"Reset your {SITE} password")
        check_headers(message, "alice@example.com", f"Reset your {SITE} password")
        token = re.search(rf"{re.escape(base)}/reset-password#token=(\S+)", body(message)).group(1)
        assert post(base, "/api/password/reset", {"token": token, "new_password": "a brand new passphrase"}) == 200
        assert post(base, "/api/login", {"username": "alice", "password": "a brand new passphrase"}) == 200

        # The reset's security notice, and the operator's test (sent at
        # once, while the notice goes through the outbox: either may come
        # first).
        notice = mailbox.wait_for_subject("alice@example.com", f"Security notice for your {SITE} account")
        assert "password of your account was reset" in body(notice), body(notice)
        test = admin("mail-test", "operator@example.com")
        assert test.returncode == 0, test.stdout + test.stderr
        message = mailbox.wait_for_subject("operator@example.com", f"Test message from {SITE}")
        check_headers(message, "operator@example.com", f"Test message from {SITE}")

        # The relay goes away: a message fails, with msmtp's word for it.
        smtp.stop()
        assert post(base, "/api/register", {"username": "bob", "email": "bob@example.com",
                                             "password": PASSWORD}) == 201
        deadline = time.time() + 30
        while True:
            failed = admin("outbox", "--failed").stdout.splitlines()[1:]
            if failed:
                break
            assert time.time() < deadline, "the failure never showed in the outbox"
            time.sleep(0.2)
        row = failed[0].split("\t")
        assert row[1:3] == ["verification", "bob@example.com"], failed
        assert "exit status" in row[6] and "msmtp" in row[6].lower(), row[6]
        # Back: a retry delivers it, exactly once.
        smtp = Controller(mailbox, hostname="127.0.0.1", port=smtp_port)
        smtp.start()
        assert admin("outbox", "retry", "--all").returncode == 0
        message = mailbox.wait_for_subject("bob@example.com", f"Confirm your email address for {SITE}")
        check_headers(message, "bob@example.com", f"Confirm your email address for {SITE}")
        time.sleep(3)
        to_bob = [m for r, m in mailbox.received if r == ["bob@example.com"]]
        assert len(to_bob) == 1, f"{len(to_bob)} copies"
        assert admin("outbox").stdout.splitlines()[1:] == [], "the outbox is empty"
        print("mail: verification, reset, notice and mail-test through msmtp to a real SMTP server; "
              "a failure listed, retried and delivered once")
    finally:
        server.terminate()
        server.wait(timeout=10)
        smtp.stop()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "target/debug/auth-server")
