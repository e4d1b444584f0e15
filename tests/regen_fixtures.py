#!/usr/bin/env python3
"""Regenerate tests/fixtures/stream-json/real_*.jsonl from the REAL claude CLI (run by hand).

    python3 tests/regen_fixtures.py            # every scenario
    python3 tests/regen_fixtures.py success    # some of them (names below, without `real_`)

Each scenario runs the pinned CLI (tests/claude-code.version; see tests/support/real_claude.py
for where it is looked for) in a fresh git repository against tests/support/model_server.py with
a script from tests/scripts/, writes its stdout byte for byte to real_NAME.jsonl, and replaces the
`real_NAME.jsonl` entry of manifest.json: argv, env, exit code, stderr and the `expect` values read
back from the transcript (tests/test_stream_parser.py checks the parser against them; `state` is
the classification the scenario should get, written here by hand). Session ids are fixed, so a
regenerated file differs only in cwd, uuids, timestamps and durations.
"""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.dispatch import GitWorld  # noqa: E402
from tests.support.model_script import load_script  # noqa: E402
from tests.support.model_server import ModelServer  # noqa: E402
from tests.support.real_claude import (STREAM, claude_path, kill_group, make_home,  # noqa: E402
                                       read_lines, run_claude, run_env, start_claude)

FIXTURES = ROOT / "tests" / "fixtures" / "stream-json"
PROMPT = "Work on issue 7 of the demo repository."


@dataclass
class Scenario:
    name: str
    script: str
    args: list[str]
    state: str
    about: str
    env: dict = field(default_factory=dict)
    retries_then_kill: int = 0        # read this many api_retry lines, then SIGKILL the group


SCENARIOS = [
    Scenario("success", "success_commit",
             ["--model", "sonnet", "--permission-mode", "acceptEdits",
              "--allowedTools", "Write,Bash(git add *),Bash(git commit *)"], "completed",
             "Real CLI: Write, then `git add` and `git commit` as separate Bash calls (executed for "
             "real), final text ends `STATUS: done`; result success."),
    Scenario("stuck", "stuck", ["--allowedTools", "Bash(git *)"], "stuck",
             "Real CLI: one Bash call, then a final text ending `STUCK: <reason>`; the CLI says "
             "success, coordssh's marker rule makes it stuck."),
    Scenario("max_turns", "two_tools", ["--max-turns", "1", "--allowedTools", "Bash(git *)"],
             "failed:max_turns",
             "Real CLI with --max-turns 1 while the script wants two tool turns: result "
             "error_max_turns, no `result` key, errors[]."),
    Scenario("permission_denied", "compound_denied",
             ["--permission-mode", "acceptEdits", "--allowedTools", "Write,Bash(git commit *)"],
             "completed",
             "Real CLI: a compound Bash command with an unlisted part (`git add`) is denied: "
             "system/permission_denied, an is_error tool_result, result.permission_denials lists "
             "it, and the result is still success."),
    Scenario("overloaded_recovered", "overloaded", [], "completed",
             "Real CLI: two HTTP 529 answers (system/api_retry, overloaded), then a normal answer: "
             "the run recovers and ends success."),
    Scenario("auth_retry", "auth_401", [], "crashed",
             "Real CLI against HTTP 401 (invalid x-api-key): system/api_retry lines with "
             "authentication_failed; the process group was SIGKILLed after 2 of them (the CLI "
             "would retry for minutes), so there is no result.", retries_then_kill=2),
]


def session_id(index: int) -> str:
    return f"00000000-0000-4000-8000-{index + 1:012d}"


def record(s: Scenario, index: int, work: Path, claude: Path) -> dict:
    repo = GitWorld.create(work / s.name).clone
    home = make_home(work / s.name / "home")
    args = [*s.args, "--session-id", session_id(index)]
    with ModelServer(load_script(s.script, CWD=str(repo))) as server:
        env = run_env(home, server.url, **s.env)
        if s.retries_then_kill:
            proc = start_claude(claude, args, cwd=repo, env=env, prompt=PROMPT)
            try:
                stdout = b"".join(read_lines(proc, lambda seen: sum(
                    e.get("subtype") == "api_retry" for e in seen) >= s.retries_then_kill))
            finally:
                kill_group(proc)
            exit_code, stderr = 137, ""
        else:
            run = run_claude(claude, args, cwd=repo, env=env, prompt=PROMPT)
            stdout, exit_code, stderr = run.stdout, run.returncode, run.stderr.decode()
        if server.problems:
            raise SystemExit(f"{s.name}: the model script did not fit: {server.problems}")
    (FIXTURES / f"real_{s.name}.jsonl").write_bytes(stdout)
    return {"file": f"real_{s.name}.jsonl", "scenario": s.about,
            "argv": ["claude", *STREAM, *args], "exit_code": exit_code, "stderr": stderr,
            "expect": expect(stdout, s.state), "env": {"ANTHROPIC_API_KEY": "test-key", **s.env}}


def expect(stdout: bytes, state: str) -> dict:
    events = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    init = next(e for e in events if e.get("subtype") == "init")
    result = next((e for e in events if e.get("type") == "result"), None)
    found = {"state": state, "session_id": init["session_id"], "model": init["model"],
             "has_result": result is not None}
    if result is None:
        return found
    for key in ("subtype", "is_error", "num_turns", "duration_ms", "duration_api_ms",
                "total_cost_usd", "api_error_status", "terminal_reason", "errors"):
        if key in result:
            found[key] = result[key]
    if isinstance(result.get("result"), str):
        found["result_text_prefix"] = result["result"][:60]
    return found


def main(names: list[str]) -> None:
    claude = claude_path()
    if not claude.exists():
        raise SystemExit(f"no claude CLI at {claude}; see tests/support/real_claude.py")
    chosen = [s for s in SCENARIOS if not names or s.name in names]
    manifest_path = FIXTURES / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    entries = {e["file"]: e for e in manifest["fixtures"]}
    with tempfile.TemporaryDirectory(prefix="coordssh-regen-") as work:
        for s in chosen:
            entries[f"real_{s.name}.jsonl"] = record(s, SCENARIOS.index(s), Path(work), claude)
            print(f"real_{s.name}.jsonl: {entries[f'real_{s.name}.jsonl']['expect']}")
    manifest["fixtures"] = list(entries.values())
    manifest_path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
