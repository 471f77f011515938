"""The live board's line for a Service switch names the Service and what its selector went from and to."""

from __future__ import annotations

from typing import Any

import pytest

from golive.report.live import LiveView

CASES = [
    (
        {"service": "web", "selector": {"app": "web", "golive-color": "green"}, "label": "golive-color",
         "from_color": "blue", "to_color": "green",
         "from_selector": {"app": "web"}, "to_selector": {"app": "web", "golive-color": "green"}},
        "  rel: switched service web: golive-color=blue → green",
    ),
    (
        {"service": "api", "selector": {"app": "api-v2"}, "from_selector": {"app": "api"},
         "to_selector": {"app": "api-v2"}},
        "  rel: switched service api: app=api → app=api-v2",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("fields", "line"), CASES)
def test_switch_line_names_the_service_and_the_move(fields: dict[str, Any], line: str) -> None:
    """k8s_switched renders which selector went to which colour (or selector), never an empty name."""
    out = LiveView.format({"event": "k8s_switched", "step": "rel", **fields})
    assert out is not None and out[0] == line
