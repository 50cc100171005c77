# numbers.awk: the measured-looking numbers of a page that no saved run holds.
#
#   awk -f numbers.awk -v page=NAME [-v countfile=F] VALUES EXEMPT PAGE
#
# VALUES is every number of the saved runs (docs/runs/*.json: the JSON
# numbers and the numbers inside their strings and text output), one a
# line, sorted with sort -g.  EXEMPT is docs/figures/not-measured: lines
# "PAGE|TEXT   # why" ("*" for any page), each a number with its unit as
# the page writes it that is not a measurement (a port, a chunk size, a
# default, the size of a struct).  PAGE is the page.
#
# A number looks measured when it is followed by a unit (ns, us, ms, s, B,
# KiB, MiB, GiB, MB/s, msgs/s, %, x, instr, allocations, cancel points,
# lines...) or is a ratio written x1.09.  It is read outside the generated
# figures (checked against their runs instead), outside backquotes, link
# targets and HTML comments, outside quoted source (the fenced block after
# a quote directive) and outside command lines.  It is held by a run when
# some value of a run rounds to it at the page's precision, in the same
# unit or, for a time, scaled by 1000, 10^6 or 10^9 either way (the page
# may round 1328 ns to 1.3 us), for a size by 1024, 1024^2 or 1000, for a
# percentage by 100; commas between digits are ignored.  Prints
# "PAGE:LINE: NUMBER" for each one that is held by no run and not exempt;
# with countfile, adds a line "CHECKED EXEMPTED" to it.

FILENAME == ARGV[1] { v[++nv] = $1 + 0; next }
FILENAME == ARGV[2] {
	if ($0 ~ /^#/ || $0 == "") next
	line = $0
	sub(/ +#.*$/, "", line)        # the reason
	i = index(line, "|")
	if (i) exempt[substr(line, 1, i - 1) "|" substr(line, i + 1)] = 1
	next
}

# Is some value within [lo, hi]? Binary search over the sorted values.
function held(lo, hi,    a, b, m) {
	a = 1; b = nv
	while (a <= b) {
		m = int((a + b) / 2)
		if (v[m] < lo) a = m + 1
		else if (v[m] > hi) b = m - 1
		else return 1
	}
	return 0
}

function check(tok, text, unit,    num, d, half, x, s, k, n, sc) {
	num = tok
	gsub(/,/, "", num)
	d = 0
	if (index(num, ".")) d = length(num) - index(num, ".")
	x = num + 0
	half = 0.5 / (10 ^ d) + 1e-12 * x
	if (unit ~ /^(ns|us|µs|ms|s|sec|seconds)$/) n = split(tscale, sc, " ")
	else if (unit ~ /^(B|bytes|KiB|MiB|GiB|KB|MB|kB)$/) n = split(bscale, sc, " ")
	else if (unit == "%") n = split("1 100", sc, " ")
	else n = split("1", sc, " ")
	nchecked++
	for (k = 1; k <= n; k++) {
		s = sc[k]
		if (held((x - half) / s, (x + half) / s)) return
	}
	if ((page "|" text) in exempt || ("*|" text) in exempt) { nexempt++; return }
	printf "%s:%d: %s\n", page, FNR, text
}

BEGIN {
	# A time may be quoted in another unit of time than the run's, a size
	# in another unit of size, a share as a percentage of a fraction.
	tscale = "1 1000 0.001 1000000 0.000001 1000000000 0.000000001"
	bscale = "1 1024 0.0009765625 1048576 0.00000095367431640625 1000 0.001"
	units = "(ns|us|µs|ms|s|sec|seconds|B|bytes|KiB|MiB|GiB|KB|MB|kB|MB/s|msgs/s|msg/s|messages/s|conns/s|x|%|instr|instructions|allocs|allocations|polls|cancel points|lines|violations|blocks|atomics)"
	numre = "[0-9][0-9,]*(\\.[0-9]+)?"
}

# The generated figures, quoted source and fences.
/^<!-- figure end -->$/ { infig = 0; next }
/^<!-- figure [a-z0-9-]* [^ ]* -->$/ { infig = 1; next }
infig { next }
/^<!-- quote / { quote = 1; next }
/^```/ { fence = !fence; if (!fence) quote = 0; next }
fence && quote { next }
fence && /^(\$ |\.\/)?(pushpoll|make|tests\/|CK_RUN_CASE|docs\/|scripts\/|autoreconf|mkdir|cd|git|valgrind|patch) / { next }
{
	line = $0
	gsub(/`[^`]*`/, " ", line)
	gsub(/\]\([^)]*\)/, "]", line)
	gsub(/<!--[^>]*-->/, " ", line)
	gsub(/--[a-z-]+ [^ ]+/, " ", line)
	# x1.09: a ratio.
	rest = " " line
	while (match(rest, "[^A-Za-z0-9_.]x" numre)) {
		tok = substr(rest, RSTART + 1, RLENGTH - 1)
		if (substr(rest, RSTART + RLENGTH, 1) ~ /[A-Za-z0-9_-]/) {   # x86-64: no ratio
			rest = substr(rest, RSTART + RLENGTH); continue
		}
		check(substr(tok, 2), tok, "x")
		rest = substr(rest, RSTART + RLENGTH)
	}
	rest = " " line
	while (match(rest, "[^A-Za-z0-9_.@=/+-]" numre " ?" units "([^A-Za-z0-9]|$)")) {
		tok = substr(rest, RSTART + 1, RLENGTH - 1)
		sub(/[^A-Za-z0-9%]$/, "", tok)
		n = tok
		sub(/[^0-9,.].*$/, "", n)
		sub(/[.,]$/, "", n)
		u = substr(tok, length(n) + 1)
		sub(/^ /, "", u)
		check(n, tok, u)
		rest = substr(rest, RSTART + RLENGTH - 1)
	}
}
END { if (countfile != "") printf "%d %d\n", nchecked, nexempt >> countfile }
