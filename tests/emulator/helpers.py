"""Helpers for the emulator tests: send an arbitrary (signed) body, the way a buggy or foreign client might."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import requests

from livectl.providers.signing import Credentials, sign_tc3, sign_volcengine

VOLC = Credentials("AKLTDEMO", "demo-secret")
TRTC = Credentials("AKIDDEMO", "demo-secret")


class Raw:
    def __init__(self, url: str) -> None:
        self.url = url
        self.host = url.split("://", 1)[1]
        self.session = requests.Session()

    def volc(
        self,
        action: str,
        body: Any,
        *,
        version: str = "2023-01-01",
        credentials: Credentials = VOLC,
        now: datetime | None = None,
        timeout: float = 5.0,
    ) -> requests.Response:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        query = {"Action": action, "Version": version}
        headers = sign_volcengine(
            method="POST",
            host=self.host,
            path="/",
            query=query,
            headers={"Host": self.host, "Content-Type": "application/json"},
            body=data,
            credentials=credentials,
            region="cn-north-1",
            service="live",
            now=now or datetime.now(UTC),
        )
        return self.session.post(f"{self.url}/", params=query, headers=headers, data=data, timeout=timeout)

    def trtc(
        self,
        action: str,
        body: Any,
        *,
        region: str | None = "ap-guangzhou",
        version: str = "2019-07-22",
        credentials: Credentials = TRTC,
        now: datetime | None = None,
        timeout: float = 5.0,
    ) -> requests.Response:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = sign_tc3(
            method="POST",
            host=self.host,
            path="/",
            query={},
            headers={"Content-Type": "application/json"},
            body=data,
            credentials=credentials,
            service="trtc",
            action=action,
            version=version,
            region=region,
            now=now or datetime.now(UTC),
        )
        return self.session.post(f"{self.url}/", headers=headers, data=data, timeout=timeout)

    def admin_get(self, route: str, **params: Any) -> Any:
        resp = self.session.get(f"{self.url}/_emulator/{route}", params=params, timeout=5)
        resp.raise_for_status()
        return resp.json()

    def admin_post(self, route: str, doc: Any = None) -> requests.Response:
        return self.session.post(f"{self.url}/_emulator/{route}", json=doc, timeout=5)


def volc_error(resp: requests.Response) -> tuple[int, str]:
    return resp.status_code, resp.json()["ResponseMetadata"]["Error"]["Code"]


def trtc_error(resp: requests.Response) -> str | None:
    assert resp.status_code == 200
    error = resp.json()["Response"].get("Error")
    return error["Code"] if error else None
