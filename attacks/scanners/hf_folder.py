"""Hugging Face model folders (a save_pretrained folder zipped): members, config and weights header.

Nothing is executed or unpickled: config.json is read as JSON, model.safetensors' header is
checked like any safetensors upload (from a private temporary copy), and members that look
like pickles (a pytorch_model.bin left in the folder) are searched for payloads so that a
malicious one is reported as such, not just refused.
"""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path

from attacks.context import UserError
from attacks.scanners.findings import Finding, finding
from attacks.scanners.payloads import archive_payloads
from attacks.scanners.safetensors_header import check_safetensors


def check_hf_folder(archive: zipfile.ZipFile) -> list[Finding]:
    from attacks.huggingface import CONFIG, WEIGHTS, _members, _read_json, check_config, folder_problems

    names = archive.namelist()
    findings = [finding("hf_folder_layout", detail=problem) for problem in folder_problems(names)]
    findings += archive_payloads(archive, every_member=False)
    if findings:
        return findings
    _, members = _members(names)
    try:
        check_config(_read_json(archive, members[CONFIG]))
    except UserError as error:
        findings.append(finding("hf_config", detail=str(error)))
    with tempfile.TemporaryDirectory() as scratch:
        weights = Path(scratch) / WEIGHTS
        with archive.open(members[WEIGHTS]) as source, weights.open("wb") as target:
            while chunk := source.read(1024 * 1024):
                target.write(chunk)
        findings += check_safetensors(weights)
    return findings
