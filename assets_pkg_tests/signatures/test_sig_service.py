"""The application service on in-memory stores: idempotence, supersedes, links, typed errors."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import pytest
from pydantic import ValidationError
from ulid import ULID

from assets_pkg.signatures.errors import InconsistentRegistrationError, UnsupportedSignatureError
from assets_pkg.signatures.model import (
    ImageSignature,
    NewImageSignature,
    NewXYZSignature,
    Origin,
    Reference,
    Signature,
    Signee,
    SigneeKey,
    XYZPoint,
    XYZSignature,
)
from assets_pkg.signatures.ports import CurrentSignature, RegistrationIdentity
from assets_pkg.signatures.service import SignatureApplicationService

GENUINE = SigneeKey(source="SOURCE_A", directory="Online/Genuine", writer_id="001")
FORGER = SigneeKey(source="SOURCE_A", directory="Online/Forgeries", writer_id="0120")


class Memory:
    """Signee and signature repositories, asset service and unit of work, all in memory."""

    def __init__(self) -> None:
        self.signees: dict[SigneeKey, Signee] = {}
        self.signatures: list[Signature] = []
        self.assets: list[str] = []
        self.transactions = 0

    def find_signee(self, key: SigneeKey) -> Signee | None:
        found = self.signees.get(key)  # a copy without signatures, as SqlSigneeRepository gives
        return None if found is None else found.model_copy(update={"signatures": []})

    def store_signee(self, signee: Signee) -> None:
        self.signees[signee.key] = signee.model_copy(update={"signatures": []})

    def find_current(self, source: str, source_path: str) -> CurrentSignature | None:
        superseded = {s.supersedes for s in self.signatures}
        for s in reversed(self.signatures):
            if (s.origin.source, s.origin.source_path) == (source, source_path):
                if s.id in superseded:
                    return None
                (key,) = [k for k, signee in self.signees.items() if signee.id == s.signee_id]
                identity = RegistrationIdentity(s.origin.content_sha256, key, s.forgery_of)
                return CurrentSignature(s.id, s.signee_id, identity)
        return None

    def store_signatures(self, signatures: Sequence[Signature]) -> None:
        self.signatures.extend(signatures)

    def register_asset(
        self, local_uri: str, metadata: Mapping[str, str], data: bytes | None = None
    ) -> str:
        self.assets.append(local_uri)
        return f"asset:{local_uri}"

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.transactions += 1
        yield


class SigneeRepo:
    def __init__(self, memory: Memory) -> None:
        self.find_signee = memory.find_signee
        self.store = memory.store_signee


class SignatureRepo:
    def __init__(self, memory: Memory) -> None:
        self.find_current = memory.find_current
        self.store = memory.store_signatures


def service(memory: Memory) -> SignatureApplicationService:
    return SignatureApplicationService(SigneeRepo(memory), SignatureRepo(memory), memory, memory)


def origin(path: str, content: str = "a", subset: str = "Online/Genuine") -> Origin:
    return Origin(source="SOURCE_A", subset=subset, source_path=path, content_sha256=content * 64)


def xyz(path: str, content: str = "a", **extra: object) -> NewXYZSignature:
    return NewXYZSignature.model_validate(
        {"points": [(1.0, 2.0, 3.0)], "origin": origin(path, content), **extra}
    )


def test_a_first_registration_creates_the_signee_and_its_signatures() -> None:
    memory = Memory()
    image = NewImageSignature(local_uri="/in/001_01.png", origin=origin("Offline/001_01.png"))
    result = service(memory).register_signatures([xyz("g/001_01.HWR"), image], GENUINE)
    signee = memory.signees[GENUINE]
    assert result.signee_id == signee.id
    assert result.new_signee
    assert (result.unchanged, result.superseded, memory.transactions) == (0, (), 1)
    assert [s.kind for s in memory.signatures] == ["xyz", "image"]
    assert all(s.signee_id == signee.id for s in memory.signatures)
    online, offline = memory.signatures
    assert isinstance(online, XYZSignature)
    assert online.points == (XYZPoint(1.0, 2.0, 3.0),)
    assert isinstance(offline, ImageSignature)
    assert offline.asset_id == "asset:/in/001_01.png"
    assert result.registered == tuple(memory.signatures)


def test_the_same_inputs_twice_register_nothing_the_second_time() -> None:
    memory = Memory()
    first = service(memory).register_signatures([xyz("g/001_01.HWR")], GENUINE)
    again = service(memory).register_signatures([xyz("g/001_01.HWR")], GENUINE)
    assert again.registered == ()
    assert (again.signee_id, again.new_signee, again.unchanged) == (first.signee_id, False, 1)
    assert len(memory.signatures) == 1
    assert memory.transactions == 1


def test_a_new_file_registers_only_itself_under_the_existing_signee() -> None:
    memory = Memory()
    first = service(memory).register_signatures([xyz("g/001_01.HWR")], GENUINE)
    later = service(memory).register_signatures(
        [xyz("g/001_01.HWR"), xyz("g/001_02.HWR", "b")], GENUINE
    )
    assert [s.origin.source_path for s in later.registered] == ["g/001_02.HWR"]
    assert later.signee_id == first.signee_id
    assert not later.new_signee
    assert len(memory.signees) == 1


def test_changed_bytes_supersede_the_old_signature_which_is_kept() -> None:
    memory = Memory()
    first = service(memory).register_signatures([xyz("g/001_01.HWR", "a")], GENUINE)
    changed = service(memory).register_signatures([xyz("g/001_01.HWR", "b")], GENUINE)
    old = first.registered[0]
    (new,) = changed.registered
    assert changed.superseded == (old.id,)
    assert new.supersedes == old.id
    assert memory.signatures == [old, new]
    assert memory.find_current("SOURCE_A", "g/001_01.HWR") == CurrentSignature(
        new.id, new.signee_id, RegistrationIdentity("b" * 64, GENUINE)
    )


def test_the_same_bytes_under_another_signee_supersede_the_registration() -> None:
    memory = Memory()
    first = service(memory).register_signatures([xyz("b/3f2a9c1e")], GENUINE)
    renamed = GENUINE.model_copy(update={"writer_id": "002"})
    again = service(memory).register_signatures([xyz("b/3f2a9c1e")], renamed)
    (new,) = again.registered
    assert (again.unchanged, again.new_signee, again.superseded) == (
        0,
        True,
        (first.registered[0].id,),
    )
    assert new.signee_id == memory.signees[renamed].id != first.signee_id
    assert memory.find_current("SOURCE_A", "b/3f2a9c1e") == CurrentSignature(
        new.id, new.signee_id, RegistrationIdentity("a" * 64, renamed)
    )
    assert service(memory).register_signatures([xyz("b/3f2a9c1e")], renamed).unchanged == 1


def test_the_same_bytes_imitating_something_else_supersede_the_registration() -> None:
    memory = Memory()
    service(memory).register_signatures([xyz("p")], GENUINE)
    other = GENUINE.model_copy(update={"writer_id": "002"})
    versions = [
        None,
        Reference(signee=GENUINE, signature_path="p"),
        Reference(signee=other),
        Reference(signee=other, signature_path="q"),
        None,
    ]
    ids: list[str] = []
    for reference in versions:
        result = service(memory).register_signatures([xyz("c", forgery_of=reference)], FORGER)
        (new,) = result.registered
        assert result.superseded == tuple(ids[-1:])
        assert (new.forgery_of, new.is_forgery) == (reference, reference is not None)
        same = service(memory).register_signatures([xyz("c", forgery_of=reference)], FORGER)
        assert (same.registered, same.unchanged) == ((), 1)
        ids.append(new.id)
    assert memory.find_current("SOURCE_A", "c") == CurrentSignature(
        ids[-1], memory.signees[FORGER].id, RegistrationIdentity("a" * 64, FORGER)
    )


def test_a_forgery_links_to_its_reference_and_an_unknown_one_stays_empty() -> None:
    memory = Memory()
    genuine = service(memory).register_signatures([xyz("g/001_01.HWR")], GENUINE)
    known = Reference(signee=GENUINE)
    unknown = Reference(signee=GENUINE.model_copy(update={"writer_id": "099"}))
    forged = service(memory).register_signatures(
        [xyz("f/0120001_1.HWR", forgery_of=known), xyz("f/0120099_1.HWR", forgery_of=unknown)],
        FORGER,
    )
    linked, unlinked = forged.registered
    assert (linked.reference_signee_id, linked.is_forgery) == (genuine.signee_id, True)
    assert (unlinked.reference_signee_id, unlinked.is_forgery) == (None, True)
    assert forged.unresolved == (unknown,)


def test_a_reference_signature_is_linked_when_its_path_is_named() -> None:
    memory = Memory()
    parent = service(memory).register_signatures([xyz("p")], GENUINE)
    child = service(memory).register_signatures(
        [xyz("c", forgery_of=Reference(signee=GENUINE, signature_path="p"))], FORGER
    )
    assert child.registered[0].reference_signature_id == parent.registered[0].id


def test_an_unknown_input_type_raises_a_typed_error() -> None:
    with pytest.raises(UnsupportedSignatureError, match="cannot register a str"):
        service(Memory()).register_signatures(["not a signature"], GENUINE)  # type: ignore[list-item]


def test_inputs_from_another_source_or_twice_the_same_file_are_refused() -> None:
    other = NewXYZSignature(
        points=(XYZPoint(1, 2, 3),),
        origin=Origin(source="SOURCE_B", subset="", source_path="x", content_sha256="c" * 64),
    )
    with pytest.raises(InconsistentRegistrationError, match="comes from SOURCE_B"):
        service(Memory()).register_signatures([other], GENUINE)
    with pytest.raises(InconsistentRegistrationError, match="appears twice"):
        service(Memory()).register_signatures([xyz("g"), xyz("g", "b")], GENUINE)


def test_nothing_to_register_creates_no_signee() -> None:
    memory = Memory()
    assert service(memory).register_signatures([], GENUINE).signee_id is None
    assert memory.signees == {}


def test_ids_are_ulids_and_times_are_utc() -> None:
    signee = Signee(
        key=GENUINE, created=dt.datetime(2024, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    )
    assert str(ULID.from_str(signee.id)) == signee.id
    assert signee.created == dt.datetime(2024, 1, 1, 10, tzinfo=dt.UTC)
    assert signee.created.tzinfo is dt.UTC
    with pytest.raises(ValidationError):
        Signee(key=GENUINE, created=dt.datetime(2024, 1, 1))  # naive: refused
    with pytest.raises(ValidationError):
        Signee(key=GENUINE, id="not-a-ulid")
    with pytest.raises(ValidationError):
        NewXYZSignature.model_validate(
            {"points": [(1.0, float("nan"), 3.0)], "origin": origin("p")}
        )
    made = signee.new_xyz_signature((XYZPoint(1, 2, 3),), origin("p"))
    assert signee.signatures == [made]
    assert made.signee_id == signee.id
