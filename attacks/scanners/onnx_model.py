"""ONNX: a single protobuf file with standard operators only.

External-data paths have had traversal bugs and custom operator domains mean native code,
so both are refused. The model is parsed without following external data; nothing is run.
The same checks guard `attacks.loading.load_onnx`, so the loader is safe on its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import onnx

from attacks.scanners.findings import Finding, finding

ALLOWED_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml"})


def _graphs(model: onnx.ModelProto) -> Iterator[onnx.GraphProto]:
    """The main graph, training graphs and every subgraph (If/Loop/Scan bodies), without recursion."""
    stack = [model.graph]
    for info in model.training_info:
        stack.extend([info.initialization, info.algorithm])
    while stack:
        graph = stack.pop()
        yield graph
        for node in graph.node:
            for attribute in node.attribute:
                if attribute.HasField("g"):
                    stack.append(attribute.g)
                stack.extend(attribute.graphs)


def _nodes(model: onnx.ModelProto) -> Iterator[onnx.NodeProto]:
    for graph in _graphs(model):
        yield from graph.node
    for function in model.functions:
        yield from function.node


def _tensors(model: onnx.ModelProto) -> Iterator[onnx.TensorProto]:
    for graph in _graphs(model):
        yield from graph.initializer
        for sparse in graph.sparse_initializer:
            yield from (sparse.values, sparse.indices)
    for node in _nodes(model):
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            if attribute.HasField("sparse_tensor"):
                yield from (attribute.sparse_tensor.values, attribute.sparse_tensor.indices)
            for sparse in attribute.sparse_tensors:
                yield from (sparse.values, sparse.indices)


def check_onnx_model(model: onnx.ModelProto) -> list[Finding]:
    findings: list[Finding] = []
    reported: set[str] = set()

    def custom(domain: str, where: str) -> None:
        if domain not in ALLOWED_DOMAINS and domain not in reported:
            reported.add(domain)
            findings.append(finding("onnx_custom_domain", domain=domain, where=where))

    for opset in model.opset_import:
        custom(opset.domain, " (opset import)")
    for function in model.functions:
        custom(function.domain, f" (local function {function.name!r})")
    for node in _nodes(model):
        custom(node.domain, f" (operator {node.op_type!r})")
    for tensor in _tensors(model):
        if tensor.data_location == onnx.TensorProto.EXTERNAL or len(tensor.external_data):
            location = next((entry.value for entry in tensor.external_data if entry.key == "location"), "")
            findings.append(finding("onnx_external_data", member=tensor.name, location=location))
            if len(findings) >= 10:
                break
    return findings


def load_onnx_model(path: Path) -> tuple[onnx.ModelProto | None, list[Finding]]:
    """The parsed model (never following external data) and every reason to refuse it."""
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as error:  # protobuf's DecodeError and friends: the bytes are not a ModelProto
        return None, [finding("onnx_parse_error", detail=str(error)[:200] or type(error).__name__)]
    findings = check_onnx_model(model)
    if not findings:
        try:
            onnx.checker.check_model(model)
        except Exception as error:  # onnx.checker.ValidationError, or a C++ error surfaced as another type
            first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
            findings.append(finding("onnx_invalid", detail=first_line[:200]))
    return model, findings


def check_onnx(path: Path) -> list[Finding]:
    return load_onnx_model(path)[1]
