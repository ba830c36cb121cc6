"""Hardening jobs: make a new version of a model that resists what the tests found, and measure it before and after.

Methods: all-layer fine-tuning on clean data, adversarial fine-tuning (Madry et al.'s PGD training and TRADES),
and backdoor removal (fine-pruning, Neural Cleanse unlearning of a flagged class). Each writes the hardened weights
as safetensors with the input architecture's key names, checkpoints every epoch and resumes from its checkpoint.

Engine task: attacks.hardening.tasks; subcommand: attacks.hardening.cli; docs/hardening.md. Nothing here imports
Django.
"""
