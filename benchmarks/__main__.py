"""`make bench`: every benchmark in turn. Results are printed, never asserted: see benchmarks/README.md.

The load test is the exception: a failed request is an error, not a slow page, so `make bench` ends with
exit code 1 when its users saw any (after every benchmark has run)."""

import sys

from benchmarks import (
    backdoor,
    backdoor_suite,
    estimates,
    evasion,
    hardening,
    intake_library,
    library_pgd,
    load,
    privacy,
    screening,
    startup,
    upload_memory,
    web,
)

BENCHMARKS = [
    upload_memory,
    web,
    load,
    startup,
    intake_library,
    evasion,
    library_pgd,
    estimates,
    backdoor,
    backdoor_suite,
    screening,
    privacy,
    hardening,
]

failed = []
for benchmark in BENCHMARKS:
    print(f"\n== {benchmark.__name__} ==", flush=True)
    # The load test reuses the database that the page-speed benchmark has just generated.
    if load.main(["--reuse"]) if benchmark is load else benchmark.main():
        failed.append(benchmark.__name__)
if failed:
    sys.exit(f"failed: {', '.join(failed)}")
