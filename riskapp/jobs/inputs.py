"""A job's stored input files, where its sandbox can read them.

With local storage (a files folder every worker sees) the sandbox reads each input at its stored path,
read-only. With remote storage (an S3-compatible bucket) the worker downloads only this job's inputs, through
the storage API, into a private folder of its own under its sandbox folder, checks each against the SHA-256
recorded when it was stored, and deletes the folder when the job ends. The folder's name carries the worker's
pid, so that the sandbox's sweep removes it should the worker be killed mid-job. A download cut short by the
network, or one that does not match its SHA-256, is tried again with backoff (riskapp.storage.with_transfer_retries)
before the job fails with a message that says which file and why.
"""

import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from django.core.files.storage import default_storage

from riskapp.storage import TRANSFER_ATTEMPTS, TransientStorageError, is_transient, with_transfer_retries

log = logging.getLogger(__name__)

CHUNK_BYTES = 1024**2
TICK_SECONDS = 1.0


class StoredInputError(Exception):
    """A job's input could not be fetched from storage intact; the message says which and why."""


class _HashMismatch(TransientStorageError):
    """The downloaded copy differs from the SHA-256 recorded at upload: damaged in transit, or in storage."""

    def __init__(self, name: str, expected: str, actual: str) -> None:
        super().__init__(
            f"The stored file {name} does not match the SHA-256 recorded when it was stored "
            f"(expected {expected}, downloaded {actual}): the copy in storage was changed or damaged. "
            "Upload it again."
        )


def storage_is_local() -> bool:
    """Whether stored files have a path on this machine (FileSystemStorage) or live elsewhere (a bucket)."""
    try:
        default_storage.path("probe")
    except NotImplementedError:
        return False
    return True


def download(name: str, target: Path, on_tick: Callable[[], object]) -> str:
    """Copy stored file `name` to `target`; returns the SHA-256 of what was written. `on_tick` is called about
    every second (a long download must not look like a lost worker)."""
    digest = hashlib.sha256()
    next_tick = time.monotonic() + TICK_SECONDS
    try:
        with default_storage.open(name, "rb") as source, target.open("wb") as sink:
            for chunk in source.chunks(CHUNK_BYTES):
                digest.update(chunk)
                sink.write(chunk)
                if time.monotonic() >= next_tick:
                    on_tick()
                    next_tick = time.monotonic() + TICK_SECONDS
    except FileNotFoundError:
        raise StoredInputError(f"The stored file {name} is missing from storage; upload it again.") from None
    return digest.hexdigest()


def _check(name: str, actual: str) -> None:
    recorded = getattr(default_storage, "sha256", None)
    if recorded is None:
        raise StoredInputError(
            f"The storage backend {type(default_storage).__name__} records no SHA-256, so {name} cannot be "
            "checked: use RISKAPP_STORAGE=s3 or local."
        )
    expected = recorded(name)
    if expected is None:
        raise StoredInputError(f"The stored file {name} has no recorded SHA-256; upload it again.")
    if actual != expected:
        raise _HashMismatch(name, expected, actual)


def _fetch(name: str, target: Path, on_tick: Callable[[], object]) -> None:
    """Download stored file `name` to `target` and check it, trying again after a transient failure."""
    try:
        with_transfer_retries(lambda: _check(name, download(name, target, on_tick)), what=f"downloading {name}")
    except _HashMismatch as error:
        raise StoredInputError(str(error)) from None
    except Exception as error:
        if not is_transient(error):
            raise
        raise StoredInputError(
            f"The stored file {name} could not be downloaded from storage in {TRANSFER_ATTEMPTS} tries ({error}). "
            "The storage may be unreachable or overloaded: run the job again later."
        ) from error


@contextlib.contextmanager
def job_inputs(
    *,
    job_id: int,
    file_params: tuple[str, ...],
    parameters: dict[str, Any],
    private_dir: Path,
    on_tick: Callable[[], object] = lambda: None,
) -> Iterator[tuple[dict[str, Any], list[Path]]]:
    """The parameters with each stored-file name replaced by a local path, and those paths (the inputs the
    sandbox may read), for the duration of the `with` block. `on_tick` is called about every second of a
    download (the job's heartbeat)."""
    params, inputs = dict(parameters), []
    names = [name for name in file_params if params.get(name)]
    if storage_is_local():
        for name in names:
            path = Path(default_storage.path(params[name])).resolve()
            params[name] = str(path)
            inputs.append(path)
        yield params, inputs
        return
    private_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"riskapp-job-{os.getpid()}-inputs-", dir=private_dir))
    try:
        for number, name in enumerate(names):
            stored = params[name]
            target = folder / f"{number}-{PurePosixPath(stored).name}"
            _fetch(stored, target, on_tick)
            target.chmod(0o400)
            params[name] = str(target)
            inputs.append(target)
        if inputs:
            log.info("job %s: %d input(s) downloaded to %s, SHA-256 checked", job_id, len(inputs), folder)
        yield params, inputs
    finally:
        shutil.rmtree(folder, ignore_errors=True)
