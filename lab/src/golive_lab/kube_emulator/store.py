"""In-memory object store with resource versions and a bounded event history for watches."""

from __future__ import annotations

import builtins
import copy
import datetime as dt
import json
import secrets
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .resources import RESOURCES, Resource

Obj = dict[str, Any]
_NAME_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def now_rfc3339() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def random_suffix(length: int = 5) -> str:
    return "".join(secrets.choice(_NAME_SUFFIX_ALPHABET) for _ in range(length))


class ApiError(Exception):
    """An API failure rendered as a ``Status`` body."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def status(self) -> Obj:
        body: Obj = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def qualified(res: Resource) -> str:
    return f"{res.plural}.{res.group}" if res.group else res.plural


def not_found(res: Resource, name: str) -> ApiError:
    return ApiError(
        404,
        "NotFound",
        f'{qualified(res)} "{name}" not found',
        details={"name": name, "group": res.group, "kind": res.plural},
    )


def conflict(res: Resource, name: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {qualified(res)} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again",
        details={"name": name, "group": res.group, "kind": res.plural},
    )


@dataclass
class Event:
    resource_version: int
    type: str
    plural: str
    obj: Obj


class Store:
    """Objects by (plural, namespace, name); every change gets a new resource version."""

    def __init__(self, *, history: int = 10000) -> None:
        self._cond = threading.Condition()
        self._objects: dict[tuple[str, str, str], Obj] = {}
        self._rv = 0
        self._events: deque[Event] = deque(maxlen=history)
        self._listeners: list[Callable[[], None]] = []

    # -- reads -------------------------------------------------------------------------
    @property
    def resource_version(self) -> int:
        with self._cond:
            return self._rv

    def get(self, res: Resource, namespace: str, name: str) -> Obj:
        with self._cond:
            obj = self._objects.get((res.plural, namespace, name))
            if obj is None:
                raise not_found(res, name)
            return copy.deepcopy(obj)

    def find(self, res: Resource, namespace: str, name: str) -> Obj | None:
        with self._cond:
            obj = self._objects.get((res.plural, namespace, name))
            return copy.deepcopy(obj) if obj is not None else None

    def list(self, res: Resource, namespace: str | None = None) -> tuple[builtins.list[Obj], int]:
        with self._cond:
            items = [
                copy.deepcopy(obj)
                for (plural, ns, _), obj in sorted(self._objects.items())
                if plural == res.plural and (namespace is None or ns == namespace)
            ]
            return items, self._rv

    def namespace_exists(self, namespace: str) -> bool:
        with self._cond:
            return ("namespaces", "", namespace) in self._objects

    def oldest_event_version(self) -> int:
        with self._cond:
            return self._events[0].resource_version if self._events else self._rv + 1

    def events_after(self, resource_version: int) -> builtins.list[Event]:
        with self._cond:
            return [event for event in self._events if event.resource_version > resource_version]

    def wait_for_change(self, after: int, timeout: float) -> int:
        """Block until the resource version passes ``after`` or ``timeout`` elapses."""
        with self._cond:
            self._cond.wait_for(lambda: self._rv > after, timeout=timeout)
            return self._rv

    def add_listener(self, callback: Callable[[], None]) -> None:
        self._listeners.append(callback)

    # -- writes ------------------------------------------------------------------------
    def _record(self, event_type: str, res: Resource, obj: Obj) -> None:
        self._events.append(Event(self._rv, event_type, res.plural, copy.deepcopy(obj)))
        self._cond.notify_all()

    def _notify(self) -> None:
        for callback in self._listeners:
            callback()

    def create(self, res: Resource, obj: Obj, *, dry_run: bool = False) -> Obj:
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = f"{meta['generateName']}{random_suffix()}"
        name = str(meta.get("name") or "")
        namespace = str(meta.get("namespace") or "") if res.namespaced else ""
        obj["kind"] = res.kind
        obj["apiVersion"] = res.api_version
        with self._cond:
            key = (res.plural, namespace, name)
            if key in self._objects:
                raise ApiError(
                    409,
                    "AlreadyExists",
                    f'{qualified(res)} "{name}" already exists',
                    details={"name": name, "group": res.group, "kind": res.plural},
                )
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now_rfc3339()
            if res.has_generation:
                meta["generation"] = 1
            meta.pop("resourceVersion", None)
            meta.pop("deletionTimestamp", None)
            if dry_run:
                meta["resourceVersion"] = str(self._rv)
                return obj
            self._rv += 1
            meta["resourceVersion"] = str(self._rv)
            self._objects[key] = obj
            self._record("ADDED", res, obj)
            result = copy.deepcopy(obj)
        self._notify()
        return result

    def update(
        self,
        res: Resource,
        obj: Obj,
        *,
        dry_run: bool = False,
        subresource: str | None = None,
        check_version: bool = True,
    ) -> Obj:
        """Replace an object; ``subresource="status"`` replaces only the status."""
        meta = obj.get("metadata") or {}
        name = str(meta.get("name") or "")
        namespace = str(meta.get("namespace") or "") if res.namespaced else ""
        with self._cond:
            key = (res.plural, namespace, name)
            current = self._objects.get(key)
            if current is None:
                raise not_found(res, name)
            sent_rv = meta.get("resourceVersion")
            if check_version and sent_rv and str(sent_rv) != current["metadata"]["resourceVersion"]:
                raise conflict(res, name)
            updated = copy.deepcopy(current)
            if subresource == "status":
                updated["status"] = copy.deepcopy(obj.get("status") or {})
            else:
                new_meta = copy.deepcopy(meta)
                for field in ("uid", "creationTimestamp", "generation", "resourceVersion", "namespace"):
                    if field in current["metadata"]:
                        new_meta[field] = current["metadata"][field]
                    else:
                        new_meta.pop(field, None)
                updated = {k: copy.deepcopy(v) for k, v in obj.items() if k != "status"}
                updated["metadata"] = new_meta
                if "status" in current:
                    updated["status"] = copy.deepcopy(current["status"])
                updated["kind"] = res.kind
                updated["apiVersion"] = res.api_version
                if res.has_generation and _canonical(updated.get("spec")) != _canonical(current.get("spec")):
                    new_meta["generation"] = int(current["metadata"].get("generation", 1)) + 1
            if _canonical(updated) == _canonical(current) or dry_run:
                return updated
            self._rv += 1
            updated["metadata"]["resourceVersion"] = str(self._rv)
            self._objects[key] = updated
            self._record("MODIFIED", res, updated)
            result = copy.deepcopy(updated)
        self._notify()
        return result

    def mutate(self, res: Resource, namespace: str, name: str, change: Callable[[Obj], None]) -> Obj | None:
        """Apply ``change`` to a copy under the lock and store it if it differs (controller writes)."""
        with self._cond:
            current = self._objects.get((res.plural, namespace, name))
            if current is None:
                return None
            updated = copy.deepcopy(current)
            change(updated)
            if _canonical(updated) == _canonical(current):
                return updated
            if res.has_generation and _canonical(updated.get("spec")) != _canonical(current.get("spec")):
                updated["metadata"]["generation"] = int(current["metadata"].get("generation", 1)) + 1
            self._rv += 1
            updated["metadata"]["resourceVersion"] = str(self._rv)
            self._objects[(res.plural, namespace, name)] = updated
            self._record("MODIFIED", res, updated)
            result = copy.deepcopy(updated)
        self._notify()
        return result

    def delete(self, res: Resource, namespace: str, name: str, *, dry_run: bool = False) -> Obj:
        with self._cond:
            key = (res.plural, namespace, name)
            current = self._objects.get(key)
            if current is None:
                raise not_found(res, name)
            if dry_run:
                return copy.deepcopy(current)
            del self._objects[key]
            self._rv += 1
            current["metadata"]["resourceVersion"] = str(self._rv)
            self._record("DELETED", res, current)
            if res.kind == "Namespace":
                self._delete_namespace_contents(name)
            result = copy.deepcopy(current)
        self._notify()
        return result

    def _delete_namespace_contents(self, namespace: str) -> None:
        by_plural = {r.plural: r for r in RESOURCES}
        for key in [k for k in self._objects if k[1] == namespace and k[0] != "namespaces"]:
            obj = self._objects.pop(key)
            self._rv += 1
            obj["metadata"]["resourceVersion"] = str(self._rv)
            self._record("DELETED", by_plural[key[0]], obj)

    def snapshot(self) -> builtins.list[Obj]:
        with self._cond:
            return [copy.deepcopy(obj) for _, obj in sorted(self._objects.items())]


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
