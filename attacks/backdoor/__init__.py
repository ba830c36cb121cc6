"""Backdoor and poisoning checks: Neural Cleanse, STRIP, poisoned-data scans, teacher/student lineage.

Every module here is plain torch / numpy / scikit-learn (plus ART's clustering utilities);
none imports Django. Engine tasks: attacks.backdoor.tasks; the demo models: attacks.backdoor.demo.
"""
