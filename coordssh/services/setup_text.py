"""The sentences of machine setup: each record code of remote/setup_steps.py, with its fix."""

from __future__ import annotations

from coordssh.remote.setup_steps import Record

INSTALL_HINT = "allow installing with `coordssh setup --install` (or `install: true` on the step)"


def explain(step, record: Record) -> str:
    """One line for `record` of `step` (a SetupStep), naming the cause and, on failure, the fix."""
    o, t = step.options, record.text
    pkg = o.get("package", "")
    messages = {
        # package
        "found": f"{record.item} is installed ({t})",
        "not_needed": f"{record.item} is not installed (not needed with this machine's launcher)",
        "missing": _missing(step, record, pkg),
        "no_apt": f"{record.item} is missing and there is no apt-get: install {pkg} yourself",
        "no_root": f"{record.item} is missing and apt-get needs root (no password-less sudo): "
                   f"run `sudo apt-get install {pkg}` on the machine",
        "would_install": f"would install {pkg} with apt-get",
        "installed": f"installed {pkg} with apt-get ({t})",
        "install_failed": f"apt-get install {pkg} failed: {t}",
        # directories
        "private": "exists, mode 0700",
        "would_chmod": f"would change mode {t} to 0700",
        "chmodded": f"mode {t} changed to 0700",
        "not_dir": "exists but is not a directory: move it away or choose another path",
        "would_create": "would create (mode 0700)",
        "created": "created (mode 0700)",
        "cannot_create": f"cannot create: {t}",
        "cannot_chmod": f"cannot change mode {t} to 0700: is it yours?",
        # clones
        "present": f"cloned at {t}",
        "not_git": f"{t} exists but is not a git repository: move it away or fix repo_paths",
        "no_url": f"no clone at {t} and nothing to clone from: add `url:` (or `github:`) to the "
                  f"repo in coordinator.yml",
        "would_clone": f"would clone to {t}",
        "cloned": f"cloned to {t}",
        "clone_failed": f"git clone failed: {t} (can this machine reach the URL with its own "
                        f"credentials?)",
        # git identity
        "set": f"commits are made as {t}",
        "no_identity": "git has no identity here, so the agent's commits fail: run `git config "
                       "--global user.name NAME` and `git config --global user.email EMAIL` on "
                       "the machine, or give user_name and user_email to the playbook's "
                       "git_identity step",
        "would_set": f"would set git's global identity to {t}",
        "identity_set": f"git's global identity set to {t}",
        "cannot_set": f"cannot set git's identity: {t}",
        # claude login
        "logged_in": "logged in" + (f" ({t})" if t else ""),
        "not_logged_in": f"not logged in ({t}): run `claude` on the machine and /login "
                         f"(with CLAUDE_CONFIG_DIR set for a slot dir), or set ANTHROPIC_API_KEY "
                         f"in the machine's env",
    }
    return messages.get(record.code, f"{record.code} {t}".strip())


def _missing(step, record: Record, package: str) -> str:
    if step.kind == "claude":
        return (f"`{record.item}` not found (PATH, login shell, ~/.local/bin, nvm): install it "
                f"(npm install -g @anthropic-ai/claude-code) or set claude_command to its path")
    return f"{record.item} is missing: install {package}, or {INSTALL_HINT}"
