"""Semantic IDs: item text -> sentence embedding -> residual-quantized codes.

text.py (cleaning, joining fields) -> embedder.py (model, cache) -> features.py (the embed
stage's file) -> rqkmeans.py / rqvae.py (quantizers, interface in quantizer.py) -> sids.py
(dedup level, SID table) -> report.py (tokenizer metrics and plots); loading.py reads a saved
quantizer of either method, table.py the SID table a model is trained on.
"""

# OMP_WAIT_POLICY=PASSIVE (sleeping OpenMP waiters, 2-3x faster faiss/torch on a busy
# 2-core machine) is set by h2rec.env when the package is imported, before faiss/torch load.
