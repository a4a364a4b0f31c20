"""The Swift unit tests' fixtures are what the reference implementations produce today.

`swift test` is hermetic: it reads committed fixture files instead of starting protoc, xds-protos or
joserfc. This module regenerates each of them with the real peer (swift_fixtures/) and fails on any
difference; the failure names the command that rewrites them.
"""
from __future__ import annotations

import pytest

from swift_fixtures import wire

WIRE_EXPECTED = wire.expected_files()
REWRITE_WIRE = "rewrite with: .venv/bin/python Tests/IntegrationTests/swift_fixtures/wire.py --write"


@pytest.mark.parametrize("path", sorted(WIRE_EXPECTED), ids=lambda p: p.name)
def test_wire_golden_is_what_the_reference_encoder_gives(path):
    assert path.exists(), f"{path.name} missing; {REWRITE_WIRE}"
    assert path.read_bytes() == WIRE_EXPECTED[path], f"{path.name} is stale; {REWRITE_WIRE}"


def test_no_golden_without_its_text():
    stray = wire.committed_files() - set(WIRE_EXPECTED)
    assert not stray, f"goldens without a .txtpb: {sorted(p.name for p in stray)}; {REWRITE_WIRE}"


@pytest.mark.parametrize("case", [c for c in wire.cases() if wire.xds_class(c.message)], ids=lambda c: c.path.stem)
def test_xds_protos_reads_the_protoc_encoding_as_the_text(case):
    """The Swift tests pin Swift's encoding to NAME.protoc.binpb; here xds-protos (upb) must parse those
    bytes as the message the text describes: together, Envoy's reference decoder reads Swift's encoding."""
    parsed = wire.xds_class(case.message).FromString(case.protoc_path.read_bytes())
    assert parsed == wire.xds_parse_text(case)
