# One line saying which run a page's figures come from: its command, when,
# the tree's commit, how long it took, and on what.
"The run: `\(.command)` (from a build directory), \(.date[0:10]), commit \(.commit[0:10]), \(.seconds) s on \(.machine), load average \(.load_average_at_start) at its start.\(if .note then "  Note: \(.note)." else "" end)"
