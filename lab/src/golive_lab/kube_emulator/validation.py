"""Defaulting and validation: enough to reject the obviously invalid objects with 422."""

from __future__ import annotations

import re
from typing import Any

from .resources import Resource
from .selectors import SelectorError, from_label_selector, matches_labels, selector_is_empty
from .store import ApiError, Obj

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")

Cause = dict[str, str]


def _cause(reason: str, field: str, message: str) -> Cause:
    return {"reason": reason, "message": f"{field}: {message}" if field else message, "field": field}


def required(field: str) -> Cause:
    return _cause("FieldValueRequired", field, "Required value")


def invalid(field: str, value: Any, detail: str) -> Cause:
    return _cause("FieldValueInvalid", field, f"Invalid value: {_show(value)}: {detail}")


def _show(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value)


def invalid_error(res: Resource, name: str, causes: list[Cause]) -> ApiError:
    group = f".{res.group}" if res.group else ""
    listed = ", ".join(cause["message"] for cause in causes)
    message = f'{res.kind}{group} "{name}" is invalid: ' + (f"[{listed}]" if len(causes) > 1 else listed)
    return ApiError(
        422,
        "Invalid",
        message,
        details={"name": name, "group": res.group, "kind": res.kind, "causes": causes},
    )


# -- defaults ----------------------------------------------------------------------------
def apply_defaults(res: Resource, obj: Obj) -> None:
    spec = obj.get("spec")
    if res.kind == "Deployment" and isinstance(spec, dict):
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        strategy = spec.setdefault("strategy", {})
        if isinstance(strategy, dict):
            strategy.setdefault("type", "RollingUpdate")
            if strategy["type"] == "RollingUpdate":
                rolling = strategy.setdefault("rollingUpdate", {})
                if isinstance(rolling, dict):
                    rolling.setdefault("maxSurge", "25%")
                    rolling.setdefault("maxUnavailable", "25%")
        _default_pod_spec((spec.get("template") or {}).get("spec"))
    elif res.kind == "ReplicaSet" and isinstance(spec, dict):
        spec.setdefault("replicas", 1)
        _default_pod_spec((spec.get("template") or {}).get("spec"))
    elif res.kind == "Pod":
        _default_pod_spec(spec)
    elif res.kind == "Service" and isinstance(spec, dict):
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        for port in spec.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
                port.setdefault("targetPort", port.get("port"))
    elif res.kind == "Namespace":
        obj.setdefault("spec", {"finalizers": ["kubernetes"]})
        obj["status"] = {"phase": "Active"}


def _default_pod_spec(spec: Any) -> None:
    if not isinstance(spec, dict):
        return
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    for container in spec.get("containers") or []:
        if isinstance(container, dict):
            container.setdefault("imagePullPolicy", "IfNotPresent")
            container.setdefault("terminationMessagePath", "/dev/termination-log")
            container.setdefault("terminationMessagePolicy", "File")
            for port in container.get("ports") or []:
                if isinstance(port, dict):
                    port.setdefault("protocol", "TCP")


# -- validation --------------------------------------------------------------------------
def validate(res: Resource, obj: Obj, *, old: Obj | None = None) -> None:
    """Raise a 422 ``Invalid`` error listing every problem found."""
    meta = obj.get("metadata") or {}
    name = str(meta.get("name") or "")
    causes = _validate_name(res, name)
    labels = meta.get("labels") or {}
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        causes.append(invalid("metadata.labels", labels, "label values must be strings"))
    spec = obj.get("spec")
    if res.kind in ("Deployment", "ReplicaSet"):
        causes += _validate_workload(spec, old=old)
    elif res.kind == "Pod":
        causes += _validate_pod_spec(spec, "spec")
    elif res.kind == "Service":
        causes += _validate_service(spec)
    if causes:
        raise invalid_error(res, name, causes)


def _validate_name(res: Resource, name: str) -> list[Cause]:
    if not name:
        return [required("metadata.name")]
    if res.kind in ("Namespace",):
        pattern, what = DNS1123_LABEL, "a lowercase RFC 1123 label"
    elif res.kind == "Service":
        pattern, what = DNS1035_LABEL, "a DNS-1035 label"
    else:
        pattern, what = DNS1123_SUBDOMAIN, "a lowercase RFC 1123 subdomain"
    limit = 63 if pattern is not DNS1123_SUBDOMAIN else 253
    if len(name) > limit or not pattern.match(name):
        return [
            invalid(
                "metadata.name",
                name,
                f"a name must be {what} (lowercase alphanumerics and '-', starting and ending "
                f"with an alphanumeric), at most {limit} characters",
            )
        ]
    return []


def _validate_workload(spec: Any, *, old: Obj | None) -> list[Cause]:
    if not isinstance(spec, dict):
        return [required("spec")]
    causes: list[Cause] = []
    replicas = spec.get("replicas", 1)
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        causes.append(invalid("spec.replicas", replicas, "must be greater than or equal to 0"))
    selector = spec.get("selector")
    template = spec.get("template") or {}
    template_labels = (template.get("metadata") or {}).get("labels") or {}
    if selector_is_empty(selector):
        causes.append(required("spec.selector"))
    else:
        try:
            requirements = from_label_selector(selector)
        except SelectorError as exc:
            causes.append(invalid("spec.selector", selector, str(exc)))
        else:
            if not matches_labels(template_labels, requirements):
                causes.append(
                    invalid(
                        "spec.template.metadata.labels",
                        _labels_text(template_labels),
                        "`selector` does not match template `labels`",
                    )
                )
    if old is not None and (old.get("spec") or {}).get("selector") != selector:
        causes.append(invalid("spec.selector", selector, "field is immutable"))
    causes += _validate_pod_spec(template.get("spec"), "spec.template.spec")
    for field in ("progressDeadlineSeconds", "minReadySeconds", "revisionHistoryLimit"):
        value = spec.get(field)
        if value is not None and (not isinstance(value, int) or value < 0):
            causes.append(invalid(f"spec.{field}", value, "must be greater than or equal to 0"))
    return causes


def _labels_text(labels: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def _validate_pod_spec(spec: Any, path: str) -> list[Cause]:
    if not isinstance(spec, dict):
        return [required(path)]
    containers = spec.get("containers")
    if not containers or not isinstance(containers, list):
        return [required(f"{path}.containers")]
    causes: list[Cause] = []
    seen: set[str] = set()
    for index, container in enumerate(containers):
        where = f"{path}.containers[{index}]"
        if not isinstance(container, dict):
            causes.append(invalid(where, container, "must be an object"))
            continue
        cname = container.get("name")
        if not cname:
            causes.append(required(f"{where}.name"))
        elif not isinstance(cname, str) or not DNS1123_LABEL.match(cname):
            causes.append(invalid(f"{where}.name", cname, "a lowercase RFC 1123 label must be used"))
        elif cname in seen:
            causes.append(_cause("FieldValueDuplicate", f"{where}.name", f'Duplicate value: "{cname}"'))
        else:
            seen.add(cname)
        image = container.get("image")
        if not image or not isinstance(image, str) or not image.strip():
            causes.append(required(f"{where}.image"))
        for pindex, port in enumerate(container.get("ports") or []):
            number = port.get("containerPort") if isinstance(port, dict) else None
            if not isinstance(number, int) or not 0 < number < 65536:
                causes.append(invalid(f"{where}.ports[{pindex}].containerPort", number, "must be between 1 and 65535"))
    return causes


def _validate_service(spec: Any) -> list[Cause]:
    if not isinstance(spec, dict):
        return [required("spec")]
    causes: list[Cause] = []
    ports = spec.get("ports")
    if not ports and spec.get("type") != "ExternalName":
        causes.append(required("spec.ports"))
    for index, port in enumerate(ports or []):
        number = port.get("port") if isinstance(port, dict) else None
        if not isinstance(number, int) or not 0 < number < 65536:
            causes.append(invalid(f"spec.ports[{index}].port", number, "must be between 1 and 65535"))
    selector = spec.get("selector")
    if selector is not None and not isinstance(selector, dict):
        causes.append(invalid("spec.selector", selector, "must be a map of labels"))
    return causes
