"""How fast the local scheduler clock fires a burst: N one-time schedules all due at once (issue 12's burst).

    .venv/bin/python bench/clock_rate.py [N]   (default 400)

moto as the local stack runs it (a ThreadedMotoServer in this process, reached over HTTP with the stack's pooled
clients), one schedule group, two target queues (half the schedules each), every schedule `at` one second in the
past with ActionAfterCompletion DELETE. Prints the tick's wall time, fires per second, the messages that reached
the queues and the schedules left: a measurement for BENCHMARKS.md, not a test (tests hold no timings).
"""

from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "cli"))
sys.path.insert(0, str(ROOT / "layers" / "livectl"))

REGION = "ap-southeast-1"


def main(n: int) -> None:
    import logging

    import boto3
    from botocore.config import Config
    from moto.server import ThreadedMotoServer

    from livectl_cli.local.clock import SchedulerClock

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    config = Config(max_pool_connections=32)

    def client(name: str):  # type: ignore[no-untyped-def]
        return boto3.client(name, region_name=REGION, endpoint_url=f"http://{host}:{port}", config=config)

    scheduler, sqs = client("scheduler"), client("sqs")
    urls = [sqs.create_queue(QueueName=f"q{i}")["QueueUrl"] for i in range(2)]
    arns = {
        sqs.get_queue_attributes(QueueUrl=u, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]: u for u in urls
    }
    scheduler.create_schedule_group(Name="g")
    due = (datetime.now(UTC) - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S")
    targets = list(arns)

    def create(i: int) -> None:
        scheduler.create_schedule(
            Name=f"s{i}",
            GroupName="g",
            ScheduleExpression=f"at({due})",
            FlexibleTimeWindow={"Mode": "OFF"},
            Target={"Arn": targets[i % 2], "RoleArn": "arn:aws:iam::123456789012:role/r", "Input": f'{{"n": {i}}}'},
            ActionAfterCompletion="DELETE",
        )

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create, range(n)))
    # First a tick before T: the clock reads every schedule (as it does while the burst is being created).
    clock = SchedulerClock(
        scheduler, sqs, ["g"], queue_url_for_arn=arns.get, now=lambda: datetime(2000, 1, 1, tzinfo=UTC)
    )
    began = time.monotonic()
    clock.tick()
    read = time.monotonic() - began
    clock.now = lambda: datetime.now(UTC)
    began = time.monotonic()
    fired = clock.tick()
    fired_in = time.monotonic() - began
    getattr(clock, "settle", lambda: None)()  # the deletes after completion, when the clock runs them apart
    took = time.monotonic() - began
    queued = sum(
        int(
            sqs.get_queue_attributes(QueueUrl=u, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"][
                "ApproximateNumberOfMessages"
            ]
        )
        for u in urls
    )
    left = len(scheduler.list_schedules(GroupName="g")["Schedules"])
    load = os.getloadavg()[0]
    print(
        f"read {n} in {read:.2f} s; {fired} fired in {fired_in:.2f} s = {fired / fired_in:.0f}/s, deleted by "
        f"{took:.2f} s; {queued} queued, {left} left; load {load:.1f}"
    )
    server.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 400)
