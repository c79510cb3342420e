"""Fixtures for the action functions: a moto server (real boto3 over HTTP on 127.0.0.1) holding the stack's
ledger and idempotency tables, bus (+ a rule copying every event to an observer queue), provider secrets; and
the provider emulator."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests

from livectl import runtime
from livectl.control import service as control
from tests.control.support import BUS, IDEMPOTENCY, LEDGER, REGION, SECRETS, Emu, Stack
from tests.tables import create_ledger_table

# ---------------------------------------------------------------------------------------------------------
# AWS (moto server)
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    from livectl_cli.local import moto_fixes

    moto_fixes.install()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def stack(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    requests.post(f"{moto_url}/moto-api/reset", timeout=10).raise_for_status()
    env = {
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_SERVICE_NAME": "livectl",
        "POWERTOOLS_METRICS_NAMESPACE": "livectl",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    runtime.reset()

    ddb = boto3.client("dynamodb", endpoint_url=moto_url, region_name=REGION)
    create_ledger_table(ddb, LEDGER)
    ddb.create_table(
        TableName=IDEMPOTENCY,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    sm = boto3.client("secretsmanager", endpoint_url=moto_url, region_name=REGION)
    for name, value in SECRETS.items():
        sm.create_secret(Name=name, SecretString=json.dumps(value))
    sqs = boto3.client("sqs", endpoint_url=moto_url, region_name=REGION)
    observer = sqs.create_queue(QueueName="observer")["QueueUrl"]
    observer_arn = sqs.get_queue_attributes(QueueUrl=observer, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    ev = boto3.client("events", endpoint_url=moto_url, region_name=REGION)
    ev.create_event_bus(Name=BUS)
    ev.put_rule(Name="all-livectl", EventBusName=BUS, EventPattern=json.dumps({"source": ["livectl"]}))
    ev.put_targets(Rule="all-livectl", EventBusName=BUS, Targets=[{"Id": "observer", "Arn": observer_arn}])

    settings = control.Settings(
        ledger_table=LEDGER,
        event_bus=BUS,
        idempotency_table=IDEMPOTENCY,
        secret_prefix="livectl/",
        max_concurrency=2,
        volcengine_endpoint="",
        trtc_endpoint="",
    )
    yield Stack(url=moto_url, settings=settings, observer_queue_url=observer)
    runtime.reset()


# ---------------------------------------------------------------------------------------------------------
# Provider emulator
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def emu(emulator: Any, stack: Stack) -> Iterator[Emu]:
    """The shared emulator (reset per test), driven over its admin HTTP API; the stack's settings point at it."""
    stack.settings = dataclasses.replace(stack.settings, volcengine_endpoint=emulator.url, trtc_endpoint=emulator.url)
    yield Emu(emulator.url)
