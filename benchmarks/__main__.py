"""`make bench`: every benchmark in turn. Results are printed, never asserted: see benchmarks/README.md."""

from benchmarks import upload_memory

BENCHMARKS = [upload_memory]

for benchmark in BENCHMARKS:
    print(f"\n== {benchmark.__name__} ==")
    benchmark.main()
