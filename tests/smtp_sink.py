"""A recording SMTP server for tests, built on aiosmtpd."""
import socket
import threading
from email import message_from_bytes
from email.policy import default as default_policy

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Handler:
    def __init__(self, sink):
        self.sink = sink

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if self.sink.pipelining:  # as production servers do; aiosmtpd copes but does not say so
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.sink.rcpt_reply(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        reply = self.sink.data_reply(envelope)
        if reply == "DROP":
            # Lose the connection after DATA: the client cannot know the outcome.
            session.transport.close() if getattr(session, "transport", None) else None
            server.transport.close()
            return "421 closing"
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
    """Records messages; `rcpt_reply`/`data_reply` can be replaced to inject faults.
    pipelining: whether EHLO offers PIPELINING (RFC 2920), as production servers do."""

    def __init__(self, port: int | None = None, pipelining: bool = True):
        self.port = port or free_port()
        self.pipelining = pipelining
        self.messages: list[dict] = []
        self.lock = threading.Lock()
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    def rcpt_reply(self, address):  # return e.g. "550 no such user" to refuse
        return None

    def data_reply(self, envelope):  # return "421 ...", "DROP" or None
        return None

    def start(self):
        self.controller.start()

    def stop(self):
        self.controller.stop()

    @property
    def message_ids(self) -> list[str]:
        with self.lock:
            return [m["message_id"] for m in self.messages]
