"""A recording SMTP server for tests, built on aiosmtpd, that can misbehave at each step."""
import socket
import threading
from email import message_from_bytes
from email.policy import default as default_policy

from devtools.mail_sink import BoundPortController

DROP = "DROP"  # a reply hook returning this drops the connection instead of answering


def unused_port() -> int:
    """A port nothing listens on (for "the server is down" tests only: a server
    under test binds port 0 itself)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _drop(server) -> str:
    server.transport.close()
    return "421 closing"  # written to a closed transport: the client sees the connection end


class _Handler:
    def __init__(self, sink):
        self.sink = sink

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        reply = self.sink.mail_reply(address)
        if reply == DROP:
            return _drop(server)
        if reply:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.sink.rcpt_reply(address)
        if reply == DROP:
            return _drop(server)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        reply = self.sink.data_reply(envelope)
        if reply == DROP:
            # The content and its final "." arrived: the client cannot know the outcome.
            return _drop(server)
        if reply:
            return reply
        msg = message_from_bytes(envelope.content, policy=default_policy)
        with self.sink.lock:
            self.sink.messages.append(
                {"mail_from": envelope.mail_from, "rcpt_tos": list(envelope.rcpt_tos),
                 "message": msg, "message_id": msg.get("Message-ID"), "raw": envelope.content}
            )
        return "250 Message accepted"


class RecordingSink:
    """Records messages. The reply hooks `mail_reply(address)`, `rcpt_reply(address)`
    and `data_reply(envelope)` can be replaced to inject faults: each returns
    None (go on), a reply such as "550 no such user", or DROP."""

    def __init__(self):
        self.messages: list[dict] = []
        self.lock = threading.Lock()
        self.controller = BoundPortController(_Handler(self), hostname="127.0.0.1", port=0)

    @property
    def port(self) -> int:
        return self.controller.port

    def mail_reply(self, address):
        return None

    def rcpt_reply(self, address):
        return None

    def data_reply(self, envelope):
        return None

    def start(self):
        self.controller.start()

    def stop(self):
        self.controller.stop()

    @property
    def message_ids(self) -> list[str]:
        with self.lock:
            return [m["message_id"] for m in self.messages]
