"""The probe: one lean script per host that reports every run envelope at once.

One exec over one connection, O(1) processes per host plus one `stat` (and, when there are new
bytes, one `tail | head`) per run. The output is framed and binary-safe, never JSON-escaped in sh:

    run id=ID pid=123 alive=1 group=1 started_at=... size=N mtime=M offset=O len=L errlen=K pushlen=P found=F metalen=M
    <L bytes of stream.jsonl from O><K bytes: the tail of stderr.log><P bytes: push.log's tail>
    <M bytes, only for a run dir found by the scan: its path, a newline, its meta.json>
    (a newline)
    ...
    end now=EPOCH runs=COUNT

A finished tmux run (`finished_at` and `tmux_session` present) has its pane captured and its
session ended right here (remote/tmux.py), reported as `pane=1`: the one write the probe does.
A key is absent when its file is absent (an empty file gives `key=`). Values are cut at the first
byte outside [0-9A-Za-z._:+-], so a header always stays one line of `key=value` words.
`parse_probe` is pure and checked by golden tests.
"""

from __future__ import annotations

from dataclasses import dataclass

from coordssh.errors import RemoteCommandFailed
from coordssh.remote.tmux import REAP_PANE_FN
from coordssh.shell.command import Command, sh_script
from coordssh.shell.paths import EXPAND_HOME
from coordssh.transport.base import Transport

CHUNK_CAP = 4 * 1024 * 1024      # new stream bytes per run per probe; the rest comes next time
STDERR_CAP = 4096                # stderr.log tail once the run has ended
PUSH_LOG_CAP = 2048              # push.log tail, sent only when `push_failed` is there
PROBE_TIMEOUT = 30.0
NO_DATA = "-"                    # offset meaning "facts only, no stream bytes"

# The envelope files read as one-line facts (see docs/architecture.md).
FACT_FILES = ("pid", "claude_pid", "started_at", "finished_at", "exit_code", "claude_exit", "cancelled",
              "timed_out", "pushed_sha", "rescue_sha", "auth_failed", "push_failed")

# A dead process stays visible to `kill -0` until its parent reaps it; a slow reaper (some
# container inits) would make a finished run look alive. Linux tells us through /proc.
ZOMBIE_FN = r'''
zombie() {
  [ -r "/proc/$1/stat" ] || return 1
  read -r st < "/proc/$1/stat" || return 1
  set -- ${st##*")"}
  [ "$1" = Z ]
}
'''

PROBE_SCRIPT = EXPAND_HOME + ZOMBIE_FN + REAP_PANE_FN + r'''
root=$(expand_home "$1"); cap=$2; errcap=$3; pushcap=$4; scan=$5; shift 5
if stat -c %s / >/dev/null 2>&1; then sfmt='-c'; sarg='%n %s %Y'; else sfmt='-f'; sarg='%N %z %m'; fi
count=0
fact() {
  [ -f "$d/$1" ] || return 0
  v=; read -r v < "$d/$1" || :
  v=${v%%[!0-9A-Za-z._:+-]*}
  h="$h $1=$v"
}
sizes() {
  size=; mtime=; esize=
  set -- $(stat $sfmt "$sarg" stream.jsonl stderr.log 2>/dev/null)
  while [ $# -ge 3 ]; do
    case $1 in stream.jsonl) size=$2; mtime=$3;; stderr.log) esize=$2;; esac
    shift 3
  done
}
probe_run() {
  id=$1; off=$2; found=${3:-0}; count=$((count + 1))
  d=$root/$id
  if ! cd "$d" 2>/dev/null; then printf 'run id=%s missing=1 len=0 errlen=0\n\n' "$id"; return; fi
  h="run id=$id"
  for f in pid claude_pid started_at finished_at exit_code claude_exit cancelled timed_out \
           pushed_sha rescue_sha auth_failed push_failed; do
    fact "$f"
  done
  pid=; [ -f pid ] && { read -r pid < pid || :; pid=${pid%%[!0-9]*}; }
  cpid=; [ -f claude_pid ] && { read -r cpid < claude_pid || :; cpid=${cpid%%[!0-9]*}; }
  fin=; [ -f finished_at ] && fin=1
  alive=0; group=0
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && ! zombie "$pid" && alive=1
  for g in $pid $cpid; do kill -0 "-$g" 2>/dev/null && ! zombie "$g" && group=1; done
  pane=0
  if [ -n "$fin" ] && [ -f tmux_session ]; then
    [ -f pane.log ] || { s=; read -r s < tmux_session || :; reap_pane "$d" "${s%%[!0-9A-Za-z._-]*}"; }
    pane=1
  fi
  sizes
  len=0; errlen=0
  if [ "$off" != - ] && [ -n "$size" ] && [ "$size" -gt "$off" ]; then
    len=$((size - off)); [ "$len" -gt "$cap" ] && len=$cap
  fi
  if [ "$alive" = 0 ] && [ -n "$esize" ]; then
    errlen=$esize; [ "$errlen" -gt "$errcap" ] && errlen=$errcap
  fi
  pushlen=0
  if [ "$alive" = 0 ] && [ -f push_failed ] && [ -f push.log ]; then
    pushlen=$(wc -c < push.log); pushlen=${pushlen##* }
    [ "$pushlen" -gt "$pushcap" ] && pushlen=$pushcap
  fi
  metalen=0; [ "$found" = 1 ] && metalen=$(( $(printf '%s\n' "$d" | wc -c) + $(wc -c < meta.json) ))
  printf '%s alive=%s group=%s pane=%s size=%s mtime=%s offset=%s len=%s errlen=%s pushlen=%s found=%s metalen=%s\n' \
    "$h" "$alive" "$group" "$pane" "$size" "$mtime" "$off" "$len" "$errlen" "$pushlen" "$found" "$metalen"
  [ "$len" -gt 0 ] && tail -c +$((off + 1)) stream.jsonl | head -c "$len"
  [ "$errlen" -gt 0 ] && tail -c "$errlen" stderr.log
  [ "$pushlen" -gt 0 ] && tail -c "$pushlen" push.log
  [ "$metalen" -gt 0 ] && { printf '%s\n' "$d"; cat meta.json; }
  printf '\n'
}
# Run dirs the caller did not name (the board does not know them) whose wrapper is alive: the
# machine's truth when the board was lost. Dot-dirs (`.doctor-*`) never match `*/`.
scan_unknown() {
  [ -d "$root" ] || return 0
  for p in "$root"/*/; do
    [ -d "$p" ] || continue
    p=${p%/}; id=${p##*/}
    case $id in *[!0-9A-Za-z._-]*) continue;; esac
    case $known in *" $id "*) continue;; esac
    [ -f "$p/meta.json" ] && [ ! -f "$p/finished_at" ] || continue
    [ "$(wc -c < "$p/meta.json")" -le 65536 ] || continue
    pid=; [ -f "$p/pid" ] && { read -r pid < "$p/pid" || :; pid=${pid%%[!0-9]*}; }
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && ! zombie "$pid" || continue
    probe_run "$id" 0 1
  done
}
known=' '
if [ $# -gt 0 ] || [ "$scan" = 1 ]; then
  while [ $# -ge 2 ]; do known="$known$1 "; probe_run "$1" "$2"; shift 2; done
  [ "$scan" = 1 ] && scan_unknown
elif [ -d "$root" ]; then
  for p in "$root"/*/; do
    [ -d "$p" ] || continue
    p=${p%/}; id=${p##*/}
    case $id in *[!0-9A-Za-z._-]*) continue;; esac
    probe_run "$id" -
  done
fi
printf 'end now=%s runs=%s\n' "$(date +%s)" "$count"
'''


@dataclass(frozen=True)
class RunFacts:
    """What one run's envelope said at probe time. `data` is stream.jsonl from `offset`."""

    id: str
    missing: bool = False
    found: bool = False           # not asked for: a live run dir the caller (the board) did not name
    meta: bytes = b""             # found runs only: the run dir's absolute path, a newline, meta.json
    pid: int | None = None
    alive: bool = False           # kill -0 on the pid: the truth
    group_alive: bool = False     # a process of the wrapper's or claude's group still lives
    pane_reaped: bool = False     # a finished tmux run: pane.log written, session ended
    claude_pid: int | None = None  # claude's own process group (run.sh starts it under setsid)
    started_at: float | None = None
    finished_at: float | None = None
    exit_code: int | None = None
    claude_exit: int | None = None
    cancelled: float | None = None
    timed_out: bool = False
    pushed_sha: str | None = None
    rescue_sha: str | None = None
    auth_failed: float | None = None  # the wrapper ended claude on an authentication retry
    push_failed: float | None = None  # `git push` failed (push_log: push.log's tail)
    size: int | None = None       # stream.jsonl size; None when the file is absent
    mtime: float | None = None    # stream.jsonl mtime on the worker's clock
    offset: int | None = None     # None: facts only
    data: bytes = b""
    stderr_tail: bytes = b""
    push_log: bytes = b""

    @property
    def finished(self) -> bool:
        """The envelope is complete (the wrapper's trap wrote finished_at last)."""
        return self.finished_at is not None

    def found_meta(self) -> tuple[str, dict]:
        """A found run's absolute run dir and its meta.json ({} when it is not a JSON object)."""
        import json

        head, _, body = self.meta.partition(b"\n")
        try:
            data = json.loads(body)
        except ValueError:
            data = {}
        return head.decode("utf-8", "surrogateescape"), data if isinstance(data, dict) else {}

    @property
    def more(self) -> bool:
        """Stream bytes remain beyond this chunk (it was capped)."""
        return (self.size is not None and self.offset is not None
                and self.offset + len(self.data) < self.size)


@dataclass(frozen=True)
class ProbeReport:
    now: float                    # the worker's clock at the end of the probe
    runs: dict[str, RunFacts]


class ProbeParseError(ValueError):
    pass


def probe_command(run_root: str, runs: dict[str, int | None] | None = None, *,
                  cap: int = CHUNK_CAP, stderr_cap: int = STDERR_CAP,
                  scan: bool = False) -> Command:
    """The probe for `runs` (id -> stream offset, None for facts only), or every run dir.
    `scan`: also every other run dir with meta.json and a live wrapper (`found`, stream from 0)."""
    args = [run_root, str(cap), str(stderr_cap), str(PUSH_LOG_CAP), "1" if scan else "0"]
    for run_id, offset in (runs or {}).items():
        args += [run_id, NO_DATA if offset is None else str(int(offset))]
    return sh_script(PROBE_SCRIPT, *args)


async def probe(transport: Transport, run_root: str, runs: dict[str, int | None] | None = None,
                *, cap: int = CHUNK_CAP, timeout: float = PROBE_TIMEOUT,
                scan: bool = False) -> ProbeReport:
    """Run the probe on `transport` and parse it. An empty `runs` dict probes nothing, unless
    `scan` asks for the live run dirs that `runs` does not name."""
    if runs is not None and not runs and not scan:
        return ProbeReport(now=0.0, runs={})
    result = await transport.run(probe_command(run_root, runs, cap=cap, scan=scan),
                                 timeout=timeout)
    try:
        return parse_probe(result.stdout)
    except ProbeParseError as exc:
        raise RemoteCommandFailed(
            f"on {transport.name}: the run probe's output was cut off or garbled ({exc})",
            hint="run `coordssh doctor` on this machine; its shell may print text on startup "
                 f"(exit {result.returncode}: {result.stderr_text.strip()[-200:]})",
            machine=transport.name, command="probe", exit_status=result.returncode) from exc


# --- the pure parser ----------------------------------------------------------------------------
def parse_probe(out: bytes) -> ProbeReport:
    runs: dict[str, RunFacts] = {}
    pos = 0
    while pos < len(out):
        line_end = out.find(b"\n", pos)
        if line_end < 0:
            raise ProbeParseError(f"unterminated header at byte {pos}")
        kind, fields = _header(out[pos:line_end])
        pos = line_end + 1
        if kind == "end":
            return ProbeReport(now=_float(fields.get("now")) or 0.0, runs=runs)
        if kind != "run":
            raise ProbeParseError(f"unexpected record {kind!r} at byte {line_end}")
        facts, pos = _run_record(fields, out, pos)
        runs[facts.id] = facts
    raise ProbeParseError("no end marker")


def _header(line: bytes) -> tuple[str, dict[str, str]]:
    words = line.decode("ascii", "replace").split(" ")
    fields = {}
    for word in words[1:]:
        key, sep, value = word.partition("=")
        if sep:
            fields[key] = value
    return words[0], fields


def _run_record(fields: dict[str, str], out: bytes, pos: int) -> tuple[RunFacts, int]:
    length, errlen = _int(fields.get("len")) or 0, _int(fields.get("errlen")) or 0
    pushlen = _int(fields.get("pushlen")) or 0
    metalen = _int(fields.get("metalen")) or 0
    end = pos + length + errlen + pushlen + metalen
    if end + 1 > len(out) or out[end:end + 1] != b"\n":
        raise ProbeParseError(f"run {fields.get('id')!r}: framed data does not end where promised")
    offset = fields.get("offset")
    facts = RunFacts(
        id=fields.get("id", ""),
        missing=fields.get("missing") == "1",
        found=fields.get("found") == "1",
        meta=out[pos + length + errlen + pushlen:end],
        pid=_int(fields.get("pid")),
        claude_pid=_int(fields.get("claude_pid")),
        alive=fields.get("alive") == "1",
        group_alive=fields.get("group") == "1",
        pane_reaped=fields.get("pane") == "1",
        started_at=_float(fields.get("started_at")),
        finished_at=_float(fields.get("finished_at")),
        exit_code=_int(fields.get("exit_code")),
        claude_exit=_int(fields.get("claude_exit")),
        cancelled=_flag_time(fields, "cancelled"),
        timed_out="timed_out" in fields,
        pushed_sha=fields.get("pushed_sha"),
        rescue_sha=fields.get("rescue_sha"),
        auth_failed=_flag_time(fields, "auth_failed"),
        push_failed=_flag_time(fields, "push_failed"),
        size=_int(fields.get("size")),
        mtime=_float(fields.get("mtime")),
        offset=None if offset in (None, NO_DATA) else _int(offset),
        data=out[pos:pos + length],
        stderr_tail=out[pos + length:pos + length + errlen],
        push_log=out[pos + length + errlen:pos + length + errlen + pushlen],
    )
    return facts, end + 1


def _flag_time(fields: dict[str, str], key: str) -> float | None:
    """A flag file whose content is a time: present but empty or garbled still counts."""
    if key not in fields:
        return None
    return _float(fields[key]) or 0.0


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None
