"""The activity-kind registry (api.kinds): one home for every rule about a kind."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api import kinds
from api.errors import ValidationError
from api.kinds import BY_DESIRED_FIELD, KINDS, ActivityKind, Executor
from api.models import Machine


def test_every_kind_has_one_spec_under_its_own_name() -> None:
    assert set(KINDS) == set(ActivityKind)
    for kind, spec in KINDS.items():
        assert spec.kind is kind
        assert 1 <= spec.default_estimate <= 1440  # what Activity.save accepts
        assert spec.label and spec.label == kinds.label(kind.value)


def test_what_the_registry_says_today() -> None:
    rebooting = {k for k, s in KINDS.items() if s.needs_reboot}
    assert rebooting == set(ActivityKind) - {ActivityKind.SYSTEM_UPDATE}
    assert {k for k, s in KINDS.items() if s.manual_only} == {ActivityKind.HOST_REBOOT}
    assert {k for k, s in KINDS.items() if s.operator_only} == {
        ActivityKind.HOST_REBOOT,
        ActivityKind.CPU_MODE,
    }
    assert {k for k, s in KINDS.items() if s.executor is Executor.GUEST_AGENT} == {
        ActivityKind.SYSTEM_UPDATE
    }
    assert {kind for kind, _ in BY_DESIRED_FIELD.values()} == {
        ActivityKind.MEMORY_RESIZE,
        ActivityKind.CPU_CHANGE,
        ActivityKind.KERNEL_UPDATE,
    }


def test_desired_fields_name_machine_fields() -> None:
    columns = set(Machine._meta.fields_map)
    for field, (kind, desired) in BY_DESIRED_FIELD.items():
        assert field == desired.field
        assert {desired.field, desired.observed} <= columns, kind


def test_a_manual_kind_says_why() -> None:
    assert kinds.manual_because("host_reboot") == KINDS[ActivityKind.HOST_REBOOT].manual
    assert kinds.manual_because("reboot") is None
    assert kinds.manual_because("no_such_kind") is None


def test_require_refuses_an_unknown_kind_with_the_list() -> None:
    assert kinds.require("kernel_update") is ActivityKind.KERNEL_UPDATE
    with pytest.raises(ValidationError) as e:
        kinds.require("kernel update")
    (problem,) = e.value.errors
    assert problem.field == "kind"
    assert "memory_resize, cpu_change" in problem.message


def test_an_unknown_kind_reads_as_words_and_needs_no_reboot() -> None:
    assert kinds.spec("defrag_disk") is None
    assert kinds.label("defrag_disk") == "defrag disk"
    assert not kinds.needs_reboot("defrag_disk", {})


_params = st.dictionaries(
    st.sampled_from(["reboot", "memory_mib", "kernel", "note"]),
    st.one_of(st.booleans(), st.integers(), st.text(max_size=5), st.none()),
    max_size=3,
)


@settings(deadline=None)  # pure; a shared, busy machine must not fail it on time
@given(kind=st.sampled_from([*ActivityKind, "defrag_disk"]), params=_params)
def test_needs_reboot_is_the_flag_else_the_kind_on_rows_and_on_text(
    kind: str, params: dict[str, object]
) -> None:
    flag = params.get("reboot")
    known = kinds.spec(kind)
    expected = flag if isinstance(flag, bool) else (known is not None and known.needs_reboot)
    assert kinds.needs_reboot(kind, params) is expected
    assert kinds.needs_reboot(kind, json.dumps(params)) is expected  # a raw row's JSON text
    assert kinds.needs_reboot(kind, None) is (known is not None and known.needs_reboot)
