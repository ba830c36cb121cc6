"""Streaming upload handling: a size limit enforced while the bytes arrive, and SHA-256 computed on the way.

The file streams to a temporary file (never whole in memory). An upload over the limit is stopped
as early as possible — before reading the body when its declared length is already too big, else
at the first chunk past the limit — and its temporary file is removed.
"""

import hashlib

from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import QueryDict
from django.utils.datastructures import MultiValueDict

FORM_OVERHEAD_BYTES = 1024 * 1024  # the other form fields and the multipart boundaries


class LimitedHashingUploadHandler(FileUploadHandler):
    def __init__(self, request=None, *, max_bytes: int):
        super().__init__(request)
        self.max_bytes = max_bytes
        self.too_large = False
        self.sha256: dict[str, str] = {}
        self._hasher = None
        self._received = 0

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        if content_length and content_length > self.max_bytes + FORM_OVERHEAD_BYTES:
            self.too_large = True
            return QueryDict(), MultiValueDict()  # parse nothing, store nothing
        return None

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self._hasher = hashlib.sha256()
        self._received = 0

    def receive_data_chunk(self, raw_data, start):
        self._received += len(raw_data)
        if self._received > self.max_bytes:
            self.too_large = True
            raise StopUpload(connection_reset=True)
        self._hasher.update(raw_data)
        return raw_data

    def file_complete(self, file_size):
        self.sha256[self.field_name] = self._hasher.hexdigest()
        return None  # the next handler (a temporary file on disk) makes the file object

    def upload_interrupted(self):
        self._hasher = None
