#!/bin/sh
# The docs and the code agree, and no link of the docs is broken.
#
#   util/check-docs.sh [REPO_DIR]      (make test, make check)
#
# From the C sources of ngx_v3xy_module/: every directive of the
# ngx_command_t tables (with its contexts), every variable of the
# ngx_http_variable_t tables and every code of the error table (with its
# status).  In the docs:
#   - a directive: a "### name" heading in docs/*.md whose entry has a
#     "Syntax: name" line and the code's contexts on its "Context:" line,
#     and a row of the README's directive index with the same contexts;
#   - a variable: a row "| `$name` |" of a "Variables" section of docs/;
#   - an error code: a row "| status | `code` |" of an "Error codes"
#     section of docs/, with the code's status.
# Whatever the docs name that the code does not have (a heading, a Syntax:
# line, an index row, a variable, an error code) is reported as extra.
# .ci/run must run exactly the README's test command, "make test".
# Links [text](target) of README.md, docs/*.md and bench/README.md must
# name a file that exists and, for #anchor, a heading of it (GitHub's
# anchors: the heading's text in lower case, punctuation dropped, spaces
# as "-", "-1", "-2" for repeats).
#
# Prints each finding and exits 1 if there is one.  POSIX sh, awk, perl.

set -eu

cd "${1:-$(dirname "$0")/..}"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --- the code ---------------------------------------------------------------

# name<TAB>contexts of each directive, contexts as nginx.org writes them
awk '
    /ngx_command_t[ \t]+[A-Za-z0-9_]+\[\][ \t]*=/ { table = 1; next }
    table && /ngx_null_command|^};/             { table = 0; next }
    table && /\{[ \t]*ngx_string\("/ {
        match($0, /ngx_string\("[^"]*"\)/)
        name = substr($0, RSTART + 12, RLENGTH - 14)
        want = 1
        next
    }
    table && want && /NGX_/ {
        ctx = ""
        if ($0 ~ /NGX_HTTP_MAIN_CONF/) ctx = ctx ", http"
        if ($0 ~ /NGX_HTTP_SRV_CONF/)  ctx = ctx ", server"
        if ($0 ~ /NGX_HTTP_SIF_CONF/)  ctx = ctx ", if in server"
        if ($0 ~ /NGX_HTTP_LOC_CONF/)  ctx = ctx ", location"
        if ($0 ~ /NGX_HTTP_LIF_CONF/)  ctx = ctx ", if in location"
        if ($0 ~ /NGX_HTTP_LMT_CONF/)  ctx = ctx ", limit_except"
        if ($0 ~ /NGX_HTTP_UPS_CONF/)  ctx = ctx ", upstream"
        printf "%s\t%s\n", name, substr(ctx, 3)
        want = 0
    }
' ngx_v3xy_module/*.c | sort > "$tmp/code-directives"

awk '
    /ngx_http_variable_t[ \t]+[A-Za-z0-9_]+\[\][ \t]*=/ { table = 1; next }
    table && /ngx_http_null_variable|^};/             { table = 0; next }
    table && /\{[ \t]*ngx_string\("/ {
        match($0, /ngx_string\("[^"]*"\)/)
        print substr($0, RSTART + 12, RLENGTH - 14)
    }
' ngx_v3xy_module/*.c | sort > "$tmp/code-variables"

# code<TAB>status: the first ngx_string of each entry is its code
awk '
    BEGIN {
        st["NGX_HTTP_BAD_REQUEST"] = 400; st["NGX_HTTP_UNAUTHORIZED"] = 401
        st["NGX_HTTP_FORBIDDEN"] = 403;   st["NGX_HTTP_NOT_FOUND"] = 404
        st["NGX_HTTP_NOT_ALLOWED"] = 405; st["NGX_HTTP_CONFLICT"] = 409
        st["NGX_HTTP_REQUEST_ENTITY_TOO_LARGE"] = 413
        st["NGX_HTTP_TOO_MANY_REQUESTS"] = 429
        st["NGX_HTTP_INTERNAL_SERVER_ERROR"] = 500
        st["NGX_HTTP_BAD_GATEWAY"] = 502
        st["NGX_HTTP_SERVICE_UNAVAILABLE"] = 503
        st["NGX_HTTP_GATEWAY_TIME_OUT"] = 504
    }
    /ngx_http_v3xy_error_t[ \t]+[A-Za-z0-9_]+\[\][ \t]*=/ { table = 1; next }
    table && /^};/ { table = 0; next }
    table && /^[ \t]*\{/ {
        status = "?"
        if (match($0, /NGX_HTTP_[A-Z_]+|[0-9][0-9][0-9]/)) {
            s = substr($0, RSTART, RLENGTH)
            status = (s in st) ? st[s] : (s ~ /^[0-9]+$/ ? s : "?")
        }
        entry = 1
    }
    table && entry && /ngx_string\("/ {
        match($0, /ngx_string\("[^"]*"\)/)
        printf "%s\t%s\n", substr($0, RSTART + 12, RLENGTH - 14), status
        entry = 0
    }
' ngx_v3xy_module/*.c | sort > "$tmp/code-errors"

# --- the docs ---------------------------------------------------------------

# fenced code blocks are not markdown: no heading, table or link in them
docs_text() {
    awk '/^[ \t]*(```|~~~)/ { fence = !fence; next } !fence' "$@"
}

# name<TAB>contexts of each "### v3xy_..." entry; "-" where it has no
# "Syntax: name" line
for f in docs/*.md; do
    docs_text "$f" | awk -v file="$f" '
        function flush() {
            if (name != "")
                printf "%s\t%s\t%s\n", name, syntax ? ctx : "-", file
            name = ""
        }
        /^#/ { flush() }
        /^###[ \t]+v3xy_[A-Za-z0-9_]*[ \t]*$/ {
            name = $2; syntax = 0; ctx = ""; next
        }
        name != "" && $1 == "Syntax:" && ($2 == name || $2 == name ";") {
            syntax = 1
        }
        name != "" && $1 == "Context:" {
            ctx = $0; sub(/^[ \t]*Context:[ \t]*/, "", ctx)
            sub(/[ \t]+$/, "", ctx)
        }
        END { flush() }
    '
done | sort > "$tmp/doc-directives"

# "Syntax: v3xy_..." lines (the first form of each entry)
for f in docs/*.md; do
    docs_text "$f" | awk -v file="$f" '
        $1 == "Syntax:" && $2 ~ /^v3xy_/ {
            sub(/;$/, "", $2); printf "%s\t-\t%s\n", $2, file
        }'
done | sort > "$tmp/doc-syntax"

# the README's index: | [name](docs/...#name) | contexts | what |
docs_text README.md | awk -F'|' '
    $2 ~ /^[ \t]*\[v3xy_[A-Za-z0-9_]*\]\(/ {
        name = $2; sub(/^[ \t]*\[/, "", name); sub(/\].*/, "", name)
        anchor = $2; sub(/^[^(]*\(/, "", anchor); sub(/\).*/, "", anchor)
        ctx = $3; gsub(/^[ \t]+|[ \t]+$/, "", ctx)
        printf "%s\t%s\t%s\n", name, ctx, anchor
    }
' | sort > "$tmp/index"

# rows of the tables of a section (any heading level) of docs/*.md
section_rows() {
    for f in docs/*.md; do
        docs_text "$f" | awk -v want="$1" '
            /^#/ {
                h = $0; sub(/^#+[ \t]*/, "", h); sub(/[ \t]+$/, "", h)
                in_section = (tolower(h) == tolower(want))
                next
            }
            in_section && /^\|/'
    done
}

section_rows Variables | awk -F'|' '
    $2 ~ /`\$v3xy_/ {
        v = $2; sub(/^[^$]*\$/, "", v); sub(/`.*/, "", v); print v
    }
' | sort > "$tmp/doc-variables"

section_rows "Error codes" | awk -F'|' '
    $3 ~ /`[a-z_]+`/ {
        s = $2; gsub(/[ \t]/, "", s)
        c = $3; n = split(c, parts, "`")
        for (i = 2; i <= n; i += 2) printf "%s\t%s\n", parts[i], s
    }
' | sort > "$tmp/doc-errors"

# --- compare ----------------------------------------------------------------

: > "$tmp/findings"

finding() {
    echo "$*" >> "$tmp/findings"
}

for kind in directives variables errors; do
    [ -s "$tmp/code-$kind" ] || finding "no $kind found in" \
        "ngx_v3xy_module/*.c: has the table moved or changed its form?" \
        "(fix util/check-docs.sh)"
done

while IFS="$(printf '\t')" read -r name ctx; do
    doc=$(awk -F'\t' -v n="$name" '$1 == n' "$tmp/doc-directives")
    if [ -z "$doc" ]; then
        finding "directive $name: no \"### $name\" entry in docs/"
    else
        count=$(printf '%s\n' "$doc" | wc -l)
        [ "$count" -eq 1 ] || finding "directive $name: $count entries in" \
            "docs/ ($(printf '%s\n' "$doc" | cut -f3 | tr '\n' ' '))"
        printf '%s\n' "$doc" | while IFS="$(printf '\t')" read -r _ dctx f
        do
            if [ "$dctx" = - ]; then
                finding "directive $name: its entry in $f has no" \
                    "\"Syntax:  $name ...\" line"
            elif [ "$dctx" != "$ctx" ]; then
                finding "directive $name: $f says \"Context: $dctx\"," \
                    "the code \"$ctx\""
            fi
        done
    fi
    row=$(awk -F'\t' -v n="$name" '$1 == n' "$tmp/index")
    if [ -z "$row" ]; then
        finding "directive $name: no row in the README's directive index"
    else
        rctx=$(printf '%s\n' "$row" | head -n 1 | cut -f2)
        [ "$rctx" = "$ctx" ] || finding "directive $name: the README's" \
            "index says \"$rctx\", the code \"$ctx\""
        anchor=$(printf '%s\n' "$row" | head -n 1 | cut -f3)
        case $anchor in
        *"#$name") ;;
        *) finding "directive $name: the README's index links to" \
               "\"$anchor\", not to its entry \"#$name\"" ;;
        esac
    fi
done < "$tmp/code-directives"

cut -f1 "$tmp/code-directives" > "$tmp/code-names"
for list in doc-directives doc-syntax index; do
    while IFS="$(printf '\t')" read -r name _ where; do
        grep -qxF "$name" "$tmp/code-names" && continue
        case $list in
        doc-directives) finding "docs name directive $name" \
                            "(\"### $name\" in $where): not in the code" ;;
        doc-syntax)     finding "docs name directive $name" \
                            "(\"Syntax: $name\" in $where): not in the code" ;;
        index)          finding "docs name directive $name (a row of the" \
                            "README's index): not in the code" ;;
        esac
    done < "$tmp/$list"
done

comm -23 "$tmp/code-variables" "$tmp/doc-variables" | while read -r v; do
    finding "variable \$$v: no row in a Variables table of docs/"
done
comm -13 "$tmp/code-variables" "$tmp/doc-variables" | while read -r v; do
    finding "docs name variable \$$v: not in the code"
done

cut -f1 "$tmp/code-errors" > "$tmp/code-codes"
cut -f1 "$tmp/doc-errors" | sort -u > "$tmp/doc-codes"
comm -23 "$tmp/code-codes" "$tmp/doc-codes" | while read -r c; do
    finding "error code $c: no row in an Error codes table of docs/"
done
comm -13 "$tmp/code-codes" "$tmp/doc-codes" | while read -r c; do
    finding "docs name error code $c: not in the code's error table"
done
while IFS="$(printf '\t')" read -r c s; do
    awk -F'\t' -v c="$c" -v s="$s" '$1 == c && $2 != s { bad = $2 }
        END { exit bad == "" }' "$tmp/doc-errors" \
        && finding "error code $c: docs give another status than the" \
               "code's $s"
done < "$tmp/code-errors"

# --- CI ---------------------------------------------------------------------

# .ci/run runs exactly the README's test command (the second of its two)
readme_test=$(awk '
    /^## Two commands/ { section = 1; next }
    /^## / { section = 0 }
    section && /^```/ { block = !block; next }
    section && block && $1 == "make" && $2 == "test" { print "make test" }
' README.md)
ci_test=$(grep -v '^#' .ci/run | grep -E '(^|[ ;&|])make ' \
          | sed 's/^[ \t]*exec[ \t]*//; s/[ \t]*$//')
[ "$readme_test" = "make test" ] \
    || finding "README.md: no \"make test\" in the Two commands section"
[ "$ci_test" = "make test" ] \
    || finding ".ci/run runs \"$ci_test\", not the README's \"make test\""

# --- links ------------------------------------------------------------------

perl -CSD -e '
    use strict;
    use warnings;
    use File::Basename qw(dirname);
    use File::Spec;

    my %anchors;

    sub anchors {
        my ($file) = @_;
        return $anchors{$file} if $anchors{$file};
        my (%a, %seen, $fence);
        open my $fh, "<:encoding(UTF-8)", $file or die "$file: $!\n";
        while (<$fh>) {
            if (/^\s*(```|~~~)/) { $fence = !$fence; next }
            next if $fence or !/^#{1,6}\s+(.*?)\s*#*\s*$/;
            my $t = $1;
            $t =~ s/\[([^\]]*)\]\([^)]*\)/$1/g;
            $t = lc $t;
            $t =~ s/[^\p{L}\p{M}\p{N}\p{Pc} -]//g;
            $t =~ s/ /-/g;
            my $slug = $seen{$t}++ ? "$t-" . ($seen{$t} - 1) : $t;
            $a{$slug} = 1;
        }
        return $anchors{$file} = \%a;
    }

    my $bad = 0;
    for my $file (@ARGV) {
        my $fence;
        open my $fh, "<:encoding(UTF-8)", $file or die "$file: $!\n";
        while (my $line = <$fh>) {
            if ($line =~ /^\s*(```|~~~)/) { $fence = !$fence; next }
            next if $fence;
            $line =~ s/`[^`]*`//g;
            while ($line =~ /\]\(([^)\s]+)\)/g) {
                my $target = $1;
                next if $target =~ m{^[a-z]+:}i;
                my ($path, $anchor) = split /#/, $target, 2;
                my $to = $path eq "" ? $file
                       : File::Spec->abs2rel(File::Spec->rel2abs(
                             $path, dirname($file)));
                if (!-e $to) {
                    print "$file:$.: link to $target: no file $to\n";
                    $bad++;
                    next;
                }
                next unless defined $anchor;
                if ($to !~ /\.md$/ or !anchors($to)->{$anchor}) {
                    print "$file:$.: link to $target: no heading",
                          " \"#$anchor\" in $to\n";
                    $bad++;
                }
            }
        }
    }
' README.md docs/*.md bench/README.md >> "$tmp/findings"

if [ -s "$tmp/findings" ]; then
    sed 's/^/check-docs: /' "$tmp/findings" >&2
    echo "check-docs: $(wc -l < "$tmp/findings") finding(s)" >&2
    exit 1
fi

echo "check-docs: $(wc -l < "$tmp/code-directives") directives," \
     "$(wc -l < "$tmp/code-variables") variables," \
     "$(wc -l < "$tmp/code-errors") error codes: each documented;" \
     "no extra entry; .ci/run runs make test; links of README.md, docs/ and" \
     "bench/README.md resolve"
