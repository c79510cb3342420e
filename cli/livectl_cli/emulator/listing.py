"""ListPullToPushTaskV2 at the emulator: the relay list livectl pages through to settle a refused restart.

Shape from the docs (6469/1327383) and the Live SDKs: `Result.List` (one entry per relay, `Status` in the
same Chinese words as GetPullRecordTask) and `Pagination{PageCur, PageSize, PageTotal, TotalCount}`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from livectl_cli.emulator.model import DEFAULT_GROUP, Task, iso_beijing


def pull_to_push_item(task: Task) -> dict[str, Any]:
    """One entry of ListPullToPushTaskV2's `Result.List` (a live source relayed to a push address)."""
    return {
        "Title": task.title,
        "TaskId": task.task_id,
        "StartTime": iso_beijing(task.start_time),
        "EndTime": iso_beijing(task.end_time),
        "CallbackURL": "",
        "Type": 0,
        "SrcAddr": f"rtmp://{task.domain}/{task.app}/{task.stream}",
        "DstAddr": f"rtmp://push.{task.vhost}/{task.app}/{task.stream}",
        "Status": task.status,
        "DstAddrType": 2,
        "GroupName": task.group_name or DEFAULT_GROUP,
    }


def pull_to_push_page(tasks: Iterable[Task], params: Mapping[str, Any]) -> dict[str, Any]:
    """ListPullToPushTaskV2's `Result`: relay tasks in creation order, filtered by `GroupNames` and a
    case-insensitive `Title` substring, one page (`Page` from 1, `Size` default 20)."""
    groups = params.get("GroupNames") or None
    title = str(params.get("Title") or "").lower()
    listed = [
        t
        for t in tasks
        if t.kind == "pull_to_push"
        and (groups is None or (t.group_name or DEFAULT_GROUP) in groups)
        and title in t.title.lower()
    ]
    page, size = int(params.get("Page") or 1), int(params.get("Size") or 20)
    chunk = listed[(page - 1) * size : page * size]
    return {
        "List": [pull_to_push_item(t) for t in chunk],
        "Pagination": {
            "PageCur": page,
            "PageSize": size,
            "PageTotal": -(-len(listed) // size),
            "TotalCount": len(listed),
        },
    }
