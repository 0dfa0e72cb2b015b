#!/bin/sh
# Debian's shellcheck over every shell script of util/, bench/, docker/ and
# .ci/: the files named *.sh (sourced ones included: they say their shell
# with a "# shellcheck shell=" directive) and those whose first line runs a
# shell.  Sourced files are followed (-x), found beside the script that
# sources them or from the top of the repository.  A finding is silenced
# only by a "# shellcheck disable=SCxxxx" line that says why.
#
#   util/shellcheck.sh [DIR...]        (make shellcheck; make check, test)
#
# Exits 1 on any finding, at any severity.

set -eu

cd "$(dirname "$0")/.."

[ $# -gt 0 ] || set -- util bench docker .ci

list=$(mktemp)
trap 'rm -f "$list"' EXIT

find "$@" -type f | sort | while read -r f; do
    case $f in
    *.sh) echo "$f" ;;
    *)    if head -n 1 "$f" | grep -Eq '^#!.*[/ ](sh|bash|dash)( |$)'; then
              echo "$f"
          fi ;;
    esac
done > "$list"

n=$(wc -l < "$list")
# one name a line, none with white space (checked): split on purpose
if grep -q '[[:space:]]' "$list"; then
    echo "shellcheck: a script's name has white space in it" >&2
    exit 1
fi
# shellcheck disable=SC2046
if shellcheck -x -P SCRIPTDIR $(cat "$list"); then
    echo "shellcheck: $n scripts, no finding"
else
    echo "shellcheck: findings above (in $n scripts of $*)" >&2
    exit 1
fi
