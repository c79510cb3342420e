"""Writes the sample API Gateway (HTTP API 2.0) events under events/: real signed TRTC callback bodies.

    .venv/bin/python -m tests.callback.make_events     # rewrites events/trtc_callback*.json

Bodies use TRTC's cJSON formatting (tabs and newlines) unless copied byte for byte from the docs. Every event
is signed with the local key `demokey123`, SdkAppId 1400000001, except the docs' own vector (key 123654).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from livectl.providers.signing import trtc_callback_sign
from livectl.webhook.callbacks import LOCAL_CALLBACK_KEY, LOCAL_SDK_APP_ID

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "trtc-callbacks"
T0 = 1763712000000  # 2025-11-21T08:00:00Z, ms
COS_TASK = "-m9-bVVU7idQ3K-m928oZWQndiborbEWH3zY-lIXlprc-gQvQE"
VOD_TASK = "-m9-bVVU7idQ3K-vod8oZWQndiborbEWH3zY-lIXlprc-hRwRF"
RELAY_TASK = "-pUWD4ExRVRJeyIo5Oq4k4HpTpy1dqwRe0zq-_2N5G0nGeCt5J0"
ROOM = "635055"
BOT = "recorder_635055"


def cjson(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, indent="\t", separators=(",", ":\t"), ensure_ascii=False).encode("utf-8")


def body(event_type: int, task: str, offset_ms: int, payload: dict[str, Any], group: int = 3) -> bytes:
    at = T0 + offset_ms
    info: dict[str, Any] = {"RoomId": ROOM, "EventTs": at // 1000, "EventMsTs": at, "UserId": BOT, "TaskId": task}
    info["Payload"] = payload
    return cjson({"EventGroupId": group, "EventType": event_type, "CallbackTs": at + 37, "EventInfo": info})


def api_event(raw: bytes, headers: dict[str, str], *, b64: bool = False, request_id: str = "req") -> dict[str, Any]:
    lowered = {"content-type": "application/json", **{k: v for k, v in headers.items()}}
    return {
        "version": "2.0",
        "routeKey": "POST /trtc/callback",
        "rawPath": "/trtc/callback",
        "rawQueryString": "",
        "headers": lowered,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abcdef1234",
            "domainName": "abcdef1234.execute-api.ap-southeast-1.amazonaws.com",
            "http": {
                "method": "POST",
                "path": "/trtc/callback",
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.10",
                "userAgent": "Go-http-client/1.1",
            },
            "requestId": request_id,
            "routeKey": "POST /trtc/callback",
            "stage": "$default",
            "time": "21/Nov/2025:08:00:00 +0000",
            "timeEpoch": T0,
        },
        "body": base64.b64encode(raw).decode("ascii") if b64 else raw.decode("utf-8"),
        "isBase64Encoded": b64,
    }


def signed(raw: bytes, key: str = LOCAL_CALLBACK_KEY, app: int = LOCAL_SDK_APP_ID, **kw: Any) -> dict[str, Any]:
    return api_event(raw, {"sign": trtc_callback_sign(key, raw), "sdkappid": str(app)}, **kw)


MP4 = [
    {
        "FileName": f"1400000001_{ROOM}_{BOT}_main_{i}.mp4",
        "UserId": f"host_{i}",
        "TrackType": "audio_video",
        "MediaId": "main",
        "StartTimeStamp": T0 - 3_600_000 + i,
        "EndTimeStamp": T0 - 5 + i,
    }
    for i in (1, 2)
]


def bodies() -> dict[str, bytes]:
    m3u8 = f"1400000001_{ROOM}_{BOT}.m3u8"
    vod = {
        "UserId": "host_1",
        "TrackType": "audio_video",
        "MediaId": "main",
        "FileId": "5285890799617342315",
        "VideoUrl": "https://1500012345.vod2.myqcloud.com/6c1a8e7dvodtranssgp1500012345/8f9b0a2b5285890799617342315/f0.mp4",
        "CacheFile": f"1400000001_{ROOM}_host_1_main.mp4",
        "StartTimeStamp": T0 - 3_600_000,
        "EndTimeStamp": T0 - 5,
    }
    return {
        "301": body(301, COS_TASK, -3_600_500, {"Status": 0}),
        "302": body(302, COS_TASK, 0, {"LeaveCode": 0}),
        "303": body(303, COS_TASK, -3_600_400, {"Status": 0}),
        "304": body(304, COS_TASK, -3_590_000, {"FileList": m3u8}),
        "305": body(305, COS_TASK, 2_000, {"Status": 0}),
        "306": body(306, COS_TASK, -1_800_000, {"Status": 0}),
        "307": body(
            307,
            COS_TASK,
            -3_595_000,
            {"FileName": m3u8, "UserId": "host_1", "TrackType": "audio_video", "BeginTimeStamp": T0 - 3_600_000},
        ),
        "308": body(
            308,
            COS_TASK,
            1_000,
            {"Code": "InvalidAccessKeyId", "Message": "The Access Key Id you provided does not exist in our records."},
        ),
        "309": body(
            309, COS_TASK, -3_599_000, {"Url": "https://example-1250000000.cos.ap-singapore.myqcloud.com/watermark.png"}
        ),
        "310": body(310, COS_TASK, 1_500, {"Status": 0, "FileList": [f["FileName"] for f in MP4], "FileMessage": MP4}),
        "311": body(311, VOD_TASK, 3_000, {"Status": 0, "TencentVod": vod}),
        "311_failed": body(
            311,
            VOD_TASK,
            3_100,
            {
                "Status": 1,
                "Errmsg": "upload to vod timeout",
                "TencentVod": {
                    "UserId": "host_2",
                    "TrackType": "audio_video",
                    "CacheFile": f"1400000001_{ROOM}_host_2_main.mp4",
                },
            },
        ),
        "312": body(312, VOD_TASK, 4_000, {"Status": 0}),
        # the relay doc's example spells the timestamp EventTsMs and carries RoomType
        "401": cjson(
            {
                "EventGroupId": 4,
                "EventType": 401,
                "CallbackTs": T0 + 5_037,
                "EventInfo": {
                    "RoomId": ROOM,
                    "RoomType": 0,
                    "EventTsMs": T0 + 5_000,
                    "UserId": "relay_bot_635055",
                    "TaskId": RELAY_TASK,
                    "Payload": {
                        "Url": "rtmp://push.example.com/live/635055",
                        "Status": 2,
                        "ErrorCode": 0,
                        "ErrorMsg": "",
                    },
                },
            }
        ),
    }


def main() -> None:
    out = ROOT / "events"
    out.mkdir(exist_ok=True)
    written = []

    def write(name: str, event: dict[str, Any]) -> None:
        (out / name).write_text(json.dumps(event, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(name)

    for name, raw in bodies().items():
        write(f"trtc_callback_{name}.json", signed(raw, request_id=f"sample-{name}"))
    # the docs' golden vector: tabs and newlines, key 123654, documented Sign
    docs = (FIXTURES / "sign-vector-204.body.txt").read_bytes()
    write(
        "trtc_callback_docs_vector.json",
        api_event(
            docs, {"sign": "kkoFeO3Oh2ZHnjtg8tEAQhtXK16/KI05W3BQff8IvGA=", "sdkappid": "1400000001"}, request_id="docs"
        ),
    )
    # the newest documented 305 body, byte for byte, base64-encoded by API Gateway
    cn305 = (FIXTURES / "305-upload-stop.cn-81113.json").read_bytes()
    write("trtc_callback_base64.json", signed(cn305, b64=True, request_id="b64"))
    # header names as TRTC writes them (a REST API or a Function URL may keep the case)
    mixed = bodies()["305"]
    event = api_event(
        mixed, {"Sign": trtc_callback_sign(LOCAL_CALLBACK_KEY, mixed), "SdkAppId": "1400000001"}, request_id="case"
    )
    event["headers"] = {"Content-Type": "application/json", "Sign": event["headers"]["Sign"], "SdkAppId": "1400000001"}
    write("trtc_callback_header_case.json", event)
    print("\n".join(written))


if __name__ == "__main__":
    main()
