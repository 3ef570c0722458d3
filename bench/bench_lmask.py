"""Does L_mask train? Its value against chance, and how much masking moves the state it contrasts.

    python bench/bench_lmask.py models/sweep/h2rec-s0 models/sweep/soft_mask-s0 models/sweep/faithful-s0

For each trained H2Rec checkpoint (a sweep trial's folder) and for the same configuration at
initialisation (seed 0), on `--users` users of the prepared data (validation histories,
evaluation mode, so no dropout): each user's lowest-gated half of the SID levels is masked as
in training, and the script prints

  - both versions of the loss, unweighted: `hard` (cosine InfoNCE of [u_H; u_S], identity
    targets, temperature train.h2rec.mask_temperature) and `soft` (the method's: u_S, raw dot
    products, soft targets); chance is log(users), the soft loss's floor the targets' entropy;
  - the mean cosine between masked and unmasked states: [u_H; u_S], its HID half and u_S.

A loss that stays near chance, or a state that masking barely moves, is an inert L_mask.
Results: bench/results/lmask.json.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "lmask.json"


def diagnose(model, data, users, max_len: int, padding: str) -> dict[str, float]:
    import torch
    import torch.nn.functional as F

    from h2rec.models.alignment import soft_contrastive, soft_targets, two_way_infonce

    batch = data.eval_batch(users, "valid", max_len, padding).to(model.device)
    rows = torch.arange(len(users), device=model.device)
    with torch.no_grad():
        states, gate = model.encode_sequences(batch)
        masked = model.lowest_gated(gate[rows, batch.last])  # (R, L), as in training
        both_masked = model._encode(batch, masked, gate)[0][rows, batch.last]  # (R, 2d)
        sid_masked = model._encode(batch, masked, gate, sid_only=True)[0][rows, batch.last]  # (R, d)
        u = states[rows, batch.last]
        d, t = model.d, model.cfg.mask_temperature
        targets = soft_targets(sid_masked, u[:, d:], t)
        return {
            "users": len(users),
            "chance": math.log(len(users)),
            "hard": float(two_way_infonce(both_masked, u, torch.eye(len(users), device=model.device), t)),
            "soft": float(soft_contrastive(sid_masked, u[:, d:], t)),
            "soft_floor": float(-(targets * targets.clamp_min(1e-30).log()).sum(1).mean()),
            "cos_both": float(F.cosine_similarity(both_masked, u).mean()),
            "cos_hid_half": float(F.cosine_similarity(both_masked[:, :d], u[:, :d]).mean()),
            "cos_sid": float(F.cosine_similarity(sid_masked, u[:, d:]).mean()),
            "state_norm_sid": float(u[:, d:].norm(dim=1).mean()),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="+", type=Path, help="folders holding best.pt (e.g. models/sweep/<trial>)")
    parser.add_argument(
        "--users", type=int, default=64, help="users per contrast, as train.h2rec.mask_users (default: %(default)s)"
    )
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    import numpy as np
    import torch

    from h2rec.models.registry import build_model
    from h2rec.train.inputs import load_inputs, load_trained

    torch.set_num_threads(args.threads)
    out = {}
    for folder in args.checkpoints:
        model, cfg, data = load_trained(folder)
        if getattr(model, "mask_vectors", None) is None:
            print(f"{folder}: no L_mask in this model (train.h2rec.lambda_mask 0 or no gate); skipped")
            continue
        users = np.random.default_rng(0).choice(data.n_users, args.users, replace=False)
        torch.manual_seed(0)
        fresh = build_model(cfg, load_inputs(cfg)).eval()  # the same configuration, initial weights
        res = {
            "mask_loss": cfg.h2rec.mask_loss,
            "trained": diagnose(model, data, users, cfg.backbone.max_len, cfg.padding),
            "init": diagnose(fresh, data, users, cfg.backbone.max_len, cfg.padding),
        }
        out[folder.name] = res
        for when in ("init", "trained"):
            r = res[when]
            print(
                f"{folder.name:24s} {when:8s} trains {res['mask_loss']:4s} | hard {r['hard']:.3f} soft {r['soft']:.3f} "
                f"(chance {r['chance']:.3f}, soft floor {r['soft_floor']:.3f}) | cos masked/unmasked: "
                f"[u_H;u_S] {r['cos_both']:.3f}, HID half {r['cos_hid_half']:.3f}, u_S {r['cos_sid']:.3f}"
            )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=1))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
