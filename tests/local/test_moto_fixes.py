"""moto's hot spots as `moto_fixes` mends them: what moto answers is unchanged (approximate counts, input
transformers, update validation errors), and what was O(queue depth) per SendMessage no longer walks the queue."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from livectl_cli.local import moto_fixes

pytestmark = [pytest.mark.aws]
REGION = "ap-southeast-1"


@pytest.fixture()
def aws() -> Iterator[None]:
    moto_fixes.install()
    with mock_aws():
        yield


def create_keyed_table(ddb: Any, name: str) -> None:
    """A table keyed by `pk` alone."""
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


class _CountingList(list):  # type: ignore[type-arg]
    """A queue's message list that counts the walks over it."""

    walks = 0

    def __iter__(self) -> Any:
        type(self).walks += 1
        return super().__iter__()


def test_approximate_counts_are_moto_s_own(aws: None) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    for body in ("a", "b", "c"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=60)
    assert len(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=30)["Messages"]) == 1
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "2"
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "1"
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "1"
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert len(received) == 2 and "later" not in {m["Body"] for m in received}


def test_send_message_does_not_walk_the_queue(aws: None) -> None:
    from moto.sqs.models import sqs_backends

    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="deep")["QueueUrl"]
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "x"} for i in range(10)])
    queue = sqs_backends["123456789012"][REGION].get_queue("deep")
    queue._messages = _CountingList(queue._messages)
    _CountingList.walks = 0
    sqs.send_message(QueueUrl=url, MessageBody="one more")
    assert _CountingList.walks == 0  # moto alone: three walks (one per approximate count), each O(depth)
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "11"


def test_an_input_transformer_still_shapes_every_event(aws: None) -> None:
    events, sqs = boto3.client("events", region_name=REGION), boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="tap")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="r", EventPattern=json.dumps({"source": ["livectl"]}))
    transformer = {"InputPathsMap": {"task": "$.detail.task"}, "InputTemplate": '{"t": "<task>"}'}
    events.put_targets(Rule="r", Targets=[{"Id": "1", "Arn": arn, "InputTransformer": transformer}])
    for task in ("one", "two"):
        entry = {"Source": "livectl", "DetailType": "x", "Detail": json.dumps({"task": task})}
        events.put_events(Entries=[entry])
    bodies = [json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]]
    assert sorted(b["t"] for b in bodies) == ["one", "two"]


def test_update_validation_still_refuses_and_applies(aws: None) -> None:
    ddb = boto3.client("dynamodb", region_name=REGION)
    create_keyed_table(ddb, "t")
    key = {"pk": {"S": "k"}}
    with pytest.raises(ddb.exceptions.ClientError, match="ValidationException"):
        ddb.update_item(TableName="t", Key=key, UpdateExpression="SET a = :missing")
    for n in ("1", "2"):
        ddb.update_item(
            TableName="t",
            Key=key,
            UpdateExpression="SET a = :a, b = if_not_exists(b, :a) REMOVE c",
            ExpressionAttributeValues={":a": {"N": n}},
        )
    assert ddb.get_item(TableName="t", Key=key)["Item"] == {"pk": {"S": "k"}, "a": {"N": "2"}, "b": {"N": "1"}}


def test_concurrent_receives_never_take_one_message_twice(aws: None) -> None:
    import sys
    from concurrent.futures import ThreadPoolExecutor

    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="shared", Attributes={"VisibilityTimeout": "300"})["QueueUrl"]
    for _ in range(0, 300, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "x"} for i in range(10)])

    def drain() -> list[str]:
        taken: list[str] = []
        while answer := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
            taken += [m["MessageId"] for m in answer]
        return taken

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # threads switch often: moto's unguarded receive loop then races
    try:
        with ThreadPoolExecutor(8) as pool:
            taken = [mid for part in pool.map(lambda _: drain(), range(8)) for mid in part]
    finally:
        sys.setswitchinterval(interval)
    assert len(taken) == 300 and len(set(taken)) == 300


def test_concurrent_deletes_delete_every_message(aws: None) -> None:
    import sys
    from concurrent.futures import ThreadPoolExecutor

    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="deletes", Attributes={"VisibilityTimeout": "300"})["QueueUrl"]
    for _ in range(0, 300, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "x"} for i in range(10)])
    handles: list[str] = []
    while answer := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        handles += [m["ReceiptHandle"] for m in answer]
    chunks = [handles[i : i + 10] for i in range(0, len(handles), 10)]

    def delete(chunk: list[str]) -> None:
        entries = [{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(chunk)]
        assert not sqs.delete_message_batch(QueueUrl=url, Entries=entries).get("Failed")

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # moto rebuilt the list per delete: concurrent deletes put messages back
    try:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(delete, chunks))
    finally:
        sys.setswitchinterval(interval)
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    counts = (attributes["ApproximateNumberOfMessages"], attributes["ApproximateNumberOfMessagesNotVisible"])
    assert counts == ("0", "0")


def test_each_expression_text_is_parsed_once_and_every_request_keeps_its_own_values(aws: None) -> None:
    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.parsing import tokens

    ddb = boto3.client("dynamodb", region_name=REGION)
    create_keyed_table(ddb, "leased")
    condition = "attribute_not_exists(pk) OR (published = :false AND lease_end <= :now)"
    lexed, tokenized = [], []
    lex, tokenize = ConditionExpressionParser._lex_one_node, tokens.ExpressionTokenizer.make_list
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ConditionExpressionParser, "_lex_one_node", lambda self, text: lexed.append(1) or lex(self, text))
        patch.setattr(tokens.ExpressionTokenizer, "make_list", lambda text: tokenized.append(1) or tokenize(text))

        def put(now: int) -> bool:
            item = {"pk": {"S": "k"}, "published": {"BOOL": False}, "lease_end": {"N": str(now + 10)}}
            values = {":false": {"BOOL": False}, ":now": {"N": str(now)}}
            try:
                ddb.put_item(
                    TableName="leased", Item=item, ConditionExpression=condition, ExpressionAttributeValues=values
                )
            except ddb.exceptions.ConditionalCheckFailedException:
                return False
            return True

        def mark(value: str) -> None:
            ddb.update_item(
                TableName="leased",
                Key={"pk": {"S": "k"}},
                UpdateExpression="SET note = :v REMOVE gone",
                ExpressionAttributeValues={":v": {"S": value}},
            )

        assert put(100)  # absent
        first_lexing = len(lexed)
        assert not put(105)  # under the lease written at 100 (to 110): the same text, other values
        assert put(110)  # the lease is over
        mark("one")
        first_parse = len(tokenized)
        mark("two")
    assert len(lexed) == first_lexing  # lexed once (moto alone lexes it at every request)
    assert len(tokenized) == first_parse  # parsed once
    item = ddb.get_item(TableName="leased", Key={"pk": {"S": "k"}})["Item"]
    assert item["lease_end"] == {"N": "120"} and item["note"] == {"S": "two"}  # each request's own values


def test_a_long_poll_is_woken_by_a_send_and_concurrent_long_polls_never_take_one_message_twice(aws: None) -> None:
    import sys
    import threading
    from concurrent.futures import ThreadPoolExecutor

    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="long", Attributes={"VisibilityTimeout": "300"})["QueueUrl"]
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)  # nothing came: empty, after 1 s

    waiting = threading.Barrier(9)

    def poll() -> list[str]:
        taken: list[str] = []
        waiting.wait()
        for _ in range(40):  # each long poll returns once a send wakes it, or empty after its 1 s
            answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            taken += [m["MessageId"] for m in answer.get("Messages", [])]
            if not answer.get("Messages") and len(taken) and sent.is_set():
                break
        return taken

    sent = threading.Event()
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        with ThreadPoolExecutor(8) as pool:
            polls = [pool.submit(poll) for _ in range(8)]
            waiting.wait()  # the polls are (about to be) waiting on an empty queue
            for _ in range(0, 200, 10):
                sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "x"} for i in range(10)])
            sent.set()
            taken = [mid for p in polls for mid in p.result()]
    finally:
        sys.setswitchinterval(interval)
    assert len(taken) == 200 and len(set(taken)) == 200
