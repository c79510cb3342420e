"""The template loader: short intrinsic tags, parameters, conditions, mappings, Globals, local names."""

from __future__ import annotations

import pytest

from livectl_cli.local.cfn import Template, TemplateError, load_yaml
from livectl_cli.local.functions import discover
from livectl_cli.local.stack import find_template

pytestmark = pytest.mark.unit

SMALL = """
Parameters:
  Stage: {Type: String, Default: dev}
  Prefix: {Type: String, Default: "livectl/"}
  Extra: {Type: String, Default: ""}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  HasExtra: !Not [!Equals [!Ref Extra, ""]]
Mappings:
  Sizes: {dev: {Memory: 256}, prod: {Memory: 1024}}
Globals:
  Function:
    Timeout: 30
    Handler: app.handler
    Environment:
      Variables:
        SHARED: one
        BUS: !Ref Bus
Resources:
  Bus: {Type: AWS::Events::EventBus, Properties: {Name: !Sub "${AWS::StackName}-bus"}}
  DLQ: {Type: AWS::SQS::Queue}
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 180
      RedrivePolicy: {deadLetterTargetArn: !GetAtt DLQ.Arn, maxReceiveCount: 5}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/fn/
      Timeout: 10
      MemorySize: !FindInMap [Sizes, !Ref Stage, Memory]
      Environment:
        Variables:
          SHARED: own
          QUEUE_URL: !Ref Queue
          QUEUE_ARN: !GetAtt Queue.Arn
          JOINED: !Join ["-", [a, !Ref Stage, !Select [1, [x, y, z]]]]
          SUBBED: !Sub ["${Prefix}${Name}/${Queue.QueueName}", {Name: !If [IsProd, p, d]}]
          MAYBE: !If [HasExtra, !Ref Extra, !Ref AWS::NoValue]
          ESCAPED: !Sub "${!Literal}"
      Events:
        Q:
          Type: SQS
          Properties:
            Queue: !GetAtt Queue.Arn
            BatchSize: 5
            FunctionResponseTypes: [ReportBatchItemFailures]
            ScalingConfig: {MaximumConcurrency: 3}
        Web:
          Type: HttpApi
          Properties: {Method: post, Path: /hook}
Outputs:
  QueueUrl: {Value: !Ref Queue}
  BusName: {Value: !Ref Bus}
"""


def small(**kwargs: object) -> Template:
    return Template(load_yaml(SMALL), None, stack_name="st", region="ap-southeast-1", **kwargs)  # type: ignore[arg-type]


def test_short_tags_become_long_form() -> None:
    data = load_yaml("A: !GetAtt X.Arn\nB: !Ref Y\nC: !Sub 'a${B}'\nD: !If [c, 1, 2]")
    assert data == {
        "A": {"Fn::GetAtt": ["X", "Arn"]},
        "B": {"Ref": "Y"},
        "C": {"Fn::Sub": "a${B}"},
        "D": {"Fn::If": ["c", 1, 2]},
    }


def test_function_environment_resolves_every_intrinsic_with_globals_merged() -> None:
    t = small(aws_endpoint="http://127.0.0.1:9999")
    spec = discover(t)["Fn"]
    env = spec.environment
    assert env["SHARED"] == "own"  # the function's own value wins over Globals
    assert env["BUS"] == "st-bus"
    assert env["QUEUE_URL"] == "http://127.0.0.1:9999/123456789012/st-Queue"
    assert env["QUEUE_ARN"] == "arn:aws:sqs:ap-southeast-1:123456789012:st-Queue"
    assert env["JOINED"] == "a-dev-y"
    assert env["SUBBED"] == "livectl/d/st-Queue"
    assert "MAYBE" not in env  # AWS::NoValue drops the key
    assert env["ESCAPED"] == "${Literal}"
    assert spec.timeout == 10 and spec.memory == 256 and spec.handler == "app.handler"


def test_parameters_override_defaults_and_conditions_follow() -> None:
    t = small(parameters={"Stage": "prod", "Extra": "x"})
    env = discover(t)["Fn"].environment
    assert env["SUBBED"].startswith("livectl/p/") and env["MAYBE"] == "x" and env["JOINED"] == "a-prod-y"
    assert discover(t)["Fn"].memory == 1024


def test_event_sources_are_read_from_the_template() -> None:
    spec = discover(small())["Fn"]
    (sqs,) = spec.sqs_sources
    assert sqs.queue_arn.endswith(":st-Queue") and sqs.batch_size == 5 and sqs.maximum_concurrency == 3
    assert sqs.report_batch_item_failures is True
    (route,) = spec.http_routes
    assert (route.method, route.path, route.payload_version) == ("POST", "/hook", "2.0")


def test_outputs_and_unknown_refs() -> None:
    t = small()
    assert t.outputs()["BusName"] == "st-bus"
    with pytest.raises(TemplateError, match="Nope"):
        t.resolve({"Ref": "Nope"})
    with pytest.raises(TemplateError, match="not supported"):
        t.resolve({"Fn::Transform": {}})


def test_the_real_template_wires_every_function() -> None:
    t = Template.load(find_template(), stack_name="livectl-local")
    specs = discover(t)
    assert {"StopPullRecordFunction", "ScheduleManagerFunction", "TrtcCallbackFunction"} <= set(specs)
    for spec in specs.values():
        assert spec.code_dir.is_dir(), spec.code_dir
        assert all(isinstance(v, str) and "Fn::" not in v and "Ref" not in v for v in spec.environment.values())
        assert spec.environment["LEDGER_TABLE"] == "livectl-local-LedgerTable"
    stop = specs["StopPullRecordFunction"]
    assert stop.sqs_sources and stop.sqs_sources[0].report_batch_item_failures
    assert stop.environment["PROVIDER_SECRET_PREFIX"] == "livectl/"
    assert specs["TrtcCallbackFunction"].http_routes[0].path == "/trtc/callback"
