"""Load a runbook file into models; every error in one pass, each at its file and line."""

from __future__ import annotations

import difflib
import itertools
import os
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from golive.errors import Issue, RunbookError
from golive.runbook.models import CHECK_KINDS, STEP_KINDS, Runbook
from golive.runbook.yamlmap import LineMap, load_yaml

__all__ = ["MAX_BYTES_VAR", "LoadedRunbook", "load_runbook", "max_runbook_bytes", "parse_runbook"]

# A runbook is a page or a few of reviewed YAML; a file far larger is a mistake (a log or
# a dump passed by accident) and would only make validate slow before failing anyway.
MAX_BYTES_VAR = "GOLIVE_MAX_RUNBOOK_BYTES"
DEFAULT_MAX_BYTES = 1024 * 1024


def max_runbook_bytes() -> int:
    """The size limit for runbooks: ``$GOLIVE_MAX_RUNBOOK_BYTES`` or 1 MiB."""
    raw = os.environ.get(MAX_BYTES_VAR, "").strip()
    if not raw:
        return DEFAULT_MAX_BYTES
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise RunbookError.single(
            Path(MAX_BYTES_VAR),
            None,
            f"{MAX_BYTES_VAR}={raw!r} is not a size",
            "set it to a number of bytes, e.g. 2097152",
        )
    return value


@dataclass(frozen=True)
class LoadedRunbook:
    runbook: Runbook
    path: Path
    text: str
    lines: LineMap
    data: dict[str, Any]

    def line_of(self, *path: str | int) -> int | None:
        return self.lines.line_of(path)

    def step_line(self, index: int, *rest: str | int) -> int | None:
        return self.lines.line_of(("steps", index, *rest))


def load_runbook(path: str | Path) -> LoadedRunbook:
    p = Path(path)
    limit = max_runbook_bytes()
    try:
        size = p.stat().st_size
        if size > limit:
            raise RunbookError.single(
                p,
                None,
                f"runbook is {size} bytes, over the limit of {limit}",
                f"check it is the right file; to allow larger runbooks set {MAX_BYTES_VAR}",
            )
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RunbookError.single(p, None, "runbook file not found", "check the path") from None
    except IsADirectoryError:
        raise RunbookError.single(
            p, None, "this is a directory, not a runbook file", "give the runbook's path"
        ) from None
    except UnicodeDecodeError as exc:
        before = exc.object[: exc.start]
        line, column = before.count(b"\n") + 1, len(before) - before.rfind(b"\n")
        raise RunbookError.single(
            p,
            line,
            f"the runbook is not UTF-8: byte 0x{exc.object[exc.start]:02x} at column {column}",
            "save the file as UTF-8",
        ) from None
    except OSError as exc:
        raise RunbookError.single(p, None, f"cannot read runbook: {exc}", "make it a readable UTF-8 file") from None
    return parse_runbook(text, file=str(p))


def parse_runbook(text: str, *, file: str) -> LoadedRunbook:
    data, lmap, issues = load_yaml(text, file=file)
    if issues and data is None:
        raise RunbookError(issues)
    if not isinstance(data, dict):
        empty = data is None and not lmap.lines
        issues.append(
            Issue(
                file,
                lmap.line_of(()) or 1,
                "the runbook file is empty" if empty else "a runbook is a mapping with name: and steps:",
                "start the file with name: <runbook name> and a steps: list",
            )
        )
        raise RunbookError(issues)
    try:
        runbook = Runbook.model_validate(data)
    except ValidationError as exc:
        issues.extend(_issue_from(err, data=data, lmap=lmap) for err in exc.errors())
        raise RunbookError(_dedupe(issues)) from None
    if issues:
        raise RunbookError(issues)
    return LoadedRunbook(runbook=runbook, path=Path(file), text=text, lines=lmap, data=data)


def _dedupe(issues: list[Issue]) -> list[Issue]:
    seen: set[tuple[int | None, str]] = set()
    out = []
    for i in issues:
        key = (i.line, i.message)
        if key not in seen:
            seen.add(key)
            out.append(i)
    return sorted(out, key=lambda i: i.line or 0)


# ---------------------------------------------------------------- locating pydantic errors


def _child(node: Any, elem: str | int) -> tuple[bool, Any]:
    if isinstance(node, dict) and elem in node:
        return True, node[elem]
    if isinstance(node, list) and isinstance(elem, int) and 0 <= elem < len(node):
        return True, node[elem]
    return False, None


def _data_path(loc: tuple[str | int, ...], data: Any) -> tuple[str | int, ...]:
    """The path into the YAML data that a pydantic ``loc`` points at.

    A loc also holds union tags and type names (``ansible``, ``str``...) that are not in
    the data. We keep the reading of the loc that walks furthest into the data, preferring
    one that reaches the end of the loc.
    """
    best: tuple[str | int, ...] = ()
    best_ok = False
    # The last element names the field itself and is never a tag, so it is never skipped.
    for head in itertools.product((False, True), repeat=min(len(loc) - 1, 10)):
        skips = (*head, False)
        node = data
        path: list[str | int] = []
        ok = True
        for elem, skip in zip(loc, skips, strict=False):
            if skip:
                continue
            found, node = _child(node, elem)
            if not found:
                ok = False
                break
            path.append(elem)
        if (len(path), ok) > (len(best), best_ok):
            best, best_ok = tuple(path), ok
    return best


def _unwrap(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _union_members(tp: Any) -> list[Any]:
    """Members of a union, with nested unions (``Rollback | None``) flattened."""
    tp = _unwrap(tp)
    if typing.get_origin(tp) not in (typing.Union, types.UnionType):
        return [tp]
    out: list[Any] = []
    for member in typing.get_args(tp):
        inner = _unwrap(member)
        out.extend(_union_members(inner) if typing.get_origin(inner) in (typing.Union, types.UnionType) else [member])
    return out


def _tag_of(member: Any) -> str | None:
    if typing.get_origin(member) is typing.Annotated:
        for meta in typing.get_args(member)[1:]:
            tag = getattr(meta, "tag", None)
            if isinstance(tag, str):
                return tag
    return None


def _model_at(loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The model class whose field set an ``extra_forbidden`` loc refers to."""
    tp: Any = Runbook
    for elem in loc[:-1]:
        members = _union_members(tp)
        tagged = [m for m in members if _tag_of(m) == elem]
        if tagged:
            tp = tagged[0]
            continue
        models = [_unwrap(m) for m in members if isinstance(_unwrap(m), type) and issubclass(_unwrap(m), BaseModel)]
        lists = [m for m in (_unwrap(m) for m in members) if typing.get_origin(m) in (list, dict)]
        if isinstance(elem, int) and lists:
            tp = typing.get_args(lists[0])[-1]
        elif isinstance(elem, str) and models and elem in models[0].model_fields:
            tp = models[0].model_fields[elem].annotation
        else:
            return None
    final = [_unwrap(m) for m in _union_members(tp)]
    for m in final:
        if isinstance(m, type) and issubclass(m, BaseModel):
            return m
    return None


def _where(path: tuple[str | int, ...], data: Any) -> str:
    if len(path) >= 2 and path[0] == "steps" and isinstance(path[1], int):
        try:
            sid = data["steps"][path[1]].get("id")
        except (AttributeError, IndexError, KeyError, TypeError):
            sid = None
        label = f"step {sid!r}" if sid else f"step #{path[1] + 1}"
        rest = ".".join(str(p) for p in path[2:])
        return f"{label}" + (f" ({rest})" if rest else "")
    return ".".join(str(p) for p in path) or "runbook"


def _issue_from(err: ErrorDetails, *, data: Any, lmap: LineMap) -> Issue:
    loc = tuple(err["loc"])
    path = _data_path(loc, data)
    line = lmap.line_of(path)
    etype = err["type"]
    msg = err["msg"].removeprefix("Value error, ")
    if etype in ("model_type", "model_attributes_type", "dict_type"):
        msg = "Input should be a mapping of key: value"  # not pydantic's "instance of HttpExpect"
    if etype == "extra_forbidden":
        key = str(loc[-1])
        model = _model_at(loc)
        allowed = sorted(model.model_fields) if model else []
        near = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        hint = f"did you mean {near[0]!r}? " if near else ""
        return Issue(
            lmap.file,
            line,
            f"unknown key {key!r} in {_where(path[:-1], data)}",
            f"{hint}allowed keys: {', '.join(allowed)}" if allowed else "remove it",
        )
    if etype == "missing":
        return Issue(
            lmap.file, line, f"missing required key {loc[-1]!r} in {_where(path, data)}", f"add {loc[-1]}: to it"
        )
    if etype in ("step_kind", "check_kind"):
        kinds = STEP_KINDS if etype == "step_kind" else CHECK_KINDS
        node = err.get("input")
        keys = list(node) if isinstance(node, dict) else []
        present = [k for k in keys if k in kinds]
        if len(present) > 1:
            return Issue(
                lmap.file,
                line,
                f"{_where(path, data)} has several kinds: {', '.join(present)}",
                "split it into one step (or check) per kind",
            )
        guesses = [g for k in keys for g in difflib.get_close_matches(str(k), kinds, n=1)]
        hint = f"did you mean {guesses[0]!r}? " if guesses else ""
        what = "step" if etype == "step_kind" else "check"
        return Issue(
            lmap.file,
            line,
            f"{_where(path, data)} has no {what} kind",
            f"{hint}give it exactly one of: {', '.join(kinds)}",
        )
    if etype == "value_error" and "; " in msg:
        what, fix = msg.split("; ", 1)
        return Issue(lmap.file, line, f"{_where(path, data)}: {what}", fix)
    return Issue(lmap.file, line, f"{_where(path, data)}: {msg}{_got(etype, err.get('input'))}", _fix_for(etype))


def _got(etype: str, value: Any) -> str:
    """What was written instead, for type errors whose pydantic message omits it."""
    if not etype.endswith(("_type", "_parsing", "literal_error")) or etype == "missing":
        return ""
    if isinstance(value, dict):
        return ", got a mapping"
    if isinstance(value, list):
        return ", got a list"
    if value is None:
        return ", got nothing (null)"
    text = repr(value)
    return f", got {text if len(text) <= 40 else text[:37] + '...'}"


def _fix_for(etype: str) -> str:
    if etype.startswith(("int_", "float_")):
        return "use a number"
    if etype.startswith("string_"):
        return "use a string (quote it)"
    if etype.startswith("bool"):
        return "use true or false"
    if etype in ("list_type", "too_short"):
        return "use a non-empty list"
    if etype in ("dict_type", "model_type", "model_attributes_type"):
        return "use a mapping of key: value"
    if etype == "literal_error":
        return "use one of the values listed"
    return "see docs/runbook.md for the accepted form"
