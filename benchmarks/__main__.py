"""`make bench`: every benchmark in turn. Results are printed, never asserted: see benchmarks/README.md."""

from benchmarks import backdoor, evasion, upload_memory, web

BENCHMARKS = [upload_memory, web, evasion, backdoor]

for benchmark in BENCHMARKS:
    print(f"\n== {benchmark.__name__} ==", flush=True)
    benchmark.main()
