"""A stateful model of auto-stop (issue 13): a hypothesis RuleBasedStateMachine over two Volcengine recordings,
run against the real function handlers (StopPullRecordTask, the schedule manager), moto (SQS with redrive,
Scheduler, DynamoDB, EventBridge) and the provider emulator over HTTP.

Rules: send a stop, schedule / move / cancel an auto-stop, the clock advancing (the local stack's scheduler
clock fires what is due into the queue), duplicate a message, deliver (a random subset of what is visible, in a
random order: reordering), provider throttling and faults for the next calls, a crash after the provider call
(a simulated Lambda timeout before the idempotency record completes, then its in-progress expiry), the task
started again outside livectl. The model stands in for Lambda's event source mapping: it deletes what succeeded
and makes what failed visible again at once (the time the redelivery delay stands for).

Invariants: effective stops of a task ≤ the times it was started; no schedule of a task is left after its
cancel, nor after the clock passed its firing time; and after draining with a healthy provider: every command
sent (or fired) has an outcome (applied, rejected, stale, failed with a reason) or is in the DLQ with the
ledger's reason, and the ledger's state for each task agrees with the emulator's.

`LIVECTL_MODEL_EXAMPLES` / `LIVECTL_MODEL_STEPS` scale it: `make test` runs a short setting, `make soak` a long one.
"""

from __future__ import annotations

import importlib
import json
import os
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from livectl.schedules.service import ScheduleSettings
from livectl_cli.local.clock import SchedulerClock
from tests.control.support import FakeContext

pytestmark = [pytest.mark.aws, pytest.mark.emulator, pytest.mark.slow]

ACTION = "StopPullRecordTask"
EXAMPLES = int(os.environ.get("LIVECTL_MODEL_EXAMPLES") or 3)
STEPS = int(os.environ.get("LIVECTL_MODEL_STEPS") or 15)
MAX_RECEIVES = 26  # the template's maxReceiveCount at OutageToleranceMinutes 60
FAULTS = ["throttle", "http_503", "http_500", "drop", "truncated", "common_err"]


class SimulatedTimeout(BaseException):
    """Lambda ending the invocation after the provider answered: nothing of ours or Powertools' catches it."""


class World:
    """What the machine drives, set up once per test: queues, schedule group, handlers, the emulator."""

    def __init__(self, stack: Any, emu: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.stack, self.emu, self.monkeypatch = stack, emu, monkeypatch
        self.sqs = stack.client("sqs")
        self.queue, self.dlq = stack.action_queue("ModelStopQueue", max_receive_count=MAX_RECEIVES)
        self.queue_arn = self.arn(self.queue)
        scheduler = stack.client("scheduler")
        scheduler.create_schedule_group(Name="model-stops")
        self.scheduler = scheduler
        self.stop_app = importlib.import_module("functions.stop_pull_record.app")
        monkeypatch.setattr(self.stop_app, "SETTINGS", stack.settings)
        env = {
            "SCHEDULE_GROUP": "model-stops",
            "SCHEDULER_ROLE_ARN": "arn:aws:iam::123456789012:role/model-scheduler",
            "SCHEDULER_DLQ_ARN": self.arn(self.dlq),
            "ACTION_QUEUE_ARNS": json.dumps({ACTION: self.queue_arn}),
            "LEDGER_TABLE": stack.settings.ledger_table,
            "EVENT_BUS_NAME": stack.settings.event_bus,
        }
        for key, value in env.items():  # the module reads them at import
            monkeypatch.setenv(key, value)
        self.manager = importlib.import_module("functions.schedule_manager.app")
        monkeypatch.setattr(self.manager, "SETTINGS", ScheduleSettings.from_env(env))
        self.now = datetime.now(UTC)
        self.clock = SchedulerClock(
            scheduler, self.sqs, ["model-stops"], queue_url_for_arn=self.url_for, now=lambda: self.now, workers=1
        )

    def arn(self, url: str) -> str:
        attrs = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return str(attrs["Attributes"]["QueueArn"])

    def url_for(self, arn: str) -> str | None:
        return self.queue if arn == self.queue_arn else None


WORLD: World | None = None


def world() -> World:
    assert WORLD is not None
    return WORLD


class AutoStop(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        w = world()
        w.emu.faults([])
        self.run = uuid.uuid4().hex[:8]
        self.tasks = [f"model-{self.run}-{i}" for i in range(2)]
        for task in self.tasks:
            w.emu.add_task("pull_record", task)
        self.started = dict.fromkeys(self.tasks, 1)  # times each task was (re)started: the intended stops' bound
        self.ids: set[str] = set()  # every command id that reached the handler
        self.sent: list[str] = []  # bodies sent, for duplicates
        self.schedule_at: dict[str, datetime] = {}  # task → its auto-stop's firing time, per the model
        self.crash_next = False
        self.commands = 0

    # -- helpers --------------------------------------------------------------------------------------------------
    def send_body(self, body: dict[str, Any] | str) -> None:
        text = body if isinstance(body, str) else json.dumps(body)
        world().sqs.send_message(QueueUrl=world().queue, MessageBody=text)
        self.sent.append(text)

    def invoke(self, messages: list[dict[str, Any]]) -> set[str]:
        """The event source mapping: one invocation of the real handler; returns the failed message ids."""
        w = world()
        records = [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": w.queue_arn,
                "awsRegion": "ap-southeast-1",
            }
            for m in messages
        ]
        for m in messages:
            doc = json.loads(m["Body"]) if m["Body"].startswith("{") else {}
            if isinstance(doc.get("id"), str):
                self.ids.add(doc["id"])
        if self.crash_next:
            self.crash_next = False
            return self.crash(records)
        answer = w.stop_app.handler({"Records": records}, FakeContext())
        return {f["itemIdentifier"] for f in answer["batchItemFailures"]}

    def crash(self, records: list[dict[str, Any]]) -> set[str]:
        """The first record's provider call answers, then the invocation dies before the idempotency record
        completes; the in-progress record expires (the invocation's deadline passed) and every record is back."""
        w = world()
        original = BasePersistenceLayer.save_success

        def timeout_once(persistence: Any, *args: Any, **kwargs: Any) -> None:
            w.monkeypatch.setattr(BasePersistenceLayer, "save_success", original)
            raise SimulatedTimeout

        w.monkeypatch.setattr(BasePersistenceLayer, "save_success", timeout_once)
        try:
            w.stop_app.handler({"Records": records[:1]}, FakeContext())
        except SimulatedTimeout:
            pass
        finally:
            w.monkeypatch.setattr(BasePersistenceLayer, "save_success", original)
        ddb = w.stack.client("dynamodb")
        for item in w.stack.idempotency_items():
            if item["status"]["S"] == "INPROGRESS":
                ddb.update_item(
                    TableName=w.stack.settings.idempotency_table,
                    Key={"id": item["id"]},
                    UpdateExpression="SET in_progress_expiration = :past",
                    ExpressionAttributeValues={":past": {"N": "1"}},
                )
        return {r["messageId"] for r in records}

    def deliver_some(self, pick: st.DataObject | None) -> int:
        w = world()
        got = w.sqs.receive_message(QueueUrl=w.queue, MaxNumberOfMessages=10, AttributeNames=["All"])
        messages = got.get("Messages", [])
        if not messages:
            return 0
        if pick is not None:  # a random subset in a random order; the rest come back at once
            messages = pick.draw(st.permutations(messages), label="order")
            keep = pick.draw(st.integers(1, len(messages)), label="batch")
            for m in messages[keep:]:
                w.sqs.change_message_visibility(QueueUrl=w.queue, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
            messages = messages[:keep]
        failed = self.invoke(messages)
        for m in messages:
            if m["MessageId"] in failed:
                w.sqs.change_message_visibility(QueueUrl=w.queue, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
            else:
                w.sqs.delete_message(QueueUrl=w.queue, ReceiptHandle=m["ReceiptHandle"])
        return len(messages)

    def schedule(self, request: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = world().manager.handler(request, FakeContext(name="model-schedule-manager"))
        return answer

    # -- rules ------------------------------------------------------------------------------------------------
    @rule(i=st.integers(0, 1), fresh_id=st.booleans())
    def send_stop(self, i: int, fresh_id: bool) -> None:
        self.commands += 1
        body: dict[str, Any] = {"action": ACTION, "params": {"TaskId": self.tasks[i]}}
        if fresh_id:
            body["id"] = f"{self.run}-cmd-{self.commands}"
        self.send_body(body)

    @rule()
    def send_stale_or_invalid(self) -> None:
        self.commands += 1
        if self.commands % 2:
            body = {"action": ACTION, "params": {"TaskId": self.tasks[0]}, "id": f"{self.run}-stale-{self.commands}"}
            self.send_body({**body, "not_after": "2020-01-01T00:00:00Z"})
        else:
            self.send_body({"action": ACTION, "params": {}, "id": f"{self.run}-bad-{self.commands}"})

    @rule(i=st.integers(0, 1), minutes=st.integers(1, 30))
    def schedule_or_move(self, i: int, minutes: int) -> None:
        task = self.tasks[i]
        answer = self.schedule({"action": ACTION, "params": {"TaskId": task}, "after": f"{minutes}m"})
        assert answer.get("status") not in (None, "rejected"), answer
        self.schedule_at[task] = datetime.now(UTC) + timedelta(minutes=minutes)

    @rule(i=st.integers(0, 1))
    def cancel(self, i: int) -> None:
        task = self.tasks[i]
        self.schedule({"action": ACTION, "params": {"TaskId": task}, "cancel": True})
        self.schedule_at.pop(task, None)
        assert task not in self.live_schedules(), "a schedule is left behind after its cancel"

    @rule(minutes=st.integers(1, 40))
    def clock_advances(self, minutes: int) -> None:
        w = world()
        w.now = max(w.now, datetime.now(UTC)) + timedelta(minutes=minutes)
        w.clock.tick()
        for task, at in list(self.schedule_at.items()):
            if at <= w.now:
                del self.schedule_at[task]
                assert task not in self.live_schedules(), "a schedule is left behind after it fired"

    @precondition(lambda self: bool(self.sent))
    @rule(data=st.data())
    def duplicate(self, data: st.DataObject) -> None:
        self.send_body(data.draw(st.sampled_from(self.sent), label="copy"))

    @rule(data=st.data())
    def deliver(self, data: st.DataObject) -> None:
        self.deliver_some(data)

    @rule(kind=st.sampled_from(FAULTS), count=st.integers(1, 4))
    def provider_fails_next_calls(self, kind: str, count: int) -> None:
        world().emu.faults({"kinds": [kind], "rate": 1.0, "count": count, "actions": [ACTION]})

    @rule()
    def crash_after_the_next_call(self) -> None:
        self.crash_next = True

    @rule(i=st.integers(0, 1))
    def started_again_outside_livectl(self, i: int) -> None:
        task = self.tasks[i]
        if world().emu.task("pull_record", task)["status"] != "生效中":
            world().emu.add_task("pull_record", task)  # the provider's task runs again: a new stop is intended
            self.started[task] += 1

    # -- invariants -----------------------------------------------------------------------------------------------
    def live_schedules(self) -> set[str]:
        w = world()
        found = set()
        for s in w.scheduler.list_schedules(GroupName="model-stops")["Schedules"]:
            target = w.scheduler.get_schedule(Name=s["Name"], GroupName="model-stops")["Target"]
            found.add(json.loads(target["Input"])["params"]["TaskId"])
        return found

    @invariant()
    def at_most_one_effective_stop_per_start(self) -> None:
        calls = world().emu.calls(ACTION)
        for task in self.tasks:
            done = [c for c in calls if c["params"] and c["params"].get("TaskId") == task and c["error_code"] is None]
            assert len(done) <= self.started[task], (task, len(done), self.started[task])

    def teardown(self) -> None:
        w = world()
        self.crash_next = False
        w.emu.faults([])
        for _ in range(MAX_RECEIVES * 4):
            if not self.deliver_some(None):
                break
        assert self.deliver_some(None) == 0, "the queue did not drain"
        events = w.stack.events()
        outcomes = {e["detail"].get("command_id"): e["detail"].get("outcome") for e in events}
        dead = [json.loads(b) if isinstance(b, str) else b for b in dlq_bodies(w)]
        dead_ids = {d.get("id") for d in dead if isinstance(d, dict)}
        for command_id in self.ids:
            assert outcomes.get(command_id) or command_id in dead_ids, f"command {command_id} has no outcome"
        ledger = w.stack.ledger()
        for d in dead:
            state = ledger.get_state("volcengine", d["params"]["TaskId"]) or {}
            assert state.get("last_error_code"), f"{d} is in the DLQ without a reason"
        for task in self.tasks:
            provider = w.emu.task("pull_record", task)["status"]
            state = (ledger.get_state("volcengine", task) or {}).get("state")
            if provider == "停用":
                assert state == "stopped", (task, provider, state)
            elif state == "stopped":  # started again outside livectl after the last stop livectl made
                assert self.started[task] > 1, (task, provider, state)


def dlq_bodies(w: World) -> list[str]:
    out = []
    while True:
        got = w.sqs.receive_message(QueueUrl=w.dlq, MaxNumberOfMessages=10)
        if not got.get("Messages"):
            return out
        for m in got["Messages"]:
            out.append(m["Body"])
            w.sqs.delete_message(QueueUrl=w.dlq, ReceiptHandle=m["ReceiptHandle"])


@pytest.mark.timeout(1800)
def test_the_auto_stop_model_holds_its_invariants(stack, emu, monkeypatch):
    global WORLD
    WORLD = World(stack, emu, monkeypatch)
    try:
        run_state_machine_as_test(
            AutoStop,
            settings=settings(
                max_examples=EXAMPLES,
                stateful_step_count=STEPS,
                deadline=None,
                derandomize=os.environ.get("LIVECTL_MODEL_RANDOM") is None,
                suppress_health_check=list(HealthCheck),
            ),
        )
    finally:
        WORLD = None
