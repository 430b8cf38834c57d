"""The preview's outcomes kept for the import, signed, so the import need not read the file again."""

import hmac
import pickle
import secrets
import struct
import tempfile
from collections.abc import Iterator

from django.core.files import File
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext

from ..models import ImportJob
from ..tabular import FileFormatError
from .handlers import Outcome, logger

PREPARED_FORMAT = "prepared-1"  # change when Outcome or a handler's outcome data changes shape


# --- The preview's outcomes, kept for the import ----------------------------------------------------
# A file beside the upload: per chunk a record of [length][HMAC-SHA256][position][pickled outcomes]. The
# HMAC (keyed with SECRET_KEY) is checked before anything is unpickled, so only what this code wrote is
# ever loaded; a record that fails the check, or a file from another format, is ignored and the import
# reads the upload again instead.

_HEADER = struct.Struct(">I32sQ")


def _prepared_name(job: ImportJob) -> str:
    # A folder of its own, named by the job: never beside uploads, whose names staff choose.
    return f"imports/prepared/{job.pk}.prepared"


def _signature(job: ImportJob, token: str, position: int, payload: bytes) -> bytes:
    # Bound to the job and to this preview's token (kept in job.options): a record copied from another job
    # or from an earlier preview of this one does not verify.
    message = f"{job.pk}:{token}:".encode() + struct.pack(">Q", position) + payload
    return salted_hmac(PREPARED_FORMAT, message, algorithm="sha256").digest()


class _PreparedWriter:
    def __init__(self, job: ImportJob, chunk_size: int):
        self.job = job
        self.token = secrets.token_hex(16)
        self.buffer = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close(), after save())
        self.buffer.write(_prepared_start(chunk_size))

    def add(self, position: int, outcomes: list[Outcome]) -> None:
        # Rows the import will not write keep only what it counts: their action.
        kept = [o if o.action in ("new", "update") else Outcome(line=o.line, action=o.action) for o in outcomes]
        payload = pickle.dumps(kept, protocol=pickle.HIGHEST_PROTOCOL)
        self.buffer.write(_HEADER.pack(len(payload), _signature(self.job, self.token, position, payload), position))
        self.buffer.write(payload)

    def save(self) -> None:
        self.buffer.seek(0)
        storage = self.job.file.storage
        name = _prepared_name(self.job)
        if storage.exists(name):
            storage.delete(name)
        storage.save(name, File(self.buffer, name=name))

    def close(self) -> None:
        self.buffer.close()


def _prepared_start(chunk_size: int) -> bytes:
    # Chunks end where the preview's ended; an import asked to chunk otherwise reads the file again.
    return PREPARED_FORMAT.encode().ljust(16) + struct.pack(">Q", chunk_size)


def _prepared_read(job: ImportJob, chunk_size: int) -> Iterator[tuple[int, list[Outcome]]] | None:
    """The kept outcomes, or None (the import then reads the upload again) unless the whole file is intact:
    every record signed for this job and preview, positions rising, the last one the file's last row."""
    token = job.options.get("prepared_token")
    if not token:
        return None
    storage = job.file.storage
    name = _prepared_name(job)
    start = _prepared_start(chunk_size)
    try:
        with storage.open(name, "rb") as handle:
            intact = _prepared_intact(job, token, handle, start)
    except OSError:
        return None
    if not intact:
        logger.warning("Import %s: the kept preview is incomplete or altered; the upload is read again", job.pk)
        return None

    def records() -> Iterator[tuple[int, list[Outcome]]]:
        with storage.open(name, "rb") as handle:
            handle.read(len(start))
            while header := handle.read(_HEADER.size):
                length, signature, position = _HEADER.unpack(header)
                payload = handle.read(length)
                if not hmac.compare_digest(signature, _signature(job, token, position, payload)):
                    # Changed since it was checked a moment ago: stop rather than guess.
                    raise FileFormatError(
                        gettext("The checked file kept for this import is damaged. Upload the file again.")
                    )
                if position <= job.processed_rows:
                    yield position, []  # applied before an interruption: skipped without unpickling
                    continue
                yield position, pickle.loads(payload)  # noqa: S301 (signed above: only our own records)

    return records()


def _prepared_intact(job: ImportJob, token: str, handle, start: bytes) -> bool:
    if handle.read(len(start)) != start:
        return False
    last = 0
    while header := handle.read(_HEADER.size):
        if len(header) != _HEADER.size:
            return False
        length, signature, position = _HEADER.unpack(header)
        payload = handle.read(length)
        if len(payload) != length or position <= last:
            return False
        if not hmac.compare_digest(signature, _signature(job, token, position, payload)):
            return False
        last = position
    return last == job.total_rows


def _prepared_delete(job: ImportJob) -> None:
    if not job.file:
        return
    storage = job.file.storage
    name = _prepared_name(job)
    try:
        if storage.exists(name):
            storage.delete(name)
    except OSError:
        logger.warning("Import %s: could not delete %s", job.pk, name)
