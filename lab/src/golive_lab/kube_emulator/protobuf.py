"""Decoding of the Kubernetes protobuf request bodies that kubectl's typed clients send.

``kubectl create namespace|deployment|service`` encode their request body as
``application/vnd.kubernetes.protobuf`` (a ``k8s\\0`` magic prefix and a
``runtime.Unknown`` envelope around the object). Answers stay JSON, which those clients
accept. Only the fields those commands set are mapped (names, labels, annotations,
replicas, selectors, containers with image, ports, env, service ports); other fields are
skipped, since the emulator ignores them anyway.
"""

from __future__ import annotations

from typing import Any

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"

# field number -> (json name, kind, nested schema, repeated)
Schema = dict[int, tuple[str, str, Any, bool]]

OBJECT_META: Schema = {
    1: ("name", "str", None, False),
    2: ("generateName", "str", None, False),
    3: ("namespace", "str", None, False),
    11: ("labels", "map", None, False),
    12: ("annotations", "map", None, False),
    14: ("finalizers", "str", None, True),
}
LABEL_SELECTOR_REQUIREMENT: Schema = {
    1: ("key", "str", None, False),
    2: ("operator", "str", None, False),
    3: ("values", "str", None, True),
}
LABEL_SELECTOR: Schema = {
    1: ("matchLabels", "map", None, False),
    2: ("matchExpressions", "msg", LABEL_SELECTOR_REQUIREMENT, True),
}
CONTAINER_PORT: Schema = {
    1: ("name", "str", None, False),
    3: ("containerPort", "int", None, False),
    4: ("protocol", "str", None, False),
}
ENV_VAR: Schema = {1: ("name", "str", None, False), 2: ("value", "str", None, False)}
CONTAINER: Schema = {
    1: ("name", "str", None, False),
    2: ("image", "str", None, False),
    3: ("command", "str", None, True),
    4: ("args", "str", None, True),
    6: ("ports", "msg", CONTAINER_PORT, True),
    7: ("env", "msg", ENV_VAR, True),
}
POD_SPEC: Schema = {2: ("containers", "msg", CONTAINER, True), 3: ("restartPolicy", "str", None, False)}
POD_TEMPLATE: Schema = {1: ("metadata", "msg", OBJECT_META, False), 2: ("spec", "msg", POD_SPEC, False)}
DEPLOYMENT_SPEC: Schema = {
    1: ("replicas", "int", None, False),
    2: ("selector", "msg", LABEL_SELECTOR, False),
    3: ("template", "msg", POD_TEMPLATE, False),
    5: ("minReadySeconds", "int", None, False),
    7: ("paused", "bool", None, False),
    9: ("progressDeadlineSeconds", "int", None, False),
}
INT_OR_STRING: Schema = {1: ("type", "int", None, False), 2: ("intVal", "int", None, False),
                         3: ("strVal", "str", None, False)}  # fmt: skip
SERVICE_PORT: Schema = {
    1: ("name", "str", None, False),
    2: ("protocol", "str", None, False),
    3: ("port", "int", None, False),
    4: ("targetPort", "msg", INT_OR_STRING, False),
}
SERVICE_SPEC: Schema = {
    1: ("ports", "msg", SERVICE_PORT, True),
    2: ("selector", "map", None, False),
    3: ("clusterIP", "str", None, False),
    4: ("type", "str", None, False),
}
OBJECTS: dict[str, Schema] = {
    "Namespace": {1: ("metadata", "msg", OBJECT_META, False)},
    "Deployment": {1: ("metadata", "msg", OBJECT_META, False), 2: ("spec", "msg", DEPLOYMENT_SPEC, False)},
    "Service": {1: ("metadata", "msg", OBJECT_META, False), 2: ("spec", "msg", SERVICE_SPEC, False)},
    "Pod": {1: ("metadata", "msg", OBJECT_META, False), 2: ("spec", "msg", POD_SPEC, False)},
}
TYPE_META: Schema = {1: ("apiVersion", "str", None, False), 2: ("kind", "str", None, False)}
UNKNOWN: Schema = {1: ("typeMeta", "msg", TYPE_META, False), 2: ("raw", "bytes", None, False)}


class ProtobufError(ValueError):
    """A body that is not a Kubernetes protobuf object the emulator can read."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ProtobufError("varint too long")


def _fields(data: bytes) -> list[tuple[int, int, Any]]:
    """(field number, wire type, value) for each field of a message."""
    found: list[tuple[int, int, Any]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            length, pos = _varint(data, pos)
            value, pos = data[pos : pos + length], pos + length
            if pos > len(data):
                raise ProtobufError("truncated field")
        elif wire == 1:
            value, pos = data[pos : pos + 8], pos + 8
        elif wire == 5:
            value, pos = data[pos : pos + 4], pos + 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
        found.append((number, wire, value))
    return found


def _decode(data: bytes, schema: Schema) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for number, _wire, value in _fields(data):
        if number not in schema:
            continue
        name, kind, nested, repeated = schema[number]
        decoded: Any
        if kind == "str":
            decoded = bytes(value).decode()
        elif kind == "bytes":
            decoded = bytes(value)
        elif kind == "int":
            decoded = value - (1 << 64) if value >= 1 << 63 else value
        elif kind == "bool":
            decoded = bool(value)
        elif kind == "map":
            entry = {n: bytes(v).decode() for n, _w, v in _fields(value)}
            result.setdefault(name, {})[entry.get(1, "")] = entry.get(2, "")
            continue
        else:
            decoded = _decode(value, nested)
        if repeated:
            result.setdefault(name, []).append(decoded)
        else:
            result[name] = decoded
    return result


def _int_or_string(value: dict[str, Any]) -> int | str:
    return value.get("strVal", "") if value.get("type") == 1 else int(value.get("intVal", 0))


def decode_object(body: bytes) -> dict[str, Any]:
    """A JSON-shaped object from a Kubernetes protobuf request body."""
    if not body.startswith(MAGIC):
        raise ProtobufError("missing the k8s protobuf magic prefix")
    envelope = _decode(body[len(MAGIC) :], UNKNOWN)
    type_meta = envelope.get("typeMeta") or {}
    kind = type_meta.get("kind", "")
    if kind not in OBJECTS:
        raise ProtobufError(f"protobuf bodies of kind {kind!r} are not supported; send JSON")
    obj = _decode(envelope.get("raw", b""), OBJECTS[kind])
    obj["kind"] = kind
    obj["apiVersion"] = type_meta.get("apiVersion", "")
    for port in (obj.get("spec") or {}).get("ports") or []:
        if kind == "Service" and "targetPort" in port:
            port["targetPort"] = _int_or_string(port["targetPort"])
    return obj
