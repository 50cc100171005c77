#!/bin/sh
# check_docs.sh: the course in docs/ must not drift from the code.
#
# Run by `make check` from the build directory (where ./pushpoll and the
# test programs are), or by hand: tests/check_docs.sh [BUILDDIR].  Checks:
#
#   quotes     every block of code a page quotes is identical to the marked
#              block of the source it names (docs/extract.sh --check), and
#              every marked block in push/ and poll/ is quoted somewhere;
#   planted    no source of the engines or the substrate, and so no quote,
#              holds a planted bug (those are patches in
#              compare/torture/mutants/);
#   names      every function `name()`, test `test_name`, path `dir/file`,
#              image (a link, or a backquoted name ending in .png) and
#              page link the pages mention exists.  The pages are every
#              page of docs/ the reading path names, the claims page, the
#              top-level README and, when the tree has it, the
#              instructor's key; links are relative to their page;
#   cases      every `CK_RUN_CASE=case tests/test_x` names a case of that suite;
#   commands   every pushpoll command line in a fenced block of the pages
#              names a subcommand `pushpoll help` lists, and only options
#              that `pushpoll help` or `pushpoll SUBCOMMAND --help` print;
#   diagrams   every diagram source in docs/diagrams has its PNG, rendered
#              from that very source (the hashes in SOURCES.sha256, written
#              by docs/diagrams/render.sh);
#   programs   every program of docs/programs/ that a page runs prints what
#              the page says it prints: each line of its output is a line
#              of the page, but for the lines that give a figure of the
#              system it runs on (a buffer size, an address space);
#   layout     (x86-64) the task layout docs/poll.md and the layout diagram
#              show is the one poll__echo_print_layout() prints;
#   sizes      (x86-64) every size of a future docs/poll.md lists is the
#              one test_future_sizes_are_printed prints;
#   figures    (with jq) the figures of the pages come from the saved runs
#              of docs/runs/ (docs/runs/README.md), and fails when
#              (a) a generated figure (between <!-- figure NAME RUN --> and
#                  <!-- figure end -->) differs from what scripts/docs-figures
#                  writes from its run;
#              (b) a number outside the generated figures looks measured (a
#                  number with a unit, a percentage, a ratio) and no saved
#                  run holds it, unless docs/figures/not-measured names it;
#              (c) an exact count a saved run holds is no longer what this
#                  build produces: cancel points, steps and failed
#                  allocations of `pushpoll torture --quick`, the
#                  allocation and byte counts the test suites' figures
#                  print, claims C1's allocations and C3's lines of code
#                  (`pushpoll claims C1 C3 --quick`), and, where valgrind
#                  is, C2's instructions per poll wake (callgrind); the
#                  counts of the torture run of exercise 14, and the
#                  simulated kernel's report in its replayed planted bug,
#                  which the page must quote;
#              (d) an image a page shows is neither a diagram rendered from
#                  its source nor an image a saved run drew, byte for byte.
#              Before it reads the pages it runs (a) to (d) on a copy of
#              docs/claims.md and its runs, broken on purpose (a figure
#              changed by hand, a number no run holds, a stale count, a
#              plot no run drew), and fails if one of them passes.
#
# Each failure prints one line saying what to fix.  Exit 0 when all pass.
set -u

top=$(cd "${srcdir:-$(dirname "$0")/..}" && pwd)
build=$(cd "${1:-.}" && pwd)
pages="README.md why-async.md glossary.md labs.md trace.md schedule.md push.md poll.md side-by-side.md cancellation.md exercises.md"
# The instructor's key is checked like a page when the tree has it (a
# teacher may leave instructor/ out of the students' copy).
[ -f "$top/instructor/key.md" ] && pages="$pages ../instructor/key.md"
# The claims page and the top-level README are read with the course.
pages="$pages claims.md ../README.md"
fails=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}

pass() {
	echo "ok: $*"
}

for p in $pages; do
	[ -f "$top/docs/$p" ] || fail "docs/$p is missing"
done

# The words of the course pages that are in backquotes, one a line.
for p in $pages; do
	[ -f "$top/docs/$p" ] || continue
	grep -o '`[^`]*`' "$top/docs/$p" | tr -d '`' | sed "s|^|$p |"
done >"$tmp/ticks"

# The source the names must come from, in one file.
find "$top/shared" "$top/push" "$top/poll" "$top/compare" "$top/tests" \
     "$top/docs/programs" "$top/labs" \
     -name '*.[ch]' -exec cat {} + >"$tmp/sources"

# ---- quotes ---------------------------------------------------------------
if sh "$top/docs/extract.sh" --check; then
	pass "every quoted block matches its source"
else
	fail "quoted code differs from its source (above); run: make docs-update"
fi

# The planted bugs of `pushpoll torture --mutants` are patches applied to
# copies that only the harness runs (Makefile.am): the code people read
# carries none.
if grep -il 'mutant' "$top"/shared/*.[ch] "$top"/push/*.[ch] \
	"$top"/poll/*.[ch] >"$tmp/planted"; then
	fail "planted-bug code in: $(tr '\n' ' ' <"$tmp/planted")(it belongs in compare/torture/mutants/)"
else
	pass "no planted bug in the engines' or the substrate's source"
fi

# ---- names ----------------------------------------------------------------
n=0
for fn in $(sed -n 's/^[^ ]* \([A-Za-z_][A-Za-z0-9_]*\)()$/\1/p' "$tmp/ticks" | sort -u); do
	n=$((n + 1))
	grep -qw -- "$fn" "$tmp/sources" ||
		fail "$(grep " $fn()\$" "$tmp/ticks" | head -1 | cut -d' ' -f1): \`$fn()\` is in no source file"
done
pass "$n function names checked"

n=0
for t in $(sed -n 's/^[^ ]* \(test_[a-z0-9_]*\)$/\1/p' "$tmp/ticks" | sort -u); do
	n=$((n + 1))
	grep -q "^START_TEST($t)" "$top"/tests/*.c ||
		fail "$(grep " $t\$" "$tmp/ticks" | head -1 | cut -d' ' -f1): test \`$t\` does not exist"
done
pass "$n test names checked"

n=0
for path in $(sed -n 's/^[^ ]* \(\(shared\|push\|poll\|compare\|tests\|docs\|scripts\)\/[A-Za-z0-9_.\/-]*\)$/\1/p' "$tmp/ticks" | sort -u); do
	n=$((n + 1))
	[ -e "$top/$path" ] || [ -e "$top/$path.c" ] || [ -e "$top/$path.sh" ] ||
		fail "$(grep " $path\$" "$tmp/ticks" | head -1 | cut -d' ' -f1): \`$path\` does not exist"
done
pass "$n paths checked"

# A statement in backquotes that ends with ");" is a line the page tells
# the reader to find (an exercise's "delete the line ..."): it must be in
# the source, verbatim.
n=0
grep ');$' "$tmp/ticks" >"$tmp/lines" || :
while read -r p line; do
	n=$((n + 1))
	grep -qF -- "$line" "$tmp/sources" ||
		fail "$p: the line \`$line\` is in no source file"
done <"$tmp/lines"
pass "$n quoted source lines checked"

# Links and images, relative to the page that has them (the top-level
# README's are relative to the top); an image is also any backquoted name
# ending in .png (`diagrams/loops.png`), which may be relative to docs/.
n=0
for p in $pages; do
	[ -f "$top/docs/$p" ] || continue
	dir=$(dirname "$top/docs/$p")
	name=$(cd "$dir" && pwd)/$(basename "$p")
	name=${name#"$top"/}
	for link in $(grep -o '](\([A-Za-z0-9_./-]*\))' "$top/docs/$p" | sed 's/^](\(.*\))$/\1/'); do
		n=$((n + 1))
		[ -e "$dir/$link" ] || fail "$name: link or image $link does not exist"
	done
	for img in $(grep -o '`[A-Za-z0-9_./-]*\.png`' "$top/docs/$p" | tr -d '`'); do
		n=$((n + 1))
		[ -e "$dir/$img" ] || [ -e "$top/docs/$img" ] || [ -e "$top/$img" ] ||
			fail "$name: image $img does not exist"
	done
done
pass "$n links and images checked"

# ---- cases ----------------------------------------------------------------
n=0
cat "$top"/docs/*.md | grep -o 'CK_RUN_CASE=[a-z_]* [./]*tests/test_[a-z_]*' |
	sed 's|^CK_RUN_CASE=\([a-z_]*\) [./]*tests/\(test_[a-z_]*\)$|\1 \2|' |
	sort -u >"$tmp/cases"
while read -r case prog; do
	n=$((n + 1))
	grep -q "tcase_create(\"$case\")" "$top/tests/$prog.c" 2>/dev/null ||
		fail "CK_RUN_CASE=$case tests/$prog: no such case in tests/$prog.c"
done <"$tmp/cases"
pass "$n test cases checked"

# ---- commands ---------------------------------------------------------------
# Command lines are the lines of fenced blocks that start with pushpoll
# (or ./pushpoll, or a $ prompt).
pushpoll="$build/pushpoll"
if [ ! -x "$pushpoll" ]; then
	fail "no $pushpoll to check the commands against (run make first)"
else
	"$pushpoll" help >"$tmp/help" 2>&1 || fail "pushpoll help exits with an error"
	n=0
	for p in $pages; do
		[ -f "$top/docs/$p" ] || continue
		awk '/^```/ { code = !code; next }
		     code { sub(/^\$ /, ""); sub(/^\.\//, "") }
		     code && /^pushpoll / { print }' "$top/docs/$p"
	done | sort -u >"$tmp/commands"
	while read -r line; do
		n=$((n + 1))
		set -- $line
		shift
		sub=${1:-help}
		grep -q "^  $sub\b" "$tmp/help" ||
			{ fail "\`pushpoll $sub\` is not a command pushpoll help lists ($line)"; continue; }
		cp "$tmp/help" "$tmp/known"
		# Subcommand help, where there is one: serve takes a workload.
		case $sub in
		serve) "$pushpoll" serve "${2:-echo}" --help >>"$tmp/known" 2>/dev/null ;;
		*) "$pushpoll" "$sub" --help >>"$tmp/known" 2>/dev/null ;;
		esac
		for opt in $(echo "$line" | grep -o -- '--[a-z][a-z-]*'); do
			grep -q -- "$opt\b" "$tmp/known" ||
				fail "\`pushpoll $sub\` has no option $opt ($line)"
		done
	done <"$tmp/commands"
	pass "$n pushpoll command lines checked"
fi

# ---- diagrams -------------------------------------------------------------
d="$top/docs/diagrams"
if [ ! -f "$d/SOURCES.sha256" ]; then
	fail "docs/diagrams/SOURCES.sha256 is missing; run: make docs-diagrams"
else
	n=0
	for src in "$d"/*.dot "$d"/*.gp; do
		[ -e "$src" ] || continue
		n=$((n + 1))
		b=$(basename "$src")
		[ -f "${src%.*}.png" ] ||
			fail "docs/diagrams/${b%.*}.png is missing; run: make docs-diagrams"
		grep -q "  $b\$" "$d/SOURCES.sha256" ||
			fail "docs/diagrams/$b was never rendered; run: make docs-diagrams"
	done
	if (cd "$d" && sha256sum -c --quiet SOURCES.sha256) >"$tmp/sums" 2>&1; then
		pass "$n diagrams rendered from their current sources"
	else
		sed 's/^/    /' "$tmp/sums"
		fail "a diagram source changed since its PNG was rendered; run: make docs-diagrams"
	fi
fi

# ---- programs ---------------------------------------------------------------
# The first week's programs (docs/why-async.md): a page shows what each
# prints, in a fenced block after the command line `docs/programs/NAME`.
# Lines that give a figure of the machine (the socket buffer's size, the
# stacks' address space) differ from one system to the next, and are
# left out.
n=0
for src in "$top"/docs/programs/*.c; do
	[ -e "$src" ] || continue
	prog=docs/programs/$(basename "$src" .c)
	page=$(grep -l "^$prog\$" "$top"/docs/*.md | head -1)
	if [ -z "$page" ]; then
		fail "$prog.c: no page runs it (a fenced line \`$prog\`)"
		continue
	fi
	if [ ! -x "$build/$prog" ]; then
		fail "no $build/$prog to run (run make first)"
		continue
	fi
	if ! "$build/$prog" >"$tmp/prog.out" 2>&1; then
		fail "$prog exits with an error: $(tail -1 "$tmp/prog.out")"
		continue
	fi
	grep -v -e 'the kernel took [0-9]* bytes' -e 'address space grew by' \
		"$tmp/prog.out" >"$tmp/prog.lines" || :
	while IFS= read -r l; do
		n=$((n + 1))
		grep -qxF -- "$l" "$page" ||
			fail "docs/$(basename "$page"): $prog now prints: $l"
	done <"$tmp/prog.lines"
done
pass "$n lines of the first week's programs checked"

# ---- layout ---------------------------------------------------------------
if [ "$(uname -m)" != x86_64 ]; then
	echo "skip: layout (the figures in the docs are for x86-64)"
elif [ ! -x "$build/tests/test_workloads" ]; then
	echo "skip: layout (no tests/test_workloads built)"
else
	CK_RUN_CASE=poll_figures CK_VERBOSITY=silent \
		"$build/tests/test_workloads" >"$tmp/fig" 2>&1
	sed -n '/^echo connection task:/,/ idle /p' "$tmp/fig" >"$tmp/layout"
	if [ ! -s "$tmp/layout" ]; then
		fail "poll__echo_print_layout() printed nothing (CK_RUN_CASE=poll_figures tests/test_workloads)"
	else
		n=0
		while IFS= read -r l; do
			n=$((n + 1))
			grep -qxF -- "$l" "$top/docs/poll.md" ||
				fail "docs/poll.md: the task layout changed; the line now reads: $l"
		done <"$tmp/layout"
		# Rows "  SIZE    @OFF  NAME  what" of the future's members.
		sed -n 's/^ *\([0-9]*\) *@\([0-9]*\) *\([a-z_.]*\) .*/\3 \2 \1/p' \
			"$tmp/layout" >"$tmp/rows"
		while read -r name off size; do
			n=$((n + 1))
			grep -qF ">$name</TD><TD>@$off</TD><TD>$size</TD>" "$d/task-layout.dot" ||
				fail "docs/diagrams/task-layout.dot: $name is now $size bytes at @$off"
		done <"$tmp/rows"
		pass "$n layout lines checked"
	fi
fi

# ---- sizes ----------------------------------------------------------------
# The sizes of the poll engine's futures that docs/poll.md lists ("Other
# sizes"), as test_future_sizes_are_printed prints them: "sizeof: task
# header 96, future base 16, ..., loop 144".
if [ "$(uname -m)" != x86_64 ]; then
	echo "skip: sizes (the figures in the docs are for x86-64)"
elif [ ! -x "$build/tests/test_poll" ]; then
	echo "skip: sizes (no tests/test_poll built)"
else
	CK_RUN_CASE=figures CK_VERBOSITY=silent "$build/tests/test_poll" \
		>"$tmp/sizes" 2>&1
	sed -n 's/^sizeof: //p' "$tmp/sizes" | tr ',' '\n' |
		sed 's/^ *//; s/_/ /g' >"$tmp/size_items"
	if [ ! -s "$tmp/size_items" ]; then
		fail "test_future_sizes_are_printed printed no sizes (CK_RUN_CASE=figures tests/test_poll)"
	else
		n=0
		tr '\n' ' ' <"$top/docs/poll.md" | tr -s ' ' >"$tmp/poll_flat"
		while IFS= read -r item; do
			n=$((n + 1))
			grep -qF -- "$item" "$tmp/poll_flat" ||
				fail "docs/poll.md: the size \"$item\" that test_future_sizes_are_printed prints is not on the page"
		done <"$tmp/size_items"
		pass "$n future sizes checked"
	fi
fi

# ---- figures ----------------------------------------------------------------
# counts_stale SAVED NOW: the exact counts of two outputs of the same command
# differ.  The counts are the rows of torture's table (scenario, seeds,
# steps, cancel points, failed allocations; the live scenarios on real
# sockets are left out), and the lines of the test suites' figures that
# count allocations or bytes (not the ones that time, nor the allocations
# per round trip over loopback, which depend on whether a write completes
# at once: push's can read 4001 in 2000).
counts() {
	awk '$1 ~ /^[a-z][a-z-]*$/ && $1 !~ /^live-/ && NF == 8 && $2 ~ /^[0-9]+$/ { print $1, $2, $3, $4, $5 }
	     $1 == "total" && NF == 7 { print $1, $2, $3, $4 }
	     /figure: / && /(allocations|bytes per idle)/ && !/per round trip/ { print }' "$1"
}
counts_stale() {
	counts "$1" >"$tmp/counts.saved"
	counts "$2" >"$tmp/counts.now"
	[ -s "$tmp/counts.saved" ] || return 1
	! cmp -s "$tmp/counts.saved" "$tmp/counts.now"
}
# claims_counts FILE: the exact counts of a claims JSON (C1's allocations
# and bytes per operation, C3's lines of code).
claims_counts() {
	jq -c '[.claims[] | select(.id == "C1" or .id == "C3") |
		{id, counts: (.figures | del(.. | .cancel_points?, .violations?, .seconds?))}]' "$1"
}
# images_unsourced TOP PAGE...: the images the pages show (a link ending in
# .png, or a backquoted name ending in .png) that are neither a diagram of
# docs/diagrams/SOURCES.sha256 nor, byte for byte, an image a saved run drew.
images_unsourced() {
	itop=$1; shift
	for run in "$itop"/docs/runs/*.json; do
		[ -f "$run" ] && jq -r '.images // {} | to_entries[] | "\(.value)  \(.key)"' "$run"
	done >"$tmp/drawn"
	for ip in "$@"; do
		idir=$(dirname "$itop/docs/$ip")
		{ grep -o '](\([A-Za-z0-9_./-]*\.png\))' "$itop/docs/$ip" | sed 's/^](\(.*\))$/\1/'
		  grep -o '`[A-Za-z0-9_./-]*\.png`' "$itop/docs/$ip" | tr -d '`'; } |
		while read -r img; do
			for f in "$idir/$img" "$itop/docs/$img" "$itop/$img"; do
				[ -f "$f" ] && break
			done
			[ -f "$f" ] || continue     # a missing file is the names check's
			echo "$ip $img" >>"$tmp/images_seen"
			rel=$(cd "$(dirname "$f")" && pwd)/$(basename "$f")
			rel=${rel#"$itop"/}
			case $rel in
			docs/diagrams/*.png)      # its source was rendered (the diagrams check)
				d=${rel#docs/diagrams/}
				grep -q -e "  ${d%.png}\.dot\$" -e "  ${d%.png}\.gp\$" \
					"$itop/docs/diagrams/SOURCES.sha256" && continue ;;
			esac
			h=$(sha256sum "$f" | cut -d' ' -f1)
			grep -qxF "$h  $rel" "$tmp/drawn" ||
				echo "docs/$ip: image $rel was drawn by no saved run (scripts/docs-runs), or changed since"
		done
	done
}

figures="$top/scripts/docs-figures"
if ! command -v jq >/dev/null 2>&1; then
	echo "skip: figures (jq is missing: apt-get install jq)"
else
	# The check must catch what it exists for: a copy of docs/claims.md
	# with its saved runs, broken four ways.
	pt="$tmp/ptree"
	mkdir -p "$pt/docs/runs" "$pt/docs/figures" "$pt/docs/diagrams" "$pt/docs/claims"
	cp "$top"/docs/figures/* "$pt/docs/figures/"
	cp "$top/docs/claims.md" "$pt/docs/"
	cp "$top/docs/runs/claims.json" "$top/docs/runs/test-poll-figures.json" "$pt/docs/runs/" 2>/dev/null
	cp "$top/docs/claims/c1_allocs.png" "$pt/docs/claims/" 2>/dev/null
	: >"$pt/docs/diagrams/SOURCES.sha256"
	planted_ok=1
	DOCS_TOP=$pt "$figures" --check 2>/dev/null &&
		DOCS_TOP=$pt "$figures" --numbers >/dev/null 2>&1 &&
		[ -z "$(images_unsourced "$pt" claims.md)" ] ||
		{ planted_ok=0; fail "figures: the copy of docs/claims.md fails as it is"; }
	# A figure of the generated table changed by hand.
	sed -i 's/^| C1 | 4.0 \/ 193.0 /| C1 | 4.0 \/ 194.0 /' "$pt/docs/claims.md"
	DOCS_TOP=$pt "$figures" --check 2>/dev/null && { planted_ok=0; fail "figures: a generated figure changed by hand passes"; }
	cp "$top/docs/claims.md" "$pt/docs/"
	# A number of the prose that no saved run holds.
	printf '\nThe whole run took 12345.6 ms.\n' >>"$pt/docs/claims.md"
	DOCS_TOP=$pt "$figures" --numbers >/dev/null 2>&1 && { planted_ok=0; fail "figures: a number no saved run holds passes"; }
	cp "$top/docs/claims.md" "$pt/docs/"
	# A count of the saved run that the code no longer produces: the saved
	# torture table with one cancel point more.
	jq -r .stdout "$top/docs/runs/torture-quick.json" >"$tmp/saved" 2>/dev/null
	awk '!done && $1 == "echo" && NF == 8 { $4 = $4 + 1; done = 1 } { print }' "$tmp/saved" >"$tmp/now"
	counts_stale "$tmp/saved" "$tmp/now" || { planted_ok=0; fail "figures: a stale cancel point count passes"; }
	counts_stale "$tmp/saved" "$tmp/saved" && { planted_ok=0; fail "figures: an unchanged count is taken for stale"; }
	# A plot that its run did not draw, byte for byte.
	printf 'x' >>"$pt/docs/claims/c1_allocs.png"
	[ -n "$(images_unsourced "$pt" claims.md)" ] || { planted_ok=0; fail "figures: an image no run drew passes"; }
	# The same figure of two runs on one page: each block its own run's.
	cp "$top/docs/claims.md" "$pt/docs/"
	printf '\n<!-- figure run-line docs/runs/claims.json -->\n<!-- figure end -->\n<!-- figure run-line docs/runs/test-poll-figures.json -->\n<!-- figure end -->\n' >>"$pt/docs/claims.md"
	DOCS_TOP=$pt "$figures" >/dev/null 2>&1
	tail -6 "$pt/docs/claims.md" | sed -n 2p | grep -q 'pushpoll claims' &&
		tail -6 "$pt/docs/claims.md" | sed -n 5p | grep -q 'tests/test_poll' ||
		{ planted_ok=0; fail "figures: two runs' blocks of one figure on a page get one run's text"; }
	[ "$planted_ok" = 1 ] && pass "figures: in a copy of docs/claims.md, a figure changed by hand, a number no run holds, a stale count and a plot no run drew are each caught, and two runs' blocks of one figure each get their own run"

	# (a) the generated figures.
	n=$("$figures" --list | wc -l)
	if "$figures" --check; then
		pass "$n generated figures are what their saved runs give"
	else
		fail "a generated figure differs from its saved run (above); run: make docs-figures"
	fi
	# (b) the numbers outside them.
	if "$figures" --numbers; then
		pass "every measured-looking number of the pages is in a saved run"
	else
		fail "a page quotes a figure no saved run holds (above): save the run (scripts/docs-runs), generate it, or say in docs/figures/not-measured why it is no measurement"
	fi
	# (c) the exact counts, against this build.
	n=0
	if [ -x "$pushpoll" ] && [ -f "$top/docs/runs/torture-quick.json" ]; then
		jq -r .stdout "$top/docs/runs/torture-quick.json" >"$tmp/saved"
		"$pushpoll" torture --quick >"$tmp/now" 2>&1 || :
		n=$((n + $(counts "$tmp/saved" | wc -l)))
		counts_stale "$tmp/saved" "$tmp/now" &&
			fail "docs/runs/torture-quick.json: pushpoll torture --quick now counts otherwise (first change: $(diff "$tmp/counts.saved" "$tmp/counts.now" | grep '^>' | head -1)); run: scripts/docs-runs torture-quick torture"
	fi
	# The torture runs the exercises quote beside the quick one (exercise
	# 14: poll's echo over the simulated completion queue): the same exact
	# counts, from the command each run saved.
	for run in torture-poll-echo-cq; do
		[ -x "$pushpoll" ] && [ -f "$top/docs/runs/$run.json" ] || continue
		cmd=$(jq -r .command "$top/docs/runs/$run.json")
		jq -r .stdout "$top/docs/runs/$run.json" >"$tmp/saved"
		"$pushpoll" ${cmd#pushpoll } >"$tmp/now" 2>&1 || :
		n=$((n + $(counts "$tmp/saved" | wc -l)))
		counts_stale "$tmp/saved" "$tmp/now" &&
			fail "docs/runs/$run.json: $cmd now counts otherwise (first change: $(diff "$tmp/counts.saved" "$tmp/counts.now" | grep '^>' | head -1)); run: scripts/docs-runs $run"
	done
	# The simulated kernel's report in a replayed case of a planted bug
	# (exercise 14): the first one this build prints is the one of the
	# saved run, and the page quotes it, line for line.
	for run in torture-replay-echo-cq-drop-frees-buffer:exercises.md; do
		page=${run#*:}; run=${run%%:*}
		[ -x "$pushpoll" ] && [ -f "$top/docs/runs/$run.json" ] || continue
		cmd=$(jq -r .command "$top/docs/runs/$run.json")
		saved=$(jq -r .stderr "$top/docs/runs/$run.json" | grep '^completion sim: violation' | head -1)
		"$pushpoll" ${cmd#pushpoll } 2>"$tmp/replay" >/dev/null || :
		now=$(grep '^completion sim: violation' "$tmp/replay" | head -1)
		# Under the sanitizers the planted use after free stops the
		# replay before the simulated kernel sees the buffer reused.
		if grep -q 'AddressSanitizer' "$tmp/replay"; then
			echo "skip: figures: the simulated kernel's report of docs/runs/$run.json (a sanitizer build: AddressSanitizer stops the replay first)"
			continue
		fi
		n=$((n + 1))
		if [ -z "$saved" ] || [ "$now" != "$saved" ]; then
			fail "docs/runs/$run.json: $cmd now reports \"${now:-no violation of the simulated kernel}\"; run: scripts/docs-runs $run"
		elif ! grep -qxF -- "$saved" "$top/docs/$page"; then
			fail "docs/$page: the simulated kernel's report of docs/runs/$run.json is not on the page: $saved"
		fi
	done
	# The layout and sizes checks above ran two of the three already.
	for fig in test-poll-figures:test_poll:figures:sizes \
		   test-workloads-push-figures:test_workloads:push_figures: \
		   test-workloads-poll-figures:test_workloads:poll_figures:fig; do
		run=${fig%%:*}; rest=${fig#*:}; prog=${rest%%:*}; rest=${rest#*:}
		case=${rest%%:*}; ran=${rest#*:}
		[ -f "$top/docs/runs/$run.json" ] && [ -x "$build/tests/$prog" ] || continue
		jq -r .stdout "$top/docs/runs/$run.json" >"$tmp/saved"
		if [ -n "$ran" ] && [ -s "$tmp/$ran" ]; then
			cp "$tmp/$ran" "$tmp/now"
		else
			CK_RUN_CASE=$case CK_VERBOSITY=silent "$build/tests/$prog" >"$tmp/now" 2>&1 || :
		fi
		n=$((n + $(counts "$tmp/saved" | wc -l)))
		counts_stale "$tmp/saved" "$tmp/now" &&
			fail "docs/runs/$run.json: CK_RUN_CASE=$case tests/$prog now prints otherwise (first change: $(diff "$tmp/counts.saved" "$tmp/counts.now" | grep '^>' | head -1)); run: scripts/docs-runs $run"
	done
	if [ -x "$pushpoll" ] && [ -f "$top/docs/runs/claims.json" ]; then
		jq .json "$top/docs/runs/claims.json" >"$tmp/claims.saved"
		# C2's instructions per wake of poll, counted by callgrind, are
		# exact (D + 2 polls a wake); push's move with its timers.  Only
		# where valgrind is: without it C2 counts work units instead.
		c2=
		if command -v valgrind >/dev/null 2>&1; then
			c2=C2
		else
			echo "skip: figures: C2's instructions per wake (no valgrind: apt-get install valgrind)"
		fi
		if "$pushpoll" claims C1 C3 $c2 --quick --json "$tmp/claims.now" >/dev/null 2>&1; then
			n=$((n + 2))
			[ "$(claims_counts "$tmp/claims.saved")" = "$(claims_counts "$tmp/claims.now")" ] ||
				fail "docs/runs/claims.json: claims C1 and C3 now count otherwise: $(claims_counts "$tmp/claims.now"); run: scripts/docs-runs claims"
			if [ -n "$c2" ]; then
				c2now=$(jq -c '[.claims[] | select(.id == "C2" and .figures.instructions_counted) | .figures.poll.instructions_per_wake[] | round]' "$tmp/claims.now")
				c2saved=$(jq -c '[.claims[] | select(.id == "C2" and .figures.instructions_counted) | .figures.poll.instructions_per_wake[] | round]' "$tmp/claims.saved")
				if [ "$c2now" = "[]" ]; then
					echo "skip: figures: C2's instructions per wake (valgrind could not count them here)"
				else
					n=$((n + 1))
					[ "$c2now" = "$c2saved" ] ||
						fail "docs/runs/claims.json: a poll wake now costs $c2now instructions at D = 1 to 64, the run says $c2saved; run: scripts/docs-runs claims"
				fi
			fi
		else
			fail "pushpoll claims C1 C3 $c2 --quick exits with an error"
		fi
	fi
	pass "$n exact counts of the saved runs are what this build produces"
	# (d) the images.
	: >"$tmp/images_seen"
	images_unsourced "$top" $pages >"$tmp/unsourced"
	if [ -s "$tmp/unsourced" ]; then
		while read -r l; do fail "$l"; done <"$tmp/unsourced"
	else
		pass "$(wc -l <"$tmp/images_seen") images shown ($(sort -u -k2 "$tmp/images_seen" | wc -l) files): each a rendered diagram or drawn by a saved run"
	fi
fi

if [ "$fails" -gt 0 ]; then
	echo "$fails check(s) failed"
	exit 1
fi
exit 0
