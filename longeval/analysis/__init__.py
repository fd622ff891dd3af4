"""Analyses of a model under a context-extension method (attention entropy), beside the LongBench evaluation."""
