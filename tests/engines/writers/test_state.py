"""The connection's state kept in the destination, committed with the data."""

from __future__ import annotations

from tests.engines.writers.conftest import stream, stream_state

GLOBAL_STATE = {
    "type": "GLOBAL",
    "global": {
        "shared_state": {"lsn": 12345678901234},
        "stream_states": [
            {"stream_descriptor": {"name": "users"}, "stream_state": {"id": 3}},
            {
                "stream_descriptor": {"name": "items", "namespace": "shop"},
                "stream_state": {"id": 9},
            },
        ],
    },
}
LEGACY_STATE = {"type": "LEGACY", "data": {"users": {"cursor": "2024-01-01"}}}


def commit_states(dest, *states, streams=None, connection_id="conn-1"):
    writer = dest.writer(
        streams or [stream(), stream("items", namespace="shop")],
        connection_id=connection_id,
    )
    writer.open()
    writer.commit(*states)
    writer.finish(success=True)
    return writer


def test_stream_states_round_trip_one_per_stream(dest):
    users = stream_state("users", {"cursor": "2024-01-01", "nested": [1, {"a": None}]})
    items = stream_state("items", {"page": "é😀"}, namespace="shop")
    writer = commit_states(dest, users, items)
    assert writer.read_state() == [users, items]  # by namespace, then name


def test_global_state_round_trips(dest):
    writer = commit_states(dest, GLOBAL_STATE)
    assert writer.read_state() == [GLOBAL_STATE]


def test_legacy_state_round_trips(dest):
    writer = commit_states(dest, LEGACY_STATE)
    assert writer.read_state() == [LEGACY_STATE]


def test_the_latest_state_of_a_stream_wins_and_counters_are_dropped(dest):
    older = stream_state("users", {"cursor": 1})
    newer = {**stream_state("users", {"cursor": 2}), "sourceStats": {"recordCount": 5}}
    writer = commit_states(dest, older, newer)
    assert writer.read_state() == [stream_state("users", {"cursor": 2})]


def test_a_new_kind_of_state_replaces_the_old_kind(dest):
    commit_states(dest, LEGACY_STATE)
    writer = commit_states(dest, stream_state("users", {"cursor": 5}))
    assert writer.read_state() == [stream_state("users", {"cursor": 5})]


def test_states_are_kept_per_connection(dest):
    commit_states(dest, stream_state("users", "a"), connection_id="conn-a")
    other = commit_states(dest, stream_state("users", "b"), connection_id="conn-b")
    assert other.read_state() == [stream_state("users", "b")]
    first = dest.writer([stream()], connection_id="conn-a")
    assert first.read_state() == [stream_state("users", "a")]


def test_resetting_one_stream_removes_it_from_a_global_state(dest):
    users, items = stream(), stream("items", namespace="shop")
    writer = commit_states(dest, GLOBAL_STATE, streams=[users, items])
    writer.truncate([users])
    [state] = writer.read_state()
    assert state["global"]["shared_state"] == {"lsn": 12345678901234}
    assert [
        e["stream_descriptor"]["name"] for e in state["global"]["stream_states"]
    ] == ["items"]
