"""One contract, two transports: every test here runs on LocalTransport and on SSHTransport
(against a real sshd on 127.0.0.1), through the `machine`/`transport` fixtures in conftest.py."""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat
from pathlib import Path

import pytest

from coordssh.errors import RemoteCommandFailed, RemoteTimeout
from coordssh.shell.command import Command, Raw, cmd, sh_script

# Dumps its arguments NUL-terminated, so the test sees exactly the bytes each one arrived as.
DUMP_ARGS = 'for a in "$@"; do printf "%s\\0" "$a"; done'

NASTY_ARGS = [
    "plain", "with space", "it's", 'dq"uote', "$(touch /tmp/coordssh-pwned)", "`id`", "$HOME",
    "line1\nline2", "*", "?[a]", "ünïcødé ✓", "", "-n", "--help", "\\back\\slash", "a;b|c&d",
    "~/tilde", "tab\there", "'", '"', "!bang", "#hash", "{a,b}",
]


def parse_nul(data: bytes) -> list[str]:
    assert data.endswith(b"\0")
    return [part.decode() for part in data[:-1].split(b"\0")]


async def test_arguments_arrive_byte_identical(transport):
    result = await transport.run(sh_script(DUMP_ARGS, *NASTY_ARGS), check=True)
    assert parse_nul(result.stdout) == NASTY_ARGS
    assert not Path("/tmp/coordssh-pwned").exists()


async def test_argv_without_a_shell_operator_arrives_intact(transport):
    script = "import sys; sys.stdout.write(repr(sys.argv[1:]))"
    result = await transport.run(cmd("python3", "-c", script, *NASTY_ARGS), check=True)
    assert result.text == repr(NASTY_ARGS)


async def test_ten_megabytes_of_output_arrive_intact(transport):
    # deterministic, incompressible-looking bytes generated on the far side
    script = ("import hashlib, sys\n"
              "out = sys.stdout.buffer\n"
              "for i in range(10 * 1024 * 1024 // 32):\n"
              "    out.write(hashlib.sha256(str(i).encode()).digest())\n")
    result = await transport.run(cmd("python3", "-c", script), timeout=120, check=True)
    expected = b"".join(hashlib.sha256(str(i).encode()).digest()
                        for i in range(10 * 1024 * 1024 // 32))
    assert len(result.stdout) == len(expected)
    assert hashlib.sha256(result.stdout).digest() == hashlib.sha256(expected).digest()


async def test_binary_file_round_trip_private_mode(transport, machine):
    data = bytes(range(256)) * 64 + b"\n\r\x00tail without newline"
    path = f"{machine.run_root}/deep/er/blob.bin"
    await transport.write_file(path, data)
    assert await transport.read_file(path) == data
    # the transports are for worker machines; these tests' worker paths are on this host
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(Path(path).parent).st_mode) == 0o700


async def test_write_replaces_atomically_and_honours_mode(transport, machine):
    path = f"{machine.run_root}/run.sh"
    await transport.write_file(path, b"old")
    await transport.write_file(path, b"#!/bin/sh\necho new\n", mode=0o700)
    assert await transport.read_file(path) == b"#!/bin/sh\necho new\n"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o700
    assert sorted(os.listdir(machine.run_root)) == ["run.sh"]  # no temp file left behind


async def test_read_missing_file_fails_with_remote_command_failed(transport, machine):
    with pytest.raises(RemoteCommandFailed):
        await transport.read_file(f"{machine.run_root}/absent")


async def test_exit_codes_and_stderr(transport):
    result = await transport.run(sh_script('echo out; echo "err $1" >&2; exit 7', "x"))
    assert (result.returncode, result.stdout, result.stderr) == (7, b"out\n", b"err x\n")
    assert not result.ok


async def test_check_raises_with_stderr_tail(transport, machine):
    with pytest.raises(RemoteCommandFailed) as info:
        await transport.run(sh_script('echo "first" >&2; echo "the real cause" >&2; exit 3'),
                            check=True)
    err = info.value
    assert err.exit_status == 3 and err.machine == machine.name
    assert "the real cause" in err.stderr_tail and "the real cause" in str(err)


async def test_missing_program_is_exit_127(transport):
    result = await transport.run(cmd("coordssh-no-such-program-xyz"))
    assert result.returncode == 127


async def test_stdin_input_delivered_intact(transport):
    data = bytes(range(256)) * 4096 + "ünïcødé\n".encode()  # 1 MiB and some
    result = await transport.run(cmd("python3", "-c",
                                      "import sys, hashlib; d = sys.stdin.buffer.read(); "
                                      "print(len(d), hashlib.sha256(d).hexdigest())"),
                                 input=data, check=True)
    assert result.text.split() == [str(len(data)), hashlib.sha256(data).hexdigest()]


async def test_stdin_is_closed_without_input(transport):
    result = await transport.run(cmd("cat"), timeout=60, check=True)
    assert result.stdout == b""


async def test_timeout_kills_the_command(transport, tmp_path):
    pidfile = tmp_path / "sleeper.pid"
    command = sh_script('echo $$ > "$1"; exec sleep 600', str(pidfile))
    with pytest.raises(RemoteTimeout):
        await transport.run(command, timeout=2)
    pid = int(pidfile.read_text())
    await wait_until(lambda: not process_alive(pid), what=f"pid {pid} to die")


async def test_timeout_kills_the_whole_process_group(transport, tmp_path):
    pidfile = tmp_path / "child.pid"
    command = Command("sleep", "600", Raw("&"), "echo", Raw("$!"), Raw(">"), str(pidfile),
                      Raw(";"), "wait")
    with pytest.raises(RemoteTimeout):
        await transport.run(command, timeout=2)
    await wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), what="pidfile")
    pid = int(pidfile.read_text())
    await wait_until(lambda: not process_alive(pid), what=f"background child {pid} to die")


async def test_stream_yields_lines_as_they_are_produced(transport, tmp_path):
    gate = tmp_path / "gate"
    writer = sh_script('echo first; while [ ! -e "$1" ]; do sleep 0.05; done; echo second',
                       str(gate))
    async with transport.streaming(writer, timeout=120) as stream:
        lines = aiter(stream)
        assert await anext(lines) == b"first\n"   # read BEFORE the gate exists
        gate.touch()
        assert await anext(lines) == b"second\n"
        assert [line async for line in lines] == []
        assert await stream.wait() == 0


async def test_stream_terminate_stops_the_command(transport, tmp_path):
    pidfile = tmp_path / "tail.pid"
    follow = sh_script('echo $$ > "$1"; echo ready; exec tail -f /dev/null', str(pidfile))
    async with transport.streaming(follow) as stream:
        assert await anext(aiter(stream)) == b"ready\n"
    pid = int(pidfile.read_text())
    await wait_until(lambda: not process_alive(pid), what=f"stream pid {pid} to die")


async def test_stream_timeout_raises(transport):
    async with transport.streaming(cmd("sleep", "600"), timeout=1) as stream:
        with pytest.raises(RemoteTimeout):
            async for _ in stream:
                pass


async def test_home_relative_paths(transport, machine, tmp_path):
    # `~/` expands against the worker's HOME; the sshd login user's HOME is not ours to litter,
    # so only read: the transport's own HOME via `echo ~` must match a `~/` read.
    home = (await transport.run(sh_script('printf %s "$HOME"'), check=True)).text
    probe = Path(home) / ".coordssh-transport-probe-does-not-exist"
    with pytest.raises(RemoteCommandFailed) as info:
        await transport.read_file("~/" + probe.name)
    assert str(probe) in str(info.value) or probe.name in info.value.stderr_tail


def process_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is dead
    except FileNotFoundError:
        return False


async def wait_until(predicate, *, what: str, timeout: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def test_many_concurrent_commands_on_one_transport(transport):
    # more than sshd's MaxSessions (10): the transport queues channels instead of failing
    results = await asyncio.gather(*(transport.run(sh_script('sleep 0.2; echo "$1"', str(i)),
                                                   timeout=120, check=True)
                                     for i in range(25)))
    assert [r.text for r in results] == [f"{i}\n" for i in range(25)]


async def test_streams_and_runs_share_one_transport(transport, tmp_path):
    gate = tmp_path / "gate"
    follow = sh_script('echo up; while [ ! -e "$1" ]; do sleep 0.05; done; echo down', str(gate))
    streams = [transport.stream(follow, timeout=120) for _ in range(4)]
    iterators = [aiter(s) for s in streams]
    try:
        assert [await anext(it) for it in iterators] == [b"up\n"] * 4
        assert (await transport.run(cmd("echo", "meanwhile"), check=True)).text == "meanwhile\n"
        gate.touch()
        assert [await anext(it) for it in iterators] == [b"down\n"] * 4
    finally:
        for stream in streams:
            await stream.terminate()


@pytest.mark.parametrize("command", [
    sh_script('kill -KILL "$$"'),                                         # the shell itself
    cmd("python3", "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"),  # exec'd
], ids=["shell", "argv"])
async def test_killed_by_signal_is_128_plus_n(transport, command):
    assert (await transport.run(command)).returncode == 128 + 9
