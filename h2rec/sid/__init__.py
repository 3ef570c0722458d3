"""Semantic IDs: item text -> sentence embedding -> residual-quantized codes.

text.py (cleaning, joining fields) -> embedder.py (model, cache) -> features.py (the embed
stage's file) -> rqkmeans.py / rqvae.py (quantizers, interface in quantizer.py) -> sids.py
(dedup level, SID table) -> report.py (tokenizer metrics and plots).
"""

# OMP_WAIT_POLICY=PASSIVE (sleeping OpenMP waiters, 2-3x faster faiss/torch on a busy
# 2-core machine) is set by h2rec.env when the package is imported, before faiss/torch load.


def load(directory, **expect):
    """The saved quantizer of `directory` (e.g. h2rec.paths.SID_QUANTIZER); `.codebooks` is
    a list of L (K, dim) float32 arrays. See h2rec.sid.quantizer for what `expect` checks."""
    from h2rec.sid.quantizer import load_quantizer

    return load_quantizer(directory, **expect)
