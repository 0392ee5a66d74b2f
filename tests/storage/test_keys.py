"""storage.keys: keys are shown once, stored only as sha256, verified by hash, revocable."""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from storage.db import make_engine, make_session_factory
from storage.errors import DatabaseUnavailable, DuplicateKeyName, InvalidKeyField, KeyNotFound
from storage.keys import ApiKeyRecord, ApiKeyStore, hash_key


def test_hash_key_is_the_sha256_hex_of_the_key() -> None:
    assert hash_key("hk-abc") == hashlib.sha256(b"hk-abc").hexdigest()


def test_create_returns_the_plaintext_once_and_a_domain_record(store: ApiKeyStore) -> None:
    plaintext, record = store.create("laptop")
    assert plaintext.startswith("hk-") and len(plaintext) == 43
    assert all(c.isalnum() or c in "-_" for c in plaintext)
    assert isinstance(record, ApiKeyRecord)
    assert record.name == "laptop" and record.role == "user" and record.active
    assert record.prefix == plaintext[:8]
    assert record.created_at.tzinfo is not None and record.created_at.utcoffset() == UTC.utcoffset(None)
    assert record.last_used_at is None and record.revoked_at is None
    with pytest.raises(AttributeError):
        record.name = "other"  # type: ignore[misc]
    assert not hasattr(record, "key_hash")


def test_verify_returns_the_record_and_records_the_use(store: ApiKeyStore) -> None:
    plaintext, record = store.create("ci", role="admin", tenant="acme")
    verified = store.verify(plaintext)
    assert verified is not None
    assert (verified.id, verified.name, verified.tenant, verified.role) == (record.id, "ci", "acme", "admin")
    assert verified.is_admin
    assert verified.last_used_at is not None and verified.last_used_at.tzinfo is not None
    assert store.get(record.id).last_used_at is not None


@pytest.mark.parametrize("wrong", ["", "hk-", "Bearer x", "hk-" + "A" * 40, "x" * 10_000])
def test_a_wrong_key_verifies_to_none(store: ApiKeyStore, wrong: str) -> None:
    store.create("real")
    assert store.verify(wrong) is None


def test_a_key_off_by_one_character_verifies_to_none(store: ApiKeyStore) -> None:
    plaintext, _ = store.create("real")
    tampered = plaintext[:-1] + ("a" if plaintext[-1] != "a" else "b")
    assert store.verify(tampered) is None
    assert store.verify(" " + plaintext) is None


def test_each_key_gets_its_own_tenant_unless_one_is_given(store: ApiKeyStore) -> None:
    _, first = store.create("one")
    _, second = store.create("two")
    _, shared = store.create("three", tenant="acme")
    assert first.tenant != second.tenant
    assert shared.tenant == "acme"


def test_revoke_by_id_or_name_and_revoked_keys_no_longer_verify(store: ApiKeyStore) -> None:
    key_a, a = store.create("a")
    key_b, b = store.create("b")
    revoked = store.revoke(a.id)
    assert revoked.revoked_at is not None and revoked.revoked_at.tzinfo is not None
    assert store.verify(key_a) is None
    assert store.revoke("b").id == b.id
    assert store.verify(key_b) is None
    # revoking again changes nothing
    assert store.revoke(a.id).revoked_at == revoked.revoked_at


def test_revoking_an_unknown_key_raises_key_not_found(store: ApiKeyStore) -> None:
    with pytest.raises(KeyNotFound):
        store.revoke("no-such-key")
    with pytest.raises(LookupError):
        store.get("no-such-key")


def test_list_and_count(store: ApiKeyStore) -> None:
    assert store.list() == [] and store.count() == 0
    _, a = store.create("a")
    _, b = store.create("b")
    store.revoke("a")
    listed = store.list()
    assert [record.id for record in listed] == [a.id, b.id]
    assert [record.active for record in listed] == [False, True]
    assert store.count() == 2
    assert store.count(active_only=True) == 1


def test_names_are_unique_among_active_keys(store: ApiKeyStore) -> None:
    _, first = store.create("deploy")
    with pytest.raises(DuplicateKeyName):
        store.create("deploy")
    store.revoke("deploy")
    plaintext, second = store.create("deploy")
    assert second.id != first.id
    # by name, the active key wins over the revoked one
    assert store.get("deploy").id == second.id
    assert store.verify(plaintext) is not None


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [("", {}), ("   ", {}), ("x" * 201, {}), ("ok", {"role": "root"}), ("ok", {"tenant": ""})],
)
def test_invalid_fields_are_refused(store: ApiKeyStore, name: str, kwargs: dict[str, str]) -> None:
    with pytest.raises(InvalidKeyField):
        store.create(name, **kwargs)
    assert store.count() == 0


def test_the_database_never_contains_the_plaintext(
    store: ApiKeyStore, migrated_engine: Engine, db_url: str
) -> None:
    keys = [store.create(f"key-{i}")[0] for i in range(3)]
    for key in keys:
        assert store.verify(key) is not None
    with migrated_engine.connect() as conn:
        if migrated_engine.dialect.name == "postgresql":
            dump = "\n".join(conn.execute(text("SELECT t::text FROM api_keys AS t")).scalars())
        else:
            rows = conn.execute(text("SELECT * FROM api_keys")).all()
            dump = "\n".join(" ".join(str(value) for value in row) for row in rows)
    for key in keys:
        assert hash_key(key) in dump
        assert key not in dump and key[3:] not in dump and key[8:] not in dump
    if migrated_engine.dialect.name == "sqlite":
        # the raw files too, write-ahead log included
        database = Path(migrated_engine.url.database or "")
        raw = b"".join(
            path.read_bytes() for path in database.parent.glob(database.name + "*") if path.is_file()
        )
        for key in keys:
            assert key[8:].encode() not in raw


def test_concurrent_verification_does_not_lock_the_database(migrated_engine: Engine) -> None:
    # every verify records last_used_at: with SQLite that is a write from many threads at once
    store = ApiKeyStore(make_session_factory(migrated_engine), touch_interval_s=0)
    plaintext, _ = store.create("busy")
    errors: list[BaseException] = []

    def hammer() -> None:
        try:
            for _ in range(25):
                assert store.verify(plaintext) is not None
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=hammer) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_an_unreachable_database_raises_database_unavailable() -> None:
    engine = make_engine("postgresql://hearth@127.0.0.1:1/hearth", connect_timeout_s=2)
    try:
        store = ApiKeyStore(make_session_factory(engine))
        with pytest.raises(DatabaseUnavailable):
            store.create("x")
        with pytest.raises(DatabaseUnavailable):
            store.verify("hk-" + "a" * 40)
    finally:
        engine.dispose()
