"""The hardening methods by name, with what riskapp's run form calls them. Plain data that imports nothing (no
torch, no numpy), so the web process reads the names from here instead of listing them again; the engine
(attacks.hardening.harden) runs them."""

METHOD_LABELS = {
    "finetune": "Fine-tune all layers on clean data",
    "adversarial": "Adversarial fine-tuning (PGD)",
    "trades": "Adversarial fine-tuning (TRADES)",
    "fine-pruning": "Fine-pruning (prune dormant units, then fine-tune)",
    "unlearn": "Unlearn a flagged class's trigger (Neural Cleanse)",
}
METHODS = tuple(METHOD_LABELS)
# The methods that train on attacked inputs: they need ε, and measure robust accuracy before and after.
ADVERSARIAL_METHODS = ("adversarial", "trades")
