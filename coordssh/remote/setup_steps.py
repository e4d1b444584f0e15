"""Machine setup on a worker: one constant sh script per kind of step, each one exec.

Every script reads its fact first and, when the first parameter is `apply`, makes the change
the fact calls for (idempotent: a second run finds nothing to do); with `check` it only says
what it would do. Each prints one record per item, tab-separated:

    STATE   ITEM   CODE   TEXT        STATE: ok | changed | failed

CODE is a word the service turns into a sentence (`missing`, `created`, `would_clone`, ...);
TEXT is data (a path, a version, git's last line). `parse_records` is pure.
"""

from __future__ import annotations

from dataclasses import dataclass

from coordssh.remote.envelope import env_command
from coordssh.shell.command import Command, sh_script
from coordssh.shell.paths import EXPAND_HOME

INSTALL_TIMEOUT = 900.0   # apt-get update + install on a slow mirror
CLONE_TIMEOUT = 900.0
STEP_TIMEOUT = 90.0       # node starting `claude auth status` on a busy host

SAY = r'''nl='
'
say() { printf '%s' "$1"; shift; for f in "$@"; do printf '\t%s' "${f%%"$nl"*}"; done; printf '\n'; }
limited() { if command -v timeout >/dev/null 2>&1; then timeout 60 "$@"; else "$@"; fi; }
'''

# $1 mode, $2 program, $3 Debian package, $4 install allowed (1|0), $5 required (1|0)
PACKAGE_SCRIPT = SAY + r'''
mode=$1; bin=$2; pkg=$3; install=$4; required=$5
if v=$(command -v "$bin" 2>/dev/null) && [ -n "$v" ]; then say ok "$bin" found "$v"; exit 0; fi
if [ "$install" != 1 ]; then
  if [ "$required" = 1 ]; then say failed "$bin" missing "$pkg"; else say ok "$bin" not_needed "$pkg"; fi
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then say failed "$bin" no_apt "$pkg"; exit 0; fi
if [ "$(id -u)" = 0 ]; then run=; elif sudo -n true 2>/dev/null; then run='sudo -n'
else say failed "$bin" no_root "$pkg"; exit 0; fi
if [ "$mode" != apply ]; then say changed "$bin" would_install "$pkg"; exit 0; fi
export DEBIAN_FRONTEND=noninteractive
get() { $run apt-get install -y -qq --no-install-recommends "$pkg" </dev/null 2>&1; }
if out=$(get) || { $run apt-get update -qq </dev/null >/dev/null 2>&1 && out=$(get); }; then
  say changed "$bin" installed "$(command -v "$bin")"
else say failed "$bin" install_failed "$(printf '%s\n' "$out" | tail -n 1)"; fi
'''

# $1 mode, then paths: each a private directory (0700)
DIRECTORIES_SCRIPT = EXPAND_HOME + SAY + r'''
mode=$1; shift
for raw in "$@"; do
  p=$(expand_home "$raw")
  if [ -d "$p" ]; then
    m=$(stat -c %a -- "$p" 2>/dev/null || stat -f %Lp -- "$p" 2>/dev/null)
    if [ "$m" = 700 ]; then say ok "$p" private ""
    elif [ "$mode" != apply ]; then say changed "$p" would_chmod "$m"
    elif chmod 700 -- "$p" 2>/dev/null; then say changed "$p" chmodded "$m"
    else say failed "$p" cannot_chmod "$m"; fi
  elif [ -e "$p" ]; then say failed "$p" not_dir ""
  elif [ "$mode" != apply ]; then say changed "$p" would_create ""
  elif err=$( (umask 077 && mkdir -p -- "$p" && chmod 700 -- "$p") 2>&1); then say changed "$p" created ""
  else say failed "$p" cannot_create "$err"; fi
done
'''

# $1 mode, then name/path/url triples (url may be empty)
CLONES_SCRIPT = EXPAND_HOME + SAY + r'''
mode=$1; shift
export GIT_TERMINAL_PROMPT=0 GIT_SSH_COMMAND="${GIT_SSH_COMMAND:-ssh -o BatchMode=yes}"
while [ $# -ge 3 ]; do
  name=$1; p=$(expand_home "$2"); url=$3; shift 3
  if [ -d "$p" ]; then
    if git -C "$p" rev-parse --git-dir >/dev/null 2>&1; then say ok "$name" present "$p"
    else say failed "$name" not_git "$p"; fi
  elif [ -e "$p" ]; then say failed "$name" not_dir "$p"
  elif [ -z "$url" ]; then say failed "$name" no_url "$p"
  elif [ "$mode" != apply ]; then say changed "$name" would_clone "$p"
  elif out=$(mkdir -p -- "$(dirname -- "$p")" && git clone -q -- "$url" "$p" </dev/null 2>&1); then
    say changed "$name" cloned "$p"
  else say failed "$name" clone_failed "$(printf '%s\n' "$out" | tail -n 1)"; fi
done
'''

# $1 mode, $2 user.name, $3 user.email to set globally when git has no identity (may be empty).
# `git var` judges the identity exactly as `git commit` will (the machine's env included).
IDENTITY_SCRIPT = SAY + r'''
mode=$1; name=$2; email=$3
cd / || exit 1
if id=$(git var GIT_COMMITTER_IDENT 2>/dev/null) && git var GIT_AUTHOR_IDENT >/dev/null 2>&1; then
  say ok identity set "${id% * *}"; exit 0
fi
if [ -z "$name" ] || [ -z "$email" ]; then say failed identity no_identity ""; exit 0; fi
if [ "$mode" != apply ]; then say changed identity would_set "$name <$email>"; exit 0; fi
if err=$( (git config --global user.name "$name" && git config --global user.email "$email") 2>&1)
then say changed identity identity_set "$name <$email>"
else say failed identity cannot_set "$err"; fi
'''

# $1 claude's absolute path, $2 config dirs (one per line; an empty line: the default), then
# the arguments of the check. Exit 0 = logged in. Only `authMethod` is read of its output.
AUTH_SCRIPT = EXPAND_HOME + SAY + r'''
claude=$1; dirs=$2; shift 2
printf '%s\n' "$dirs" | while IFS= read -r d; do
  if [ -n "$d" ]; then d=$(expand_home "$d"); label=$d
    out=$(CLAUDE_CONFIG_DIR=$d limited "$claude" "$@" </dev/null 2>&1); rc=$?
  else label=default; out=$(limited "$claude" "$@" </dev/null 2>&1); rc=$?; fi
  how=$(printf '%s\n' "$out" | sed -n 's/.*"authMethod": *"\([^"]*\)".*/\1/p' | head -n 1)
  if [ $rc = 0 ]; then say ok "$label" logged_in "$how"
  else say failed "$label" not_logged_in "exit $rc"; fi
done
'''


@dataclass(frozen=True)
class Record:
    state: str     # ok | changed | failed
    item: str
    code: str
    text: str = ""


def package_command(mode: str, program: str, package: str, *, install: bool,
                    required: bool) -> Command:
    return sh_script(PACKAGE_SCRIPT, mode, program, package, "1" if install else "0",
                     "1" if required else "0")


def directories_command(mode: str, paths: list[str]) -> Command:
    return sh_script(DIRECTORIES_SCRIPT, mode, *paths)


def clones_command(mode: str, clones: list[tuple[str, str, str]]) -> Command:
    return sh_script(CLONES_SCRIPT, mode, *(part for clone in clones for part in clone))


def identity_command(mode: str, name: str, email: str, env: dict[str, str]) -> Command:
    return env_command(env, sh_script(IDENTITY_SCRIPT, mode, name, email))


def auth_command(claude_path: str, args: tuple[str, ...], config_dirs: list[str],
                 env: dict[str, str]) -> Command:
    """The check under the machine's env (its CLAUDE_CONFIG_DIR or API key count)."""
    script = sh_script(AUTH_SCRIPT, claude_path, "\n".join(config_dirs), *args)
    return env_command(env, script)


def parse_records(text: str) -> list[Record]:
    records = []
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) >= 3 and fields[0] in ("ok", "changed", "failed"):
            records.append(Record(fields[0], fields[1], fields[2],
                                  fields[3] if len(fields) > 3 else ""))
    return records
