#!/usr/bin/env bash
# The demo: a lab on this machine, a plan, a good release, a bad release that rolls back.
set -euo pipefail
cd "$(dirname "$0")/.."
G=.venv/bin/golive
export GOLIVE_LAB_DIR="${GOLIVE_LAB_DIR:-$PWD/.golive/lab}"

echo "== lab up (10 sshd hosts, Prometheus, Kubernetes API emulator with demo/demo-api, Prefect server)"
$G lab up --hosts 10
$G lab status

echo "== plan: what the release will do, batch by batch, and how it would roll back"
$G plan runbooks/rolling-demo.yml -e lab -p version=v2

echo "== release v2 in grey stages (expected: success)"
$G run runbooks/rolling-demo.yml -e lab -p version=v2

echo "== release v2-bad (slow health, 5xx): the gate fails in batch 1 and golive rolls back"
set +e
$G run runbooks/rolling-demo.yml -e lab -p version=v2-bad
rc=$?
set -e
if [ "$rc" -ne 1 ]; then
    echo "demo: expected exit 1 (failed and rolled back) from the bad release, got $rc" >&2
    exit 1
fi
bad_run=$($G status --json | sed -n 's/^  "run_id": "\(.*\)",$/\1/p')

# Run a runbook that stops at an approval step, and answer it from a second process,
# the way a reviewer would from their own terminal.
run_with_approval() {
    local log pid rc
    log=$(mktemp)
    "$G" run "$@" --as "${USER:-operator}" >"$log" 2>&1 &
    pid=$!
    for _ in $(seq 180); do
        grep -q "WAITING FOR APPROVAL" "$log" && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 1
    done
    if grep -q "WAITING FOR APPROVAL" "$log"; then
        echo "-- the run waits for approval; a second person answers from another terminal:"
        echo "   golive approve --as reviewer"
        "$G" approve --as reviewer
    fi
    set +e
    wait "$pid"
    rc=$?
    set -e
    cat "$log"
    rm -f "$log"
    return $rc
}

echo "== Kubernetes canary 10/50/100 of demo-api with a Prometheus gate, after a second person approves"
run_with_approval runbooks/k8s-canary.yml -e lab -p version=v2

echo "== rehearse the hybrid cutover first: a drill at every failure point, each rolled back and proven restored"
$G rehearse runbooks/core-migration.yml -e lab -p version=v2 --matrix 2>&1 | grep -v "| INFO "

echo "== hybrid cutover: freeze writes (Ansible) -> sync (SSH) -> approval -> Kubernetes canary -> verify -> unfreeze"
run_with_approval runbooks/core-migration.yml -e lab -p version=v2

echo "== schedules on Prefect: a weekly canary (Saturday 02:00 Asia/Shanghai), and the rolling release once, now"
$G schedule runbooks/k8s-canary.yml -e lab -p version=v2 --cron "0 2 * * 6" --tz Asia/Shanghai --name demo-api-canary-weekly
since=$(mktemp)  # a demo run again waits for this run, not an earlier demo's
at=$(date -u -d '+5 sec' +%Y-%m-%dT%H:%M:%S+00:00)
$G schedule runbooks/rolling-demo.yml -e lab -p version=v2 --at "$at" --name demo-rolling-once
echo "-- the lab's Prefect worker starts it as an ordinary golive run:"
scheduled=""
for _ in $(seq 150); do
    scheduled=$(find runs -name journal.jsonl -newer "$since" 2>/dev/null \
        | xargs -r grep -l "\"initiator\":\"schedule:demo-rolling-once\"" \
        | xargs -r grep -l '"event":"run_finished"' | tail -1 || true)
    [ -n "$scheduled" ] && break
    sleep 1
done
rm -f "$since"
if [ -z "$scheduled" ]; then
    echo "demo: the scheduled run did not end within 150 s (see $GOLIVE_LAB_DIR/prefect/worker.log)" >&2
    exit 1
fi
echo "scheduled run $(basename "$(dirname "$scheduled")"): $(grep -o '"status":"[a-z_]*"' "$scheduled" | tail -1)"
COLUMNS=160 $G schedules

$G runs --limit 5
echo "== what golive told people: the lab's notification inbox (Apprise json:// to a local receiver)"
$G lab inbox -n 6
echo "== the report of the rolled-back release (HTML: timeline, gates, rollback; prints to PDF)"
report_html="$PWD/.golive/reports/rolled-back-$bad_run.html"
$G report "$bad_run" -o "$report_html"
echo "== the go-live document of the hybrid cutover (owners, contacts, risks, planned timeline, rollback paths)"
doc_html="$PWD/.golive/reports/core-migration-golive.html"
$G doc runbooks/core-migration.yml -e lab -p version=v2 -o "$doc_html"
prefect_ui=$(sed -n 's#^PREFECT_API_URL=\(.*\)/api$#\1#p' "$GOLIVE_LAB_DIR/env" 2>/dev/null || true)
cat <<TXT

Where to look:
  journals:   runs/<run id>/journal.jsonl   (golive status <run id>, golive runs)
  report:     $report_html   (golive report <run id> [--format html|md|json] [-o FILE])
  document:   $doc_html   (golive doc RUNBOOK -e ENV [--format html|md] [-o FILE])
  Prefect UI: ${prefect_ui:-"(lab Prefect server not running)"}  (flow runs named by run id, task runs by step id)
  schedules:  golive schedules  (Prefect UI: Deployments; golive unschedule NAME)
  notified:   golive lab inbox   (channels: golive_notify in the env's group_vars; golive notify test ENV)
  the lab:    golive lab status;  golive lab down  stops every process it started
TXT
