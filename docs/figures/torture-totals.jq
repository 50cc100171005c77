# The totals of a run of `pushpoll torture`, one row per engine: its
# scenarios (the rows of its table) and the total row, from the text the
# harness prints.
def fields: [splits(" +")] | map(select(. != ""));
"| engine | scenarios | steps | cancel points | allocation failures | faults | runs | violations |",
"|---|---|---|---|---|---|---|---|",
(foreach (.stdout | split("\n"))[] as $l ({engine: null, n: 0, row: null};
	($l | fields) as $f
	| if ($l | test("^engine ")) then {engine: $f[1], n: 0, row: null}
	  elif ($f[0] == "total") then .row = $f[1:]
	  elif ($l | test("^  [a-z]")) and ($f | length) == 8 and $f[0] != "scenario" then .n += 1 | .row = null
	  else .row = null end;
	if .row then "| \(.engine) | \(.n) | \(.row | join(" | ")) |" else empty end))
