"""The run envelope (docs/architecture.md): run.sh, meta.json and prompt.md, shipped as one tar.

run.sh is a constant wrapper. Its only variable line is `set -- VALUE...`, rendered by the
command builder: the run's paths and limits, then the full `env ... claude ...` argv. The body
refers to them as "$1".."$7" and "$@", so no value is ever spliced into shell text by hand.

The three files travel as a small tar on the dispatch script's stdin (`unpack_envelope`), so the
prompt (untrusted text) is data on a pipe, never part of a command line.
"""

from __future__ import annotations

import io
import json
import math
import re
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass

from coordssh.config.dump import is_secret_name
from coordssh.domain.models import Assignment
from coordssh.errors import ConfigError
from coordssh.shell.command import Command, Raw, Secret

PROMPT, RUN_SH, META = "prompt.md", "run.sh", "meta.json"
QUIET_ENV = {"DISABLE_AUTOUPDATER": "1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}
RESCUE_MESSAGE = "coordssh rescue: uncommitted work left by run"
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

RUN_SH_HEADER = "#!/bin/sh\n# coordssh run wrapper: see docs/architecture.md (the run envelope)\n"

RUN_SH_BODY = r'''
RUN=$1 WT=$2 BRANCH=$3 BASE_SHA=$4 GRACE=$5 MAXRT=$6 ID=$7
shift 7
export GIT_TERMINAL_PROMPT=0
CPID= posted=
now() { date +%s; }
put() { (umask 077 && printf '%s\n' "$2" > "$RUN/$1.tmp") && mv -f "$RUN/$1.tmp" "$RUN/$1"; }
stop_claude() {
  [ -n "$CPID" ] || return 0
  kill -TERM "-$CPID" 2>/dev/null || kill -TERM "$CPID" 2>/dev/null || return 0
  i=0
  while kill -0 "-$CPID" 2>/dev/null && [ "$i" -lt 10 ]; do sleep 1; i=$((i + 1)); done
  kill -KILL "-$CPID" 2>/dev/null || :
}
finish() {
  trap '' TERM INT HUP
  stop_claude
  put exit_code "$1"
  put finished_at "$(now)"
  exit "$1"
}
# a stop (INT/TERM, or HUP when a tmux session closes) keeps the work like a normal end: claude
# is ended, then a dirty worktree is committed and the branch pushed, with further signals ignored
on_signal() {
  trap '' TERM INT HUP
  stop_claude
  [ -n "$CPID" ] && [ -z "$posted" ] && cd "$WT" 2>/dev/null && post_run >> "$RUN/push.log" 2>&1
  finish "$1"
}
trap 'on_signal 143' TERM
trap 'on_signal 130' INT
trap 'on_signal 129' HUP
last_is_result() { tail -n 1 "$RUN/stream.jsonl" 2>/dev/null | grep -q '^{"type":"result"'; }
# an API retry for a failed login (401/403, authentication_failed): waiting cannot help
auth_retry() {
  tail -n 5 "$RUN/stream.jsonl" 2>/dev/null | grep '"subtype":"api_retry"' |
    grep -q -e '"error":"authentication_failed"' -e '"error_status":401[,}]' -e '"error_status":403[,}]'
}
push_branch() {
  rm -f "$RUN/push_failed"
  ahead=$(git rev-list --count "$BASE_SHA..refs/heads/$BRANCH" 2>/dev/null) || ahead=0
  if [ "$ahead" -gt 0 ]; then
    if git push -u origin "refs/heads/$BRANCH:refs/heads/$BRANCH" </dev/null; then
      put pushed_sha "$(git rev-parse "refs/heads/$BRANCH")"
    else
      put push_failed "$(now)"
    fi
  else
    put pushed_sha ""
  fi
}
post_run() {
  # a run without a branch (a test run, remote/test_run.py) never commits or pushes
  [ -n "$BRANCH" ] || { posted=1; return 0; }
  if ! git config user.email >/dev/null 2>&1; then
    export GIT_AUTHOR_NAME=coordssh GIT_AUTHOR_EMAIL=coordssh@localhost
    export GIT_COMMITTER_NAME=coordssh GIT_COMMITTER_EMAIL=coordssh@localhost
  fi
  if [ -n "$(git status --porcelain 2>/dev/null)" ]; then
    git add -A && git commit -q --no-verify -m "coordssh rescue: uncommitted work left by run $ID" &&
      put rescue_sha "$(git rev-parse HEAD)"
  fi
  push_branch
  posted=1
}
# `COORDSSH_PUSH_ONLY=1 sh run.sh`: the post-run steps again (`coordssh push`), nothing else
if [ "${COORDSSH_PUSH_ONLY:-}" = 1 ]; then
  trap - TERM INT HUP
  cd "$WT" || { printf 'coordssh: worktree %s is missing\n' "$WT" >&2; exit 127; }
  printf '%s coordssh push: pushing again\n' "$(now)" >> "$RUN/push.log"
  post_run >> "$RUN/push.log" 2>&1
  [ -e "$RUN/push_failed" ] && exit 1
  exit 0
fi
put pid "$$"
put started_at "$(now)"
# `coordssh stop` may have come before this wrapper wrote its pid: honour it, start nothing
[ -e "$RUN/cancelled" ] && finish 130
(umask 077 && : >> "$RUN/stream.jsonl" && : >> "$RUN/stderr.log" && : >> "$RUN/push.log")
cd "$WT" || { printf 'coordssh: worktree %s is missing\n' "$WT" >> "$RUN/push.log"; finish 127; }
# a job started with `&` by a non-interactive sh ignores SIGINT: give the agent its default INT
# back (GNU env >= 8.31) so that `coordssh stop` can interrupt it before terminating it
if [ "$1" = env ] && env --default-signal=INT true 2>/dev/null; then
  shift; set -- env --default-signal=INT "$@"
fi
if command -v setsid >/dev/null 2>&1; then
  setsid "$@" < "$RUN/prompt.md" > "$RUN/stream.jsonl" 2> "$RUN/stderr.log" &
else
  "$@" < "$RUN/prompt.md" > "$RUN/stream.jsonl" 2> "$RUN/stderr.log" &
fi
CPID=$!
put claude_pid "$CPID"
start=$(now) result_at= lingered=
while kill -0 "$CPID" 2>/dev/null; do
  t=$(now)
  if [ -z "$result_at" ] && last_is_result; then result_at=$t; fi
  if [ -n "$result_at" ] && [ $((t - result_at)) -ge "$GRACE" ]; then
    lingered=$t; put lingered "$t"; stop_claude; break
  fi
  if [ -z "$result_at" ] && auth_retry; then put auth_failed "$t"; stop_claude; break; fi
  if [ $((t - start)) -ge "$MAXRT" ]; then put timed_out "$t"; stop_claude; break; fi
  sleep 1
done
wait "$CPID"; code=$?
put claude_exit "$code"
if [ -n "$lingered" ]; then
  # the result stands: the run ended when claude wrote it, whatever the kill's status says
  if tail -n 1 "$RUN/stream.jsonl" | grep -q '"is_error":false'; then code=0; else code=1; fi
fi
post_run >> "$RUN/push.log" 2>&1
finish "$code"
'''


@dataclass(frozen=True)
class Limits:
    """The wrapper's clocks, in whole seconds (sh arithmetic is integer)."""

    result_grace_s: int
    max_runtime_s: int

    @classmethod
    def of(cls, result_grace_s: float, max_runtime_s: float) -> Limits:
        return cls(max(0, math.ceil(result_grace_s)), max(1, math.ceil(max_runtime_s)))


def env_command(env: Mapping[str, str], program: Command) -> Command:
    """`env -u CLAUDECODE QUIET... MACHINE_ENV... program`: the machine's env wins over ours."""
    merged = {**QUIET_ENV, **env}
    parts: list[str | Secret] = []
    for name, value in merged.items():
        if not _ENV_NAME.match(name):
            raise ConfigError(f"machine env: '{name}' is not a valid environment variable name",
                              hint="use letters, digits and underscores (not starting with a "
                                   "digit)")
        pair = f"{name}={value}"
        parts.append(Secret(pair) if is_secret_name(name) else pair)
    return Command("env", "-u", "CLAUDECODE", parts, program)


def render_run_sh(assignment: Assignment, limits: Limits, launch: Command) -> str:
    """The wrapper for `assignment` (worktree and run_dir absolute), running `launch`."""
    values = Command(Raw("set --"), assignment.run_dir, assignment.worktree, assignment.branch,
                     assignment.base_sha, str(limits.result_grace_s), str(limits.max_runtime_s),
                     assignment.id, launch)
    return RUN_SH_HEADER + values.render() + "\n" + RUN_SH_BODY.lstrip("\n")


META_FIELDS = ("id", "machine", "repo", "issue", "branch", "base_branch", "base_sha", "worktree",
               "model", "role", "launcher", "session_id", "created_at")
META_EXTRA = ("slot", "claude_config_dir")


def render_meta(assignment: Assignment) -> str:
    data = {name: getattr(assignment, name) for name in META_FIELDS}
    extra = assignment.extra if isinstance(assignment.extra, dict) else {}
    for name in META_EXTRA:     # the claude config slot (services/slots.py), when it has one
        if extra.get(name):
            data[name] = extra[name]
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def bundle(files: Mapping[str, tuple[bytes, int]], mtime: float = 0.0) -> bytes:
    """A ustar archive of {name: (data, mode)} for `unpack_envelope` on the worker."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, (data, mode) in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, int(mtime)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def envelope_files(assignment: Assignment, prompt: str, run_sh: str) -> dict[str, tuple[bytes, int]]:
    return {
        PROMPT: (prompt.encode("utf-8"), 0o600),
        RUN_SH: (run_sh.encode("utf-8"), 0o700),
        META: (render_meta(assignment).encode("utf-8"), 0o600),
    }


# `unpack_envelope RUN_DIR`: a new private run dir holding the tar read from stdin.
UNPACK_FAILED = 23

UNPACK_ENVELOPE_FN = r'''
unpack_envelope() {
  if [ -e "$1" ]; then printf 'run directory %s already exists\n' "$1" >&2; return 23; fi
  (umask 077 && mkdir -p "$1") && chmod 700 "$1" && tar -xf - -C "$1" || return 23
}
'''
