"""GET on the emulated API: one object, a list (label and field selectors, tables), a watch stream."""

from __future__ import annotations

import json
import time
from typing import Any

from .handler_base import HandlerBase, Target, scale_of
from .selectors import SelectorError, matches_fields, matches_labels, parse_field_selector, parse_label_selector
from .store import ApiError, Obj
from .tables import render_table

WATCH_DEFAULT_TIMEOUT_S = 300
WATCH_MAX_TIMEOUT_S = 600
WATCH_POLL_S = 0.5


class ReadRoutes(HandlerBase):
    def _get(self, target: Target, query: dict[str, str]) -> None:
        store = self.context.store
        if target.name is not None:
            obj = store.get(target.res, target.namespace or "", target.name)
            if target.subresource == "scale":
                self._send_json(200, scale_of(obj))
            elif self._wants_table(query):
                self._send_json(200, render_table(target.res.kind, [obj], obj["metadata"]["resourceVersion"]))
            else:
                self._send_json(200, obj)
            return
        try:
            labels = parse_label_selector(query.get("labelSelector"))
            fields = parse_field_selector(query.get("fieldSelector"))
        except SelectorError as exc:
            raise ApiError(400, "BadRequest", str(exc)) from exc
        if query.get("watch") in ("true", "True", "1"):
            self._watch(target, query, labels=labels, fields=fields)
            return
        items, rv = store.list(target.res, target.namespace)
        items = [
            obj
            for obj in items
            if matches_labels((obj.get("metadata") or {}).get("labels"), labels) and matches_fields(obj, fields)
        ]
        if self._wants_table(query):
            self._send_json(200, render_table(target.res.kind, items, str(rv)))
            return
        self._send_json(
            200,
            {
                "kind": f"{target.res.kind}List",
                "apiVersion": target.res.api_version,
                "metadata": {"resourceVersion": str(rv)},
                "items": items,
            },
        )

    def _watch(self, target: Target, query: dict[str, str], *, labels: Any, fields: Any) -> None:
        store, shutdown = self.context.store, self.context.shutdown
        try:
            timeout = float(query.get("timeoutSeconds") or WATCH_DEFAULT_TIMEOUT_S)
        except ValueError as exc:
            raise ApiError(400, "BadRequest", "timeoutSeconds must be a number") from exc
        deadline = time.monotonic() + min(max(timeout, 0.0), WATCH_MAX_TIMEOUT_S)

        def wanted(plural: str, obj: Obj) -> bool:
            meta = obj.get("metadata") or {}
            return (
                plural == target.res.plural
                and (target.namespace is None or meta.get("namespace") == target.namespace)
                and matches_labels(meta.get("labels"), labels)
                and matches_fields(obj, fields)
            )

        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()

        requested = query.get("resourceVersion") or ""
        if requested in ("", "0"):
            items, last = store.list(target.res, target.namespace)
            for obj in items:
                if wanted(target.res.plural, obj):
                    self._chunk({"type": "ADDED", "object": obj})
        else:
            try:
                last = int(requested)
            except ValueError:
                last = -1
            if last < 0 or last < store.oldest_event_version() - 1:
                expired = ApiError(410, "Expired", f"too old resource version: {requested}")
                self._chunk({"type": "ERROR", "object": expired.status()})
                self._end_chunks()
                return
        while not shutdown.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            store.wait_for_change(last, min(remaining, WATCH_POLL_S))
            for event in store.events_after(last):
                last = event.resource_version
                if wanted(event.plural, event.obj):
                    self._chunk({"type": event.type, "object": event.obj})
        self._end_chunks()

    def _chunk(self, payload: Obj) -> None:
        data = json.dumps(payload, separators=(",", ":")).encode() + b"\n"
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _end_chunks(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
