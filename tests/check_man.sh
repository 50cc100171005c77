#!/bin/sh
# check_man.sh: the man page, docs/pushpoll.1, covers the command as built.
#
#   tests/check_man.sh [BUILDDIR]     (make check runs it in the build directory)
#
# Checks that every command `pushpoll help` lists, and every option that
# `pushpoll help` or `pushpoll COMMAND --help` prints, is in the man page;
# that the page gives the exit statuses the help gives; and that its title
# carries the version `pushpoll --version` prints.  Before it reads the real
# page it runs the same checks on a copy with an option taken out, and fails
# if they pass there.
set -u

top=$(cd "${srcdir:-$(dirname "$0")/..}" && pwd)
build=$(cd "${1:-.}" && pwd)
bin=$build/pushpoll
man=$top/docs/pushpoll.1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ ! -x "$bin" ]; then
	echo "FAIL: no $bin: build it first"
	exit 1
fi

# What the command says about itself.
"$bin" help >"$tmp/help" || { echo "FAIL: pushpoll help failed"; exit 1; }
for sub in bench load torture claims; do
	"$bin" "$sub" --help >>"$tmp/help" 2>&1
done
grep -o -- '--[a-z][a-z-]*' "$tmp/help" | sort -u >"$tmp/options"
sed -n '/^commands:/,/^$/s/^  \([a-z][a-z]*\).*/\1/p' "$tmp/help" | sort -u >"$tmp/commands"
version=$("$bin" --version | sed -n 's/^pushpoll \([^ ]*\).*/\1/p')

# check PAGE: one FAIL line per thing PAGE misses; the count in $fails.
check() {
	fails=0
	# The page's text with roff's escaped hyphens made plain.
	sed 's/\\-/-/g' "$1" >"$tmp/page"
	while read -r opt; do
		grep -q -- "$opt\([^a-z-]\|\$\)" "$tmp/page" || {
			echo "FAIL: docs/pushpoll.1 does not describe $opt"
			fails=$((fails + 1))
		}
	done <"$tmp/options"
	while read -r cmd; do
		grep -q "^\.B[R]* $cmd\b" "$tmp/page" || {
			echo "FAIL: docs/pushpoll.1 does not describe the command $cmd"
			fails=$((fails + 1))
		}
	done <"$tmp/commands"
	for code in 0 1 2; do
		sed -n '/^\.SH EXIT STATUS/,/^\.SH/p' "$tmp/page" | grep -qx "\.B $code" || {
			echo "FAIL: docs/pushpoll.1 gives no exit status $code"
			fails=$((fails + 1))
		}
	done
	grep -q "^\.TH PUSHPOLL 1 .*\"pushpoll $version\"" "$tmp/page" || {
		echo "FAIL: docs/pushpoll.1's title does not say pushpoll $version"
		fails=$((fails + 1))
	}
}

status=0
# A planted gap: the page without --sink-timeout, and without its version.
grep -v 'sink\\-timeout' "$man" | sed 's/"pushpoll [0-9.]*"/"pushpoll 0.0"/' >"$tmp/planted.1"
check "$tmp/planted.1" >"$tmp/planted.out"
grep -q -- "--sink-timeout" "$tmp/planted.out" &&
grep -q "title" "$tmp/planted.out" ||
	{ echo "FAIL: the check missed an option and a version taken out of the page"; status=1; }

check "$man"
if [ "$fails" -eq 0 ]; then
	echo "ok: docs/pushpoll.1 has $(wc -l <"$tmp/commands") commands, $(wc -l <"$tmp/options") options, exit statuses 0 1 2, version $version"
else
	status=1
fi
exit $status
