#!/bin/sh
# check_layout.sh: the dependencies that Makefile.am's compare section draws
# are the ones the source has.
#
#   tests/check_layout.sh            (make check runs it)
#
#   folders    a file of compare/ includes from another folder of compare/
#              only what its own folder uses in the picture (the command at
#              the top uses every folder; claims/ uses bench/, torture/,
#              baselines/ and cli/; bench/ uses cli/ and preload/, torture/
#              uses cli/;
#              baselines/ and cli/ use no other folder), so the folders
#              form a tree with no circle;
#   substrate  no file of shared/ includes libuv's or libevent's headers,
#              and SHARED_LIBS in Makefile.am names neither library: only
#              the baselines' library and what links it need them.
#
# Before it reads the real tree it runs the same checks on a small tree
# with one violation of each kind planted, and fails if they pass there.
set -u

top=$(cd "${srcdir:-$(dirname "$0")/..}" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# uses FOLDER: the folders of compare/ that FOLDER ("top" for compare/
# itself) may include from.
uses() {
	case $1 in
	top) echo "claims bench torture baselines cli preload" ;;
	claims) echo "bench torture baselines cli" ;;
	bench) echo "cli preload" ;;
	torture) echo "cli" ;;
	*) echo "" ;;
	esac
}

# check TREE: one FAIL line per violation in TREE; the count in $fails.
check() {
	fails=0
	for f in "$1"/compare/*.[ch] "$1"/compare/*/*.[ch]; do
		[ -f "$f" ] || continue
		rel=${f#"$1"/compare/}
		case $rel in
		*/*) from=${rel%%/*} ;;
		*) from=top ;;
		esac
		for used in $(sed -n 's|^[	 ]*#[	 ]*include[	 ]*"\([a-z_]*\)/.*|\1|p' "$f" | sort -u); do
			case " $(uses "$from") " in
			*" $used "*) ;;
			*)
				echo "FAIL: compare/$rel includes from $used/, which the picture in Makefile.am does not let $from use"
				fails=$((fails + 1)) ;;
			esac
		done
	done
	for f in "$1"/shared/*.[ch]; do
		[ -f "$f" ] || continue
		if grep -q '^[	 ]*#[	 ]*include[	 ]*<\(uv\.h\|event2/\)' "$f"; then
			echo "FAIL: shared/${f##*/} includes libuv or libevent: the substrate links neither (the baselines route their allocators)"
			fails=$((fails + 1))
		fi
	done
	if sed -n 's/^SHARED_LIBS[	 ]*+*=//p' "$1"/Makefile.am | grep -q 'UV_LIBS\|EVENT_LIBS'; then
		echo "FAIL: SHARED_LIBS in Makefile.am links libuv or libevent"
		fails=$((fails + 1))
	fi
}

# A tree with one violation of each kind: bench/ including from claims/,
# the substrate including uv.h and linking libevent.
mkdir -p "$tmp/planted/compare/bench" "$tmp/planted/shared"
printf '#include "cli/cli.h"\n#include "claims/claims.h"\n' \
	>"$tmp/planted/compare/bench/bench.c"
printf '#include <uv.h>\n' >"$tmp/planted/shared/mem.c"
printf 'SHARED_LIBS = libshared.a $(EVENT_LIBS)\n' >"$tmp/planted/Makefile.am"
check "$tmp/planted" >"$tmp/out"
if [ "$fails" -ne 3 ]; then
	cat "$tmp/out"
	echo "FAIL: the checks found $fails of the 3 planted violations"
	exit 1
fi
echo "ok: the planted violations are caught"

check "$top"
if [ "$fails" -ne 0 ]; then
	exit 1
fi
echo "ok: compare/ includes as its picture says; shared/ links neither libuv nor libevent"
