"""The S3-compatible storage of RISKAPP_STORAGE=s3: django-storages' S3 backend that records each file's SHA-256.

Every file riskapp stores (an upload, a job's output) is hashed as it is saved, and the digest kept with the
object as its `sha256` metadata. A worker on another host checks each input it downloads against it (see
riskapp.jobs.inputs), so a damaged or truncated copy never reaches a job. A transfer that fails for a reason
that may pass (a reset connection, a timeout, a damaged download) is tried again: with_transfer_retries.
"""

import hashlib
import logging
import time
from collections.abc import Callable
from typing import TypeVar

from botocore.exceptions import BotoCoreError
from storages.backends.s3 import S3Storage
from storages.utils import clean_name

DIGEST_KEY = "sha256"  # S3 keeps it as the object's x-amz-meta-sha256 header

log = logging.getLogger(__name__)
T = TypeVar("T")

# A whole transfer (a download checked against its SHA-256, an output's upload) is tried this many times,
# waiting 0.5 s, then 1 s, ... between tries. botocore already retries each request (settings.S3_MAX_ATTEMPTS);
# this covers what it cannot: a connection reset while a body streams, a truncated download.
TRANSFER_ATTEMPTS = 3
TRANSFER_FIRST_WAIT_S = 0.5
TRANSFER_MAX_WAIT_S = 8.0


class TransientStorageError(Exception):
    """A transfer that may succeed if tried again (riskapp raises it for a download that failed its check)."""


def is_transient(error: BaseException) -> bool:
    """A network or S3 hiccup worth another try; a missing file or a refused permission is not."""
    if isinstance(error, TransientStorageError | BotoCoreError):
        return True
    return isinstance(error, OSError) and not isinstance(error, FileNotFoundError | PermissionError)


def with_transfer_retries(transfer: Callable[[], T], *, what: str) -> T:
    """Run `transfer`, trying it again after a transient error with exponential backoff. Any other error, and
    the error of the last try, propagates."""
    for attempt in range(1, TRANSFER_ATTEMPTS):
        try:
            return transfer()
        except Exception as error:
            if not is_transient(error):
                raise
            wait = min(TRANSFER_FIRST_WAIT_S * 2 ** (attempt - 1), TRANSFER_MAX_WAIT_S)
            log.warning(
                "%s failed (try %d of %d: %s); trying again in %.1f s", what, attempt, TRANSFER_ATTEMPTS, error, wait
            )
            time.sleep(wait)
    return transfer()


def content_sha256(content) -> str:
    """The SHA-256 of a Django File's whole content, read in chunks; the file is left rewound."""
    digest = hashlib.sha256()
    content.seek(0)
    for chunk in content.chunks():
        digest.update(chunk if isinstance(chunk, bytes) else chunk.encode())
    content.seek(0)
    return digest.hexdigest()


class HashedS3Storage(S3Storage):
    def _get_write_parameters(self, name, content=None):
        params = super()._get_write_parameters(name, content)
        if content is not None:
            params["Metadata"] = {**params.get("Metadata", {}), DIGEST_KEY: content_sha256(content)}
        return params

    def sha256(self, name: str) -> str | None:
        """The SHA-256 recorded when `name` was saved; None for an object stored without one."""
        metadata = self.bucket.Object(self._normalize_name(clean_name(name))).metadata or {}
        return metadata.get(DIGEST_KEY)
