"""``--install-completion [SHELL]`` and ``--show-completion [SHELL]``: an unknown shell name is
exit 2 and touches no file. Each run is a real process with HOME pointed at a temporary
folder, so that nothing can reach the user's own ~/.bashrc."""

from __future__ import annotations

import pytest

from tests.conftest import assert_bad_input, run_process


def files_under(folder) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--install-completion", "nosuchshell"], "unknown shell 'nosuchshell'"),
        (["--install-completion", "bsh"], "(did you mean 'bash'?)"),
        (["--show-completion", "nosuchshell"], "unknown shell 'nosuchshell'"),
        (["--install-completion", "bash", "zsh"], "one shell name at most; unexpected 'zsh'"),
    ],
)
def test_an_unknown_shell_is_refused_and_no_file_is_touched(tmp_path, args, fragment):
    run = run_process(*args, env={"HOME": str(tmp_path), "SHELL": "/bin/bash"})
    assert_bad_input(
        run, fragment, "bash, zsh, fish, powershell, pwsh" if "unknown" in fragment else ""
    )
    assert files_under(tmp_path) == []


def test_a_named_shell_is_installed_in_home(tmp_path):
    run = run_process("--install-completion", "bash", env={"HOME": str(tmp_path)})
    assert run.code == 0, run.stderr
    script = tmp_path / ".bash_completions" / "gradcli.sh"
    assert run.stdout.splitlines()[0] == f"bash completion installed in {script}"
    assert f"source '{script}'" in (tmp_path / ".bashrc").read_text()
    assert "_GRADCLI_COMPLETE" in script.read_text()


def test_a_named_shell_is_case_insensitive_and_shown_without_installing(tmp_path):
    run = run_process("--show-completion", "ZSH", env={"HOME": str(tmp_path)})
    assert run.code == 0, run.stderr
    assert run.stdout.startswith("#compdef gradcli")
    assert files_under(tmp_path) == []


def test_help_comes_first_and_says_a_shell_may_be_named(tmp_path):
    run = run_process("--install-completion", "--help", env={"HOME": str(tmp_path)})
    assert run.code == 0
    assert "named after it: bash, zsh, fish, powershell or pwsh" in " ".join(run.stdout.split())
    assert files_under(tmp_path) == []


def test_after_a_command_the_option_is_that_commands_unknown_option(tmp_path):
    run = run_process("activation", "--install-completion", "bash", env={"HOME": str(tmp_path)})
    assert_bad_input(run, "no such option '--install-completion'")
    assert files_under(tmp_path) == []
