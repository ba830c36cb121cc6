"""Each evaluation kind is one declaration (riskapp/evaluations/kinds/): the rest of the app asks the registry and
never names a kind. The scan below finds a kind's name used as a kind outside that package: compared with
(`job.kind == "strip"`, `kind in ("attack", ...)`), passed as a kind (`kind="lineage"`, `kind__in=[...]`) or
listed in a tuple, list or set. Dict keys are allowed: they are document keys (the report's "lineage"), not kinds."""

import ast
from pathlib import Path

import riskapp
from riskapp.evaluations.kinds import EVALUATION_KINDS, kinds_with
from riskapp.evaluations.kinds.base import BACKDOOR_CHECK, NEURAL_CLEANSE, ROBUST_ACCURACY

RISKAPP_DIR = Path(riskapp.__file__).parent
KINDS_DIR = RISKAPP_DIR / "evaluations" / "kinds"
# "attack" is also the name of a parameter (an attack's name): only a comparison with a kind or a kind argument
# counts for it.
AMBIGUOUS = {"attack"}


def _constants(node: ast.AST) -> list[ast.Constant]:
    """The string constants of a node, and of the tuple, list or set it is."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node]
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return [c for element in node.elts for c in _constants(element)]
    return []


def _names_a_kind(node: ast.AST) -> bool:
    """Whether `node` (a name, attribute or call) reads as a job kind: `kind`, `job.kind`, `planned.kind`."""
    if isinstance(node, ast.Name):
        return node.id == "kind" or node.id.endswith("_kind")
    return isinstance(node, ast.Attribute) and node.attr == "kind"


def kind_literals(source: str, kinds: set[str]) -> list[tuple[int, str]]:
    """(line, name) for each use of an evaluation kind's name as a kind in `source`."""
    found = []
    listed = set()  # constants inside a collection a rule below already judged
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            about_kind = any(_names_a_kind(side) for side in sides)
            for side in sides:
                for constant in _constants(side):
                    listed.add(id(constant))
                    if constant.value in kinds and (about_kind or constant.value not in AMBIGUOUS):
                        found.append((constant.lineno, constant.value))
        elif isinstance(node, ast.keyword) and node.arg and (node.arg == "kind" or node.arg.startswith("kind__")):
            for constant in _constants(node.value):
                listed.add(id(constant))
                if constant.value in kinds:
                    found.append((constant.lineno, constant.value))
        elif isinstance(node, ast.Tuple | ast.List | ast.Set):
            for constant in _constants(node):
                if id(constant) not in listed and constant.value in kinds - AMBIGUOUS:
                    listed.add(id(constant))
                    found.append((constant.lineno, constant.value))
    return sorted(set(found))


def test_the_scan_finds_each_way_of_naming_a_kind():
    source = (
        'if job.kind == "strip": pass\n'
        'if kind in ("attack", "lineage"): pass\n'
        'Job.objects.filter(kind__in=["data_scan"])\n'
        'job_create(kind="attack")\n'
        'CHECKS = ("backdoor_scan", "validation")\n'
        'document = {"lineage": [], "attack": "pgd_linf"}\n'
        'names = ("attack", "eps", "threshold")\n'
        'if name == "attack": pass\n'
    )
    assert kind_literals(source, set(EVALUATION_KINDS)) == [
        (1, "strip"),
        (2, "attack"),
        (2, "lineage"),
        (3, "data_scan"),
        (4, "attack"),
        (5, "backdoor_scan"),
    ]


def test_no_app_module_names_an_evaluation_kind_outside_the_kinds_package():
    kinds = set(EVALUATION_KINDS)
    offenders = [
        f"{path.relative_to(RISKAPP_DIR)}:{line}: {name}"
        for path in sorted(RISKAPP_DIR.rglob("*.py"))
        if KINDS_DIR not in path.parents and "migrations" not in path.parts
        for line, name in kind_literals(path.read_text(), kinds)
    ]
    assert offenders == []


def test_the_registry_holds_the_kinds_in_their_order():
    assert list(EVALUATION_KINDS) == [
        "attack",
        "attack_suite",
        "robustness_curve",
        "transfer_attack",
        "backdoor_scan",
        "strip",
        "data_scan",
        "lineage",
        "hardening",
        "membership_inference",
        "extraction",
    ]
    assert kinds_with(BACKDOOR_CHECK) == ("backdoor_scan", "strip", "data_scan")
    assert kinds_with(ROBUST_ACCURACY) == ("attack", "attack_suite", "robustness_curve")
    assert kinds_with(NEURAL_CLEANSE) == ("backdoor_scan",)


def test_attack_properties_come_from_the_engine_without_torch():
    import subprocess
    import sys

    code = (
        "import sys; from attacks.evasion.attacks import ATTACK_PROPERTIES as P; "
        "assert not P['square']['white_box'] and P['square']['eps_bounded'] and P['square']['budget'] == 'max_queries';"
        "assert P['pgd_linf']['white_box'] and not P['cw_l2']['eps_bounded'];"
        "assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
