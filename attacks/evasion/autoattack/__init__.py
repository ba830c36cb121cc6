"""AutoAttack, standard version (Croce & Hein, ICML 2020), as plain torch code for L∞ and L2.

The cascade runs four attacks in turn, each only on the samples that every earlier one failed to fool:

- APGD-CE: auto-PGD on the cross-entropy loss, 100 iterations, step size 2ε halved at checkpoints when progress
  stalls, momentum 0.75;
- APGD-T: the same optimiser on the targeted DLR loss, once per target class (the 9 runner-up classes of the
  clean logits, or num_classes − 1 when there are fewer);
- FAB-T: the targeted fast adaptive boundary attack (Croce & Hein, ICML 2020), 100 iterations per target class;
- Square: the score-based random-search attack (Andriushchenko et al., ECCV 2020), 5000 queries, margin loss.

Every candidate is projected onto the ε-ball, clipped to the input range and predicted again before it counts, so
a sample is fooled only by a point that really lies in the threat model. A sample drops out of a stage as soon as
it is fooled: nothing later can change its verdict, and it costs nothing more.

Work goes stage by stage over the surviving samples in batches of `batch_size` (memory is bounded by the batch),
on the model's device, with randomness drawn from one seeded `torch.Generator`. Cancellation is checked between
batches and every few dozen iterations inside them. FAB-T's checks and Square's queries need no gradient: on the CPU
they go through `attacks.evasion.inference.query_forward` (onnxruntime, checked against the model first), the
gradient passes and the final verification through the model itself.

One module per stage (`autopgd` APGD-CE, `dlr` APGD-T's loss and targets, `fab` FAB-T, `square_attack` Square),
the cascade in `cascade`; the Lp-ball geometry and the drop-the-fooled bookkeeping are shared with PGD
(`attacks.evasion.lp`, `attacks.evasion.active`).
"""

from attacks.evasion.autoattack.autopgd import apgd
from attacks.evasion.autoattack.cascade import STAGES, AutoAttackResult, Context, StageStats, autoattack
from attacks.evasion.autoattack.fab import fab_targeted
from attacks.evasion.autoattack.square_attack import square
from attacks.evasion.lp import NORMS

__all__ = [
    "NORMS",
    "STAGES",
    "AutoAttackResult",
    "Context",
    "StageStats",
    "apgd",
    "autoattack",
    "fab_targeted",
    "square",
]
