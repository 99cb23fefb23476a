"""The wire contract: topic layout, payload checks, chunk frames, broker URLs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from signage_core import protocol as p
from signage_core.languages import Language

SHA = "ab" * 32


def test_topic_layout_is_per_screen_and_per_group() -> None:
    assert p.manifest_topic("hoa-lu-1") == "signage/v1/screens/hoa-lu-1/manifest"
    assert p.asset_chunk_topic("hoa-lu-1") == "signage/v1/screens/hoa-lu-1/asset/chunk"
    assert p.playlog_ack_topic("hoa-lu-1") == "signage/v1/screens/hoa-lu-1/playlog/ack"
    assert p.group_alert_topic("loc-ninh") == "signage/v1/groups/loc-ninh/alert"
    assert p.all_screens_filter(p.TopicKind.ASSET_REQUEST) == "signage/v1/screens/+/asset/request"
    assert p.SPECS[p.TopicKind.MANIFEST].retained and p.SPECS[p.TopicKind.MANIFEST].qos == 1
    assert p.SPECS[p.TopicKind.STATUS].retained
    assert p.SPECS[p.TopicKind.GROUP_ALERT].retained


@pytest.mark.parametrize("bad", ["", "A", "a/b", "a+", "#", "$sys", "-x", "a" * 64, "màn-hình"])
def test_ids_that_would_break_topics_are_refused(bad: str) -> None:
    with pytest.raises(p.ProtocolError, match="invalid screen id"):
        p.manifest_topic(bad)


def test_parse_screen_topic_round_trips_and_refuses_strangers() -> None:
    for spec in p.SCREEN_TOPICS:
        assert p.parse_screen_topic(spec.topic("bu-dop-2")) == ("bu-dop-2", spec.kind)
    for bad in ("signage/v1/screens/x/nope", "signage/v1/groups/g/alert", "other/x/manifest"):
        with pytest.raises(p.ProtocolError):
            p.parse_screen_topic(bad)


def test_every_screen_topic_has_one_publisher_side_and_one_reader_side() -> None:
    for spec in p.SCREEN_TOPICS:
        assert {spec.publisher, spec.subscriber} == {p.Party.SERVER, p.Party.SCREEN}


def test_chunk_frame_round_trips_raw_bytes() -> None:
    data = bytes(range(256)) * 10 + b"\n\n"
    header = p.ChunkHeader(request_id="r1", sha256=SHA, offset=512, total_size=9000, length=len(data))
    frame = p.encode_frame(header, data)
    assert len(frame) < len(data) + 200  # no base64 inflation
    assert p.decode_frame(p.ChunkHeader, frame) == (header, data)


def test_frame_whose_length_lies_is_refused() -> None:
    header = p.ChunkHeader(request_id="r1", sha256=SHA, offset=0, total_size=10, length=5)
    with pytest.raises(p.ProtocolError, match="announces 5 bytes but carries 4"):
        p.decode_frame(p.ChunkHeader, p.encode(header) + b"\nabcd")
    with pytest.raises(p.ProtocolError, match="says 5 bytes but 3 follow"):
        p.encode_frame(header, b"abc")
    with pytest.raises(p.ProtocolError, match="no header line"):
        p.decode_frame(p.ChunkHeader, b"x" * 5000)


def test_decode_names_the_wrong_fields() -> None:
    with pytest.raises(p.ProtocolError, match=r"bad AssetRequest payload: .*sha256.*length"):
        p.decode(p.AssetRequest, b'{"request_id":"r","sha256":"xyz","offset":0,"length":0}')
    with pytest.raises(p.ProtocolError, match="length"):
        p.decode(p.AssetRequest, b'{"request_id":"r","sha256":"' + SHA.encode() + b'","offset":0,"length":99999999}')
    with pytest.raises(p.ProtocolError, match="evil: Extra inputs"):
        p.decode(p.PlayLogAck, b'{"record_ids":["a"],"evil":1}')


def test_naive_times_are_refused_on_the_wire() -> None:
    with pytest.raises(p.ProtocolError, match="shown_at"):
        p.decode(p.AlertAck, b'{"alert_id":"a","frame_hash":"' + SHA.encode() + b'","shown_at":"2026-01-01T00:00:00"}')
    ack = p.AlertAck(alert_id="a", frame_hash=SHA, shown_at=datetime(2026, 1, 1, tzinfo=UTC))
    assert p.decode(p.AlertAck, p.encode(ack)) == ack


def test_envelope_must_be_a_json_object() -> None:
    assert p.decode_envelope(p.encode_envelope({"payload": {"a": 1}, "sig": "x"})) == {"payload": {"a": 1}, "sig": "x"}
    with pytest.raises(p.ProtocolError, match="JSON object"):
        p.decode_envelope(b"[1]")
    with pytest.raises(p.ProtocolError, match="not JSON"):
        p.decode_envelope(b"\xff")


def test_broker_urls() -> None:
    plain = p.parse_broker_url("mqtt://screen%2D1:p%40ss@broker.local")
    assert (plain.host, plain.port, plain.username, plain.password, plain.tls) == ("broker.local", 1883, "screen-1", "p@ss", None)
    tls = p.parse_broker_url("mqtts://10.0.0.5?ca=/etc/ssl/ca.pem")
    assert tls.port == 8883 and tls.tls == p.TlsOptions(ca_file="/etc/ssl/ca.pem")
    assert tls.url() == "mqtts://10.0.0.5:8883"
    assert p.parse_broker_url("mqtts://h:9000", ca_file="/ca").tls == p.TlsOptions(ca_file="/ca")
    assert p.parse_broker_url("mqtt://[::1]:1884").url() == "mqtt://[::1]:1884"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://h", "must start with mqtt:// or mqtts://"),
        ("mqtt://", "has no host"),
        ("mqtt://h:99999", "invalid port"),
        ("mqtt://h/x", "must not have a path"),
        ("mqtt://h?ca=/x", "TLS options given for plain"),
        ("mqtts://h?cert=/c", "needs both cert and key"),
        ("mqtts://h?tls=1", "unknown options: tls"),
    ],
)
def test_bad_broker_urls_say_what_is_wrong(url: str, message: str) -> None:
    with pytest.raises(p.ProtocolError, match=message):
        p.parse_broker_url(url)


def test_docs_list_every_topic() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text(encoding="utf-8")
    for spec in p.TOPICS:
        owner = "{group}" if spec.kind is p.TopicKind.GROUP_ALERT else "{screen_id}"
        row = f"`{spec.template.replace('{owner}', owner)}`"
        assert row in doc, f"{row} missing from docs/protocol.md"


def test_key_chain_topic_is_shared_retained_and_not_a_screen_topic() -> None:
    spec = p.SPECS[p.TopicKind.KEY_HANDOVERS]
    assert p.key_handovers_topic() == "signage/v1/keys/handovers"
    assert spec.retained and spec.qos == 1
    assert (spec.publisher, spec.subscriber) == (p.Party.SERVER, p.Party.EVERY_SCREEN)
    assert spec not in p.SCREEN_TOPICS
    with pytest.raises(p.ProtocolError, match="key_handovers_topic"):
        p.screen_topic("gate-1", p.TopicKind.KEY_HANDOVERS)
    with pytest.raises(p.ProtocolError, match="unknown topic kind"):
        p.parse_screen_topic("signage/v1/screens/gate-1/keys/handovers")
    with pytest.raises(p.ProtocolError):
        p.all_screens_filter(p.TopicKind.KEY_HANDOVERS)


def test_key_chain_payload_is_checked() -> None:
    assert p.decode(p.KeyHandoverChain, b'{"handovers": []}').handovers == []
    with pytest.raises(p.ProtocolError, match="bad KeyHandoverChain payload: handovers"):
        p.decode(p.KeyHandoverChain, b'{"handovers": "all"}')
    with pytest.raises(p.ProtocolError, match="more: Extra inputs"):
        p.decode(p.KeyHandoverChain, b'{"handovers": [], "more": 1}')


def test_alert_body_round_trips_and_refuses_an_unknown_action() -> None:
    at = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    body = p.AlertBody(alert_id="17", action="withdraw", captions={Language.VI: "Đóng"}, screen_ids=("42",),
                       version=58, issued_at=at, expires_at=at)
    assert p.decode(p.AlertBody, p.encode(body)) == body
    with pytest.raises(p.ProtocolError, match="action"):
        p.decode(p.AlertBody, p.encode(body).replace(b'"withdraw"', b'"blink"'))


def test_alert_body_from_an_older_server_still_parses() -> None:
    """Servers before issue 19 also sent the template key; players never read it, and must not refuse it."""
    old = (b'{"alert_id":"17","action":"show","template":"border-closure","captions":{"vi":"\xc4\x90\xc3\xb3ng"},'
           b'"screen_ids":["42"],"version":58,"issued_at":"2026-03-01T08:00:00Z","expires_at":"2026-03-01T09:00:00Z"}')
    body = p.decode(p.AlertBody, old)
    assert body.action == "show" and body.cover == "full" and body.captions == {Language.VI: "Đóng"}
