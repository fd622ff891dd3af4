"""One evaluation run, in data-flow order (each module knows only the ones before it):

inputs (checkpoint config, weight identity, tokenizer, records) -> plan (budgets, engine length, settings, name:
pure) -> folder (pred files, ledger, lock, run.json as a `record.RunRecord`) -> execute (the batch loop over a
Backend) -> finalize (score, counts, summary). `longeval.runner.run` strings them together.
"""
