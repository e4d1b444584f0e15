"""The test of the `coordssh demo` repository (its test_command: `python3 check.py`).

Checks the whole working tree, whoever changed it (the replay agent or Claude Code):
every Markdown file starts with a `# ` heading, every Python file compiles, and greet.py,
when there is one, prints "Hello, world!". Prints what it checked; exits 1 naming each problem.
"""

import pathlib
import subprocess
import sys

root = pathlib.Path(__file__).resolve().parent
files = sorted(p for p in root.rglob("*") if p.is_file() and ".git" not in p.parts)
problems = []
markdown = [p for p in files if p.suffix == ".md"]
python = [p for p in files if p.suffix == ".py"]
for path in markdown:
    if not path.read_text(encoding="utf-8", errors="replace").startswith("# "):
        problems.append(f"{path.relative_to(root)}: does not start with a '# ' heading")
for path in python:
    try:
        compile(path.read_text(encoding="utf-8"), str(path), "exec")
    except (SyntaxError, UnicodeDecodeError) as err:
        problems.append(f"{path.relative_to(root)}: does not compile: {err}")
greet = root / "greet.py"
if greet.exists():
    ran = subprocess.run([sys.executable, str(greet)], capture_output=True, text=True, timeout=30)
    if ran.stdout.strip() != "Hello, world!":
        problems.append(f"greet.py printed {ran.stdout.strip()!r}, not 'Hello, world!'")
for problem in problems:
    print(f"check: FAILED: {problem}")
print(f"check: {len(markdown)} markdown and {len(python)} python files, "
      f"{'greet.py run, ' if greet.exists() else ''}{len(problems)} problem(s)")
sys.exit(1 if problems else 0)
