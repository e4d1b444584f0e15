"""The probe: golden tests of the pure parser, and the real script on local and ssh machines."""

from __future__ import annotations

from pathlib import Path

import pytest

from coordssh.remote.probe import ProbeParseError, parse_probe, probe, probe_command
from tests.support.envelopes import Envelopes, fixture

GOLDEN = (
    b"run id=a1 pid=4242 started_at=1700000000 cancelled= exit_code=0 finished_at=1700000060 "
    b"pushed_sha=abc123 alive=0 group=0 size=20 mtime=1700000059 offset=8 len=12 errlen=4\n"
    b'{"x":1}\n\x00\xff\nzboom'
    b"\n"
    b"run id=b2 pid=77 alive=1 group=1 size= mtime= offset=0 len=0 errlen=0\n"
    b"\n"
    b"run id=gone missing=1 len=0 errlen=0\n\n"
    b"end now=1700000100 runs=3\n"
)


def test_golden_parse():
    report = parse_probe(GOLDEN)
    assert report.now == 1700000100
    assert list(report.runs) == ["a1", "b2", "gone"]
    a1 = report.runs["a1"]
    assert (a1.pid, a1.alive, a1.group_alive) == (4242, False, False)
    assert (a1.started_at, a1.finished_at, a1.exit_code) == (1700000000, 1700000060, 0)
    assert a1.cancelled == 0.0 and a1.finished and a1.pushed_sha == "abc123"
    assert a1.claude_exit is None and a1.rescue_sha is None and not a1.timed_out
    assert (a1.size, a1.mtime, a1.offset) == (20, 1700000059, 8)
    assert a1.data == b'{"x":1}\n\x00\xff\nz' and a1.stderr_tail == b"boom"
    assert not a1.more
    b2 = report.runs["b2"]
    assert b2.alive and b2.group_alive and b2.size is None and b2.cancelled is None
    assert b2.data == b"" and not b2.finished
    assert report.runs["gone"].missing


def test_data_that_looks_like_a_header_is_data():
    body = b"run id=evil len=999 errlen=0\nend now=1\n"
    out = (b"run id=x pid=1 alive=1 group=1 size=%d mtime=5 offset=0 len=%d errlen=0\n"
           % (len(body), len(body))) + body + b"\nend now=9 runs=1\n"
    report = parse_probe(out)
    assert list(report.runs) == ["x"] and report.runs["x"].data == body and report.now == 9


@pytest.mark.parametrize("cut", [10, len(GOLDEN) // 2, len(GOLDEN) - 3])
def test_cut_off_output_is_an_error(cut):
    with pytest.raises(ProbeParseError):
        parse_probe(GOLDEN[:cut])


def test_a_shorter_chunk_than_promised_is_an_error():
    with pytest.raises(ProbeParseError):
        parse_probe(b"run id=x len=10 errlen=0\nshort\nend now=1 runs=1\n")


def test_capped_chunk_says_more():
    out = b"run id=x size=100 offset=10 len=5 errlen=0\n12345\nend now=1 runs=1\n"
    assert parse_probe(out).runs["x"].more


def test_command_passes_data_as_arguments():
    command = probe_command("~/runs dir", {"id1": 5, "id2": None}, cap=100)
    assert command.parts[-9:] == ("~/runs dir", "100", "4096", "2048", "0", "id1", "5", "id2", "-")
    scan = probe_command("~/runs dir", {}, scan=True)
    assert scan.parts[-5:] == ("~/runs dir", str(4 * 1024 * 1024), "4096", "2048", "1")


def test_a_found_run_carries_its_run_dir_and_meta():
    meta = b'/w/runs/ab12\n{"id": "ab12", "issue": 3}'
    out = (b"run id=ab12 pid=7 alive=1 size=3 offset=0 len=3 errlen=2 found=1 metalen=%d\n"
           b"abcer%s\nend now=5 runs=1\n" % (len(meta), meta))
    fact = parse_probe(out).runs["ab12"]
    assert fact.found and fact.data == b"abc" and fact.stderr_tail == b"er"
    assert fact.found_meta() == ("/w/runs/ab12", {"id": "ab12", "issue": 3})


def test_a_failed_push_carries_the_log_tail_before_a_found_meta():
    meta = b'/w/runs/cd34\n{"id": "cd34"}'
    out = (b"run id=cd34 pid=7 alive=0 push_failed=9 size=0 offset=0 len=0 errlen=0 pushlen=4 "
           b"found=1 metalen=%d\nfail%s\nend now=5 runs=1\n" % (len(meta), meta))
    fact = parse_probe(out).runs["cd34"]
    assert fact.push_log == b"fail" and fact.push_failed == 9.0
    assert fact.found_meta() == ("/w/runs/cd34", {"id": "cd34"})


# --- the real script --------------------------------------------------------------------------
@pytest.fixture
def envelopes(machine):
    env = Envelopes(Path(machine.run_root))
    Path(machine.run_root).mkdir(parents=True, exist_ok=True)
    yield env
    env.cleanup()


async def test_probe_reports_every_fact(transport, machine, envelopes):
    success = fixture("success.jsonl")
    done = envelopes.make("done1", stream=success, live=False, started_at=1000,
                          files={"stderr.log": "warning: x\n" * 1000})
    done.finish(0, pushed_sha="0123abcd")
    running = envelopes.make("live1", stream=success[:500])
    cancelled = envelopes.make("stop1", stream=b"", live=False, files={"cancelled": "1234\n"})

    report = await probe(transport, machine.run_root, {"done1": 0, "live1": 100, "stop1": 0,
                                                       "nosuch": 0})
    d = report.runs["done1"]
    assert d.data == success and d.size == len(success) and not d.alive and d.finished
    assert (d.exit_code, d.claude_exit, d.pushed_sha, d.started_at) == (0, 0, "0123abcd", 1000)
    assert d.stderr_tail.endswith(b"warning: x\n") and len(d.stderr_tail) == 4096
    r = report.runs["live1"]
    assert r.alive and r.group_alive and r.pid == running.pid and not r.finished
    assert r.data == success[100:500] and r.offset == 100 and r.stderr_tail == b""
    assert report.runs["stop1"].cancelled == 1234 and not report.runs["stop1"].alive
    assert report.runs["nosuch"].missing
    assert report.now > 1_600_000_000
    assert cancelled.id == "stop1"


async def test_probe_chunks_are_capped_and_resume(transport, machine, envelopes):
    data = fixture("success.jsonl")
    envelopes.make("big", stream=data)
    got, offset = b"", 0
    while offset < len(data):
        fact = (await probe(transport, machine.run_root, {"big": offset}, cap=3000)).runs["big"]
        assert len(fact.data) <= 3000
        got += fact.data
        offset += len(fact.data)
    assert got == data


async def test_probe_all_lists_run_dirs_without_data(transport, machine, envelopes):
    envelopes.make("one", stream=b'{"a":1}\n')
    envelopes.make("two", stream=None, live=False)
    (Path(machine.run_root) / "not a run").mkdir()
    report = await probe(transport, machine.run_root)
    assert sorted(report.runs) == ["one", "two"]
    assert report.runs["one"].data == b"" and report.runs["one"].size == 8
    assert report.runs["two"].size is None


async def test_probe_of_a_missing_run_root(transport, machine):
    report = await probe(transport, machine.run_root + "/nowhere")
    assert report.runs == {}
