"""A border-gate screen must refuse anything the server's key did not sign, for a distinct reason each."""

from __future__ import annotations

import json
import math
import os
import stat
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from signage_core.canonical import CanonicalError, canonical_json, format_datetime, loads_strict
from signage_core.signing import (
    SIGNING_CONTEXT,
    Envelope,
    EnvelopeKind,
    PublicKey,
    Rejection,
    SigningKey,
    TrustStore,
    VerificationError,
    load_or_create_private_key,
    load_private_key,
    load_trust_store,
    make_key_handover,
    save_private_key,
    save_trust_store,
    sign_envelope,
    signed_bytes,
    verify_envelope,
)

NOW = datetime(2026, 3, 1, 5, 0, tzinfo=UTC)
SCREEN = "hoa-lu-arrivals"


def body(version: int = 2, screen: str = SCREEN, issued: datetime = NOW, ttl: timedelta = timedelta(days=8)) -> dict[str, object]:
    return {
        "screen_id": screen, "version": version, "issued_at": issued,
        "expires_at": issued + ttl, "text": "Chào mừng quý khách",
    }


def check(raw: bytes | Envelope, trust: TrustStore, *, last: int | None = 1, now: datetime = NOW,
          kind: EnvelopeKind = EnvelopeKind.MANIFEST) -> object:
    return verify_envelope(raw, trust=trust, expected_kind=kind, screen_id=SCREEN, last_version=last, now=now)


def rejected(raw: bytes | Envelope, trust: TrustStore, **kw: object) -> Rejection:
    with pytest.raises(VerificationError) as info:
        check(raw, trust, **kw)  # type: ignore[arg-type]
    return info.value.reason


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture(scope="module")
def trust(key: SigningKey) -> TrustStore:
    return TrustStore.of(key.public_key)


# --- canonical JSON -------------------------------------------------------------------------


def test_canonical_json_is_sorted_compact_utf8() -> None:
    assert canonical_json({"b": 1, "a": {"d": [1, "Việt"], "c": None}}) == (
        '{"a":{"c":null,"d":[1,"Việt"]},"b":1}'.encode()
    )


def test_khmer_zero_width_space_survives_as_raw_utf8() -> None:
    out = canonical_json({"km": "សូម\u200bស្វាគមន៍"})
    assert "\u200b".encode() in out and b"\\u" not in out


def test_datetimes_become_utc_with_z() -> None:
    ict = timezone(timedelta(hours=7))
    assert canonical_json([datetime(2026, 1, 1, 7, 0, tzinfo=ict)]) == b'["2026-01-01T00:00:00Z"]'
    assert format_datetime(datetime(2026, 1, 1, 0, 0, 0, 5000, tzinfo=UTC)) == "2026-01-01T00:00:00.005000Z"


@pytest.mark.parametrize(("value", "message"), [
    ({"x": math.nan}, "nan is not allowed"),
    ({"x": math.inf}, "inf is not allowed"),
    ({"x": datetime(2026, 1, 1)}, "naive datetime"),
    ({1: "x"}, "is not a string"),
    ({"x": {1, 2}}, "set has no canonical JSON form"),
])
def test_ambiguous_values_are_refused(value: object, message: str) -> None:
    with pytest.raises(CanonicalError, match=message):
        canonical_json(value)


@pytest.mark.parametrize(("text", "message"), [
    ('{"a":1,"a":2}', "duplicate object key 'a'"),
    ('{"a":NaN}', "NaN is not allowed"),
    ('{"a":1e999}', "inf is not allowed"),
    ("{", "not valid JSON"),
])
def test_strict_parser_refuses_ambiguous_json(text: str, message: str) -> None:
    with pytest.raises(CanonicalError, match=message):
        loads_strict(text)


# --- keys -----------------------------------------------------------------------------------


def test_private_key_is_saved_0600_and_reloads(tmp_path: Path, key: SigningKey) -> None:
    path = tmp_path / "keys" / "server.pem"
    save_private_key(key, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert os.listdir(path.parent) == ["server.pem"]  # no temp file left behind
    assert load_private_key(path).public_key == key.public_key


def test_existing_key_is_not_overwritten(tmp_path: Path, key: SigningKey) -> None:
    path = tmp_path / "server.pem"
    save_private_key(key, path)
    with pytest.raises(FileExistsError):
        save_private_key(SigningKey.generate(), path)
    assert load_private_key(path).key_id == key.key_id


def test_readable_key_file_is_refused(tmp_path: Path, key: SigningKey) -> None:
    path = tmp_path / "server.pem"
    save_private_key(key, path)
    path.chmod(0o644)
    with pytest.raises(PermissionError, match="mode 0644"):
        load_private_key(path)


def test_first_run_creates_then_reuses_the_key(tmp_path: Path) -> None:
    path = tmp_path / "data" / "signing.pem"
    first = load_or_create_private_key(path)
    second = load_or_create_private_key(path)
    assert first.public_key == second.public_key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_non_ed25519_pem_is_refused() -> None:
    with pytest.raises(ValueError, match="not an unencrypted PEM"):
        SigningKey.from_pem(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")


def test_fingerprint_is_stable_and_human_sized(key: SigningKey) -> None:
    fp = key.public_key.fingerprint
    assert fp.startswith("SHA256:") and len(fp.split()) == 16
    assert PublicKey.from_base64(key.public_key.base64).fingerprint == fp
    assert SigningKey.generate().public_key.fingerprint != fp
    assert "PRIVATE" not in repr(key)


# --- envelopes ------------------------------------------------------------------------------


def test_valid_envelope_is_accepted(key: SigningKey, trust: TrustStore) -> None:
    raw = sign_envelope(EnvelopeKind.MANIFEST, body(), key).to_json()
    verified = verify_envelope(raw, trust=trust, expected_kind=EnvelopeKind.MANIFEST,
                               screen_id=SCREEN, last_version=1, now=NOW)
    assert verified.header.version == 2
    assert verified.body["text"] == "Chào mừng quý khách"


def test_first_envelope_needs_no_previous_version(key: SigningKey, trust: TrustStore) -> None:
    raw = sign_envelope(EnvelopeKind.MANIFEST, body(version=1), key).to_json()
    check(raw, trust, last=None)


def test_tampered_byte_is_bad_signature(key: SigningKey, trust: TrustStore) -> None:
    raw = sign_envelope(EnvelopeKind.MANIFEST, body(), key).to_json()
    tampered = raw.replace("quý khách".encode(), "quý khácx".encode())
    assert tampered != raw
    assert rejected(tampered, trust) is Rejection.BAD_SIGNATURE


def test_reencoded_json_still_verifies(key: SigningKey, trust: TrustStore) -> None:
    # Whitespace or key order added by a relay does not change the signed content.
    raw = sign_envelope(EnvelopeKind.MANIFEST, body(), key).to_json()
    pretty = json.dumps(json.loads(raw), indent=2, ensure_ascii=True).encode()
    check(pretty, trust)


def test_unknown_key_is_rejected(trust: TrustStore) -> None:
    stranger = SigningKey.generate()
    raw = sign_envelope(EnvelopeKind.MANIFEST, body(), stranger).to_json()
    assert rejected(raw, trust) is Rejection.UNKNOWN_KEY


def test_wrong_key_claiming_a_trusted_id_is_bad_signature(key: SigningKey, trust: TrustStore) -> None:
    forged = sign_envelope(EnvelopeKind.MANIFEST, body(), SigningKey.generate())
    relabelled = forged.model_copy(update={"key_id": key.key_id})
    assert rejected(relabelled, trust) is Rejection.BAD_SIGNATURE


def test_other_screens_manifest_is_rejected(key: SigningKey, trust: TrustStore) -> None:
    raw = sign_envelope(EnvelopeKind.MANIFEST, body(screen="hoang-dieu-1"), key).to_json()
    assert rejected(raw, trust) is Rejection.WRONG_SCREEN


def alert_body(screens: tuple[str, ...]) -> dict[str, object]:
    b = body()
    del b["screen_id"]
    b["screen_ids"] = list(screens)
    return b


def test_alert_listing_this_screen_is_accepted(key: SigningKey, trust: TrustStore) -> None:
    raw = sign_envelope(EnvelopeKind.ALERT, alert_body(("hoang-dieu-1", SCREEN)), key).to_json()
    verified = check(raw, trust, kind=EnvelopeKind.ALERT)
    assert verified.header.screen_ids == ("hoang-dieu-1", SCREEN)  # type: ignore[attr-defined]


def test_alert_for_other_screens_is_wrong_screen(key: SigningKey, trust: TrustStore) -> None:
    raw = sign_envelope(EnvelopeKind.ALERT, alert_body(("hoang-dieu-1",)), key).to_json()
    with pytest.raises(VerificationError) as caught:
        check(raw, trust, kind=EnvelopeKind.ALERT)
    assert caught.value.reason is Rejection.WRONG_SCREEN


@pytest.mark.parametrize("targets", ["both", "neither"])
def test_header_needs_exactly_one_target(key: SigningKey, trust: TrustStore, targets: str) -> None:
    b = body()
    if targets == "both":
        b["screen_ids"] = [SCREEN]
    else:
        del b["screen_id"]
    raw = sign_envelope(EnvelopeKind.MANIFEST, b, key).to_json()
    assert rejected(raw, trust) is Rejection.MALFORMED


@pytest.mark.parametrize(("version", "last"), [(2, 2), (2, 5)])
def test_equal_or_lower_version_is_rejected(key: SigningKey, trust: TrustStore, version: int, last: int) -> None:
    raw = sign_envelope(EnvelopeKind.MANIFEST, body(version=version), key).to_json()
    assert rejected(raw, trust, last=last) is Rejection.STALE_VERSION
    check(raw, trust, last=version - 1)


def test_expired_is_rejected(key: SigningKey, trust: TrustStore) -> None:
    raw = sign_envelope(EnvelopeKind.MANIFEST, body(ttl=timedelta(hours=1)), key).to_json()
    assert rejected(raw, trust, now=NOW + timedelta(hours=1)) is Rejection.EXPIRED
    check(raw, trust, now=NOW + timedelta(minutes=59))


def test_not_yet_valid_beyond_clock_skew(key: SigningKey, trust: TrustStore) -> None:
    raw = sign_envelope(EnvelopeKind.MANIFEST, body(issued=NOW + timedelta(minutes=10)), key).to_json()
    assert rejected(raw, trust) is Rejection.NOT_YET_VALID
    check(raw, trust, now=NOW + timedelta(minutes=6))  # within the 5-minute skew


def test_wrong_kind_is_rejected(key: SigningKey, trust: TrustStore) -> None:
    raw = sign_envelope(EnvelopeKind.ALERT, body(), key).to_json()
    assert rejected(raw, trust) is Rejection.WRONG_KIND
    check(raw, trust, kind=EnvelopeKind.ALERT)


def test_kind_is_covered_by_the_signature(key: SigningKey, trust: TrustStore) -> None:
    alert = sign_envelope(EnvelopeKind.ALERT, body(), key)
    relabelled = alert.model_copy(update={"kind": "manifest"})
    assert rejected(relabelled, trust) is Rejection.BAD_SIGNATURE


@pytest.mark.parametrize("raw", [
    b"not json",
    b'{"kind":"manifest","body":{}}',
    b'{"kind":"manifest","body":{},"key_id":"x","signature":"%%%","extra":1}',
    b'{"kind":"manifest","body":{},"key_id":"x","signature":"AAAA"}',
    b'{"kind":"manifest","body":{},"key_id":"x","signature":"AAAA","kind":"alert"}',
])
def test_malformed_envelopes(trust: TrustStore, raw: bytes) -> None:
    assert rejected(raw, trust) is Rejection.MALFORMED


def test_signed_body_without_header_is_malformed(key: SigningKey, trust: TrustStore) -> None:
    raw = sign_envelope(EnvelopeKind.MANIFEST, {"screen_id": SCREEN, "version": 3}, key).to_json()
    assert rejected(raw, trust) is Rejection.MALFORMED


def test_every_reason_is_distinct() -> None:
    assert len({r.value for r in Rejection}) == len(Rejection) == 8


# --- key rotation ---------------------------------------------------------------------------


def test_new_key_is_trusted_only_through_signed_handover() -> None:
    old, new = SigningKey.generate(), SigningKey.generate()
    player = TrustStore.of(old.public_key)
    manifest = sign_envelope(EnvelopeKind.MANIFEST, body(version=9), new).to_json()
    assert rejected(manifest, player) is Rejection.UNKNOWN_KEY

    handover = make_key_handover(old, new.public_key, issued_at=NOW, old_key_valid_until=None)
    rotated = player.accept_handover(handover.to_json(), now=NOW)
    check(manifest, rotated)
    # The old key is retired at once: its manifests are no longer accepted.
    old_manifest = sign_envelope(EnvelopeKind.MANIFEST, body(version=10), old).to_json()
    assert rejected(old_manifest, rotated) is Rejection.UNKNOWN_KEY
    assert rejected(manifest, player) is Rejection.UNKNOWN_KEY  # the original store is unchanged


def test_handover_signed_by_an_untrusted_key_is_refused() -> None:
    old, attacker = SigningKey.generate(), SigningKey.generate()
    player = TrustStore.of(old.public_key)
    forged = make_key_handover(attacker, attacker.public_key, issued_at=NOW, old_key_valid_until=None)
    with pytest.raises(VerificationError) as info:
        player.accept_handover(forged.to_json(), now=NOW)
    assert info.value.reason is Rejection.UNKNOWN_KEY


def test_handover_with_swapped_new_key_is_bad_signature() -> None:
    old, new, attacker = SigningKey.generate(), SigningKey.generate(), SigningKey.generate()
    player = TrustStore.of(old.public_key)
    handover = make_key_handover(old, new.public_key, issued_at=NOW, old_key_valid_until=None)
    swapped = handover.model_copy(
        update={"body": {**handover.body, "new_public_key": attacker.public_key.base64}}
    )
    with pytest.raises(VerificationError) as info:
        player.accept_handover(swapped, now=NOW)
    assert info.value.reason is Rejection.BAD_SIGNATURE


def test_manifest_signature_cannot_pose_as_handover() -> None:
    old = SigningKey.generate()
    player = TrustStore.of(old.public_key)
    with pytest.raises(VerificationError) as info:
        player.accept_handover(sign_envelope(EnvelopeKind.MANIFEST, body(), old), now=NOW)
    assert info.value.reason is Rejection.WRONG_KIND


def test_grace_period_keeps_old_key_until_its_end() -> None:
    old, new = SigningKey.generate(), SigningKey.generate()
    grace_end = NOW + timedelta(hours=2)
    player = TrustStore.of(old.public_key).accept_handover(
        make_key_handover(old, new.public_key, issued_at=NOW, old_key_valid_until=grace_end), now=NOW
    )
    in_flight = sign_envelope(EnvelopeKind.MANIFEST, body(version=3), old).to_json()
    check(in_flight, player, now=NOW + timedelta(hours=1))
    assert rejected(in_flight, player, now=grace_end) is Rejection.UNKNOWN_KEY


def test_offline_player_follows_a_chain_and_refuses_replays() -> None:
    a, b, c = SigningKey.generate(), SigningKey.generate(), SigningKey.generate()
    a_to_b = make_key_handover(a, b.public_key, issued_at=NOW, old_key_valid_until=None)
    b_to_c = make_key_handover(b, c.public_key, issued_at=NOW, old_key_valid_until=None)
    player = TrustStore.of(a.public_key).accept_handover(a_to_b, now=NOW).accept_handover(b_to_c, now=NOW)
    assert set(player.keys) == {c.key_id}
    check(sign_envelope(EnvelopeKind.MANIFEST, body(), c).to_json(), player)
    with pytest.raises(VerificationError):
        player.accept_handover(a_to_b, now=NOW)  # b must never come back
    assert set(player.keys) == {c.key_id}


def test_retired_key_cannot_hand_over_twice_during_grace() -> None:
    old, new, other = SigningKey.generate(), SigningKey.generate(), SigningKey.generate()
    player = TrustStore.of(old.public_key).accept_handover(
        make_key_handover(old, new.public_key, issued_at=NOW, old_key_valid_until=NOW + timedelta(days=1)),
        now=NOW,
    )
    second = make_key_handover(old, other.public_key, issued_at=NOW, old_key_valid_until=None)
    with pytest.raises(VerificationError, match="already handed over once"):
        player.accept_handover(second, now=NOW)
    # The same handover delivered twice (retained MQTT message) is harmless.
    again = make_key_handover(old, new.public_key, issued_at=NOW, old_key_valid_until=NOW + timedelta(days=1))
    assert player.accept_handover(again, now=NOW) == player


def test_trust_store_round_trips_through_json(tmp_path: Path) -> None:
    old, new = SigningKey.generate(), SigningKey.generate()
    player = TrustStore.of(old.public_key).accept_handover(
        make_key_handover(old, new.public_key, issued_at=NOW, old_key_valid_until=NOW + timedelta(days=1)),
        now=NOW,
    )
    assert TrustStore.model_validate_json(player.model_dump_json()) == player
    path = tmp_path / "trust.json"
    save_trust_store(player, path)
    assert load_trust_store(path) == player
    path.write_text("{")
    with pytest.raises(ValueError, match="trust.json is not valid"):
        load_trust_store(path)


def test_signed_bytes_are_the_canonical_json_of_kind_key_id_and_body() -> None:
    payload = {"screen_id": SCREEN, "text": "សូម\u200bស្វាគមន៍", "n": 1}
    assert signed_bytes("alert", "abc", payload) == SIGNING_CONTEXT + canonical_json(
        {"kind": "alert", "key_id": "abc", "body": payload}
    )


def test_envelope_json_is_canonical(key: SigningKey) -> None:
    envelope = sign_envelope(EnvelopeKind.ALERT, body(), key)
    assert envelope.to_json() == canonical_json(envelope.model_dump())
    assert Envelope.model_validate_json(envelope.to_json()) == envelope


def test_handover_with_naive_dates_is_malformed() -> None:
    old, new = SigningKey.generate(), SigningKey.generate()
    naive = sign_envelope(EnvelopeKind.KEY_HANDOVER, {
        "old_key_id": old.key_id, "new_public_key": new.public_key.base64,
        "issued_at": "2026-03-01T05:00:00", "old_key_valid_until": None,
    }, old)
    with pytest.raises(VerificationError) as info:
        TrustStore.of(old.public_key).accept_handover(naive, now=NOW)
    assert info.value.reason is Rejection.MALFORMED
