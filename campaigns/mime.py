"""A fast MIME writer for campaign email: multipart/alternative (text and HTML, UTF-8, base64).

Python's email package spends about a millisecond per message folding and encoding headers; a campaign sends
the same structure a hundred thousand times with a few values changed, so the sender writes the bytes itself
here when the configured backend is Django's SMTP backend (campaigns/sending/email_channel.py), and hands other
backends (django-anymail's HTTP APIs) a regular EmailMultiAlternatives."""

import binascii
import secrets
from email.utils import formatdate


def encoded_word(text: str) -> str:
    """RFC 2047 for a header value with non-ASCII characters, in encoded words short enough to fold."""
    if text.isascii():
        return text
    data = text.encode()
    words = []
    start = 0
    while start < len(data):
        end = min(start + 45, len(data))  # 45 bytes -> 60 base64 characters: under the 75 limit
        while end < len(data) and data[end] & 0xC0 == 0x80:  # never split a character
            end -= 1
        words.append(data[start:end])
        start = end
    return "\r\n ".join(f"=?utf-8?b?{binascii.b2a_base64(word, newline=False).decode()}?=" for word in words)


def _base64_lines(data: bytes) -> bytes:
    """Base64 in lines of 76 characters, CRLF after each (what base64.encodebytes does 57 bytes at a time)."""
    encoded = binascii.b2a_base64(data, newline=False)
    return b"".join(encoded[i : i + 76] + b"\r\n" for i in range(0, len(encoded), 76))


_PART_HEAD = 'Content-Type: {}; charset="utf-8"\r\nContent-Transfer-Encoding: base64\r\n\r\n'


def _part(content_type: str, body: str) -> bytes:
    return _PART_HEAD.format(content_type).encode() + _base64_lines(body.encode())


def message_bytes(*, sender: str, to: str, subject: str, text: str, html: str, headers: dict[str, str]) -> bytes:
    """The whole message. `sender` is an already encoded From header value; header values must not hold CR/LF."""
    boundary = "=_" + secrets.token_hex(12)
    lines = [
        f"From: {sender}",
        f"To: {to}",
        f"Subject: {encoded_word(subject)}",
        f"Date: {formatdate(localtime=False)}",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/alternative; boundary="{boundary}"',
    ]
    for name, value in headers.items():
        if "\r" in value or "\n" in value:
            raise ValueError(f"header {name} holds a line break")
        lines.append(f"{name}: {value}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode()
    delimiter = f"\r\n--{boundary}\r\n".encode()
    return (
        head
        + f"--{boundary}\r\n".encode()
        + _part("text/plain", text)
        + delimiter
        + _part("text/html", html)
        + f"\r\n--{boundary}--\r\n".encode()
    )
