"""``golive lab up`` without a program the lab runs says which and how to get it: exit 2, no traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from golive_lab import hosts as lab_hosts
from golive_lab import prometheus
from golive_lab.cli import app


def _up(lab_dir: Path) -> tuple[int, str, BaseException | None]:
    result = CliRunner().invoke(app, ["up", "--dir", str(lab_dir), "--no-prefect", "--hosts", "1"])
    exc = result.exception if not isinstance(result.exception, SystemExit) else None
    return result.exit_code, result.output, exc


def test_no_prometheus_says_so_and_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prometheus, "REPO_ROOT", tmp_path / "nowhere")
    monkeypatch.setenv("GOLIVE_PROMETHEUS", str(tmp_path / "no-prometheus"))
    bin_dir = tmp_path / "bin"  # unshare only: no prometheus on PATH
    bin_dir.mkdir()
    (bin_dir / "unshare").symlink_to(shutil.which("unshare") or "/usr/bin/unshare")
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.chdir(tmp_path)
    code, output, exc = _up(tmp_path / "lab")
    assert exc is None, output
    assert code == 2
    assert "prometheus" in output and "install-system.sh" in output and "GOLIVE_PROMETHEUS" in output
    assert not (tmp_path / "lab").exists()


def test_no_sshd_says_which_program_and_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lab_hosts, "SSHD", str(tmp_path / "sshd"))
    code, output, exc = _up(tmp_path / "lab")
    assert exc is None, output
    assert code == 2
    assert f"{tmp_path / 'sshd'}" in output and "openssh-server" in output and "install-system.sh" in output
    assert not (tmp_path / "lab").exists()
