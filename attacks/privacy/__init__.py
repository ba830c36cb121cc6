"""Privacy and extraction tests: membership inference (LiRA with shadow models) and model extraction
(a query-budgeted copy). Both treat the model under test as a black box: they read its outputs, never its
weights or gradients, so ONNX uploads work too. Model inversion is not tested (see docs/privacy.md).

Engine tasks: attacks.privacy.tasks; subcommands: attacks.privacy.cli. Nothing here imports Django.
"""
