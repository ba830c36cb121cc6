"""The S3-compatible storage of RISKAPP_STORAGE=s3: django-storages' S3 backend that records each file's SHA-256.

Every file riskapp stores (an upload, a job's output) is hashed as it is saved, and the digest kept with the
object as its `sha256` metadata. A worker on another host checks each input it downloads against it (see
riskapp.jobs.inputs), so a damaged or truncated copy never reaches a job.
"""

import hashlib

from storages.backends.s3 import S3Storage
from storages.utils import clean_name

DIGEST_KEY = "sha256"  # S3 keeps it as the object's x-amz-meta-sha256 header


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
