"""Batched frames: joined text of already-encoded messages, bounded, in order."""

from __future__ import annotations

import collections
import json

from serve.gateway_batch import take_frame


def _queue(n: int) -> collections.deque[str]:
    return collections.deque(json.dumps({"seq": i}) for i in range(1, n + 1))


def test_take_frame_when_not_batching_then_one_message_per_frame() -> None:
    q = _queue(3)
    assert json.loads(take_frame(q, batch=False)) == {"seq": 1}
    assert len(q) == 2


def test_take_frame_when_batching_then_array_of_all_queued_in_order() -> None:
    q = _queue(5)
    assert json.loads(take_frame(q, batch=True)) == [{"seq": i} for i in range(1, 6)]
    assert not q


def test_take_frame_when_batching_one_queued_then_plain_object() -> None:
    assert json.loads(take_frame(_queue(1), batch=True)) == {"seq": 1}


def test_take_frame_when_over_message_or_size_bound_then_rest_stays_queued() -> None:
    q = _queue(10)
    assert len(json.loads(take_frame(q, batch=True, max_messages=4))) == 4
    assert len(q) == 6
    frame = json.loads(take_frame(q, batch=True, max_chars=35))
    assert [m["seq"] for m in frame] == [5, 6, 7]
    assert [json.loads(t)["seq"] for t in q] == [8, 9, 10]
