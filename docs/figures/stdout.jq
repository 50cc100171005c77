# Everything a run printed, as it printed it, in a fenced block (with the
# blank lines at its start and end left out).
"```",
(.stdout | sub("^\n+"; "") | sub("\n+$"; "")),
"```"
