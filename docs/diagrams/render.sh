#!/bin/sh
# render.sh: redraw the course's diagrams whose source changed, in place.
#
#   docs/diagrams/render.sh          (or: make docs-diagrams)
#   docs/diagrams/render.sh --all    redraw every diagram
#
# NAME.dot is drawn by graphviz's dot into NAME.png; NAME.gp is run by
# gnuplot, which writes NAME.png itself (the script sets its output).  The
# PNGs are kept in the tree and shipped in the tarball, so that a reader, a
# build and `make distcheck` need neither tool.  SOURCES.sha256 holds the
# SHA-256 of every source (and of the data files the plots read) as it was
# when its PNG was drawn: a source whose hash still matches is not redrawn,
# and tests/check_docs.sh fails when one no longer matches (a PNG drawn from
# an older source).  A tool is needed only when a source it draws changed:
# graphviz (scripts/install-deps docs) for .dot, gnuplot-nox for .gp.
set -eu

cd "$(dirname "$0")"
all=
[ "${1:-}" = --all ] && all=1

# changed SOURCE [DATA...]: 0 if SOURCE must be redrawn: asked for, never
# drawn, or it (or a data file it reads) differs from its recorded hash.
changed() {
	[ -n "$all" ] || [ ! -f "${1%.*}.png" ] || [ ! -f SOURCES.sha256 ] && return 0
	for f in "$@"; do
		[ -e "$f" ] || continue
		grep "  $f\$" SOURCES.sha256 | sha256sum -c --status 2>/dev/null ||
			return 0
	done
	return 1
}

# need TOOL PACKAGE: stop with one line if TOOL is missing.
need() {
	command -v "$1" >/dev/null ||
		{ echo "render.sh: $1 not found (apt-get install $2)" >&2; exit 1; }
}

drawn=0
for src in *.dot; do
	[ -e "$src" ] && changed "$src" || continue
	need dot graphviz
	dot -Tpng -Gdpi=96 "$src" -o "${src%.dot}.png"
	echo "drew docs/diagrams/${src%.dot}.png"
	drawn=$((drawn + 1))
done
for src in *.gp; do
	[ -e "$src" ] && changed "$src" *.dat || continue
	need gnuplot gnuplot-nox
	gnuplot "$src"
	echo "drew docs/diagrams/${src%.gp}.png"
	drawn=$((drawn + 1))
done
[ "$drawn" -gt 0 ] || echo "render.sh: every diagram is up to date"
ls *.dot *.gp *.dat 2>/dev/null | LC_ALL=C sort | xargs sha256sum >SOURCES.sha256
