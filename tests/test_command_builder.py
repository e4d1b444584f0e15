"""Golden tests for the one quoting-safe command builder."""

import subprocess

import pytest

from coordssh.shell.command import Command, Raw, Secret, as_command, cmd, sh_script

HOSTILE = [
    "it's",
    '"double"',
    "$(touch /tmp/never)",
    "`id`",
    "a\nb",
    "*",
    "ü ñ 日本",
    "",
    "--flag",
    "; rm -rf /",
    "$HOME",
    "back\\slash",
]


@pytest.mark.parametrize("arg", HOSTILE)
def test_rendered_argument_reaches_the_shell_byte_identical(arg):
    rendered = cmd("printf", "%s", arg).render()
    out = subprocess.run(["sh", "-c", rendered], capture_output=True, check=True).stdout
    assert out == arg.encode()


def test_sh_script_passes_data_as_positional_parameters():
    command = sh_script('printf "%s|" "$@"', *HOSTILE)
    out = subprocess.run(["sh", "-c", command.render()], capture_output=True, check=True).stdout
    assert out == ("|".join(HOSTILE) + "|").encode()
    assert command.argv()[:4] == ["sh", "-c", 'printf "%s|" "$@"', "coordssh"]


def test_raw_operators_are_verbatim_and_disable_argv():
    command = cmd("true").then(cmd("echo", "a b"))
    assert command.render() == "true && echo 'a b'"
    assert command.argv() is None
    piped = cmd("echo", "x").pipe(cmd("wc", "-c"))
    assert piped.render() == "echo x | wc -c"


def test_secret_is_quoted_when_run_and_masked_when_shown():
    command = Command("env", Secret("TOKEN=s3cr3t; x"), "true")
    assert "s3cr3t" in command.render()
    assert command.display() == "env *** true"
    assert "s3cr3t" not in repr(command)
    assert str(Secret("abc")) == "***"
    assert command.argv() == ["env", "TOKEN=s3cr3t; x", "true"]


def test_nested_commands_and_iterables_are_flattened():
    inner = cmd("git", "status")
    assert Command("timeout", "5", inner).parts == ("timeout", "5", "git", "status")
    assert as_command(["a", "b c"]).render() == "a 'b c'"
    assert Command("x", ["y", "z"]) == cmd("x", "y", "z")


def test_non_string_parts_are_refused():
    with pytest.raises(TypeError):
        Command("x", [1, 2])


def test_raw_is_only_what_our_code_marks():
    assert cmd("echo", Raw("&&")).render() == "echo &&"
    assert cmd("echo", "&&").render() == "echo '&&'"
