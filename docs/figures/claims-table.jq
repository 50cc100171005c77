# The table of claims.md: one row per claim of `pushpoll claims`, its
# figures for each engine and the baselines, and its computed verdict.
"| claim | push | poll | baselines | verdict |",
"|---|---|---|---|---|",
(.json.claims[] |
 "| \(.id) | \(.push) | \(.poll) | \(if .baselines == "" then "-" else .baselines end) | **\(.verdict)** |")
