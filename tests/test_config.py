"""coordinator.yml: discovery, defaults, and every validation rule with its exact message."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from coordssh.config.dump import config_to_dict
from coordssh.config.load import config_from_dict, load_config
from coordssh.config.repo_names import github_slug
from coordssh.errors import ConfigError, NotFound

REPO_ROOT = Path(__file__).resolve().parent.parent

MINIMAL = """\
repos:
  - name: api
machines:
  - name: laptop
    repo_paths:
      api: ~/src/api
"""


def write(folder: Path, text: str, name: str = "coordinator.yml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def problems(folder: Path, text: str) -> list[str]:
    path = write(folder, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.exit_code == 2
    return info.value.problems


def one_problem(folder: Path, text: str) -> str:
    found = problems(folder, text)
    assert len(found) == 1, found
    return found[0]


# --- discovery ------------------------------------------------------------------------------------
def test_explicit_path_wins_over_env_and_cwd(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    explicit = write(tmp_path / "a", MINIMAL)
    env_file = write(tmp_path / "b", MINIMAL.replace("laptop", "envbox"))
    config = load_config(explicit, environ={"COORDSSH_CONFIG": str(env_file)}, cwd=tmp_path / "b")
    assert config.path == explicit.resolve()
    assert list(config.machines) == ["laptop"]


def test_env_wins_over_cwd(tmp_path):
    (tmp_path / "env").mkdir()
    env_file = write(tmp_path / "env", MINIMAL.replace("laptop", "envbox"))
    write(tmp_path, MINIMAL)
    config = load_config(environ={"COORDSSH_CONFIG": str(env_file)}, cwd=tmp_path)
    assert list(config.machines) == ["envbox"]


def test_found_in_a_parent_directory(tmp_path):
    write(tmp_path, MINIMAL)
    deep = tmp_path / "x" / "y"
    deep.mkdir(parents=True)
    config = load_config(environ={}, cwd=deep)
    assert config.path == (tmp_path / "coordinator.yml").resolve()


def test_missing_config_names_the_fix(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(environ={}, cwd=tmp_path)
    assert "no coordinator.yml" in info.value.message
    assert "coordssh init" in info.value.hint


# --- defaults -------------------------------------------------------------------------------------
def test_defaults(tmp_path):
    config = load_config(write(tmp_path, MINIMAL))
    laptop = config.machine("laptop")
    assert laptop.connection == "local" and laptop.host == "localhost"
    assert laptop.launcher == "nohup"
    assert laptop.worktree_root == "~/.coordssh/worktrees"
    assert laptop.run_root == "~/.coordssh/runs"
    assert laptop.max_workers == config.concurrency.max_workers == 2
    assert laptop.repos == ("api",)            # from repo_paths
    assert laptop.claude_command == "claude"
    assert config.state_dir == tmp_path.resolve() / ".coordssh"
    assert config.repo("api").default_branch == "main"
    assert config.models.aliases == {}        # the CLI maps sonnet, opus, ...: never coordssh
    assert config.runs.result_grace_s == 30


@pytest.mark.parametrize("host,expected", [
    ("localhost", "local"), ("127.0.0.1", "local"), ("::1", "local"),
    ("buildbox", "ssh"), ("10.0.0.4", "ssh"), ("server.tailnet", "ssh"),
])
def test_connection_follows_the_host(tmp_path, host, expected):
    text = MINIMAL + f"    host: '{host}'\n"
    assert load_config(write(tmp_path, text)).machine("laptop").connection == expected


def test_explicit_ssh_to_loopback_is_kept(tmp_path):
    text = MINIMAL + "    host: 127.0.0.1\n    connection: ssh\n    port: 2222\n"
    machine = load_config(write(tmp_path, text)).machine("laptop")
    assert (machine.connection, machine.port) == ("ssh", 2222)


def test_machine_values_win_over_top_level_defaults(tmp_path):
    text = ("claude_command: /opt/claude\nconcurrency:\n  max_workers: 5\n" + MINIMAL
            + "  - name: other\n    claude_command: /usr/bin/claude\n    max_workers: 1\n"
              "    repo_paths: {api: /srv/api}\n")
    config = load_config(write(tmp_path, text))
    assert (config.machine("laptop").claude_command, config.machine("laptop").max_workers) == ("/opt/claude", 5)
    assert (config.machine("other").claude_command, config.machine("other").max_workers) == ("/usr/bin/claude", 1)


def test_operator_paths_expand_and_resolve_beside_the_file(tmp_path):
    text = ("state_dir: state\nplaybooks_dir: ~/playbooks\n" + MINIMAL
            + "    identity_file: keys/id\n    known_hosts: /etc/kh\n")
    config = load_config(write(tmp_path, text))
    assert config.state_dir == tmp_path.resolve() / "state"
    assert config.playbooks_dir == Path.home() / "playbooks"
    assert config.machine("laptop").identity_file == str(tmp_path.resolve() / "keys" / "id")
    assert config.machine("laptop").known_hosts == "/etc/kh"


def test_worker_paths_keep_the_tilde(tmp_path):
    text = MINIMAL + "    worktree_root: ~/trees/\n    run_root: /var/runs\n"
    machine = load_config(write(tmp_path, text)).machine("laptop")
    assert (machine.worktree_root, machine.run_root) == ("~/trees", "/var/runs")
    assert machine.repo_paths == {"api": "~/src/api"}


def test_durations_accept_numbers_and_strings(tmp_path):
    text = MINIMAL + "runs:\n  max_runtime: 1h30m\n  result_grace: 45\n  stop_grace: '20s'\n"
    runs = load_config(write(tmp_path, text)).runs
    assert (runs.max_runtime_s, runs.result_grace_s, runs.stop_grace_s) == (5400, 45, 20)


def test_model_aliases_are_only_the_users_shorthand(tmp_path):
    text = MINIMAL + "models:\n  default: fast\n  aliases: {fast: claude-haiku-4-5, opus: claude-opus-9}\n"
    models = load_config(write(tmp_path, text)).models
    assert models.default == "fast"
    assert models.aliases == {"fast": "claude-haiku-4-5", "opus": "claude-opus-9"}
    assert "sonnet" not in models.aliases


def test_lookup_by_name_suggests(tmp_path):
    config = load_config(write(tmp_path, MINIMAL))
    with pytest.raises(NotFound, match="unknown machine 'laptp' \\(did you mean 'laptop'\\?\\)"):
        config.machine("laptp")


# --- the example file -----------------------------------------------------------------------------
def test_example_file_loads_clean():
    config = load_config(REPO_ROOT / "coordinator.example.yml", environ={})
    assert list(config.repos) == ["api-gateway", "user-service", "shared-lib"]
    assert list(config.machines) == ["laptop", "buildbox", "gpu-server"]
    laptop, buildbox, gpu = config.machines.values()
    assert (laptop.connection, laptop.launcher) == ("local", "tmux")
    assert (buildbox.connection, buildbox.host, buildbox.launcher) == ("ssh", "buildbox", "nohup")
    assert buildbox.repos == ("user-service", "shared-lib")
    assert (gpu.user, gpu.port, gpu.identity_file) == ("dev", 2222,
                                                       str(Path.home() / ".ssh/id_ed25519_coordssh"))
    assert config.repo("api-gateway").depends_on == ("shared-lib",)
    assert config.runs.max_runtime_s == 4 * 3600
    assert config.reviews.repo_overrides == {"api-gateway": ("Check rate limiting on new endpoints",)}
    assert config.smoke_tests.capability_rules == ({"files": ["src/gtk/"], "requires": ["gtk"]},)
    assert config.hooks["on_session_end"] == ("summary_report",)


def test_example_file_comments_every_key():
    """Every key appears, and the first line that sets it has a comment on it or just above it."""
    from coordssh.config import intake, sections
    from coordssh.config.load import TOP_LEVEL_KEYS
    from coordssh.config.machines import MACHINE_KEYS, REPO_KEYS
    from coordssh.config.pipeline_section import BUDGET_KEYS, PIPELINE_KEYS

    keys = set(MACHINE_KEYS + REPO_KEYS + TOP_LEVEL_KEYS + sections.CONCURRENCY_KEYS + sections.MODELS_KEYS
               + sections.RUNS_KEYS + sections.REVIEWS_KEYS + sections.SMOKE_KEYS
               + sections.CAPABILITY_RULE_KEYS + intake.INTAKE_KEYS + PIPELINE_KEYS + BUDGET_KEYS)
    lines = (REPO_ROOT / "coordinator.example.yml").read_text().splitlines()
    documented: set[str] = set()
    for i, line in enumerate(lines):
        if line.lstrip().startswith("#"):
            continue
        key = line.strip().lstrip("- ").split(":", 1)[0]
        if key in keys and key not in documented:
            assert "#" in line or lines[i - 1].lstrip().startswith("#"), f"line {i + 1} has no comment: {line}"
            documented.add(key)
    assert documented == keys


# --- config_to_dict -------------------------------------------------------------------------------
def test_config_to_dict_masks_secrets_and_round_trips(tmp_path):
    text = MINIMAL + ("    env:\n      GH_TOKEN: ghp_x\n      api_key: k\n      DB_PASSWORD: p\n"
                      "      AWS_SECRET_ACCESS_KEY: s\n      LANG: C.UTF-8\n      DEBUG: 1\n")
    config = load_config(write(tmp_path, text))
    data = config_to_dict(config)
    json.dumps(data)  # serializable
    assert data["path"] == str(tmp_path.resolve() / "coordinator.yml")
    assert data["machines"][0]["env"] == {"GH_TOKEN": "***", "api_key": "***", "DB_PASSWORD": "***",
                                          "AWS_SECRET_ACCESS_KEY": "***", "LANG": "C.UTF-8", "DEBUG": "1"}
    assert config.machine("laptop").env["GH_TOKEN"] == "ghp_x"   # only the output is masked
    data.pop("path")
    again = config_from_dict(data, config.path)
    assert again.repos == config.repos and again.runs == config.runs and again.models == config.models
    assert again.machine("laptop").repo_paths == config.machine("laptop").repo_paths


def test_config_from_dict_reports_paths_without_lines(tmp_path):
    data = {"repos": [{"name": "api"}], "machines": [{"name": "m", "repos": ["apx"],
                                                     "repo_paths": {"api": "/a"}}]}
    with pytest.raises(ConfigError) as info:
        config_from_dict(data, tmp_path / "sandbox.yml")
    assert info.value.problems == [
        "sandbox.yml: machines[0].repos[0]: repo 'apx' is not defined in repos (did you mean 'api'?)"]


# --- the file as a whole --------------------------------------------------------------------------
def test_yaml_syntax_error_has_line_and_column(tmp_path):
    text = "repos:\n  - name: api\n    bad: x: y\n"
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert info.value.message == "coordinator.yml:3:11: YAML syntax error: mapping values are not allowed here"


def test_libyaml_parse_builds_the_data_of_the_line_tracking_parse(tmp_path):
    from coordssh.config.yaml_lines import parse_yaml, parse_yaml_fast

    odd = textwrap.dedent("""\
        base: &base {max_workers: 3, env: {A: "1"}}
        machines:
          - <<: *base
            name: a
          - *base
        1: one
        true: yes
        ? [x]
        : seq key
        when: 2024-01-02
        tagged: !!str 12
        nothing: ~
        """)
    for text in ((REPO_ROOT / "coordinator.example.yml").read_text(), MINIMAL, odd):
        fast = parse_yaml_fast(text)
        assert fast is not None
        assert fast.data == parse_yaml(text, tmp_path / "c.yml").data
        assert fast.key_lines == {} and fast.value_lines == {}


def test_libyaml_parse_leaves_problems_to_the_line_tracking_parse():
    from coordssh.config.yaml_lines import parse_yaml_fast

    assert parse_yaml_fast("# nothing yet\n") is None
    assert parse_yaml_fast("repos:\n  - name: api\n    bad: x: y\n") is None
    assert parse_yaml_fast("a: 1\na: 2\n") is None


def test_empty_file(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "# nothing yet\n"))
    assert info.value.message == "coordinator.yml: the file is empty"
    assert "coordssh init" in info.value.hint


def test_top_level_must_be_a_mapping(tmp_path):
    assert one_problem(tmp_path, "- repos\n- machines\n") == (
        "coordinator.yml:1: the top level must be a mapping (repos:, machines:, ...), got a list")


def test_missing_and_valueless_sections(tmp_path):
    assert problems(tmp_path, "# comment\nrepos:\n") == [
        "coordinator.yml:2: repos: has no value (write `repos: []` for none yet)",
        "coordinator.yml:2: missing 'machines' (write `machines: []` for none yet; see "
        "coordinator.example.yml)",
    ]


def test_an_empty_fleet_is_valid(tmp_path):
    config = load_config(write(tmp_path, "repos: []\nmachines: []\n"))
    assert config.repos == {} and config.machines == {}


def test_duplicate_yaml_key(tmp_path):
    text = MINIMAL + "concurrency: {max_workers: 2}\nconcurrency: {max_workers: 3}\n"
    assert one_problem(tmp_path, text) == (
        "coordinator.yml:8: concurrency: duplicate key (also on line 7; YAML would keep only the last)")


def test_all_problems_are_reported_in_line_order(tmp_path):
    text = MINIMAL + "    launcher: screen\n    max_workers: 0\ncolour: blue\n"
    err_problems = problems(tmp_path, text)
    assert err_problems == [
        "coordinator.yml:7: machines[0].launcher: 'screen' is not one of: tmux, nohup",
        "coordinator.yml:8: machines[0].max_workers: must be at least 1, got 0",
        "coordinator.yml:9: colour: unknown key; known keys: repos, machines, concurrency, models, runs, "
        "hooks, reviews, smoke_tests, pipeline, intake, claude_command, state_dir, playbooks_dir",
    ]


def test_several_problems_message_names_the_file(tmp_path):
    path = write(tmp_path, MINIMAL + "    port: 0\n    launcher: x\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.message == f"{path.resolve()} has 2 problems:"
    assert info.value.hint == f"fix {path.resolve()}, then check it with `coordssh config --check`"


# --- one rule each --------------------------------------------------------------------------------
RULES = [
    # unknown keys, at the key's line
    (MINIMAL + "    max_worker: 3\n",
     "coordinator.yml:7: machines[0].max_worker: unknown key (did you mean 'max_workers'?)"),
    ("concurency:\n  max_workers: 2\n" + MINIMAL,
     "coordinator.yml:1: concurency: unknown key (did you mean 'concurrency'?)"),
    (MINIMAL.replace("  - name: api\n", "  - name: api\n    githb: o/r\n"),
     "coordinator.yml:3: repos[0].githb: unknown key (did you mean 'github'?)"),
    # types
    (MINIMAL + '    max_workers: "three"\n',
     "coordinator.yml:7: machines[0].max_workers: expected an integer, got the string 'three'"),
    (MINIMAL + '    max_workers: "3"\n',
     "coordinator.yml:7: machines[0].max_workers: expected an integer, got the string '3' (remove the quotes)"),
    (MINIMAL + "    connect_timeout: soon\n",
     "coordinator.yml:7: machines[0].connect_timeout: expected a number, got the string 'soon'"),
    (MINIMAL + "    connect_timeout: 0\n",
     "coordinator.yml:7: machines[0].connect_timeout: must be greater than 0, got 0"),
    (MINIMAL + "reviews:\n  enabled: 'yes please'\n",
     "coordinator.yml:8: reviews.enabled: expected true or false, got the string 'yes please'"),
    (MINIMAL + "    capabilities: python\n",
     "coordinator.yml:7: machines[0].capabilities: expected a list, got the string 'python' (write [python])"),
    (MINIMAL + "    capabilities: [python, 3]\n",
     "coordinator.yml:7: machines[0].capabilities[1]: expected a string, got the number 3"),
    ("repos: {name: api}\n" + MINIMAL.split("\n", 2)[2],
     "coordinator.yml:1: repos: expected a list, got a mapping (write a list of '- name: ...' entries)"),
    ("repos: [api]\n" + MINIMAL.split("\n", 2)[2],
     "coordinator.yml:1: repos[0]: expected a mapping, got the string 'api' (write '- name: api')"),
    (MINIMAL + "concurrency: 3\n",
     "coordinator.yml:7: concurrency: expected a mapping (key: value lines), got the number 3"),
    (MINIMAL + "runs:\n  max_runtime: forever\n",
     "coordinator.yml:8: runs.max_runtime: 'forever' is not a duration; write seconds (90) or a string "
     "such as '90s', '30m', '4h'"),
    # enums
    (MINIMAL + "    launcher: screen\n",
     "coordinator.yml:7: machines[0].launcher: 'screen' is not one of: tmux, nohup"),
    (MINIMAL + "    launcher: tmx\n",
     "coordinator.yml:7: machines[0].launcher: 'tmx' is not one of: tmux, nohup (did you mean 'tmux'?)"),
    (MINIMAL + "    connection: telnet\n",
     "coordinator.yml:7: machines[0].connection: 'telnet' is not one of: local, ssh"),
    # ranges
    (MINIMAL + "    port: 70000\n",
     "coordinator.yml:7: machines[0].port: must be between 1 and 65535, got 70000"),
    (MINIMAL + "    max_workers: 0\n",
     "coordinator.yml:7: machines[0].max_workers: must be at least 1, got 0"),
    ("concurrency:\n  max_workers: 0\n" + MINIMAL,
     "coordinator.yml:2: concurrency.max_workers: must be at least 1, got 0"),
    # names
    (MINIMAL + "  - name: laptop\n    repo_paths: {api: /a}\n",
     "coordinator.yml:7: machines[1].name: duplicate machine name 'laptop' (also machines[0])"),
    (MINIMAL.replace("  - name: api\n", "  - name: api\n  - name: api\n"),
     "coordinator.yml:3: repos[1].name: duplicate repo name 'api' (also repos[0])"),
    (MINIMAL + "  - host: buildbox\n",
     "coordinator.yml:7: machines[1]: missing 'name' (every machine needs one)"),
    (MINIMAL.replace("  - name: api\n", "  - name: api\n  - github: o/r\n"),
     "coordinator.yml:3: repos[1]: missing 'name' (every repo needs one)"),
    (MINIMAL.replace("name: laptop", "name: my laptop"),
     "coordinator.yml:4: machines[0].name: 'my laptop' is not a valid name (letters, digits, '.', '_' "
     "and '-', starting with a letter or digit)"),
    # references across sections
    (MINIMAL.replace("      api: ~/src/api", "      api: ~/src/api\n      apis: ~/src/apis"),
     "coordinator.yml:7: machines[0].repo_paths.apis: repo 'apis' is not defined in repos (did you mean 'api'?)"),
    (MINIMAL + "    repos: [api, web]\n",
     "coordinator.yml:7: machines[0].repos[1]: repo 'web' is not defined in repos"),
    (MINIMAL.replace("  - name: api\n", "  - name: api\n  - name: web\n") + "    repos: [api, web]\n",
     "coordinator.yml:8: machines[0].repos[1]: repo 'web' has no entry in repo_paths "
     "(where is its clone on this machine?)"),
    (MINIMAL.replace("  - name: api\n", "  - name: api\n    depends_on: [apii]\n"),
     "coordinator.yml:3: repos[0].depends_on[0]: repo 'apii' is not defined in repos (did you mean 'api'?)"),
    (MINIMAL.replace("  - name: api\n", "  - name: api\n    depends_on: [api]\n"),
     "coordinator.yml:3: repos[0].depends_on[0]: repo 'api' cannot depend on itself"),
    (MINIMAL + "reviews:\n  repo_overrides:\n    ap: [check]\n",
     "coordinator.yml:9: reviews.repo_overrides.ap: repo 'ap' is not defined in repos (did you mean 'api'?)"),
    (MINIMAL + "models:\n  labels:\n    docs: haikoo\n",
     "coordinator.yml:9: models.labels.docs: 'haikoo' is not a model (did you mean 'haiku'?); use one of "
     "haiku, sonnet, opus, fable, best, opusplan, sonnet[1m], opus[1m], default, or a full model id "
     "(claude-...)"),
    (MINIMAL + "models:\n  escalation: [haiku, gpt]\n",
     "coordinator.yml:8: models.escalation[1]: 'gpt' is not a model; use one of haiku, sonnet, opus, "
     "fable, best, opusplan, sonnet[1m], opus[1m], default, or a full model id (claude-...)"),
    # github
    (MINIMAL.replace("  - name: api\n", "  - name: api\n    github: acme\n"),
     "coordinator.yml:3: repos[0].github: 'acme' is not a GitHub owner/name"),
    (MINIMAL.replace("  - name: api\n", "  - name: api\n    github: git@github.com:acme/api.git\n"),
     "coordinator.yml:3: repos[0].github: 'git@github.com:acme/api.git' is not a GitHub owner/name "
     "(did you mean 'acme/api'?)"),
    # hosts
    (MINIMAL + "    host: bob@server\n",
     "coordinator.yml:7: machines[0].host: 'bob@server' includes a user; write user: bob and host: server"),
    (MINIMAL + "    host: -oProxyCommand=x\n",
     "coordinator.yml:7: machines[0].host: '-oProxyCommand=x' is not a hostname, IP address or "
     "~/.ssh/config alias"),
    # worker paths
    (MINIMAL.replace("api: ~/src/api", "api: src/api"),
     "coordinator.yml:6: machines[0].repo_paths.api: 'src/api' is a relative path; worker paths must be "
     "absolute or start with ~ (use '~/src/api' or an absolute path)"),
    (MINIMAL + "    worktree_root: trees\n",
     "coordinator.yml:7: machines[0].worktree_root: 'trees' is a relative path; worker paths must be "
     "absolute or start with ~ (use '~/trees' or an absolute path)"),
    # env
    (MINIMAL + "    env:\n      1BAD: x\n",
     "coordinator.yml:8: machines[0].env.1BAD: '1BAD' is not a valid environment variable name "
     "(letters, digits and '_', not starting with a digit)"),
    (MINIMAL + "    env:\n      DEBUG: true\n",
     "coordinator.yml:8: machines[0].env.DEBUG: expected a string, got the boolean true (quote it: \"true\")"),
    # smoke tests
    (MINIMAL + "smoke_tests:\n  capability_rules:\n    - files: [a/]\n      require: [gtk]\n",
     "coordinator.yml:10: smoke_tests.capability_rules[0].require: unknown key (did you mean 'requires'?)"),
]


@pytest.mark.parametrize("text,expected", RULES, ids=[r[1].split(": ", 2)[1] for r in RULES])
def test_rule(tmp_path, text, expected):
    assert one_problem(tmp_path, text) == expected


@pytest.mark.parametrize("url,slug", [
    ("https://github.com/o/r.git", "o/r"), ("https://github.com/o/r", "o/r"),
    ("git@github.com:o/r.git", "o/r"), ("ssh://git@github.com/o/r.git", "o/r"),
    ("https://gitlab.com/o/r.git", None), ("/srv/git/r.git", None),
])
def test_github_slug(url, slug):
    assert github_slug(url) == slug


def test_ssh_settings_on_localhost_mean_ssh(tmp_path):
    text = ("repos:\n  - name: app\nmachines:\n  - name: box\n    host: 127.0.0.1\n"
            "    port: 2222\n    repo_paths: {app: ~/src/app}\n")
    assert load_config(write(tmp_path, text)).machines["box"].connection == "ssh"


def test_ssh_settings_on_an_explicitly_local_machine_are_refused(tmp_path):
    text = ("repos:\n  - name: app\nmachines:\n  - name: box\n    connection: local\n"
            "    user: bob\n    repo_paths: {app: ~/src/app}\n")
    assert one_problem(tmp_path, text) == (
        "coordinator.yml:6: machines[0].user: only applies to `connection: ssh` (this machine "
        "runs locally); remove it, or set connection: ssh")


def test_worker_permissions_per_repo(tmp_path):
    config = load_config(write(tmp_path, MINIMAL))
    assert config.repo("api").worker_permissions.allow == ()
    lines = MINIMAL.splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if "name: api" in line) + 1
    good = lines[:at] + ["    worker_permissions:\n", "      allow: ['Bash(npm ci)', WebFetch]\n",
                         "      deny: ['Bash(git push *)']\n"] + lines[at:]
    repo = load_config(write(tmp_path, "".join(good))).repo("api")
    assert repo.worker_permissions.allow == ("Bash(npm ci)", "WebFetch")
    assert repo.worker_permissions.deny == ("Bash(git push *)",)
    bad = lines[:at] + ["    worker_permissions:\n", "      allow: ['Bash(a, b)']\n",
                        "      denny: []\n"] + lines[at:]
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "".join(bad)))
    text = "\n".join(info.value.problems)
    assert "worker_permissions.allow[0]: 'Bash(a, b)' is not a permission rule" in text
    assert "worker_permissions.denny: unknown key (did you mean 'deny'?)" in text
