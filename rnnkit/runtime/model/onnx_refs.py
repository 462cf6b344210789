"""Which files an ONNX model would make onnxruntime read (its external-data locations),
and how many nodes its graph has.

A tensor may keep its values in another file (``data_location = EXTERNAL``, with a
``location`` relative to the model file). onnxruntime follows such a reference wherever it
points, so a bundle must vouch for it before the model is loaded (``bundle.py``).

The light side does not depend on the ``onnx`` package (17 MB, and only this one question
to ask of it), so this module reads the few messages that can hold a tensor straight from
the protobuf wire format. Field numbers are those of ``onnx.proto`` (tested against the
``onnx`` package's own descriptors and ``save_as_external_data``).
"""

from __future__ import annotations

from collections.abc import Iterator

# onnx.proto field numbers, per message: which fields hold messages worth descending into.
_MODEL = {7: "graph", 20: "training", 25: "function"}
_TRAINING = {1: "graph", 2: "graph"}
_FUNCTION = {7: "node", 11: "attribute"}
_GRAPH = {1: "node", 5: "tensor", 15: "sparse"}
_NODE = {5: "attribute"}
_ATTRIBUTE = {5: "tensor", 6: "graph", 10: "tensor", 11: "graph", 22: "sparse", 23: "sparse"}
_SPARSE = {1: "tensor", 2: "tensor"}
_MESSAGES = {
    "model": _MODEL,
    "training": _TRAINING,
    "function": _FUNCTION,
    "graph": _GRAPH,
    "node": _NODE,
    "attribute": _ATTRIBUTE,
    "sparse": _SPARSE,
}
_TENSOR_EXTERNAL_DATA, _TENSOR_DATA_LOCATION, _EXTERNAL = 13, 14, 1
_MAX_DEPTH = 64  # subgraphs nest (If/Loop bodies); a deeper file is not a model rnnkit wrote


class MalformedOnnx(ValueError):
    """The bytes are not a well-formed protobuf message."""


def _varint(buf: memoryview, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise MalformedOnnx("truncated or overlong varint")
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, i
        shift += 7


def _fields(buf: memoryview) -> Iterator[tuple[int, int | memoryview]]:
    """``(field number, value)`` for every field of one message; nested messages, strings
    and bytes come as views (nothing is copied)."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
            yield number, value
        elif wire == 2:
            size, i = _varint(buf, i)
            if i + size > len(buf):
                raise MalformedOnnx("a field runs past the end of its message")
            yield number, buf[i : i + size]
            i += size
        elif wire in (1, 5):
            i += 8 if wire == 1 else 4
        else:
            raise MalformedOnnx(f"unsupported wire type {wire}")
    if i != len(buf):
        raise MalformedOnnx("a fixed-size field runs past the end of its message")


def _tensor_location(tensor: memoryview) -> str | None:
    external, location = False, None
    for number, value in _fields(tensor):
        if number == _TENSOR_DATA_LOCATION and value == _EXTERNAL:
            external = True
        elif number == _TENSOR_EXTERNAL_DATA and isinstance(value, memoryview):
            entry = dict(_fields(value))
            if bytes(entry.get(1, b"")) == b"location":
                location = bytes(entry.get(2, b"")).decode("utf-8", "replace")
    if external:
        return location if location is not None else ""
    return None


def external_data_locations(model: bytes) -> list[str]:
    """The external-data ``location`` of every external tensor in a serialized
    ``ModelProto`` (``""`` for one that names none). Raises :class:`MalformedOnnx`."""
    found: list[str] = []
    stack = [("model", memoryview(model), 0)]
    while stack:
        kind, buf, depth = stack.pop()
        if depth > _MAX_DEPTH:
            raise MalformedOnnx(f"messages nested more than {_MAX_DEPTH} deep")
        if kind == "tensor":
            location = _tensor_location(buf)
            if location is not None:
                found.append(location)
            continue
        children = _MESSAGES[kind]
        for number, value in _fields(buf):
            if number in children and isinstance(value, memoryview):
                stack.append((children[number], value, depth + 1))
    return found


def graph_ops(model: bytes) -> list[str]:
    """The op type of every node in a serialized ``ModelProto``'s main graph (not counting
    subgraphs), in order. Raises :class:`MalformedOnnx`."""
    ops = []
    for number, value in _fields(memoryview(model)):
        if number == 7 and isinstance(value, memoryview):  # ModelProto.graph
            for field, node in _fields(value):
                if field == 1 and isinstance(node, memoryview):  # GraphProto.node
                    kind = next((v for n, v in _fields(node) if n == 4), b"")  # op_type
                    ops.append(bytes(kind).decode("utf-8", "replace"))
    return ops
