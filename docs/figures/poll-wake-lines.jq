# The two figures of a wake and a yield that CK_RUN_CASE=figures
# tests/test_poll prints, in a fenced block.
"```",
(.stdout | split("\n")[] | select(test("^poll (wake|yield)-to-poll"))),
"```"
