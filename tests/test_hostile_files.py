"""Hostile files for check and import, made here by custody.testing.hostile: memory that
does not grow with the number of records or with what a ZIP member inflates to, and
every failure counted though only some are held."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import Custody, capture_id_of
from custody.check import wacz
from custody.check.findings import KEEP
from custody.check.run import check_file
from custody.testing.hostile import write_bomb, write_tiny_records

CUSTODY = str(Path(sys.executable).with_name("custody"))


# Started from a fresh interpreter, not from pytest: a child's peak memory counts what it
# held between fork and exec, a copy of its parent -- pytest's, hundreds of MB by now.
_MEASURE = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[1:], stderr=subprocess.DEVNULL)
_, status, usage = os.wait4(proc.pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss, file=sys.stderr)
"""


def peak_kb(*args: str) -> tuple[int, str]:
    """The peak resident memory (KB) of `custody ARGS` run alone, and its output."""
    done = subprocess.run([sys.executable, "-c", _MEASURE, CUSTODY, *args],
                          capture_output=True, check=True)
    code, peak = map(int, done.stderr.split())
    assert code in (0, 1), done.stdout[-500:]
    return peak, done.stdout.decode("utf-8")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    folder = tmp_path_factory.mktemp("tiny")
    files = {}
    for count in (3_000, 30_000):
        files[count] = folder / f"tiny-{count}.warc.gz"
        write_tiny_records(files[count], count)
    return files


@pytest.mark.parametrize("options", [(), ("--json",), ("-v",)], ids=["plain", "json", "v"])
def test_memory_does_not_grow_with_the_number_of_records(tiny: dict[int, Path],
                                                         options: tuple[str, ...]) -> None:
    """Ten times the records, the same memory: each is judged and let go, its row
    spooled to disk (held, 27,000 more records took some 60 MB more)."""
    small, output = peak_kb("check", *options, str(tiny[3_000]))
    large, output = peak_kb("check", *options, str(tiny[30_000]))
    assert large - small < 12_000, (small, large)
    if options == ("--json",):
        data = json.loads(output)
        assert data["summary"] == {"passed": 30_001, "failed": 0, "unchecked": 0}
        assert len(data["checks"]) == 30_001
    elif options == ("-v",):
        assert output.count("\nPASSED    record ") == 30_000


def test_failures_are_all_counted_and_printed_though_few_are_held(tmp_path: Path,
                                                                  custody: Custody) -> None:
    path = tmp_path / "broken.warc.gz"
    write_tiny_records(path, 3 * KEEP, broken_every=1)
    report = check_file(path).report
    assert report.count("failed") == 3 * KEEP  # each record (the file's framing is good)
    assert len(report.checks) == KEEP and report.rows_left_out == 2 * KEEP
    result = custody("check", str(path))
    assert result.exit_code == 1
    assert result.stdout.count("FAILED    record ") == 3 * KEEP
    assert f"1 passed, {3 * KEEP} failed" in result.stdout
    # import seals the count of every problem, and lists the first ones
    assert custody("import", "--accept-damaged", str(path)).exit_code == 0
    verdict = custody.manifest(capture_id_of(custody))["imported"][0]["check"]
    assert verdict["problems_total"] == 3 * KEEP and len(verdict["problems"]) == 200
    assert custody.verify()[0] == 0


@pytest.mark.parametrize("members", [("datapackage.json",), ("datapackage-digest.json",)])
def test_a_member_read_whole_that_inflates_past_its_bound_is_refused(
        tmp_path: Path, members: tuple[str, ...]) -> None:
    """A datapackage.json of 64 MiB from 64 KB (the issue's inflated to a gigabyte and
    passed, in 2 GB): refused, a failure, in the memory of a small file."""
    path = tmp_path / "bomb.wacz"
    write_bomb(path, 64 << 20, members=members)
    assert path.stat().st_size < 200_000
    peak, output = peak_kb("check", str(path))
    assert peak < 100_000, peak
    assert "FAILED" in output and "inflates to more than" in output, output
    assert check_file(path).status == "failed"


def test_members_hashed_as_they_stream_keep_memory_small(tmp_path: Path) -> None:
    """pages.jsonl and an index that inflate to 64 MiB each are hashed a part at a
    time: the package is read, its WARC checked, in the memory of a small file."""
    path = tmp_path / "bombs.wacz"
    write_bomb(path, 64 << 20, members=("pages/pages.jsonl", "indexes/index.cdx"))
    peak, output = peak_kb("check", "-v", str(path))
    assert peak < 100_000, peak
    assert "PASSED    record       " in output  # the WARC inside was read


def test_a_zip_that_claims_too_many_entries_is_refused_before_it_is_read(
        tmp_path: Path) -> None:
    """zipfile holds every entry's header: a ZIP64 end record that claims a billion
    entries is refused from its count, before zipfile reads any."""
    path = tmp_path / "many.wacz"
    write_bomb(path, 1024)
    data = path.read_bytes()
    end = data.rfind(b"PK\x05\x06")
    directory = int.from_bytes(data[end + 16 : end + 20], "little")
    size = int.from_bytes(data[end + 12 : end + 16], "little")
    zip64 = (b"PK\x06\x06" + (44).to_bytes(8, "little") + (45).to_bytes(2, "little") * 2
             + bytes(8) + (10**9).to_bytes(8, "little") * 2 + size.to_bytes(8, "little")
             + directory.to_bytes(8, "little"))
    locator = b"PK\x06\x07" + bytes(4) + end.to_bytes(8, "little") + (1).to_bytes(4, "little")
    record = bytearray(data[end:])
    record[8:12] = b"\xff\xff\xff\xff"
    path.write_bytes(data[:end] + zip64 + locator + bytes(record))
    checked = check_file(path)
    assert checked.status == "failed"
    (row,) = checked.report.checks
    assert "1000000000 entries" in row.detail, row
    assert wacz.MAX_ENTRIES < 10**9
    with zipfile.ZipFile(tmp_path / "few.wacz", "w") as few:  # a real count is read too
        for n in range(3):
            few.writestr(f"x{n}", b"")
    assert wacz.entry_count(tmp_path / "few.wacz") == 3


def test_a_file_of_damaged_members_lists_some_and_counts_the_rest(tmp_path: Path) -> None:
    """One failure of the file per gzip member that cannot be inflated: the first 100
    are said, the rest counted, and reading goes on to the end."""
    import zlib

    from custody.check.record import LISTED
    from custody.testing.hostile import tiny_record

    members = []
    for number in range(LISTED + 51):
        packer = zlib.compressobj(1, zlib.DEFLATED, 31)
        member = bytearray(packer.compress(tiny_record(number)) + packer.flush())
        if number:  # the first is whole: it says what the file is
            member[20] ^= 0xFF  # inside the deflate data
        members.append(bytes(member))
    path = tmp_path / "damaged.warc.gz"
    path.write_bytes(b"".join(members))
    checked = check_file(path)
    (row,) = [c for c in checked.report.checks if c.check == "warc-file"]
    assert row.detail.count("cannot be inflated") == LISTED
    assert row.detail.endswith("and 50 more failures of the file"), row.detail[-200:]
