"""A job's checkpoint kept in storage between its attempts, so that a job re-delivered after a killed worker (or a
crashed sandbox) resumes its training instead of starting again.

A kind that checkpoints (EvaluationKind.checkpoints: hardening) writes into the `checkpoint_dir` it is given, after
every epoch, `checkpoint.json` naming one weights file `checkpoint.safetensors.epoch-N`; the JSON is written last,
by rename (attacks.hardening.checkpoint). The worker makes that folder inside the sandbox's work folder (the only
place an isolated task may write) and first copies the job's stored checkpoint into it, if there is one. On every
heartbeat it looks whether a new checkpoint.json has appeared; if so it copies that epoch's two files to storage under
`checkpoints/job-<id>/`, the weights first, and then deletes the earlier epoch's. When the job ends (succeeded,
failed for good, cancelled, timed out) the stored files are deleted.

Everything goes through Django's storage API, so a worker on another machine, sharing only the database, Redis and a
bucket, finds the checkpoint too. The files come from a run on an untrusted model: only a JSON document and the
safetensors file it names are kept (the engine loads them without pickle and ignores a checkpoint of another run);
the worker opens them without following links, keeps none over MAX_CHECKPOINT_BYTES, and names the stored weights by
their SHA-256, checked again when they are fetched. A checkpoint saves time, nothing more: when storing or fetching
one fails, it is logged and the job goes on (at worst from epoch 1).
"""

import contextlib
import json
import logging
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path

from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from attacks.hardening.checkpoint import STATE_FILE, WEIGHTS_FILE
from riskapp.jobs.inputs import download, storage_is_local
from riskapp.storage import content_sha256

log = logging.getLogger(__name__)

# A checkpoint holds the weights and the optimiser's state (Adam: about three times the model); one larger than
# this is not kept, and the job would start again from its first epoch.
MAX_CHECKPOINT_BYTES = 2 * 1024**3
MAX_STATE_BYTES = 16 * 1024**2  # the JSON part: parameters, history, the "before" numbers
# Stored as <epoch>-<SHA-256 of the weights>.safetensors and .json: an epoch's pair is complete once its JSON is
# there (uploaded second), so a worker killed between the two leaves the previous epoch's pair in use.
STORED_NAME = re.compile(r"(\d{6})-([0-9a-f]{64})\.(json|safetensors)")
WEIGHTS_NAME = re.compile(re.escape(WEIGHTS_FILE) + r"\.epoch-\d{1,6}")


def _open_regular(name: str, folder_fd: int) -> int:
    """A descriptor for the plain file `name` in the folder, never through a link, a FIFO or a device."""
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=folder_fd)
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        os.close(fd)
        raise ValueError(f"{name} in the checkpoint folder is not a plain file")
    return fd


def _read_state(data: bytes) -> tuple[int, str]:
    """The epoch of a checkpoint.json and the weights file it names; ValueError for anything else."""
    document = json.loads(data)
    epoch = document.get("epoch") if isinstance(document, dict) else None
    weights = document.get("weights") if isinstance(document, dict) else None
    if type(epoch) is not int or not 0 < epoch < 10**6:
        raise ValueError(f"the checkpoint's epoch is {epoch!r}")
    if not isinstance(weights, str) or not WEIGHTS_NAME.fullmatch(weights):
        raise ValueError(f"the checkpoint names its weights {weights!r}")
    return epoch, weights


class StoredCheckpoint:
    """The stored checkpoint of one job, and the folder of the running attempt that it is copied into and from."""

    def __init__(self, *, job_id: int, on_tick: Callable[[], object] = lambda: None) -> None:
        self.job_id = job_id
        self.prefix = f"checkpoints/job-{job_id}"
        self.on_tick = on_tick  # the job's heartbeat, during a long download
        self.folder: Path | None = None
        self.stored_stem = ""  # the epoch's pair this attempt last stored or fetched
        self.seen: tuple[int, int, int] | None = None  # the checkpoint.json last looked at

    # --- an attempt starts -----------------------------------------------------------------------------------

    def fetch_into(self, folder: Path) -> int:
        """Make `folder` and copy the job's latest stored checkpoint into it; returns its epoch (0: none)."""
        folder.mkdir(mode=0o700)
        epoch = 0
        try:
            epoch = self._fetch(folder)
        except Exception:  # a checkpoint only saves time: the attempt starts from the beginning instead
            log.warning(
                "job %s: its stored checkpoint could not be fetched; training starts over", self.job_id, exc_info=True
            )
            for path in folder.iterdir():
                path.unlink()
        self.folder = folder
        self.seen = self._signature()
        return epoch

    def _fetch(self, folder: Path) -> int:
        latest = self._latest()
        if latest is None:
            return 0
        epoch, sha = latest
        stem = f"{epoch:06d}-{sha}"
        with default_storage.open(f"{self.prefix}/{stem}.json", "rb") as source:
            state = source.read(MAX_STATE_BYTES + 1)
        if len(state) > MAX_STATE_BYTES:
            raise ValueError("the stored checkpoint.json is over the size limit")
        _, weights = _read_state(state)
        actual = download(f"{self.prefix}/{stem}.safetensors", folder / weights, self.on_tick)
        if actual != sha:
            raise ValueError(f"the stored weights' SHA-256 is {actual}, not {sha} as when they were stored")
        (folder / STATE_FILE).write_bytes(state)  # last, as the engine writes it: the pair is complete
        self.stored_stem = stem
        log.info("job %s: checkpoint of epoch %d fetched from storage", self.job_id, epoch)
        return epoch

    def _latest(self) -> tuple[int, str] | None:
        """(epoch, weights SHA-256) of the latest complete pair in storage."""
        pairs: dict[tuple[int, str], set[str]] = {}
        for name in self.stored_names():
            match = STORED_NAME.fullmatch(name)
            if match:
                pairs.setdefault((int(match[1]), match[2]), set()).add(match[3])
        complete = [key for key, suffixes in pairs.items() if suffixes == {"json", "safetensors"}]
        return max(complete) if complete else None

    def stored_names(self) -> list[str]:
        """The names of the job's stored checkpoint files, complete pairs or not."""
        try:
            return default_storage.listdir(self.prefix)[1]
        except FileNotFoundError:  # local storage: no folder yet
            return []

    # --- while it runs ---------------------------------------------------------------------------------------

    def keep_latest(self) -> None:
        """Store the attempt's checkpoint if the task wrote a new one since the last look (called every heartbeat)."""
        if self.folder is None:
            return
        signature = self._signature()
        if signature is None or signature == self.seen:
            return
        self.seen = signature  # a failed store waits for the next epoch rather than being tried every second
        try:
            self._store()
        except Exception:
            log.warning("job %s: checkpoint not stored; a later epoch's will be", self.job_id, exc_info=True)

    def _signature(self) -> tuple[int, int, int] | None:
        try:
            info = os.lstat(self.folder / STATE_FILE)
        except OSError:
            return None
        return info.st_ino, info.st_mtime_ns, info.st_size

    def _store(self) -> None:
        # The task may have swapped the folder or its files for links to the worker's own files: open each
        # without following links, relative to the folder opened the same way.
        folder_fd = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            with os.fdopen(_open_regular(STATE_FILE, folder_fd), "rb") as handle:
                state = handle.read(MAX_STATE_BYTES + 1)
            epoch, weights_name = _read_state(state)
            with os.fdopen(_open_regular(weights_name, folder_fd), "rb") as weights:
                size = os.fstat(weights.fileno()).st_size
                if size + len(state) > MAX_CHECKPOINT_BYTES:
                    log.warning(
                        "job %s: the checkpoint of epoch %d is %d bytes, over the limit of %d; not kept",
                        self.job_id,
                        epoch,
                        size + len(state),
                        MAX_CHECKPOINT_BYTES,
                    )
                    return
                content = File(weights)
                stem = f"{epoch:06d}-{content_sha256(content)}"
                if stem == self.stored_stem:
                    return
                content.name = f"{stem}.safetensors"
                self._save(content.name, content)
        finally:
            os.close(folder_fd)
        self._save(f"{stem}.json", ContentFile(state, name=f"{stem}.json"))
        self.stored_stem = stem
        self._delete(keep=stem)
        log.info("job %s: checkpoint of epoch %d stored (%d bytes)", self.job_id, epoch, size + len(state))

    def _save(self, name: str, content: File) -> None:
        path = f"{self.prefix}/{name}"
        if not default_storage.exists(path):  # the name is the content's hash: the same epoch stored before
            default_storage.save(path, content)

    # --- the job ends ----------------------------------------------------------------------------------------

    def discard(self) -> None:
        """Delete the job's stored checkpoint: it has ended and will not run again."""
        try:
            self._delete(keep=None)
            if storage_is_local():
                with contextlib.suppress(OSError):
                    os.rmdir(default_storage.path(self.prefix))
        except Exception:
            log.warning("job %s: its stored checkpoint could not be deleted", self.job_id, exc_info=True)

    def _delete(self, *, keep: str | None) -> None:
        for name in self.stored_names():
            if keep is None or not name.startswith(f"{keep}."):
                default_storage.delete(f"{self.prefix}/{name}")
