"""`coordssh log` and `coordssh attach`: the raw stream, and the way into a run's tmux session.

`attach_plan` returns the argv to exec (built with the command builder): `tmux attach` on the
operator's machine for a local run, or the user's own `ssh -t` with the machine's port, user,
identity and known_hosts for a remote one. A nohup run has no session: the plan is to follow its
log instead (the CLI then behaves like `log -f`).
"""

from __future__ import annotations

from dataclasses import dataclass

from coordssh.config.schema import Machine
from coordssh.domain.models import Assignment
from coordssh.remote.follow import read_from, stream_path
from coordssh.remote.tmux import session_name
from coordssh.services.context import Context
from coordssh.shell.command import Command, cmd


@dataclass(frozen=True)
class AttachPlan:
    assignment: Assignment
    command: Command | None           # None: no tmux session; follow the log instead

    @property
    def follow_log(self) -> bool:
        return self.command is None


async def read_log(ctx: Context, id_or_prefix: str) -> bytes:
    """The run's whole stream.jsonl as it is now."""
    row = ctx.board.find(id_or_prefix)
    transport = await ctx.connector.connect(ctx.config.machine(row.machine))
    async with transport:
        return await read_from(transport, stream_path(row.run_dir), 0)


def attach_plan(ctx: Context, id_or_prefix: str) -> AttachPlan:
    row = ctx.board.find(id_or_prefix)
    if row.launcher != "tmux":
        return AttachPlan(row, None)
    machine = ctx.config.machine(row.machine)
    attach = cmd("tmux", "attach-session", "-t", f"={session_name(row.id)}")
    if machine.connection == "local":
        return AttachPlan(row, attach)
    return AttachPlan(row, ssh_command(machine, attach))


def ssh_command(machine: Machine, remote: Command) -> Command:
    """`ssh -t [-p PORT] [-l USER] [-i KEY] [-o UserKnownHostsFile=F] HOST REMOTE`.

    ssh joins its trailing arguments into one string for the remote shell, so REMOTE travels as
    its single rendered (quoted) form.
    """
    options: list[str] = ["-t"]
    if machine.port:
        options += ["-p", str(machine.port)]
    if machine.user:
        options += ["-l", machine.user]
    if machine.identity_file:
        options += ["-i", machine.identity_file]
    if machine.known_hosts:
        options += ["-o", f"UserKnownHostsFile={machine.known_hosts}"]
    return cmd("ssh", *options, "--", machine.host, remote.render())
