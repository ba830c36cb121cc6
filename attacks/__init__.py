"""riskapp's attack engine: loading, scanning, evasion, backdoor and lineage tests.

It never imports Django or riskapp. It takes file paths, arrays and a spec, returns plain
data, and runs on its own from the command line (`python -m attacks --help`).
"""

__version__ = "0.1.0"
