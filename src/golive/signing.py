"""Approvals signed with the approver's SSH key, verified as git verifies signed commits.

``ssh-keygen -Y sign`` signs a payload that names the run, the step, the plan digest and
the decision, in golive's own namespace (a signature made for git or for anything else
does not verify here). The environment names an ``allowed_signers`` file (the format of
ssh-keygen(1): ``principal key-type key``); ``ssh-keygen -Y find-principals`` tells whose
key made a signature and ``-Y verify`` checks it over this payload. The verified principal
is the approver: what ``--as`` says does not count where signatures are required.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

__all__ = ["NAMESPACE", "SigningError", "change_payload", "payload", "sign", "verify"]

NAMESPACE = "golive-approval"
TIMEOUT_S = 10.0


class SigningError(Exception):
    """A signature that could not be made or does not verify; the message says why."""


def payload(*, run_id: str, step: str, digest: str, decision: str) -> bytes:
    """What an approver signs: this run, this step, this plan, this answer, and nothing else."""
    return f"golive approval\nrun {run_id}\nstep {step}\nplan {digest}\ndecision {decision}\n".encode()


def change_payload(*, change_id: str, digest: str, decision: str) -> bytes:
    """What a change approver signs: this change, its plan as proposed, this answer (never a run's step)."""
    return f"golive change approval\nchange {change_id}\nplan {digest}\ndecision {decision}\n".encode()


def _keygen() -> str:
    found = shutil.which("ssh-keygen")
    if found is None:
        raise SigningError("ssh-keygen not found: install openssh-client")
    return found


def _run(args: list[str], *, data: bytes) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run([_keygen(), *args], input=data, capture_output=True, timeout=TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise SigningError(f"ssh-keygen {args[0]} {args[1]} did not answer within {TIMEOUT_S:g}s") from None


def sign(key: Path, data: bytes) -> str:
    """The armored SSH signature of ``data`` by ``key`` (a private key file, or its agent-held public key)."""
    if not key.exists():
        raise SigningError(f"no key at {key}: name your private key, e.g. --sign ~/.ssh/id_ed25519")
    done = _run(["-Y", "sign", "-q", "-f", str(key), "-n", NAMESPACE], data=data)
    if done.returncode != 0 or b"BEGIN SSH SIGNATURE" not in done.stdout:
        raise SigningError(f"ssh-keygen could not sign with {key}: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout.decode()


def verify(signature: str, data: bytes, *, allowed_signers: Path) -> str:
    """The principal of ``allowed_signers`` whose key signed ``data``; SigningError otherwise."""
    if not allowed_signers.is_file():
        raise SigningError(f"allowed signers file {allowed_signers} does not exist")
    with tempfile.TemporaryDirectory(prefix="golive-sig-") as tmp:
        sig = Path(tmp) / "approval.sig"
        sig.write_text(signature)
        found = _run(["-Y", "find-principals", "-s", str(sig), "-f", str(allowed_signers)], data=b"")
        principals = found.stdout.decode().split()
        if found.returncode != 0 or not principals:
            raise SigningError(f"the signing key is not in {allowed_signers}")
        for principal in principals:
            checked = _run(
                ["-Y", "verify", "-f", str(allowed_signers), "-I", principal, "-n", NAMESPACE, "-s", str(sig)],
                data=data,
            )
            if checked.returncode == 0:
                return principal
    raise SigningError("the signature does not verify for this run, step and plan (signed for something else?)")
