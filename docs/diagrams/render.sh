#!/bin/sh
# render.sh: draw every diagram of the course from its source, in place.
#
#   docs/diagrams/render.sh        (or: make docs-diagrams)
#
# NAME.dot is drawn by graphviz's dot into NAME.png; NAME.gp is run by
# gnuplot, which writes NAME.png itself (the script sets its output).  The
# PNGs are kept in the tree, so that a reader needs neither tool; the
# SHA-256 of every source (and of the data files the plots read) is written
# to SOURCES.sha256, and tests/check_docs.sh fails when a source no longer
# matches it: a PNG drawn from an older source.
# Needs: graphviz (Debian package graphviz) and, for .gp, gnuplot
# (gnuplot-nox).
set -eu

cd "$(dirname "$0")"
for tool in dot sha256sum; do
	command -v "$tool" >/dev/null ||
		{ echo "render.sh: $tool not found (apt-get install graphviz)" >&2; exit 1; }
done

for src in *.dot; do
	[ -e "$src" ] || continue
	dot -Tpng -Gdpi=96 "$src" -o "${src%.dot}.png"
	echo "drew docs/diagrams/${src%.dot}.png"
done
for src in *.gp; do
	[ -e "$src" ] || continue
	command -v gnuplot >/dev/null ||
		{ echo "render.sh: gnuplot not found (apt-get install gnuplot-nox)" >&2; exit 1; }
	gnuplot "$src"
	echo "drew docs/diagrams/${src%.gp}.png"
done
ls *.dot *.gp *.dat 2>/dev/null | LC_ALL=C sort | xargs sha256sum >SOURCES.sha256
