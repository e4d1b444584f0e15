"""The peers, each installed in its own virtual environment under bench/.venvs/, and their probes.

Every peer runs one `true` on every host, against the same hosts and login user, with host keys
checked against the fleet's known_hosts (parallel-ssh cannot check them: noted in the report),
and with its parallelism set to the number of hosts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from measure import Case

BENCH = Path(__file__).resolve().parent
VENVS = BENCH / ".venvs"
PEERS = {  # venv name -> pip requirement
    "ansible": "ansible-core",
    "pyinfra": "pyinfra",
    "pssh": "parallel-ssh",
}


def ensure_venvs(log=print) -> dict[str, str]:
    """Create the venvs and install the peers when missing; return {name: version}."""
    versions = {}
    for name, req in PEERS.items():
        venv = VENVS / name
        py = venv / "bin/python"
        if not py.exists():
            log(f"  installing {req} into {venv}")
            if subprocess.run([sys.executable, "-m", "venv", str(venv)]).returncode != 0:
                # Debian's system Python ships venv separately
                subprocess.run(["apt-get", "install", "-y", "-qq", "python3-venv"], check=True)
                subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        probe = {"ansible": "import ansible.release as r; print(r.__version__)",
                 "pyinfra": "from importlib.metadata import version; print(version('pyinfra'))",
                 "pssh": "from importlib.metadata import version; print(version('parallel-ssh'))"}
        got = subprocess.run([str(py), "-c", probe[name]], capture_output=True, text=True)
        if got.returncode != 0:
            subprocess.run([str(py), "-m", "pip", "install", "-q", req], check=True)
            got = subprocess.run([str(py), "-c", probe[name]], capture_output=True, text=True,
                                 check=True)
        versions[name] = got.stdout.strip()
    return versions


def write_peer_files(work: Path, hosts: list, home: Path, ssh_config: Path) -> None:
    work.mkdir(parents=True, exist_ok=True)
    n = len(hosts)
    (work / "inventory.ini").write_text(
        "[bench]\n" + "".join(f"{h.name}\n" for h in hosts)
        + "\n[all:vars]\nansible_python_interpreter=/usr/bin/python3\n")
    base = ("[defaults]\ninventory = {inv}\nforks = {n}\nhost_key_checking = True\n"
            "gathering = explicit\nretry_files_enabled = False\nlocal_tmp = {home}/.ansible/tmp\n"
            "interpreter_python = /usr/bin/python3\n\n[ssh_connection]\npipelining = True\n"
            "control_path_dir = {home}/.ansible/cp\nssh_args = -F {cfg} {cp}\n")
    for name, cp in (("warm", "-o ControlMaster=auto -o ControlPersist=60s"),
                     ("cold", "-o ControlMaster=no -o ControlPath=none")):
        (work / f"ansible-{name}.cfg").write_text(base.format(
            inv=work / "inventory.ini", n=n, home=home, cfg=ssh_config, cp=cp))
    rows = ",\n".join(
        f"    ({h.name!r}, {{'ssh_hostname': {h.host!r}, 'ssh_port': {h.port}, "
        f"'ssh_user': {h.user!r}, 'ssh_key': {h.client_key!r}, "
        f"'ssh_known_hosts_file': {h.known_hosts!r}, 'ssh_strict_host_key_checking': 'yes', "
        f"'ssh_allow_agent': False, 'ssh_look_for_keys': False}})" for h in hosts)
    (work / "inventory.py").write_text(f"hosts = [\n{rows},\n]\n")
    (work / "hosts.json").write_text(json.dumps([h.__dict__ for h in hosts]))


def cases(work: Path, hosts: list, home: Path) -> list[Case]:
    n = len(hosts)
    env = dict(os.environ, HOME=str(home), ANSIBLE_NOCOLOR="1", PYTHONWARNINGS="ignore")
    ansible = str(VENVS / "ansible/bin/ansible")

    def ans(name: str, cfg: str, module: str) -> Case:
        return Case(name, [ansible, "all", "-m", module, "-a", "true"],
                    env=dict(env, ANSIBLE_CONFIG=str(work / f"ansible-{cfg}.cfg")), cwd=str(work),
                    check=_count_ok(n, (b"| CHANGED", b"| SUCCESS")))

    return [
        ans("ansible -m raw (warm ControlPersist)", "warm", "raw"),
        ans("ansible -m raw (cold)", "cold", "raw"),
        ans("ansible -m command (warm ControlPersist)", "warm", "command"),
        ans("ansible -m command (cold)", "cold", "command"),
        Case("pyinfra exec", [str(VENVS / "pyinfra/bin/pyinfra"), "-y", "--parallel", str(n),
                              str(work / "inventory.py"), "exec", "--", "true"],
             env=env, cwd=str(work)),
        Case("parallel-ssh", [str(VENVS / "pssh/bin/python"), str(BENCH / "peer_pssh.py"),
                              str(work / "hosts.json")], env=env, cwd=str(work),
             check=_expect(f"{n}/{n} ok".encode())),
    ]


def _count_ok(n: int, markers: tuple[bytes, ...]):
    def check(out: bytes) -> str | None:
        got = sum(out.count(m) for m in markers)
        return None if got == n else f"{got}/{n} hosts reported success"
    return check


def _expect(text: bytes):
    def check(out: bytes) -> str | None:
        return None if text in out else f"expected {text!r}"
    return check
