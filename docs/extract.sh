#!/bin/sh
# extract.sh: keep the code quoted in docs/*.md identical to the source.
#
# A block of source is marked by two comment lines, each on its own line:
#
#     /* doc:begin echo-read */
#     ... the code ...
#     /* doc:end echo-read */
#
# and quoted in a page by a directive followed by a fenced block:
#
#     <!-- quote push/echo.c echo-read -->
#     ```c
#     ... a copy of the code ...
#     ```
#
# Usage:
#   docs/extract.sh --update [FILE.md ...]  rewrite every quoted block from
#                                           its source (what `make docs-update` runs)
#   docs/extract.sh --check [FILE.md ...]   change nothing; exit 1 if a quoted
#                                           block differs from its source, a
#                                           quote names a block that does not
#                                           exist, or a marked block is
#                                           unbalanced or quoted nowhere
#
# The files default to every docs/*.md.  Paths in directives are relative
# to the top of the source tree, found from this script's own location (or
# $srcdir/.. when the test harness runs it from a build directory).  The
# marker lines themselves are never part of a quote; a block may contain
# other blocks.  Needs only sh and awk (POSIX: mawk or gawk).
set -eu

mode=
case "${1:-}" in
--check|--update) mode=$1; shift ;;
*) echo "usage: $0 --check|--update [FILE.md ...]" >&2; exit 2 ;;
esac

top=$(cd "$(dirname "$0")/.." && pwd)
[ "$#" -gt 0 ] || set -- "$top"/docs/*.md

status=0
quoted=$(mktemp)
trap 'rm -f "$quoted" "$quoted.new"' EXIT

# One page: check or rewrite its quotes.  Prints "PATH NAME" for every
# quote it found to fd 3, for the unquoted-marker check below.
page() {
	awk -v top="$top" -v mode="$mode" -v page="$1" '
	function fail(line, msg) {
		printf "%s:%d: %s\n", page, line, msg > "/dev/stderr"
		bad = 1
	}
	# Read block `name` of file `path` into src[1..nsrc]; 0 if absent.
	function extract(path, name,    f, line, on, found, b, e) {
		f = top "/" path
		nsrc = 0; on = 0; found = 0
		b = "/* doc:begin " name " */"
		e = "/* doc:end " name " */"
		while ((getline line < f) > 0) {
			if (index(line, b)) { on = 1; found = 1; continue }
			if (index(line, e)) { on = 0; break }
			if (on && line !~ /\/\* doc:(begin|end) [a-z0-9-]+ \*\//)
				src[++nsrc] = line
		}
		close(f)
		if (on) return -1
		return found
	}
	{ lines[NR] = $0 }
	END {
		n = NR; out = ""; i = 1
		while (i <= n) {
			l = lines[i]
			if (l !~ /^<!-- quote [^ ]+ [a-z0-9-]+ -->$/) {
				out = out l "\n"; i++; continue
			}
			split(l, w, " ")
			path = w[3]; name = w[4]
			print path " " name >> "/dev/fd/3"
			out = out l "\n"
			r = extract(path, name)
			if (r == 0) fail(i, "quote " path " " name ": no such marked block in " path)
			if (r < 0) fail(i, "quote " path " " name ": doc:begin without doc:end in " path)
			if (i + 1 > n || lines[i + 1] !~ /^```/) {
				fail(i, "quote " path " " name ": the next line must open a fenced block")
				i++; continue
			}
			out = out lines[i + 1] "\n"
			j = i + 2
			while (j <= n && lines[j] != "```") j++
			if (j > n) { fail(i, "quote " path " " name ": fenced block not closed"); break }
			if (r > 0) {
				same = (j - i - 2 == nsrc)
				for (k = 1; same && k <= nsrc; k++)
					if (lines[i + 1 + k] != src[k]) { same = 0; at = k }
				if (!same && mode == "--check") {
					if (at == "") at = (j - i - 2 < nsrc) ? j - i - 1 : nsrc + 1
					fail(i, "quote " path " " name " differs from the source (first at line " i + 1 + at "); run: make docs-update")
				}
				at = ""
				for (k = 1; k <= nsrc; k++) out = out src[k] "\n"
			} else {
				for (k = i + 2; k < j; k++) out = out lines[k] "\n"
			}
			out = out "```\n"
			i = j + 1
		}
		if (mode == "--update" && !bad) printf "%s", out > (page ".new")
		exit bad
	}' "$1" 3>>"$quoted"
}

for f in "$@"; do
	if ! page "$f"; then
		status=1
		continue
	fi
	if [ "$mode" = --update ]; then
		if cmp -s "$f" "$f.new"; then
			rm -f "$f.new"
		else
			mv "$f.new" "$f"
			echo "updated $f"
		fi
	fi
done

# Every marked block in the engines must be balanced and quoted somewhere:
# a marker that nothing quotes is a promise nobody keeps.
if [ "$mode" = --check ]; then
	for src in "$top"/push/*.c "$top"/poll/*.c; do
		rel=${src#"$top"/}
		for name in $(sed -n 's|^/\* doc:begin \([a-z0-9-]*\) \*/$|\1|p' "$src"); do
			if ! grep -q "^/\* doc:end $name \*/\$" "$src"; then
				echo "$rel: doc:begin $name has no doc:end" >&2
				status=1
			fi
			if ! grep -qx "$rel $name" "$quoted"; then
				echo "$rel: block $name is quoted by no page in docs/" >&2
				status=1
			fi
		done
	done
fi
exit $status
