"""A light SMTP sink that speaks real SMTP over TCP (EHLO, PIPELINING, MAIL, RCPT, DATA, RSET, NOOP, QUIT) and
counts the recipients of every message it accepts.

aiosmtpd (what the tests mostly use) costs about 0.7 ms of CPU a message: it runs a coroutine per command
and builds an envelope object per message. This one is a plain asyncio protocol that parses the commands
out of whatever arrived and answers all of them in one write, so a client that pipelines (RFC 2920) costs it
one read and one write a message. It does not look into the message beyond finding its end (`CRLF.CRLF`).

    python bench/smtp_sink.py PORT RESULT_FILE    # writes "messages recipients recipients-twice" on SIGTERM

The tests import `SmtpSink` (in a thread, with `fail` and `hold_at` switches like their aiosmtpd handler).
"""

import asyncio
import signal
import sys
import threading
from collections import Counter

_TERMINATOR = b"\r\n.\r\n"


class _Session(asyncio.Protocol):
    def __init__(self, sink: "SmtpSink"):
        self.sink = sink
        self.buffer = bytearray()
        self.in_data = False
        self.sender = None
        self.recipients: list[str] = []
        self.transport = None
        self.paused = False

    def connection_made(self, transport):
        self.transport = transport
        transport.write(b"220 sink.localhost ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.paused:
            self._process()

    def _process(self) -> None:
        out: list[bytes] = []
        buffer = self.buffer
        while buffer and not self.paused:
            if self.in_data:
                # The message so far may end right at the start of the buffer (the CRLF before the dot went
                # with DATA's own line): handle ".\r\n" alone at the start too.
                if buffer.startswith(b".\r\n"):
                    content, skip = b"", 3
                else:
                    end = buffer.find(_TERMINATOR)
                    if end < 0:
                        break
                    content, skip = bytes(buffer[: end + 2]), end + 5  # keep the message's last CRLF
                del buffer[:skip]
                self.in_data = False
                reply = self.sink.accept(self, content)
                if reply is None:  # held: resume later
                    self.paused = True
                    break
                out.append(reply)
                continue
            end = buffer.find(b"\r\n")
            if end < 0:
                break
            line = bytes(buffer[:end])
            del buffer[: end + 2]
            out.append(self._command(line))
            if self.transport is None:
                return
        if out:
            self.transport.write(b"".join(out))

    def resume(self, reply: bytes) -> None:
        self.paused = False
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.write(reply)
        self._process()

    def _command(self, line: bytes) -> bytes:
        verb = line[:4].upper()
        if verb == b"MAIL":
            self.sender, self.recipients = line, []
            return b"250 OK\r\n"
        if verb == b"RCPT":
            if self.sender is None:
                return b"503 MAIL first\r\n"
            start, end = line.find(b"<"), line.find(b">")
            self.recipients.append(line[start + 1 : end].decode("utf-8", "replace"))
            return b"250 OK\r\n"
        if verb == b"DATA":
            if not self.recipients:
                return b"503 RCPT first\r\n"
            self.in_data = True
            return b"354 End data with <CR><LF>.<CR><LF>\r\n"
        if verb == b"EHLO":
            return b"250-sink.localhost\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 10485760\r\n"
        if verb == b"HELO":
            return b"250 sink.localhost\r\n"
        if verb == b"RSET":
            self.sender, self.recipients = None, []
            return b"250 OK\r\n"
        if verb == b"NOOP":
            return b"250 OK\r\n"
        if verb == b"QUIT":
            self.transport.write(b"221 Bye\r\n")
            self.transport.close()
            self.transport = None
            return b""
        return b"500 Command not recognised\r\n"

    def connection_lost(self, exc):
        self.transport = None


class SmtpSink:
    """Counts accepted messages per recipient. `keep` (a function of the content's bytes, e.g.
    email.message_from_bytes) also stores each (recipients, keep(content)) for tests;
    `fail` answers every DATA with 451; `hold_at` = n holds the n-th DATA unanswered until `release` is set
    (and then refuses it if the client is gone, like a server that lost its client)."""

    def __init__(self, *, keep=None):
        self.rcpts: Counter = Counter()
        self.messages: list = []
        self.keep = keep
        self.lock = threading.Lock()
        self.fail = False
        self.hold_at: int | None = None
        self.held = threading.Event()
        self.release = threading.Event()
        self.data_count = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self.port = 0

    def accept(self, session: _Session, content: bytes) -> bytes | None:
        recipients, session.sender, session.recipients = session.recipients, None, []
        self.data_count += 1
        if self.fail:
            return b"451 4.3.0 Try again later\r\n"
        if self.hold_at is not None and self.data_count == self.hold_at:
            self.held.set()
            asyncio.get_running_loop().create_task(self._hold(session, recipients, content))
            return None
        self._count(recipients, content)
        return b"250 OK\r\n"

    async def _hold(self, session: _Session, recipients: list[str], content: bytes) -> None:
        while not self.release.is_set():
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)
        if session.transport is None or session.transport.is_closing():
            return  # the client is gone before the answer: not accepted
        self._count(recipients, content)
        session.resume(b"250 OK\r\n")

    def _count(self, recipients: list[str], content: bytes) -> None:
        with self.lock:
            for rcpt in recipients:
                self.rcpts[rcpt] += 1
            if self.keep is not None:  # as sent, without the dot-stuffing of the transfer
                unstuffed = content.replace(b"\r\n..", b"\r\n.")
                unstuffed = unstuffed[1:] if unstuffed.startswith(b"..") else unstuffed
                self.messages.append((tuple(recipients), self.keep(unstuffed)))

    def per_recipient(self) -> Counter:
        with self.lock:
            return Counter(self.rcpts)

    async def serve(self, port: int, ready=None) -> None:
        self.loop = asyncio.get_running_loop()
        server = await self.loop.create_server(lambda: _Session(self), "127.0.0.1", port)
        self.port = server.sockets[0].getsockname()[1]
        if ready is not None:
            ready.set()
        async with server:
            await server.serve_forever()

    def start_in_thread(self) -> "SmtpSink":
        ready = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run(ready)), daemon=True)
        self.thread.start()
        ready.wait(10)
        return self

    async def _run(self, ready: threading.Event) -> None:
        self._stop = asyncio.Event()
        task = asyncio.get_running_loop().create_task(self.serve(0, ready))
        await self._stop.wait()
        task.cancel()

    def stop(self) -> None:
        self.release.set()
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
            self.thread.join(5)


def main() -> None:
    port, result = int(sys.argv[1]), sys.argv[2]
    sink = SmtpSink()

    def stop(*_):
        counts = sink.per_recipient()
        duplicates = sum(1 for n in counts.values() if n > 1)
        with open(result, "w") as out:
            out.write(f"{sum(counts.values())} {len(counts)} {duplicates}")
        sys.exit(0)

    class Ready:
        def set(self):
            print("sink ready", flush=True)

    signal.signal(signal.SIGTERM, stop)
    asyncio.run(sink.serve(port, Ready()))


if __name__ == "__main__":
    main()
