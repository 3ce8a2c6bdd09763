"""Data sets and their on-disk formats (design §3): Aff-Wild2 EXPR reading, splits, clips and the
synthetic Aff-Wild2 generator."""
