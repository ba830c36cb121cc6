"""The evaluation job kinds. Their names are the ones the recommended test plan and the evidence rules use."""

from django import forms

from riskapp.artifacts.cards import PreprocessingField
from riskapp.jobs.kinds import JobKind, register_kind

MODEL_FILES = ("model_path", "data_path")


class EngineParams(forms.Form):
    """What every evaluation passes to the engine; the engine checks the values (clear UserErrors)."""

    model_id = forms.IntegerField()
    dataset_id = forms.IntegerField()
    model_path = forms.CharField()
    arch = forms.CharField(required=False)
    num_classes = forms.IntegerField(required=False, min_value=2)
    preprocessing = PreprocessingField()  # the model card's; blank: the library's defaults
    data_path = forms.CharField()
    sample_limit = forms.IntegerField(required=False, min_value=0)
    batch_size = forms.IntegerField(required=False, min_value=1, max_value=8192)
    seed = forms.IntegerField(required=False, min_value=0)
    steps = forms.IntegerField(required=False, min_value=1, max_value=10_000)  # attack or optimisation steps


class EvasionParams(EngineParams):
    attacks = forms.JSONField()
    eps = forms.JSONField()
    norm = forms.ChoiceField(choices=[("inf", "L∞"), ("2", "L2")], required=False)
    # Black-box query budget per sample (Square's iterations, HopSkipJump's evaluations); blank: the engine's 1000.
    max_queries = forms.IntegerField(required=False, min_value=10, max_value=10_000_000)


class TransferParams(EvasionParams):
    teacher_id = forms.IntegerField()
    teacher_path = forms.CharField()
    teacher_arch = forms.CharField(required=False)
    teacher_num_classes = forms.IntegerField(required=False, min_value=2)
    student_path = forms.CharField()
    student_arch = forms.CharField(required=False)
    student_num_classes = forms.IntegerField(required=False, min_value=2)
    teacher_preprocessing = PreprocessingField()
    student_preprocessing = PreprocessingField()


class StripParams(EngineParams):
    suspect_path = forms.CharField(required=False)


class LineageParams(EngineParams):
    teacher_id = forms.IntegerField()
    teacher_path = forms.CharField()
    student_path = forms.CharField()
    teacher_preprocessing = PreprocessingField()
    student_preprocessing = PreprocessingField()


def _finished(job) -> None:
    from riskapp.evaluations.services import evaluation_finished

    evaluation_finished(job=job)


def _present(job, files) -> dict:
    from riskapp.evaluations.results import present

    return present(job, files)


def register_evaluation_kinds() -> None:
    common = {"queue": "gpu", "user_startable": False, "on_finish": _finished, "present": _present}
    for name, label, engine, form, files, description in (
        (
            "attack",
            "Evasion attack",
            "evasion",
            EvasionParams,
            MODEL_FILES,
            "One evasion attack at one ε: clean and robust accuracy, success rate, perturbation size.",
        ),
        (
            "attack_suite",
            "Attack suite",
            "evasion",
            EvasionParams,
            MODEL_FILES,
            "Several evasion attacks at one ε, with validity checks across them.",
        ),
        (
            "robustness_curve",
            "Robustness curve",
            "robustness_curve",
            EvasionParams,
            MODEL_FILES,
            "Robust accuracy over a grid of ε (PGD).",
        ),
        (
            "transfer_attack",
            "Transfer attack",
            "transfer",
            TransferParams,
            ("teacher_path", "student_path", "data_path"),
            "Adversarial examples crafted on the teacher, replayed against the student.",
        ),
        (
            "backdoor_scan",
            "Backdoor scan",
            "backdoor_scan",
            EngineParams,
            MODEL_FILES,
            "Neural Cleanse: the smallest trigger per class; a class with anomaly index above 2 is flagged.",
        ),
        (
            "strip",
            "STRIP",
            "strip",
            StripParams,
            (*MODEL_FILES, "suspect_path"),
            "Entropy of superimposed inputs: flags inputs that carry a trigger.",
        ),
        (
            "data_scan",
            "Poisoned-data scan",
            "data_scan",
            EngineParams,
            MODEL_FILES,
            "Activation clustering and spectral signatures on a training set.",
        ),
        (
            "lineage",
            "Lineage",
            "lineage",
            LineageParams,
            ("teacher_path", "student_path", "data_path"),
            "Per-layer weight change from the teacher and whether its triggers survive in the student.",
        ),
    ):
        register_kind(
            JobKind(
                name=name,
                label=label,
                engine_task=engine,
                form=form,
                file_params=files,
                description=description,
                **common,
            )
        )
