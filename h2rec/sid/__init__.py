"""Semantic IDs: item text -> sentence embedding -> residual-quantized codes.

text.py (cleaning, joining fields) -> embedder.py (model, cache) -> features.py (the embed
stage's file) -> rqkmeans.py / rqvae.py (quantizers, interface in quantizer.py) -> sids.py
(dedup level, SID table) -> report.py (tokenizer metrics and plots).
"""

import os

# faiss and torch run OpenMP thread teams. With the default (spinning) wait policy, a team
# on a 2-core machine that something else is also using runs 3-4x slower than one thread;
# sleeping waiters remove most of that. It must be set before faiss/torch are loaded.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def load(directory, **expect):
    """The saved quantizer of `directory` (e.g. h2rec.paths.SID_QUANTIZER); `.codebooks` is
    a list of L (K, dim) float32 arrays. See h2rec.sid.quantizer for what `expect` checks."""
    from h2rec.sid.quantizer import load_quantizer

    return load_quantizer(directory, **expect)
