#!/bin/sh
# coordssh replay agent: plays a recorded transcript, no model is called.
#
# Stands in for `claude -p --output-format stream-json --verbose [...]`: takes the same argv,
# reads the prompt on stdin, prints the recorded stream-json session "$0.replay" line by line
# with short pauses, and makes one small real commit in its working directory (a note named
# after the branch, under replay/) before the result line. Needs only sh, sed, date and git.
# COORDSSH_REPLAY_PAUSE sets the pause in seconds (default 1).
#
# A review prompt (one asking for the json verdict) plays "$0.review.replay" instead: a
# recorded review that commits nothing. Its verdict comes from one mechanical check, never from
# judging code: it approves a change made only of replay notes (replay/*.md, each starting with
# a '# ' heading), and requests changes for anything else, since only a model can review that.
set -u

transcript="$0.replay"
review_transcript="$0.review.replay"
pause=${COORDSSH_REPLAY_PAUSE:-1}
print=0 verbose=0 stream_json=0
for arg in "$@"; do
  case $arg in
    -v|--version) echo "replay (coordssh replay agent: plays a recorded transcript, no model is called)"; exit 0;;
    -p|--print) print=1;;
    --verbose) verbose=1;;
    stream-json|--output-format=stream-json) stream_json=1;;
  esac
done
if [ "$print" = 1 ] && [ "$stream_json" = 1 ] && [ "$verbose" = 0 ]; then
  echo "Error: When using --print, --output-format=stream-json requires --verbose" >&2
  exit 1
fi
start=$(date +%s)
prompt=$(cat)
case $prompt in
  *'LAST fenced ```json block'*) transcript=$review_transcript;;
esac
if [ ! -r "$transcript" ]; then
  echo "coordssh replay agent: transcript $transcript is missing; run the coordssh command again to reinstall it" >&2
  exit 1
fi

# the task: the playbook's `Issue #N: title` line, else the prompt's first non-empty line
task=$(printf '%s\n' "$prompt" | sed -n 's/^Issue #[0-9]*: *//p' | head -n 1)
[ -n "$task" ] || task=$(printf '%s\n' "$prompt" | sed -n '/[^[:space:]]/{s/^[#[:space:]]*//;p;q;}')
task=$(printf '%s' "$task" | tr -d '[:cntrl:]' | cut -c1-100)
[ -n "$task" ] || task="Replay agent note"
branch=$(git rev-parse --abbrev-ref HEAD 2>/dev/null) || branch=replay
note="replay/$(printf '%s' "$branch" | tr -c 'A-Za-z0-9._-' '-').md"

new_uuid() {
  if [ -r /proc/sys/kernel/random/uuid ]; then cat /proc/sys/kernel/random/uuid; return; fi
  od -An -N16 -tx1 /dev/urandom | tr -d ' \n' |
    sed 's/^\(.\{8\}\)\(.\{4\}\)\(.\{4\}\)\(.\{4\}\)/\1-\2-\3-\4-/'
}

# JSON-escape $1, then escape it for the right-hand side of a sed s|||.
sed_json() {
  printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/[|&\\]/\\&/g'
}

make_commit() {
  mkdir -p replay || return 1
  {
    printf '# %s\n\n' "$task"
    printf 'Written on branch %s at %s by the coordssh replay agent.\n' "$branch" "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    printf 'It played a recorded transcript; no model was called.\n'
  } > "$note" || return 1
  if ! git config user.email >/dev/null 2>&1; then
    GIT_AUTHOR_NAME="coordssh replay agent" GIT_AUTHOR_EMAIL="replay@coordssh.invalid"
    GIT_COMMITTER_NAME=$GIT_AUTHOR_NAME GIT_COMMITTER_EMAIL=$GIT_AUTHOR_EMAIL
    export GIT_AUTHOR_NAME GIT_AUTHOR_EMAIL GIT_COMMITTER_NAME GIT_COMMITTER_EMAIL
  fi
  git add -- "$note" && git -c commit.gpgsign=false commit -q --no-verify -m "replay: $task" -- "$note"
}

# The review's one check (see the top): the files of the diff range the prompt names.
review_check() {
  # the last `git diff BASE...SHA` of the prompt (coordssh's line comes after the issue text),
  # only when it has that shape: never an option or anything else the issue text could put there
  range=$(printf '%s\n' "$prompt" | sed -n 's/.*`git diff \([^`]*\)`.*/\1/p' | tail -n 1 |
    grep -E '^[A-Za-z0-9_][A-Za-z0-9._/-]*\.\.\.[0-9a-f]{7,64}$')
  verdict=request_changes findings=
  if [ -z "$range" ] || ! files=$(git diff --name-only "$range" -- 2>/dev/null) || [ -z "$files" ]; then
    summary="Recorded review by the coordssh replay agent (no model read this change): it could not list the files of the change under review (range '$range'), so it cannot approve it."
    files="(none)"
  else
    bad=
    set -f
    for f in $files; do
      case $f in
        replay/*.md) [ "$(git show "HEAD:$f" 2>/dev/null | head -c 2)" = "# " ] || bad="$bad $f";;
        *) bad="$bad $f";;
      esac
    done
    if [ -z "$bad" ]; then
      verdict=approve
      summary="Recorded review by the coordssh replay agent (no model read this change): the change is only replay notes under replay/, each starting with a '# ' heading, which is all this recorded review can check."
    else
      summary="Recorded review by the coordssh replay agent (no model read this change): it approves only changes made of replay notes, and this one has other files; only a model can review those."
      for f in $bad; do
        findings="$findings${findings:+, }{\"file\": \"$(printf '%s' "$f" | tr -c 'A-Za-z0-9._/-' '_')\", \"line\": null, \"severity\": \"major\", \"text\": \"not a replay note: the replay reviewer cannot judge it\"}"
      done
    fi
    set +f
    files=$(printf '%s' "$files" | tr '\n' ' ' | tr -d '[:cntrl:]')
  fi
  verdict_json="{\"verdict\": \"$verdict\", \"summary\": \"$summary\", \"findings\": [$findings]}"
}
case $transcript in *.review.replay) review_check;; esac

fill="s|@SESSION@|$(sed_json "$(new_uuid)")|g
s|@CWD@|$(sed_json "$PWD")|g
s|@FILE@|$(sed_json "$note")|g
s|@TASK@|$(sed_json "$task")|g
s|@BRANCH@|$(sed_json "$branch")|g
s|@RANGE@|$(sed_json "${range:-}")|g
s|@FILES@|$(sed_json "${files:-}")|g
s|@VERDICT@|$(sed_json "${verdict:-}")|g
s|@VERDICT_JSON@|$(sed_json "${verdict_json:-}")|g"

while IFS= read -r line || [ -n "$line" ]; do
  case $line in
    '#pause') sleep "$pause" 2>/dev/null || sleep 1;;
    '#commit') make_commit >&2 || echo "coordssh replay agent: the commit failed" >&2;;
    '#'*) ;;
    *) elapsed=$(( ($(date +%s) - start) * 1000 ))
       printf '%s\n' "$line" | sed -e "$fill" -e "s|@DURATION_MS@|$elapsed|g";;
  esac
done < "$transcript"
exit 0
