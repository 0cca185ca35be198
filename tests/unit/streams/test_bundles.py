"""ingest's bundles of memberships and of valid reports, and rollup's of snapshots: one
message per partition, cut at a size, origins kept."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from incidents_config.metrics import published_header, published_ms
from schemas.report import Report
from schemas.warehouse import SNAPSHOT_BUNDLE_PREFIX, MembershipBundle, decode, encode
from sinks.rows import KafkaCoordinates, MessageKind, message_items, message_rows, report_row
from streams import ingest, rollup
from streams.ingest import Bundles
from streams.semantics import dedupe
from tests.strategies import valid_reports
from tests.unit.sinks.samples import incident as sample_incident
from tests.unit.sinks.samples import snapshot as sample_snapshot
from tests.unit.streams.test_semantics import make_report


@dataclass
class Message:
    offset: int
    topic: str = "t.reports.raw"
    partition: int = 3
    key: bytes | None = None
    timestamp: float = 1_700_000_000.0  # Kafka's, in seconds as Faust gives it
    headers: list[tuple[str, bytes]] | None = None


@dataclass
class Event:
    message: Message
    value: bytes = b""
    extra: dict[str, str] = field(default_factory=dict)


def membership_json(i: int) -> bytes:
    _, (m,) = dedupe(None, make_report(event=str(i), location=f"village {i}"))
    return encode(m)


def test_one_bundle_per_partition_with_each_items_origin() -> None:
    bundles = Bundles("t.updates")
    for i in range(5):
        bundles.add(i % 2, Event(Message(offset=100 + i)), membership_json(i))  # type: ignore[arg-type]
    sends = bundles.sends()
    assert [(s.topic, s.partition, s.key) for s in sends] == [
        ("t.updates", 0, None),
        ("t.updates", 1, None),
    ]
    first = decode(sends[0].value, MembershipBundle)
    assert [o[2] for o in first.origins] == [100, 102, 104]
    assert first.origins[0] == ("t.reports.raw", 3, 100)
    assert [m.entry.source_event_id for m in first.memberships] == ["0", "2", "4"]
    assert sends[0].event.message.offset == 104  # names its last event


def test_a_bundle_says_when_its_oldest_report_was_published() -> None:
    bundles = Bundles("t.updates")
    stamps = [1_700_000_005.0, 1_700_000_001.5, 1_700_000_009.0]  # raw messages: Kafka's
    for i, at in enumerate(stamps):
        bundles.add(0, Event(Message(offset=i, timestamp=at)), membership_json(i))  # type: ignore[arg-type]
    carried = Message(offset=9, topic="t.reports.rekeyed", headers=[published_header(1_600_000)])
    bundles.add(1, Event(carried), membership_json(9))  # type: ignore[arg-type]
    first, second = bundles.sends()
    assert first.headers() == [published_header(1_700_000_001_500)]
    assert published_ms(first.headers()) == 1_700_000_001_500
    assert second.headers() == [published_header(1_600_000)]  # the header, not its timestamp


def test_a_large_batch_is_cut_into_bundles_under_the_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingest, "BUNDLE_BYTES", 2_000)
    bundles = Bundles("t.updates")
    for i in range(20):
        bundles.add(0, Event(Message(offset=i)), membership_json(i))  # type: ignore[arg-type]
    sends = bundles.sends()
    assert len(sends) > 1
    items = [decode(s.value, MembershipBundle) for s in sends]
    assert sum(len(b.memberships) for b in items) == 20
    assert [o[2] for b in items for o in b.origins] == list(range(20))
    assert all(len(s.value) < 2_000 + 2 * len(membership_json(0)) for s in sends)


def test_a_bundle_without_an_origin_per_membership_is_refused() -> None:
    value = b'{"memberships":[' + membership_json(1) + b'],"origins":[]}'
    with pytest.raises(ValueError):
        decode(value, MembershipBundle)


# --- valid reports: ingest's bundles as the sink reads them ---------------------------


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(valid_reports(), st.integers(0, 2)), min_size=1, max_size=12),
    st.sampled_from([300, 256 * 1024]),
)
def test_a_bundle_of_valid_reports_gives_the_sink_each_reports_own_row(
    reports: list[tuple[Report, int]], cut: int
) -> None:
    """Bundled or not, a report makes the same report_versions row, except where it says it
    came from: the raw message's coordinates and publication, and the bundle's arrival."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ingest, "BUNDLE_BYTES", cut)
        bundles = Bundles("t.reports.valid", items=b"reports")
        expected = {}
        for offset, (report, partition) in enumerate(reports):
            value = report.model_dump_json().encode()
            published = 1_700_000_000.0 + offset  # the raw message's Kafka timestamp, s
            message = Message(offset=offset, partition=partition, timestamp=published)
            bundles.add(partition, Event(message), value)  # type: ignore[arg-type]
            expected[offset] = (report, value, published)
        sends = bundles.sends()
    arrived = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)  # the bundle's own Kafka timestamp
    seen = []
    for i, send in enumerate(sends):
        at = KafkaCoordinates("t.reports.valid", send.partition or 0, i, arrived)
        items = message_items(MessageKind.REPORT, send.value, at)
        assert [row for item in items for row in item.rows] == message_rows(
            MessageKind.REPORT, send.value, at
        )
        for item in items:
            report, value, published = expected[item.at.offset]
            (row,) = item.rows
            assert item.raw == value  # what a quarantined row would keep
            origin = KafkaCoordinates(
                "t.reports.raw",
                item.at.partition,
                item.at.offset,
                arrived,
                datetime.fromtimestamp(published, tz=UTC),
            )
            assert row.values == report_row(report, origin, value).values
            assert row.values["kafka_topic"] == "t.reports.raw"
            assert row.values["fingerprint"] == hashlib.sha256(value).hexdigest()
            seen.append(item.at.offset)
    assert sorted(seen) == list(range(len(reports)))  # each report once, none lost


# --- snapshots: rollup's bundles as the sink reads them --------------------------------


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 40), st.integers(0, 2), st.integers(0, 253_402_300_799_999)),
        min_size=1,
        max_size=15,
    ),
    st.sampled_from([1_500, 6_000, 64 * 1024]),
)
def test_bundled_snapshots_give_the_sink_each_snapshots_own_rows(
    specs: list[tuple[int, int, int]], cut: int
) -> None:
    """Bundled or alone, a snapshot makes the rows its plain message makes, with its own
    publication time; each once, none lost; no bundle past the size unless it is one
    snapshot too large to share a message, which then goes as a plain message."""
    snapshots = []
    for i, (incidents, partition, published) in enumerate(specs):
        snap = sample_snapshot(i, [sample_incident(f"i{i}-{k}") for k in range(incidents)])
        event = Event(Message(offset=i, topic="t.incidents.updates", partition=partition))
        snapshots.append(rollup.Snapshot(partition, encode(snap), published, event))  # type: ignore[arg-type]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rollup, "SNAPSHOT_BUNDLE_BYTES", cut)
        sends = rollup.snapshot_sends("t.snapshots", snapshots)
    arrived = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    seen: list[bytes] = []
    for offset, send in enumerate(sends):
        assert send.topic == "t.snapshots" and send.key is None
        at = KafkaCoordinates("t.snapshots", send.partition or 0, offset, arrived)
        items = message_items(MessageKind.SNAPSHOT, send.value, at)
        carried = [s for s in snapshots if s.value in send.value and s.partition == send.partition]
        assert len(items) == len(carried) >= 1
        if len(send.value) > cut:
            assert not send.value.startswith(SNAPSHOT_BUNDLE_PREFIX)  # alone, plain
            assert len(items) == 1
        assert send.event is carried[-1].event  # names its last snapshot's event
        assert published_ms(send.headers()) == min(s.published for s in carried)
        for item, s in zip(items, carried, strict=True):
            assert item.rows == message_rows(MessageKind.SNAPSHOT, s.value, at)
            if send.value.startswith(SNAPSHOT_BUNDLE_PREFIX):
                assert item.at.published == datetime.fromtimestamp(s.published / 1000, tz=UTC)
            seen.append(s.value)
    assert sorted(seen) == sorted(s.value for s in snapshots)
    # In each partition, in the order given.
    for partition in {s.partition for s in snapshots}:
        order = [s.value for s in snapshots if s.partition == partition]
        assert [v for v in seen if v in order] == order
