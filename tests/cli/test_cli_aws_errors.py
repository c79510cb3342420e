"""An AWS failure the layer already translated reaches the operator as one line, naming the call once, with the
hint when the endpoint cannot be reached (as before the ledger reads moved into the layer's adapter)."""

from __future__ import annotations

import pytest
from botocore.exceptions import EndpointConnectionError

from livectl import aws
from livectl_cli.common import CliError
from livectl_cli.targets import aws_call

pytestmark = pytest.mark.unit


def translated(exc: Exception, what: str) -> None:
    raise aws.aws_error(exc, what) from exc


@pytest.mark.parametrize("translate", [True, False], ids=["through the layer", "raw botocore"])
def test_an_unreachable_endpoint_says_so_once(translate: bool) -> None:
    raw = EndpointConnectionError(endpoint_url="http://127.0.0.1:5999")

    def call() -> None:
        if translate:
            translated(raw, "ledger Query")
        raise raw

    with pytest.raises(CliError) as caught:
        aws_call("ledger Query", call)
    message = str(caught.value)
    assert message.count("ledger Query") == 1
    assert "is `livectl local` running?" in message
