"""Every seed rule: accepted and refused values, each refusal naming its field."""

from __future__ import annotations

from datetime import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api import rules
from api.errors import ValidationError

GOOD_GROUP = dict(
    name="acme",
    contacts=["ops@acme.example"],
    timezone="Europe/Berlin",
    window_start=time(2, 0),
    window_minutes=120,
    weekdays=[0, 1, 2, 3, 4],
    notice_minutes=7 * 24 * 60,
)
GOOD_VM = dict(
    name="web01", kind="vm", arch="x86_64", cores=2, memory_mib=2048, swap_mib=1024, has_host=True
)


def fields_of(exc: pytest.ExceptionInfo[ValidationError]) -> set[str]:
    return {e.field for e in exc.value.errors}


def test_good_group_passes() -> None:
    rules.check_group(**GOOD_GROUP)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timezone", "Europe/Berlin"),
        ("timezone", "Asia/Kathmandu"),
        ("timezone", "UTC"),
        ("window_minutes", 15),
        ("window_minutes", 24 * 60),
        ("notice_minutes", 0),
        ("name", "a"),
        ("name", "a" * 63),
        ("name", "hanse-shop2"),
        ("contacts", ["a@b.example", "first.last+tag@sub.example.org"]),
        ("weekdays", [6]),
    ],
)
def test_group_accepts(field: str, value: object) -> None:
    rules.check_group(**{**GOOD_GROUP, field: value})


@pytest.mark.parametrize(
    ("field", "value", "reported"),
    [
        ("timezone", "Mars/Olympus", "timezone"),
        ("timezone", "", "timezone"),
        ("timezone", "CEST", "timezone"),
        ("window_minutes", 14, "window_minutes"),
        ("window_minutes", 0, "window_minutes"),
        ("window_minutes", 24 * 60 + 1, "window_minutes"),
        ("window_minutes", 25 * 60, "window_minutes"),
        ("window_minutes", True, "window_minutes"),
        ("notice_minutes", -1, "notice_minutes"),
        ("contacts", [], "contacts"),
        ("contacts", "ops@acme.example", "contacts"),
        ("contacts", ["not-an-address"], "contacts[0]"),
        ("contacts", ["ops@acme.example", "a b@x.example"], "contacts[1]"),
        ("contacts", ["two@@x.example"], "contacts[0]"),
        ("contacts", ["ops@localhost"], "contacts[0]"),
        ("contacts", ["ops@acme.example", "OPS@acme.example"], "contacts[1]"),
        ("contacts", ["<script>@x.example"], "contacts[0]"),
        ("name", "", "name"),
        ("name", "Acme", "name"),
        ("name", "-acme", "name"),
        ("name", "acme-", "name"),
        ("name", "acme_corp", "name"),
        ("name", "a" * 64, "name"),
        ("name", "acme; DROP TABLE machine", "name"),
        ("name", "ácme", "name"),
        ("name", "all", "name"),
        ("weekdays", [], "weekdays"),
        ("weekdays", [7], "weekdays"),
        ("weekdays", [1, 1], "weekdays"),
        ("window_start", "02:00", "window_start"),
        ("window_start", time(2, 0, 30), "window_start"),
    ],
)
def test_group_refuses(field: str, value: object, reported: str) -> None:
    with pytest.raises(ValidationError) as exc:
        rules.check_group(**{**GOOD_GROUP, field: value})
    assert fields_of(exc) == {reported}
    assert all(e.message for e in exc.value.errors)


def test_group_reports_every_bad_field_at_once() -> None:
    with pytest.raises(ValidationError) as exc:
        rules.check_group(
            **{**GOOD_GROUP, "timezone": "Nowhere/Land", "window_minutes": 5, "contacts": []}
        )
    assert fields_of(exc) == {"timezone", "window_minutes", "contacts"}
    assert "Nowhere/Land" in str(exc.value)


@pytest.mark.parametrize(
    "changes",
    [
        {"cores": 1},
        {"cores": 12},
        {"arch": "i686", "memory_mib": 4096},
        {"swap_mib": 1024},
        {"swap_mib": 4096},
        {"kind": "host", "cores": 64, "swap_mib": 0, "has_host": False},
        {"kind": "infrastructure", "has_host": False},
    ],
)
def test_machine_accepts(changes: dict[str, object]) -> None:
    rules.check_machine(**{**GOOD_VM, **changes})


@pytest.mark.parametrize(
    ("changes", "reported"),
    [
        ({"cores": 0}, "cores"),
        ({"cores": 13}, "cores"),
        ({"cores": -2}, "cores"),
        ({"arch": "i686", "memory_mib": 4097}, "memory_mib"),
        ({"arch": "i686", "memory_mib": 8192}, "memory_mib"),
        ({"swap_mib": 1023}, "swap_mib"),
        ({"swap_mib": 0}, "swap_mib"),
        ({"memory_mib": 0}, "memory_mib"),
        ({"arch": "arm64"}, "arch"),
        ({"kind": "toaster", "has_host": False}, "kind"),
        ({"has_host": False}, "host"),
        ({"kind": "host", "has_host": True, "swap_mib": 0}, "host"),
        ({"host_kind": "vm"}, "host"),
        ({"name": "Web01"}, "name"),
    ],
)
def test_machine_refuses(changes: dict[str, object], reported: str) -> None:
    with pytest.raises(ValidationError) as exc:
        rules.check_machine(**{**GOOD_VM, **changes})
    assert fields_of(exc) == {reported}


@pytest.mark.parametrize(
    ("kind", "cores", "price"),
    [("vm", 1, 0), ("vm", 2, 25), ("vm", 12, 275), ("host", 24, 0), ("infrastructure", 4, 0)],
)
def test_monthly_price(kind: str, cores: int, price: int) -> None:
    assert rules.monthly_price_eur(kind, cores) == price


# --- what a guest agent's report shows broken -------------------------------------------------

cpu_names = st.text(st.characters(codec="ascii", categories=["L", "N", "Zs"]), max_size=60)


@given(
    swap=st.one_of(st.none(), st.integers(0, 1 << 24)),
    cpu=st.one_of(st.none(), cpu_names),
    host=st.one_of(st.none(), cpu_names),
)
def test_guest_warnings(swap: int | None, cpu: str | None, host: str | None) -> None:
    flags = [
        w.flag
        for w in rules.guest_warnings(swap_mib=swap, guest_cpu_model=cpu, host_cpu_model=host)
    ]
    low = swap is not None and swap < rules.MIN_SWAP_MIB
    assert (rules.GuestFlag.SWAP_BELOW_MINIMUM in flags) == low
    same = cpu is not None and host is not None and cpu.split() == host.split()
    generic = cpu is not None and " ".join(cpu.split()).lower().startswith("qemu virtual cpu")
    if cpu is None or (same and not generic) or (host is None and not generic):
        assert rules.GuestFlag.CPU_MODEL_MISMATCH not in flags
    else:
        assert rules.GuestFlag.CPU_MODEL_MISMATCH in flags


def test_the_generic_qemu_cpu_is_a_mismatch_whatever_the_host() -> None:
    for host in (None, "QEMU Virtual CPU version 2.5+"):
        (w,) = rules.guest_warnings(
            swap_mib=1024, guest_cpu_model="QEMU Virtual CPU version 2.5+", host_cpu_model=host
        )
        assert w.flag is rules.GuestFlag.CPU_MODEL_MISMATCH and "generic" in w.message
