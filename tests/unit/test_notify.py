"""Notifications: real deliveries to local receivers (Apprise json:// to an HTTP server, mailto:// to an
SMTP server), the chat services' request formats intercepted at the HTTP layer, channels that refuse or
hang, secrets kept out of every output, and the channel settings' validation."""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Iterator
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from test_runner import APPROVAL, FakeWorld, events, make_runner
from typer.testing import CliRunner

from golive.notify import Channel, Notifier, channels_of, notify_issues, render
from golive.notify.deliver import apprise_send

# ------------------------------------------------------------------ receivers


class Receiver:
    """A local HTTP server that keeps every request it gets (method, path, headers, JSON or text body)."""

    def __init__(self, *, status: int = 200, hang: threading.Event | None = None) -> None:
        self.requests: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if hang is not None:
                    hang.wait(30)
                try:
                    parsed: Any = json.loads(body)
                except ValueError:
                    parsed = body.decode(errors="replace")
                outer.requests.append({"path": self.path, "body": parsed})
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[int, list[bytes]]]:
    """A real SMTP server (aiosmtpd) on loopback; yields its port and the messages it received."""
    from aiosmtpd.controller import Controller

    got: list[bytes] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            got.append(envelope.content)
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        yield controller.port, got
    finally:
        controller.stop()


def run_with(tmp_path: Path, channels: dict[str, Channel], *, text: str | None = None, **world: Any) -> Any:
    """A runner on fake drivers and time whose journal entries go to a Notifier with these channels."""
    w = FakeWorld(**world)
    r = make_runner(tmp_path, w, text=text)
    notifier = Notifier(channels, journal=r.journal.append, run={"run_id": "r1", "runbook": "unit", "env": "test"})
    r.steer.listener = notifier.on_entry
    return r, w, notifier


def _without_preflight(r: Any) -> None:
    r.runbook = r.runbook.model_copy(update={"steps": [s for s in r.runbook.steps if s.id != "preflight"]})
    r.plan = r.plan.model_copy(update={"steps": [s for s in r.plan.steps if s.id != "preflight"]})


# ------------------------------------------------------------------ real deliveries


def test_a_run_that_rolls_back_tells_a_json_webhook_each_event_with_its_fields(
    tmp_path: Path, receiver: Receiver
) -> None:
    """run_started, gate_failed (observed vs limit), rollback_started, rollback_finished, run_finished arrive."""
    ops = Channel(name="ops", url=f"json://127.0.0.1:{receiver.port}/hook")
    r, _, notifier = run_with(tmp_path, {"ops": ops}, bad_hosts={"app-1"})
    _without_preflight(r)
    assert r.start() == 1
    notifier.close()
    titles = [req["body"]["title"] for req in receiver.requests]
    bodies = [req["body"]["message"] for req in receiver.requests]
    assert titles[0].startswith("golive: unit started on test")
    assert any("gate failed at roll batch 1" in t for t in titles)
    gate = next(b for t, b in zip(titles, bodies, strict=True) if "gate failed" in t)
    assert "500" in gate and "200" in gate  # what was observed, against its limit
    assert any("rolling back unit" in t for t in titles)
    assert any("rolled back" in t for t in titles)
    assert "rolled back" in titles[-1] and "exit 1" in bodies[-1]
    sent = events(r, "notification_sent")
    assert {e["notification"] for e in sent} >= {"run_started", "gate_failed", "rollback_finished", "run_finished"}
    assert all(e["channel"] == "ops" for e in sent)


def test_approval_needed_carries_the_exact_approve_command(tmp_path: Path, receiver: Receiver) -> None:
    ops = Channel(name="ops", url=f"json://127.0.0.1:{receiver.port}/", events=frozenset({"approval_needed"}))
    r, w, notifier = run_with(tmp_path, {"ops": ops}, text=APPROVAL)
    d = r.plan.digest
    for at, who in ((2.0, "bob"), (3.0, "carol")):
        w.at[at] = lambda who=who: r.journal.append("control", run_id="r1", action="approve", by=who, digest=d)
    assert r.start() == 0
    notifier.close()
    assert len(receiver.requests) == 1  # only what the channel asked for
    body = receiver.requests[0]["body"]
    assert "waits for approval at approve" in body["title"]
    assert "golive approve r1 --as NAME" in body["message"] and "2 approver(s)" in body["message"]


def test_mail_to_a_local_smtp_server(tmp_path: Path, smtp: tuple[int, list[bytes]]) -> None:
    port, got = smtp
    mail = Channel(
        name="mail", url=f"mailto://127.0.0.1:{port}?from=golive@example.test&to=ops@example.test&mode=insecure"
    )
    r, _, notifier = run_with(tmp_path, {"mail": mail}, bad_hosts={"app-1"})
    _without_preflight(r)
    assert r.start() == 1
    notifier.close()
    subjects = [str(message_from_bytes(m)["Subject"]) for m in got]
    assert any("started on test" in s for s in subjects), subjects
    assert any("rolled back" in s for s in subjects)
    assert not events(r, "notification_failed")


def test_a_notify_step_sends_its_message_to_the_channels_it_names(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from golive.kinds.simple import NotifyKind

    monkeypatch.setattr(NotifyKind, "validate_env", lambda *a: [])  # the test env names no channel
    text = """
name: say
steps:
  - id: tell
    notify: {message: "released {{ params.v }}", to: [ops]}
params: {v: "7"}
"""
    ops = Channel(name="ops", url=f"json://127.0.0.1:{receiver.port}/", events=frozenset({"rollback_failed"}))
    other = Channel(name="other", url=f"json://127.0.0.1:{receiver.port}/other")
    r, _, notifier = run_with(tmp_path, {"ops": ops, "other": other}, text=text)
    assert r.start() == 0
    notifier.close()
    to_ops = [q for q in receiver.requests if q["path"] == "/"]
    assert [q["body"]["message"] for q in to_ops] == ["released 7"]
    assert events(r, "notified")[0]["to"] == ["ops"]


# ------------------------------------------------------------------ chat services, intercepted


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every HTTP request Apprise makes, answered 200 here: Slack, Feishu and DingTalk cannot be reached."""
    import requests

    out: list[dict[str, Any]] = []

    def fake(self: Any, method: str, url: str, **kw: Any) -> requests.Response:
        data = kw.get("data") or kw.get("json")
        out.append({"method": method, "url": url, "data": data, "params": kw.get("params")})
        resp = requests.Response()
        resp.status_code = 200
        slack = "hooks.slack.com" in url  # Slack's webhook answers a plain "ok"
        resp._content = b"ok" if slack else b'{"ok": true, "code": 0, "errcode": 0, "StatusCode": 0}'
        return resp

    monkeypatch.setattr(requests.Session, "request", fake)
    for verb in ("post", "get"):
        monkeypatch.setattr(requests, verb, lambda url, _v=verb, **kw: fake(None, _v.upper(), url, **kw))
    return out


def _json(data: Any) -> dict[str, Any]:
    return json.loads(data) if isinstance(data, (str, bytes)) else dict(data)


def test_slack_feishu_and_dingtalk_get_their_own_formats(sent: list[dict[str, Any]]) -> None:
    message = render(
        "rollback_failed",
        {
            "run_id": "r9",
            "runbook": "pay",
            "env": "prod",
            "restored": [],
            "not_restored": ["rollback:db"],
            "reason": "db unreachable",
        },
    )
    apprise_send("slack://T1ABCDEFG/B1ABCDEFG/abcdefghijklmnopqrstuvwx/#ops", message)
    apprise_send("feishu://abcdef0123456789abcdef0123456789", message)
    apprise_send("dingtalk://abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789", message)
    slack, feishu, ding = sent
    assert slack["url"].startswith("https://hooks.slack.com/services/T1ABCDEFG/B1ABCDEFG/")
    assert "NOT restored" in json.dumps(_json(slack["data"]))
    assert "open.feishu.cn" in feishu["url"]
    body = _json(feishu["data"])
    assert body["msg_type"] == "text" and "rollback:db" in body["content"]["text"]
    assert "oapi.dingtalk.com/robot/send" in ding["url"]
    body = _json(ding["data"])
    assert body["msgtype"] in ("text", "markdown") and "rollback:db" in json.dumps(body)


def test_lark_gets_its_own_format(sent: list[dict[str, Any]]) -> None:
    message = render(
        "gate_failed",
        {"run_id": "r9", "runbook": "pay", "env": "prod", "step": "canary", "reason": "error rate 0.07 > 0.01"},
    )
    apprise_send("lark://abcdef0123456789abcdef0123456789", message)
    (lark,) = sent
    assert lark["url"].startswith("https://open.larksuite.com/") and lark["url"].endswith(
        "abcdef0123456789abcdef0123456789"
    )
    body = _json(lark["data"])
    assert body["msg_type"] == "text" and "0.07 > 0.01" in body["content"]["text"]


def test_a_chat_token_in_an_env_var_is_kept_out_of_errors_and_logs(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The service's error names the https URL (not the slack:// one golive was given): its token is redacted too,
    and Apprise's own debug records (which name that URL) reach no log of golive's."""
    import logging

    import requests

    token = "abcdefghijklmnopqrstuvwx"
    monkeypatch.setenv("GOLIVE_TEST_SLACK", f"slack://T1ABCDEFG/B1ABCDEFG/{token}/#ops")

    def refuse(self: Any, method: str, url: str, **kw: Any) -> requests.Response:
        raise requests.exceptions.ConnectionError(f"Max retries exceeded with url: {url}")

    monkeypatch.setattr(requests.Session, "request", refuse)
    monkeypatch.setattr(requests, "post", lambda url, **kw: refuse(None, "POST", url, **kw))
    channel = Channel(name="ops", url="${GOLIVE_TEST_SLACK}")
    assert token in channel.secrets()
    journaled: list[dict[str, Any]] = []
    notifier = Notifier(
        {"ops": channel},
        journal=lambda event, **f: journaled.append({"event": event, **f}),
        run={"run_id": "r1"},
        sleep=lambda s: None,
    )
    caplog.set_level(logging.DEBUG)
    message = render(
        "run_finished", {"run_id": "r1", "runbook": "pay", "env": "prod", "status": "failed", "exit_code": 1}
    )
    assert notifier.deliver(channel, message) is False
    assert [e["event"] for e in journaled] == ["notification_failed"]
    assert token not in json.dumps(journaled)
    assert token not in caplog.text


# ------------------------------------------------------------------ failing channels


def test_a_channel_that_refuses_is_journaled_and_changes_nothing(tmp_path: Path) -> None:
    dead = Channel(name="dead", url=f"json://127.0.0.1:{_free_port()}/")
    r, _, notifier = run_with(tmp_path, {"dead": dead})
    notifier._sleep = lambda s: None  # the backoff between attempts, on no clock
    assert r.start() == 0
    notifier.close()
    failed = events(r, "notification_failed")
    assert failed and all(f["channel"] == "dead" and f["attempts"] == 3 for f in failed)
    assert r.journal.verify() == len(r.journal.read())


def test_a_channel_that_hangs_holds_up_nothing_and_is_dropped_at_the_end(tmp_path: Path) -> None:
    """The run ends as it would have; the drain at the end is bounded and what is left is journaled."""
    release = threading.Event()
    hung = Receiver(hang=release)
    try:
        slow = Channel(name="slow", url=f"json://127.0.0.1:{hung.port}/")
        r, _, notifier = run_with(tmp_path, {"slow": slow}, bad_hosts={"app-1"})
        _without_preflight(r)
        assert r.start() == 1  # the exit code it has without notifications
        notifier.close(timeout=1.0)
        dropped = [e for e in events(r, "notification_failed") if "dropped" in e["error"]]
        assert dropped and all(e["channel"] == "slow" for e in dropped)
    finally:
        release.set()
        hung.close()


def test_the_queue_is_bounded(tmp_path: Path) -> None:
    from golive.notify import deliver

    block = threading.Event()
    journaled: list[dict[str, Any]] = []
    notifier = Notifier(
        {"c": Channel(name="c", url="json://127.0.0.1:9/")},
        journal=lambda event, **f: journaled.append({"event": event, **f}),
        run={"run_id": "r1"},
        send=lambda url, m: block.wait(5),
    )
    for _ in range(deliver.QUEUE_SIZE + 5):
        notifier.on_entry({"event": "run_finished", "status": "succeeded", "exit_code": 0})
    block.set()
    notifier.close(timeout=5)
    assert any(f"more than {deliver.QUEUE_SIZE} messages" in e.get("error", "") for e in journaled)


# ------------------------------------------------------------------ secrets


def test_a_secret_in_a_channel_url_appears_in_no_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The token the URL reads from the environment is in neither the journal, the logs nor the report."""
    token = "s3cr3t-T0KEN-value"
    monkeypatch.setenv("GOLIVE_TEST_HOOK_TOKEN", token)
    dead = Channel(name="ops", url=f"json://user:${{GOLIVE_TEST_HOOK_TOKEN}}@127.0.0.1:{_free_port()}/x")
    r, _, notifier = run_with(tmp_path, {"ops": dead}, bad_hosts={"app-1"})
    notifier._sleep = lambda s: None
    _without_preflight(r)
    assert r.start() == 1
    notifier.close()
    from golive.report.render import write_run_report

    write_run_report(r.journal, tmp_path / "report.html")
    captured = capsys.readouterr()
    for text in (r.journal.path.read_text(), (tmp_path / "report.html").read_text(), captured.out, captured.err):
        assert token not in text
    assert events(r, "notification_failed")


def test_a_url_variable_that_is_not_set_is_a_validate_error_naming_it(tmp_path: Path) -> None:
    os.environ.pop("GOLIVE_UNSET_HOOK", None)
    settings = {"golive_notify": {"ops": {"url": "slack://${GOLIVE_UNSET_HOOK}"}}}
    issues = notify_issues(settings, file="all.yml", line=3, base=tmp_path)
    assert [i.line for i in issues] == [3]
    assert "${GOLIVE_UNSET_HOOK}" in issues[0].message and "not set" in issues[0].message


# ------------------------------------------------------------------ settings


@pytest.mark.parametrize(
    ("spec", "said"),
    [
        ({"ops": {"url": "json://x", "events": ["run_strated"]}}, "unknown event 'run_strated'"),
        ({"ops": {"url": "json://x", "colour": "red"}}, "unknown key 'colour'"),
        ({"ops": {"events": ["run_started"]}}, "exactly one of url and url_file"),
        ({"ops": {"url": "json://x", "url_file": "f"}}, "exactly one of url and url_file"),
        ({"ops": {"url": "hooks.example"}}, "no Apprise URL"),
        ({"Ops Team": {"url": "json://x"}}, "channel name"),
        ({"ops": {"url": "json://x", "templates": {"run_started": "{{ oops"}}}, "template for run_started"),
        (["ops"], "must map channel names"),
    ],
)
def test_bad_channel_settings_are_refused(tmp_path: Path, spec: Any, said: str) -> None:
    issues = notify_issues({"golive_notify": spec}, file="group_vars/all.yml", line=7, base=tmp_path)
    assert issues and said in issues[0].message and issues[0].line == 7


def test_url_file_is_read_when_sending_and_templates_override_the_default(tmp_path: Path, receiver: Receiver) -> None:
    (tmp_path / "url").write_text(f"json://127.0.0.1:{receiver.port}/f\n")
    settings = {
        "golive_notify": {
            "ops": {"url_file": "url", "events": ["run_finished"], "templates": {"run_finished": "{{ status }}!"}}
        }
    }
    assert notify_issues(settings, file="f", line=1, base=tmp_path) == []
    channels = channels_of(settings, base=tmp_path)
    r, _, notifier = run_with(tmp_path, channels)
    assert r.start() == 0
    notifier.close()
    assert [q["body"]["message"] for q in receiver.requests] == ["succeeded!"]


def test_notify_test_sends_to_each_channel_and_says_which_failed(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from golive.cli import app

    inv = tmp_path / "inventory" / "qa"
    (inv / "group_vars").mkdir(parents=True)
    (inv / "hosts.yml").write_text("all:\n  hosts:\n    app-1: {ansible_host: 127.0.0.1}\n")
    (inv / "group_vars" / "all.yml").write_text(
        "golive_notify:\n"
        f"  ops: {{url: 'json://127.0.0.1:{receiver.port}/t'}}\n"
        f"  dead: {{url: 'json://127.0.0.1:{_free_port()}/t'}}\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GOLIVE_INVENTORY", raising=False)
    runner = CliRunner()
    ok = runner.invoke(app, ["notify", "test", "qa", "ops", "--root", str(tmp_path)])
    assert ok.exit_code == 0, ok.output
    assert "ops: delivered" in ok.output and receiver.requests[0]["body"]["title"] == "golive: test message"
    both = runner.invoke(app, ["notify", "test", "qa", "--root", str(tmp_path)])
    assert both.exit_code == 1 and "dead: FAILED" in both.output
    unknown = runner.invoke(app, ["notify", "test", "qa", "nope", "--root", str(tmp_path)])
    assert unknown.exit_code == 2 and "ops, dead" in unknown.output
