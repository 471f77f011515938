"""structlog set up once: console renderer on a TTY, JSON lines with ``--log-json``.

Importing structlog costs about 0.1 s (it loads rich's traceback rendering and asyncio), and
commands such as ``golive validate`` never log.  So when nothing has imported structlog yet,
:func:`configure` applies its settings the moment something first does, not before.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from functools import partial
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from importlib.machinery import ModuleSpec

    import structlog

__all__ = ["configure", "get_logger"]


class _CurrentStderr:
    """Whatever ``sys.stderr`` is at write time; test runners swap and close it between tests."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


def configure(*, json: bool = False, level: str = "info", stream: object | None = None) -> None:
    level_no = logging.getLevelNamesMapping()[level.upper()]  # a bad level fails here, not at first import
    apply = partial(_apply, json=json, level=level_no, stream=stream)
    _ConfigureOnImport.uninstall()
    if "structlog" in sys.modules:
        apply()
    else:
        sys.meta_path.insert(0, _ConfigureOnImport(apply))


def _apply(*, json: bool, level: int, stream: object | None) -> None:
    import structlog

    out = stream if stream is not None else _CurrentStderr()
    renderer: structlog.types.Processor
    if json:
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=getattr(out, "isatty", lambda: False)())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            _redacted,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=out),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )


def _redacted(logger: Any, name: str, event_dict: MutableMapping[str, Any]) -> Mapping[str, Any]:
    """Every secret's value in a log line written as *** (golive.secrets)."""
    from golive.secrets import redact_tree

    redacted: Mapping[str, Any] = redact_tree(dict(event_dict))
    return redacted


class _ConfigureOnImport:
    """A one-shot import hook: once ``structlog`` itself has loaded, apply the pending settings."""

    def __init__(self, apply: Callable[[], None]) -> None:
        self.apply = apply

    @classmethod
    def uninstall(cls) -> None:
        sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, cls)]

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname != "structlog":
            return None
        self.uninstall()
        spec = None
        for finder in list(sys.meta_path):  # the finders Python would have asked next
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find is not None else None
            if spec is not None:
                break
        if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _ThenApply(spec.loader, self.apply)
        return spec


class _ThenApply:
    """Loads a module with ``inner``, then calls ``after``; anything else goes to ``inner``."""

    def __init__(self, inner: Any, after: Callable[[], None]) -> None:
        self._inner = inner
        self._after = after

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        module: ModuleType | None = self._inner.create_module(spec)
        return module

    def exec_module(self, module: ModuleType) -> None:
        self._inner.exec_module(module)
        self._after()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    import structlog

    return structlog.get_logger(name)  # type: ignore[no-any-return]
