"""Many messages over one SMTP connection with one round trip a message (RFC 2920 PIPELINING).

smtplib's `sendmail` waits for the server after each of MAIL, RCPT, DATA and the message: four round trips,
four reads and writes on each side, a message. When the server offers PIPELINING (Postfix, Exim, most
providers do), this client writes the previous message's content, its ending dot and the next message's
MAIL, RCPT and DATA in one write, then reads their replies (RFC 2920 allows exactly this: DATA ends a group
and the message content may start the next). A server without PIPELINING gets the same commands one at a
time. It works on the socket of an smtplib connection that is already open (TLS and login done by Django's
SMTP backend) and leaves the connection in a state where `quit()` works.

`on_wait` is called before the client blocks for a reply that has not arrived within `stall` seconds: the
sender records the messages already accepted then, so a server that hangs (or a worker killed while it waits)
does not hold back marks of messages accepted earlier.
"""

import select
import smtplib
from collections.abc import Callable, Hashable
from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    key: Hashable
    code: int
    text: str
    stage: str  # "mail", "rcpt", "data" (the 354) or "end" (the reply to the message itself)

    @property
    def accepted(self) -> bool:
        return self.stage == "end" and 200 <= self.code < 300


def _stuffed(data: bytes) -> bytes:
    """The content as transferred: CRLF line ends assumed, leading dots doubled, ending with CRLF."""
    if b"\r\n." in data:
        data = data.replace(b"\r\n.", b"\r\n..")
    if data.startswith(b"."):
        data = b"." + data
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data


class PipelinedSmtp:
    def __init__(
        self,
        smtp: smtplib.SMTP,
        envelope_from: str,
        *,
        on_wait: Callable[[], None] | None = None,
        stall: float = 0.05,
    ):
        smtp.ehlo_or_helo_if_needed()
        self.smtp = smtp
        self.sock = smtp.sock
        self.pipelining = bool(smtp.does_esmtp and smtp.has_extn("pipelining"))
        self.mail = f"MAIL FROM:<{envelope_from}>\r\n".encode()
        self.buffer = bytearray()
        self.pending: tuple[Hashable, bytes] | None = None  # DATA answered 354, content not sent yet
        self.on_wait = on_wait
        self.stall = stall

    # --- replies ---

    def _fill(self) -> None:
        if self.on_wait is not None:
            pending = getattr(self.sock, "pending", None)  # TLS may hold decrypted bytes select cannot see
            if not (pending and pending()):
                ready, _, _ = select.select([self.sock], [], [], self.stall)
                if not ready:
                    self.on_wait()
        chunk = self.sock.recv(65536)
        if not chunk:
            raise smtplib.SMTPServerDisconnected("the server closed the connection")
        self.buffer += chunk

    def _reply(self) -> tuple[int, str]:
        lines = []
        while True:
            end = self.buffer.find(b"\r\n")
            while end < 0:
                self._fill()
                end = self.buffer.find(b"\r\n")
            line = bytes(self.buffer[:end])
            del self.buffer[: end + 2]
            lines.append(line[4:].decode("utf-8", "replace"))
            if len(line) < 4 or line[3:4] != b"-":
                try:
                    return int(line[:3]), "\n".join(lines)
                except ValueError:
                    raise smtplib.SMTPResponseException(-1, line.decode("utf-8", "replace")) from None

    # --- sending ---

    def send(self, key: Hashable, to: str, data: bytes) -> list[Outcome]:
        """Start sending one message; returns the outcomes that became known (this message's, if it was
        refused before its content, and the previous message's)."""
        if not to.isascii() or "\r" in to or "\n" in to or ">" in to:
            return [*self.finish(), Outcome(key, 553, "the address cannot be sent without SMTPUTF8", "rcpt")]
        commands = self.mail + f"RCPT TO:<{to}>\r\n".encode() + b"DATA\r\n"
        outcomes: list[Outcome] = []
        if self.pipelining:
            head = b""
            if self.pending is not None:
                head = _stuffed(self.pending[1]) + b".\r\n"
            self.sock.sendall(head + commands)
            if self.pending is not None:
                code, text = self._reply()
                outcomes.append(Outcome(self.pending[0], code, text, "end"))
                self.pending = None
            replies = [self._reply() for _ in range(3)]
        else:
            outcomes.extend(self.finish())
            replies = []
            for command in commands.split(b"\r\n")[:3]:
                self.sock.sendall(command + b"\r\n")
                replies.append(self._reply())
                if not 200 <= replies[-1][0] < 400:
                    break
        stages = ("mail", "rcpt", "data")
        for stage, (code, text) in zip(stages, replies, strict=False):
            wanted = 354 if stage == "data" else 250
            if code != wanted and not (stage == "rcpt" and code == 251):
                outcomes.append(Outcome(key, code, text, stage))
                if replies[-1][0] == 354:  # a server in DATA mode after a refusal: end it without a message
                    raise smtplib.SMTPResponseException(code, "the server began DATA after refusing")
                self.sock.sendall(b"RSET\r\n")
                self._reply()
                return outcomes
        self.pending = (key, data)
        return outcomes

    def finish(self) -> list[Outcome]:
        """Send the last message's content and return its outcome."""
        if self.pending is None:
            return []
        key, data = self.pending
        self.sock.sendall(_stuffed(data) + b".\r\n")
        self.pending = None
        code, text = self._reply()
        return [Outcome(key, code, text, "end")]

    def abort(self) -> None:
        """Drop the connection (a server waiting for content would read a QUIT as message text)."""
        self.pending = None
        self.smtp.close()

    @property
    def in_flight(self) -> Hashable | None:
        """The message whose content is not sent yet (not accepted: it is retried if the connection breaks)."""
        return self.pending[0] if self.pending is not None else None
