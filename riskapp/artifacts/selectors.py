from dataclasses import dataclass, field

from riskapp.artifacts.models import ModelArtifact


@dataclass
class LineageNode:
    model: ModelArtifact
    students: list["LineageNode"] = field(default_factory=list)


def lineage_roots(models: list[ModelArtifact]) -> list[LineageNode]:
    """The project's models as teacher → student trees (roots: models without a teacher in the project)."""
    nodes = {model.pk: LineageNode(model) for model in models}
    roots = []
    for model in models:
        parent = nodes.get(model.parent_id)
        (parent.students if parent and model.parent_id != model.pk else roots).append(nodes[model.pk])
    return roots
