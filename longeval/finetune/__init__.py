"""The entropy-aware ABF paper's fine-tuning recipe (arXiv 2401.07004, Appendix A): SFT on long conversations.

conversations.py reads and checks ShareGPT-style data and marks the response tokens; train.py runs the recipe
through transformers' Trainer (so accelerate / DeepSpeed / FSDP handle devices) and writes the extended checkpoint.
"""
