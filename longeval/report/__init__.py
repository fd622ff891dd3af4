"""Many runs -> leaderboards (markdown, CSV, HTML), plots, published reference rows, and the CI regression check.

collect: find runs and read their scores; table: the pandas table; render: md/csv/html; plots: PNGs;
reference: the paper's published numbers; check: the regression gate. pandas/matplotlib load only from here.
"""
