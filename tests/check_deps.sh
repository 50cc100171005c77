#!/bin/sh
# check_deps.sh: every external program the tree runs comes from a Debian
# package that scripts/install-deps names.
#
#   tests/check_deps.sh              check the tree (what `make check` runs)
#   tests/check_deps.sh FILE...      check these files only
#
# What counts as running a program:
#   shell     a word in command position (start of a command, after | ; && ||,
#             inside $( ), after exec, command -v, xargs, sudo, env) in
#             scripts/*, .ci/run, docs/*.sh, docs/diagrams/*.sh, tests/*.sh
#             and every recipe of Makefile.am;
#   C         the program an exec*() call names in a string literal, the first
#             word of a literal passed to system() or popen(), and every
#             "/usr/bin/NAME" literal, in shared/ push/ poll/ compare/ tests/.
# A program passes when it is a shell builtin or a function of the same
# script; when install-deps --tools names it (with its package, or as
# optional: used only where present); or when it is on this machine's PATH
# and comes from a package that install-deps installs, that such a package
# depends on, or that every Debian system has (Priority: required, or
# Essential).  Anything else is a failure naming the file and the program: a
# new machine would not have it.
#
# The check is shown to catch what it exists for: before it reads the tree it
# runs itself on planted files (a script running a tool from nowhere, a C
# exec of one, and a script running dot with a tools list that lacks
# graphviz) and fails if any of them passes.
set -u

top=$(cd "${srcdir:-$(dirname "$0")/..}" && pwd)
self="$top/tests/check_deps.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# ---- the programs a file runs, one a line ------------------------------------

# shell_commands FILE: the words in command position of a shell script.  A
# small scanner: it follows quotes, $( ), subshells, arrays and comments, so
# that the words of an awk program in single quotes or of an array are not
# taken for commands, and case patterns ("x)") are skipped.
shell_commands() {
	awk '
	function flush(term) {
		if (word != "" && cmdpos) {
			if (word ~ /^[A-Za-z_][A-Za-z0-9_]*\+?=/) {
				word = ""; return          # VAR=value cmd: still command position
			}
			if (term == ")" && top() != "P") {
				word = ""; cmdpos = 0; return  # a case pattern
			}
			if (skipopt && word ~ /^-/) { word = ""; return }
			if (skipnum && word ~ /^[0-9]/) { word = ""; return }
			skipopt = skipnum = 0
			if (word in pass) { word = ""; return }    # keeps command position
			if (word ~ /^\$\{?[A-Za-z_][A-Za-z0-9_]*\}?$/) {
				word = ""; return          # $sudo cmd: the command follows
			}
			if (word == "command" || word == "xargs" || word == "exec" ||
			    word == "env" || word == "sudo" || word == "nice") {
				skipopt = 1; word = ""; return
			}
			if (word == "timeout") { skipopt = skipnum = 1; word = ""; return }
			if (word == "for" || word == "case" || word == "select") {
				cmdpos = 0; word = ""; return
			}
			if (word ~ /^[A-Za-z][A-Za-z0-9_.+-]*$/) print word
			cmdpos = 0
		}
		word = ""
	}
	function top() { return sp > 0 ? stack[sp] : "" }
	BEGIN {
		n = split("if then else elif fi do done while until ! time { } " \
			  "in esac [[ ]] [", w, " ")
		for (i = 1; i <= n; i++) pass[w[i]] = 1
		cmdpos = 1; sp = 0; inS = 0; word = ""
	}
	{ text = text $0 "\n" }
	END {
		len = length(text)
		for (i = 1; i <= len; i++) {
			c = substr(text, i, 1)
			if (inS) { if (c == "\047") inS = 0; continue }
			if (top() == "D") {
				if (c == "\\") { i++; continue }
				if (c == "\"") { sp--; continue }
				if (c == "$" && substr(text, i + 1, 1) == "(") {
					i++; stack[++sp] = "P"; cmdpos = 1; word = ""; continue
				}
				continue
			}
			if (c == "\\") {
				if (substr(text, i + 1, 1) == "\n") { i++; flush(" "); continue }
				word = word substr(text, i, 2); i++; continue
			}
			if (c == "#" && word == "") {
				while (i <= len && substr(text, i, 1) != "\n") i++
				if (top() != "A") { flush("\n"); cmdpos = 1 }
				continue
			}
			if (c == "\047") { inS = 1; word = word "\047"; continue }
			if (c == "\"") { stack[++sp] = "D"; word = word "\""; continue }
			if (c == "<" && substr(text, i + 1, 1) == "<" && top() != "A") {
				# A here-document: its lines up to the delimiter are data.
				rest = substr(text, i + 2)
				sub(/^-?[ \t]*/, "", rest)
				delim = rest
				sub(/[ \t;|&)\n].*/, "", delim)
				gsub(/[\047"]/, "", delim)
				eol = index(substr(text, i), "\n")
				body = substr(text, i + eol)
				end = index(body, "\n" delim "\n")
				if (delim != "" && substr(body, 1, length(delim) + 1) == delim "\n")
					end = 0
				flush(" ")
				i = i + eol - 1 + (end > 0 ? end + length(delim) : length(body))
				continue
			}
			if (c == "$" && substr(text, i + 1, 2) == "((") {
				# Arithmetic: no command in it.
				depth = 0
				for (i += 1; i <= len; i++) {
					c = substr(text, i, 1)
					if (c == "(") depth++
					else if (c == ")" && --depth == 0) break
				}
				word = word "$"
				continue
			}
			if (c == "$" && substr(text, i + 1, 1) == "(") {
				i++; word = ""; stack[++sp] = "P"; cmdpos = 1; continue
			}
			if (c == "(") {
				if (word ~ /=$/) { word = ""; stack[++sp] = "A"; cmdpos = 0; continue }
				flush("("); stack[++sp] = "P"; cmdpos = 1; continue
			}
			if (c == ")") {
				flush(")")
				if (top() == "P" || top() == "A") sp--
				cmdpos = 0
				continue
			}
			if (top() == "A") {
				if (c ~ /[ \t\n]/) word = ""; else word = word c
				continue
			}
			if (c == "`") { flush("`"); cmdpos = 1; continue }
			if (c ~ /[;|&\n]/) { flush(c); cmdpos = 1; continue }
			if (c ~ /[<>]/) { flush(c); continue }
			if (c ~ /[ \t]/) { flush(" "); continue }
			word = word c
		}
		flush("\n")
	}' "$1"
}

# functions FILE: the names of the shell functions a script defines.
functions() {
	sed -n 's/^[ 	]*\([A-Za-z_][A-Za-z0-9_]*\)[ 	]*()[ 	]*{*.*$/\1/p' "$1"
}

# recipes MAKEFILE: the recipe lines of a Makefile, as shell: make's own
# variables and functions ($(VAR), $(lastword $^)) become a placeholder
# word, $$ becomes $.
recipes() {
	sed -n '/^	/{
		s/^	[-@]*//
		s/\$(AM_V_[A-Za-z]*)//g
		s/\$([A-Za-z_][A-Za-z0-9_]*)/_mkvar_/g
		s/\$([a-z][a-z-]* [^()]*)/_mkvar_/g
		s/\$\$/$/g
		p
	}' "$1"
}

# c_programs FILE: the programs a C file runs.
c_programs() {
	{
		grep -o 'exec[lv]p\{0,1\}e\{0,1\}("[^"]*"' "$1" | sed 's/^[^"]*"//; s/"$//'
		grep -o '\(system\|popen\)("[^" ]*' "$1" | sed 's/^[^"]*"//'
		grep -o '"/usr/s\{0,1\}bin/[A-Za-z0-9_.+-]*' "$1" | sed 's/^"//'
	} | sed 's|.*/||'
}

# programs FILE: "FILE PROGRAM" for every program FILE runs.
programs() {
	case $1 in
	*.c|*.h)
		c_programs "$1" ;;
	*Makefile.am)
		recipes "$1" >"$tmp/recipes.sh"
		shell_commands "$tmp/recipes.sh" | grep -v '^_mkvar_' ;;
	*)
		functions "$1" >"$tmp/functions"
		shell_commands "$1" | grep -vxF -f "$tmp/functions" ;;
	esac | sort -u | sed "s|^|${1#"$top"/} |"
}

# ---- which packages a program may come from ---------------------------------

builtins=". : [ alias bg break cd continue echo eval exit export false fg
getopts hash jobs kill local mapfile printf pwd read readonly return set
shift test trap true type ulimit umask unalias unset wait source declare
let shopt"

# The packages install-deps installs for any purpose, and their direct
# dependencies: what a new machine has after install-deps.
named_packages() {
	pkgs=$(bash "$top/scripts/install-deps" --list all)
	for p in $pkgs; do
		echo "$p"
		dpkg-query -W -f='${Depends}\n' "$p" 2>/dev/null |
			tr ',|' '\n\n' | sed 's/^ *//; s/[ :].*//' | grep .
	done | sort -u
}

# package_ok PROGRAM: 0 if PROGRAM is on PATH and its package is named or in
# every Debian system.
package_ok() {
	grep -qxF "$1 ok" "$tmp/known" 2>/dev/null && return 0
	grep -qxF "$1 no" "$tmp/known" 2>/dev/null && return 1
	if package_lookup "$1"; then
		echo "$1 ok" >>"$tmp/known"
		return 0
	fi
	echo "$1 no" >>"$tmp/known"
	return 1
}

package_lookup() {
	path=$(command -v "$1" 2>/dev/null) || return 1
	case $path in /*) ;; *) return 0 ;; esac        # a builtin of this shell
	real=$(readlink -f "$path")
	pkg=
	# With merged /usr, dpkg knows /bin/x where PATH finds /usr/bin/x.
	for p in "$path" "$real" "${path#/usr}" "${real#/usr}"; do
		pkg=$(dpkg -S "$p" 2>/dev/null | grep -v '^diversion' | head -n 1)
		[ -n "$pkg" ] && break
	done
	[ -n "$pkg" ] || return 1
	pkg=${pkg%%:*}
	grep -qxF "$pkg" "$tmp/named" && return 0
	dpkg-query -W -f='${Priority} ${Essential}\n' "$pkg" 2>/dev/null |
		grep -q '^required\|yes$'
}

# check FILE...: one FAIL line per program that no package provides; the
# number of failures in $fails.  $TOOLS (a file of "PROGRAM PACKAGE" lines)
# stands for install-deps --tools.
check() {
	fails=0
	for f in "$@"; do
		programs "$f"
	done >"$tmp/programs"
	while read -r file prog; do
		case " $(echo $builtins) " in *" $prog "*) continue ;; esac
		if grep -q "^$prog " "$TOOLS"; then
			continue
		fi
		if package_ok "$prog"; then
			continue
		fi
		echo "FAIL: $file runs '$prog', which no package in scripts/install-deps provides (add it to that script's tools list, with its Debian package)"
		fails=$((fails + 1))
	done <"$tmp/programs"
}

if ! command -v dpkg-query >/dev/null; then
	echo "SKIP: not a Debian system (no dpkg-query)"
	exit 77
fi
named_packages >"$tmp/named"
bash "$top/scripts/install-deps" --tools | sed 's/ *#.*//' >"$tmp/tools"
TOOLS=$tmp/tools

if [ $# -gt 0 ]; then
	check "$@"
	exit $((fails > 0))
fi

# ---- the planted violations -------------------------------------------------
status=0
mkdir "$tmp/planted"
cat >"$tmp/planted/render.sh" <<'EOF'
#!/bin/sh
set -eu
# a comment that mentions frobnicate is not a command
awk '{ print "frobnicate" }' /dev/null
for f in *.dot; do dot -Tpng "$f" -o "${f%.dot}.png"; done
x=$(pushpoll-planted-tool --version)
EOF
printf '%s\n' 'int f(void) { return execlp("pushpoll-planted-exec", "x", (char *)0); }' \
	>"$tmp/planted/plot.c"
check "$tmp/planted/render.sh" "$tmp/planted/plot.c" >"$tmp/planted.out"
for want in "runs 'pushpoll-planted-tool'" "runs 'pushpoll-planted-exec'"; do
	grep -qF "$want" "$tmp/planted.out" ||
		{ echo "FAIL: the check missed a planted violation: $want"; status=1; }
done
grep -q "frobnicate\|'awk'\|'dot'" "$tmp/planted.out" &&
	{ echo "FAIL: the check flagged what it must not:"; cat "$tmp/planted.out"; status=1; }
grep -v '^dot ' "$tmp/tools" >"$tmp/tools-without-dot"
TOOLS=$tmp/tools-without-dot
if ! command -v dot >/dev/null || ! package_ok dot; then
	check "$tmp/planted/render.sh" >"$tmp/planted.out"
	grep -qF "runs 'dot'" "$tmp/planted.out" ||
		{ echo "FAIL: the check missed dot with graphviz left out"; status=1; }
fi
TOOLS=$tmp/tools
[ $status -eq 0 ] && echo "ok: the planted violations are caught"

# ---- the tree ----------------------------------------------------------------
set --
for f in "$top"/scripts/* "$top"/.ci/run "$top"/docs/*.sh \
	 "$top"/docs/diagrams/*.sh "$top"/tests/*.sh "$top"/Makefile.am \
	 "$top"/shared/*.[ch] "$top"/push/*.[ch] "$top"/poll/*.[ch] \
	 "$top"/compare/*.[ch] "$top"/compare/*/*.[ch] "$top"/tests/*.[ch]; do
	[ -f "$f" ] && set -- "$@" "$f"
done
check "$@"
n=$(wc -l <"$tmp/programs")
[ -n "${VERBOSE:-}" ] && cat "$tmp/programs"
if [ "$fails" -eq 0 ]; then
	echo "ok: $n program runs in $# files, each from a package install-deps names"
else
	status=1
fi
exit $status
