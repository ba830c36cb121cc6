"""A seeded backdoor scan of a trojan trained on the pinned thread (`common.fixed_threads`) gives the same flags and
masks whatever torch's thread count in the scanning process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
# Train a suite trojan and scan it, in a process started with the given thread count.
SCRIPT = """
import json, sys, torch
from attacks.backdoor import cleanse, trojans
torch.set_num_threads(int(sys.argv[1]))
built = trojans.build(trojans.BY_NAME["digits-one-pixel"])
report, _ = cleanse.scan(built.model, built.x_test, built.y_test, num_classes=10, steps=100, precision="float32")
print(json.dumps({"flagged": report["flagged_classes"], "norms": [c["mask_l1"] for c in report["classes"]],
                  "threads_after": torch.get_num_threads()}))
"""


def _scan_with_threads(threads: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(threads)], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_same_seeded_scan_at_one_and_two_threads_gives_the_same_flags_and_masks():
    one, two = _scan_with_threads(1), _scan_with_threads(2)
    assert 2 in one["flagged"]  # the planted one-pixel target, so the comparison is of a real verdict
    assert one["flagged"] == two["flagged"]
    assert one["norms"] == two["norms"]  # to the rounding of the document: the very same optimisation
    assert (one["threads_after"], two["threads_after"]) == (1, 2)  # the training's pin gave the setting back
