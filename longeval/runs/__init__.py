"""One evaluation run, in data-flow order (each module knows only the ones before it):

inputs (checkpoint config, weight identity, tokenizer, records) -> plan (budgets, engine length, settings, name:
pure) -> start (this session's run.json, a `record.RunRecord`) -> folder (pred files, ledger, lock; read-only:
`folder.RunFolderView`) -> execute (the batch loop over a Backend, through each task's benchmark unit) ->
finalize (score, counts, summary). `longeval.runner.run` strings them together.
"""
