"""Pull requests for the fake `gh` (tests/bin/gh), on a REAL bare git repository.

A PR is a branch of the repo's bare `origin` (path in the state file). Per PR, in
state["repos"][slug]["pulls"][N]:
  {"head", "base", "title", "body", "state": OPEN|CLOSED|MERGED, "draft", "author",
   "createdAt", "comments": [...], "reviews": [{"author", "state", "body", "submittedAt"}],
   "head_sha" (last seen), "merge_sha", "additions", "deletions" (frozen at merge),
   a PR whose head branch disappears from origin is CLOSED, as on GitHub;
   settable by tests:
   "checks": [statusCheckRollup entries], "mergeable_unknown": N (report UNKNOWN N more times),
   "blocked": true (base branch policy), "merge_queue": true (merge leaves it OPEN)}
`mergeable` comes from `git merge-tree --write-tree`; `pr merge` merges for real (merge commit,
squash, or rebase in a temporary worktree) and moves the base branch; `--delete-branch` deletes
the head. Merging into the default branch closes the issues its body `Closes #N`.
`pr close` closes an open PR unmerged (its branch stays unless --delete-branch), says
"already closed" (exit 0) for a closed one and refuses a merged one (exit 1), as gh 2.23 does.
Texts and exit codes: /work/shared/contracts/gh.md §3, §4.
"""

import os
import re
import shutil
import subprocess
import tempfile

core = None  # the gh script module, set by install()

PR_FIELDS = ("additions", "author", "baseRefName", "body", "closed", "comments", "createdAt",
             "deletions", "files", "headRefName", "headRefOid", "id", "isDraft", "mergeCommit",
             "mergeStateStatus", "mergeable", "number", "reviewDecision", "reviews", "state",
             "statusCheckRollup", "title", "url")
GIT_ENV = {"GIT_AUTHOR_NAME": "GitHub", "GIT_AUTHOR_EMAIL": "noreply@github.com",
           "GIT_COMMITTER_NAME": "GitHub", "GIT_COMMITTER_EMAIL": "noreply@github.com",
           "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0"}
AUTO_HINT = ("To have the pull request merged after all the requirements have been met, add the "
             "`--auto` flag.\n")
ADMIN_HINT = ("To use administrator privileges to immediately merge the pull request, add the "
              "`--admin` flag.\n")
CLOSES = re.compile(r"(?i)\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\s+#(\d+)\b")


def git(origin, *args, check=True):
    out = subprocess.run(["git", *args], cwd=origin, capture_output=True, text=True,
                         env={**os.environ, **GIT_ENV})
    if check and out.returncode != 0:
        raise core.Exit(1, f"fake gh: git {' '.join(args)} failed: {out.stderr}")
    return out


def sha_of(origin, branch):
    out = git(origin, "rev-parse", "--verify", "-q", f"refs/heads/{branch}^{{commit}}",
              check=False)
    return out.stdout.strip() if out.returncode == 0 else ""


def origin_of(repo):
    if not repo.get("origin"):
        raise core.Exit(1, "fake gh: this repo has no \"origin\" (a bare git repo) in the state\n")
    return repo["origin"]


def find_pr(repo, number):
    pr = repo.get("pulls", {}).get(str(number))
    if pr is None:
        raise core.Exit(1, "GraphQL: Could not resolve to a PullRequest with the number of "
                           f"{number}. (repository.pullRequest)\n")
    return pr


def merge_tree(origin, base, head):
    """(tree sha or "", conflicting files) of merging head into base."""
    out = git(origin, "merge-tree", "--write-tree", "--name-only", "--no-messages",
              f"refs/heads/{base}", f"refs/heads/{head}", check=False)
    lines = out.stdout.splitlines()
    if out.returncode == 0:
        return lines[0], []
    return "", lines[1:]


def mergeable(origin, pr):
    if pr.get("state", "OPEN") != "OPEN" or not sha_of(origin, pr["head"]):
        return "UNKNOWN"
    if pr.get("mergeable_unknown", 0) > 0:
        pr["mergeable_unknown"] -= 1
        return "UNKNOWN"
    tree, _ = merge_tree(origin, pr["base"], pr["head"])
    return "MERGEABLE" if tree else "CONFLICTING"


def merge_state(pr, status):
    if pr.get("state", "OPEN") != "OPEN" or status == "UNKNOWN":
        return "UNKNOWN"
    if pr.get("draft"):
        return "DRAFT"
    if status == "CONFLICTING":
        return "DIRTY"
    if pr.get("blocked"):
        return "BLOCKED"
    failing = [c for c in pr.get("checks", [])
               if (c.get("conclusion") or c.get("state")) in ("FAILURE", "ERROR", "TIMED_OUT")]
    return "UNSTABLE" if failing else "CLEAN"


def files_of(origin, pr):
    if pr.get("state") == "MERGED" or not sha_of(origin, pr["head"]):
        return pr.get("files", [])
    out = git(origin, "diff", "--numstat", f"refs/heads/{pr['base']}...refs/heads/{pr['head']}",
              check=False)
    files = []
    for line in out.stdout.splitlines():
        add, dele, path = line.split("\t", 2)
        files.append({"path": path, "additions": int(add) if add.isdigit() else 0,
                      "deletions": int(dele) if dele.isdigit() else 0})
    return files


def review_decision(repo, pr):
    latest = {}
    for review in pr.get("reviews", []):
        if review["state"] in ("APPROVED", "CHANGES_REQUESTED"):
            latest[review["author"]] = review["state"]
    if "CHANGES_REQUESTED" in latest.values():
        return "CHANGES_REQUESTED"
    if "APPROVED" in latest.values():
        return "APPROVED"
    return "REVIEW_REQUIRED" if repo.get("require_reviews") else ""


def pr_json(slug, repo, number, pr):
    origin = origin_of(repo)
    head_sha = sha_of(origin, pr["head"]) if pr.get("state", "OPEN") == "OPEN" else ""
    if head_sha:
        pr["head_sha"] = head_sha
    elif pr.get("state", "OPEN") == "OPEN":
        pr["state"] = "CLOSED"  # GitHub closes a PR whose head branch was deleted
    status = mergeable(origin, pr)
    files = files_of(origin, pr)
    return {
        "additions": sum(f["additions"] for f in files),
        "author": {"login": pr.get("author", "coordbot")},
        "baseRefName": pr["base"], "body": pr.get("body", ""),
        "closed": pr.get("state", "OPEN") != "OPEN",
        "comments": pr.get("comments", []), "createdAt": pr.get("createdAt", ""),
        "deletions": sum(f["deletions"] for f in files), "files": files,
        "headRefName": pr["head"], "headRefOid": pr.get("head_sha", ""),
        "id": f"PR_fake_{number}", "isDraft": bool(pr.get("draft")),
        "mergeCommit": {"oid": pr["merge_sha"]} if pr.get("merge_sha") else None,
        "mergeStateStatus": merge_state(pr, status), "mergeable": status, "number": number,
        "reviewDecision": review_decision(repo, pr), "reviews": [{**r, "author": {"login": r["author"]}} for r in pr.get("reviews", [])],
        "state": pr.get("state", "OPEN"), "statusCheckRollup": pr.get("checks", []),
        "title": pr.get("title", ""), "url": f"https://github.com/{slug}/pull/{number}",
    }


def pr_view(state, opts, positional, stdin_text):
    slug, repo = core.repo_of(state, opts)
    number = core.number_arg(positional, opts)
    if "json" in opts and core.json_fields(opts["json"], PR_FIELDS) == ["number"]:
        return core.emit({"number": number}, opts)  # gh answers this one without any API call
    pr = find_pr(repo, number)
    if "json" not in opts:
        return f"title:\t{pr.get('title', '')}\nstate:\t{pr.get('state', 'OPEN')}\n--\n{pr.get('body', '')}\n"
    return core.emit(core.select(pr_json(slug, repo, number, pr), opts["json"], PR_FIELDS), opts)


def pr_list(state, opts, positional, stdin_text):
    slug, repo = core.repo_of(state, opts)
    want = opts.get("state", "open").upper()
    rows = []
    for num_text, pr in sorted(repo.get("pulls", {}).items(), key=lambda kv: -int(kv[0])):
        if want != "ALL" and pr.get("state", "OPEN") != want:
            continue
        if opts.get("head") not in (None, pr["head"]) or opts.get("base") not in (None, pr["base"]):
            continue
        rows.append((int(num_text), pr))
    rows = rows[: int(opts.get("limit", 30))]
    if "json" not in opts:
        return "".join(f"{n}\t{pr.get('title', '')}\t{pr['head']}\t{pr.get('state', 'OPEN')}\n"
                       for n, pr in rows)
    fields = core.json_fields(opts["json"], PR_FIELDS)
    out = []
    for number, pr in rows:
        data = pr_json(slug, repo, number, pr)
        out.append({key: data[key] for key in fields})
    return core.emit(out, opts)


def pr_create(state, opts, positional, stdin_text):
    slug, repo = core.repo_of(state, opts)
    origin = origin_of(repo)
    body = core.read_body(opts, stdin_text)
    if not opts.get("title") or body is None:
        raise core.Exit(1, "must provide `--title` and `--body` (or `--fill`) when not running "
                           "interactively\n\nUsage:  gh pr create [flags]\n")
    if not opts.get("head"):
        raise core.Exit(1, "fake gh: pass --head BRANCH (coordssh always does)\n")
    head, base = opts["head"], opts.get("base") or repo.get("default_branch", "main")
    if not sha_of(origin, head):
        raise core.Exit(1, "pull request create failed: GraphQL: Head sha can't be blank, Base sha "
                           f"can't be blank, No commits between {base} and {head}, Head ref must "
                           "be a branch (createPullRequest)\n")
    for num_text, pr in repo.get("pulls", {}).items():
        if pr["head"] == head and pr["base"] == base and pr.get("state", "OPEN") == "OPEN":
            raise core.Exit(1, f'a pull request for branch "{head}" into branch "{base}" already '
                               f"exists:\nhttps://github.com/{slug}/pull/{num_text}\n")
    ahead = git(origin, "rev-list", "--count", f"refs/heads/{base}..refs/heads/{head}",
                check=False).stdout.strip()
    if not sha_of(origin, base) or ahead == "0":
        raise core.Exit(1, "pull request create failed: GraphQL: No commits between "
                           f"{base} and {head} (createPullRequest)\n")
    number = core.next_number(repo)
    repo.setdefault("pulls", {})[str(number)] = {
        "head": head, "base": base, "title": opts["title"], "body": body, "state": "OPEN",
        "draft": bool(opts.get("draft")), "createdAt": core.now(),
        "author": state.get("pr_author") or state.get("viewer", "coordbot"),
        "head_sha": sha_of(origin, head), "comments": [], "reviews": [], "checks": []}
    return f"https://github.com/{slug}/pull/{number}\n"


def pr_comment(state, opts, positional, stdin_text):
    slug, repo = core.repo_of(state, opts)
    number = core.number_arg(positional, opts)
    pr = find_pr(repo, number)
    body = core.read_body(opts, stdin_text)
    if body is None:
        raise core.Exit(1, "`--body` or `--body-file` required when not running interactively\n")
    if not body.strip():
        raise core.Exit(1, "GraphQL: Body cannot be blank (addComment)\n")
    comment = core.new_comment(state, f"https://github.com/{slug}/pull/{number}", body)
    pr.setdefault("comments", []).append(comment)
    return comment["url"] + "\n"


def pr_review(state, opts, positional, stdin_text):
    slug, repo = core.repo_of(state, opts)
    number = core.number_arg(positional, opts)
    pr = find_pr(repo, number)
    actions = [a for a in ("approve", "request_changes", "comment") if opts.get(a)]
    if not actions:
        raise core.Exit(1, "--approve, --request-changes, or --comment required when not running "
                           "interactively\n")
    if len(actions) > 1:
        raise core.Exit(1, "need exactly one of --approve, --request-changes, or --comment\n")
    body = core.read_body(opts, stdin_text) or ""
    action = actions[0]
    if action != "approve" and not body.strip():
        raise core.Exit(1, f"body cannot be blank for {action.replace('_', '-')} review\n")
    viewer = state.get("viewer", "coordbot")
    if action != "comment" and pr.get("author") == viewer:
        what = "approve" if action == "approve" else "request changes on"
        raise core.Exit(1, "failed to create review: GraphQL: Review Can not "
                           f"{what} your own pull request (addPullRequestReview)\n")
    review_state = {"approve": "APPROVED", "request_changes": "CHANGES_REQUESTED",
                    "comment": "COMMENTED"}[action]
    pr.setdefault("reviews", []).append({"author": viewer, "state": review_state, "body": body,
                                         "submittedAt": core.now()})
    return ""


def pr_merge(state, opts, positional, stdin_text):
    slug, repo = core.repo_of(state, opts)
    number = core.number_arg(positional, opts)
    methods = [m for m in ("merge", "squash", "rebase") if opts.get(m)]
    if not methods:
        raise core.Exit(1, "--merge, --rebase, or --squash required when not running "
                           "interactively\n\nUsage:  gh pr merge [<number> | <url> | <branch>] "
                           "[flags]\n")
    if len(methods) > 1:
        raise core.Exit(1, "only one of --merge, --rebase, or --squash can be enabled\n")
    pr = find_pr(repo, number)
    origin = origin_of(repo)
    if pr.get("state") == "MERGED":
        raise core.Exit(0, f"! Pull request #{number} was already merged\n")
    if pr.get("state") == "CLOSED":
        raise core.Exit(1, "GraphQL: Pull Request is closed (mergePullRequest)\n")
    data = pr_json(slug, repo, number, pr)
    status = data["mergeStateStatus"]
    if status == "DIRTY":
        raise core.Exit(1, f"X Pull request #{number} is not mergeable: the merge commit cannot "
                           f"be cleanly created.\n{AUTO_HINT}")
    if status == "BLOCKED":
        raise core.Exit(1, f"X Pull request #{number} is not mergeable: the base branch policy "
                           f"prohibits the merge.\n{AUTO_HINT}{ADMIN_HINT}")
    if status == "DRAFT":
        raise core.Exit(1, "GraphQL: Pull Request is still a draft (mergePullRequest)\n")
    if status == "UNKNOWN":
        raise core.Exit(1, "GraphQL: Pull Request is not mergeable (mergePullRequest)\n")
    if opts.get("match_head_commit") and opts["match_head_commit"] != data["headRefOid"]:
        raise core.Exit(1, "GraphQL: Head branch was modified. Review and try the merge again. "
                           "(mergePullRequest)\n")
    if pr.get("merge_queue") or opts.get("auto"):
        pr["auto_merge"] = methods[0]
        return ""  # queued: exit 0 without merging; the PR stays OPEN
    merged = merge_for_real(origin, pr, number, slug, methods[0])
    pr.update(state="MERGED", merge_sha=merged, mergedAt=core.now(), files=data["files"])
    if pr["base"] == repo.get("default_branch", "main"):
        for ref in CLOSES.findall(pr.get("body", "")):
            if ref in repo.get("issues", {}):
                repo["issues"][ref]["state"] = "CLOSED"
    if opts.get("delete_branch"):
        git(origin, "update-ref", "-d", f"refs/heads/{pr['head']}", check=False)
    return ""


def merge_for_real(origin, pr, number, slug, method):
    base_sha, head_sha = sha_of(origin, pr["base"]), sha_of(origin, pr["head"])
    if method == "rebase":
        new = rebase(origin, base_sha, head_sha)
    else:
        tree, conflicts = merge_tree(origin, pr["base"], pr["head"])
        if not tree:
            raise core.Exit(1, "GraphQL: Pull Request is not mergeable (mergePullRequest)\n")
        if method == "merge":
            message = f"Merge pull request #{number} from {slug.split('/')[0]}/{pr['head']}\n\n{pr.get('title', '')}"
            parents = ["-p", base_sha, "-p", head_sha]
        else:
            log = git(origin, "log", "--format=* %s", f"{base_sha}..{head_sha}").stdout
            message = f"{pr.get('title', '')} (#{number})\n\n{log}"
            parents = ["-p", base_sha]
        new = git(origin, "commit-tree", tree, *parents, "-m", message).stdout.strip()
    moved = git(origin, "update-ref", f"refs/heads/{pr['base']}", new, base_sha, check=False)
    if moved.returncode != 0:
        raise core.Exit(1, "GraphQL: Base branch was modified. Review and try the merge again. "
                           "(mergePullRequest)\n")
    return new


def rebase(origin, base_sha, head_sha):
    """Replay the head's commits onto the base in a temporary worktree of the bare origin."""
    where = tempfile.mkdtemp(prefix="fake-gh-rebase-")
    try:
        git(origin, "worktree", "add", "-q", "--detach", where, head_sha)
        done = git(where, "rebase", "-q", base_sha, check=False)
        if done.returncode != 0:
            git(where, "rebase", "--abort", check=False)
            raise core.Exit(1, "GraphQL: Pull Request is not mergeable (mergePullRequest)\n")
        return git(where, "rev-parse", "HEAD").stdout.strip()
    finally:
        git(origin, "worktree", "remove", "--force", where, check=False)
        shutil.rmtree(where, ignore_errors=True)
        git(origin, "worktree", "prune", check=False)


def pr_close(state, opts, positional, stdin_text):
    """`gh pr close N` (gh 2.23 pkg/cmd/pr/close): the branch stays unless --delete-branch;
    non-TTY success and warning lines go to stderr, stdout stays empty."""
    slug, repo = core.repo_of(state, opts)
    number = core.number_arg(positional, opts)
    pr = find_pr(repo, number)
    title = pr.get("title", "")
    if pr.get("state") == "MERGED":
        raise core.Exit(1, f"X Pull request #{number} ({title}) can't be closed because it was "
                           "already merged\n")
    if pr.get("state", "OPEN") != "OPEN":
        raise core.Exit(0, f"! Pull request #{number} ({title}) is already closed\n")
    pr.update(state="CLOSED", closedAt=core.now())
    said = f"\u2713 Closed pull request #{number} ({title})\n"
    if opts.get("delete_branch"):
        git(origin_of(repo), "update-ref", "-d", f"refs/heads/{pr['head']}", check=False)
        said += f"\u2713 Deleted branch {pr['head']}\n"
    raise core.Exit(0, said)


def api(state, opts, positional, stdin_text):
    """Only `gh api -X DELETE repos/O/R/git/refs/heads/BR` (delete a branch)."""
    endpoint = positional[0] if positional else ""
    found = re.fullmatch(r"/?repos/([^/]+/[^/]+)/git/refs/heads/(.+)", endpoint)
    if opts.get("method", "GET").upper() != "DELETE" or not found:
        raise core.Exit(1, f"fake gh: unsupported api call: {opts.get('method', 'GET')} {endpoint}\n")
    _, repo = core.repo_of(state, {"repo": found.group(1)})
    origin = origin_of(repo)
    if not sha_of(origin, found.group(2)):
        raise core.Exit(1, "gh: Reference does not exist (HTTP 422)\n",
                        '{"message":"Reference does not exist","documentation_url":'
                        '"https://docs.github.com/rest/git/refs#delete-a-reference"}')
    git(origin, "update-ref", "-d", f"refs/heads/{found.group(2)}")
    return ""


def install(module):
    global core
    core = module
    return {("pr", "view"): pr_view, ("pr", "list"): pr_list, ("pr", "create"): pr_create,
            ("pr", "comment"): pr_comment, ("pr", "review"): pr_review,
            ("pr", "merge"): pr_merge, ("pr", "close"): pr_close, ("api", ""): api}
