"""Checks of a model card that need the engine's catalogue: the architecture name and the pre-processing.

Shared by the upload and edit forms and the API. They read the engine's data files only
(attacks.architectures, attacks.preprocess): the web process never imports torch.
"""

from __future__ import annotations

from typing import Any

from django import forms

from riskapp.user_json import user_json_check

MAX_SUGGESTIONS = 8


def architecture_problem(name: str) -> str | None:
    """Why `name` is not an architecture weights can be loaded into (with the closest names); None when it is."""
    from attacks.architectures import closest, is_known

    if not name or is_known(name):
        return None
    hint = f" Closest: {', '.join(closest(name, MAX_SUGGESTIONS))}."
    return (
        f"Unknown architecture {name!r}: type part of its name to search (timm/…, torchvision/…, or huggingface "
        f"for a Hugging Face model folder).{hint}"
    )


def preprocessing_problem(name: str, preprocessing: Any) -> str | None:
    """Why the card's pre-processing cannot be applied to architecture `name`; None when it can (or is empty)."""
    from attacks.architectures import architecture
    from attacks.context import UserError
    from attacks.preprocess import problems

    if not preprocessing:
        return None
    entry = None
    if name and not name.startswith("huggingface"):  # a folder's own defaults are known only after its intake
        try:
            entry = architecture(name)
        except UserError:
            return None  # the architecture's own error is reported on its field
    found = problems(preprocessing, entry)
    return found[0] if found else None


def architecture_options(query: str, limit: int = 30) -> list[dict[str, Any]]:
    """Catalogue entries for the searchable architecture field, best matches first."""
    from attacks.architectures import search

    return search(query, limit=limit)


class PreprocessingField(forms.JSONField):
    """A job parameter holding a model card's pre-processing (checked for known keys and sane values)."""

    def __init__(self, **kwargs):
        super().__init__(required=False, **kwargs)

    def validate(self, value):
        super().validate(value)
        if value in self.empty_values:
            return
        user_json_check(value)
        problem = preprocessing_problem("", value) if isinstance(value, dict) else "must be a JSON object."
        if problem:
            raise forms.ValidationError(problem)
