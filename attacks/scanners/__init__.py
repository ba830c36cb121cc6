"""The checks behind `attacks.scan.scan_file`, one module per container format.

Every checker reads bytes and parses structure; none of them unpickles, imports or runs
anything from the file. `attacks.scan` is the public entry point.
"""
