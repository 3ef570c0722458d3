"""RQ-VAE: an MLP auto-encoder whose latent is residual-quantized by L learned codebooks.

    z = enc(x);  r_0 = z;  e_l = nearest row of codebook l to r_l;  r_{l+1} = r_l - e_l
    x_hat = dec(z + sg(sum_l e_l - z))          # straight-through: gradients skip argmin
    loss = sum_dims (x - x_hat)^2               # summed, not averaged: averaging shrinks the
         + sum_l |sg(r_l) - e_l|^2              # reconstruction term next to the codebook
         + beta * sum_l |r_l - sg(e_l)|^2       # terms, a known cause of codebook collapse

Codebooks start as RQ-KMeans of the untrained encoder's latents, codes unused for a whole
epoch are restarted on random residuals of that level, and training stops when the
reconstruction loss has not improved for `patience` epochs (the best epoch is kept).
"""

from __future__ import annotations

import copy
import logging

import numpy as np
import torch
from torch import Tensor, nn

from h2rec.sid.quantizer import ResidualQuantizer, nearest
from h2rec.sid.rqkmeans import RQKMeans

log = logging.getLogger(__name__)


def mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.SiLU())
    return nn.Sequential(*layers)


class Net(nn.Module):
    def __init__(self, dim: int, hidden: list[int], latent: int, levels: int, k: int):
        super().__init__()
        self.encoder = mlp([dim, *hidden, latent])
        self.decoder = mlp([latent, *reversed(hidden), dim])
        self.codebooks = nn.Parameter(torch.zeros(levels, k, latent))

    def quantize(self, z: torch.Tensor) -> tuple[Tensor, Tensor, list[Tensor], Tensor, Tensor]:
        """(codes (n, L), quantized z, per-level residuals, codebook loss, commitment loss)."""
        r, z_q = z, torch.zeros_like(z)
        codes, residuals = [], []
        codebook_loss = commit_loss = z.new_zeros(())
        for book in self.codebooks:
            code = torch.cdist(r.detach(), book.detach()).argmin(1)
            e = book[code]
            codebook_loss = codebook_loss + ((r.detach() - e) ** 2).sum(1).mean()
            commit_loss = commit_loss + ((r - e.detach()) ** 2).sum(1).mean()
            residuals.append(r.detach())
            codes.append(code)
            z_q = z_q + e
            r = r - e.detach()
        return torch.stack(codes, 1), z_q, residuals, codebook_loss, commit_loss

    def forward(self, x: torch.Tensor):
        z = self.encoder(x)
        codes, z_q, residuals, codebook_loss, commit_loss = self.quantize(z)
        x_hat = self.decoder(z + (z_q - z).detach())  # straight-through estimator
        recon = ((x - x_hat) ** 2).sum(1).mean()
        return x_hat, codes, residuals, recon, codebook_loss, commit_loss


class RQVAE(ResidualQuantizer):
    method = "rqvae"

    def __init__(
        self,
        levels: int = 3,
        codebook_size: int = 256,
        seed: int = 42,
        hidden: list[int] | tuple[int, ...] = (512, 256, 128),
        latent_dim: int = 32,
        epochs: int = 150,
        batch_size: int = 1024,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        beta: float = 0.25,
        patience: int = 20,
        min_delta: float = 1e-3,
    ):
        super().__init__(levels, codebook_size, seed)
        self.hidden, self.latent_dim = list(hidden), latent_dim
        self.epochs, self.batch_size, self.lr, self.weight_decay = epochs, batch_size, lr, weight_decay
        self.beta, self.patience, self.min_delta = beta, patience, min_delta
        self.net: Net | None = None
        self.history: list[dict[str, float]] = []  # per epoch: recon, codebook, commit, restarts

    # -- training --------------------------------------------------------------------------
    def fit(self, x: np.ndarray) -> RQVAE:
        x = self._check_input(x)
        self.dim = x.shape[1]
        torch.manual_seed(self.seed)
        gen = torch.Generator().manual_seed(self.seed)
        net = Net(self.dim, self.hidden, self.latent_dim, self.levels, self.codebook_size)
        data = torch.from_numpy(x)
        self._init_codebooks(net, data)
        opt = torch.optim.Adam(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        best, best_state, stale = float("inf"), copy.deepcopy(net.state_dict()), 0
        self.history = []
        for epoch in range(self.epochs):
            stats = self._epoch(net, opt, data, gen)
            self.history.append(stats)
            if stats["recon"] < best * (1 - self.min_delta):
                best, best_state, stale = stats["recon"], copy.deepcopy(net.state_dict()), 0
            else:
                stale += 1
                if stale >= self.patience:
                    log.info("rqvae: early stop at epoch %d (best recon %.4f)", epoch + 1, best)
                    break
        net.load_state_dict(best_state)
        self.net = net.eval()
        self._refresh_codebooks()
        return self

    @torch.no_grad()
    def _init_codebooks(self, net: Net, data: torch.Tensor) -> None:
        """Codebooks = RQ-KMeans of the initial latents, so no code starts out unreachable."""
        z = net.encoder(data).numpy()
        rq = RQKMeans(self.levels, self.codebook_size, seed=self.seed, iters=10).fit(z)
        net.codebooks.copy_(torch.from_numpy(np.stack(rq.codebooks)))

    def _epoch(self, net: Net, opt: torch.optim.Optimizer, data: Tensor, gen: torch.Generator) -> dict[str, float]:
        net.train()
        usage = torch.zeros(self.levels, self.codebook_size, dtype=torch.long)
        totals = np.zeros(3)
        order = torch.randperm(len(data), generator=gen)
        residuals: list[torch.Tensor] = []
        for start in range(0, len(data), self.batch_size):
            batch = data[order[start : start + self.batch_size]]
            _, codes, residuals, recon, codebook_loss, commit_loss = net(batch)
            loss = recon + codebook_loss + self.beta * commit_loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            for level in range(self.levels):
                usage[level] += torch.bincount(codes[:, level], minlength=self.codebook_size)
            totals += len(batch) * np.array([recon.item(), codebook_loss.item(), commit_loss.item()])
        restarts = self._restart_dead_codes(net, usage, residuals, gen)
        recon, codebook, commit = totals / len(data)
        return {"recon": recon, "codebook": codebook, "commit": commit, "restarts": restarts}

    @torch.no_grad()
    def _restart_dead_codes(self, net: Net, usage: Tensor, residuals: list[Tensor], gen: torch.Generator) -> int:
        """Move every code no item chose this epoch onto a random residual of its level
        (from the last batch), where it is certain to win at least that item."""
        restarted = 0
        for level, r in enumerate(residuals):
            dead = torch.nonzero(usage[level] == 0).flatten()
            if len(dead):
                pick = torch.randint(len(r), (len(dead),), generator=gen)
                net.codebooks[level, dead] = r[pick]
                restarted += len(dead)
        return restarted

    # -- inference -------------------------------------------------------------------------
    def _require_net(self) -> Net:
        if self.net is None:
            raise RuntimeError("fit or load the quantizer first")
        return self.net

    @torch.no_grad()
    def latents(self, x: np.ndarray) -> np.ndarray:
        return self._require_net().encoder(torch.from_numpy(self._check_input(x))).numpy()

    @torch.no_grad()
    def encode(self, x: np.ndarray) -> np.ndarray:
        net = self._require_net()
        r = self.latents(x).astype(np.float64)
        codes = np.empty((len(r), self.levels), np.int32)
        for level, book in enumerate(net.codebooks.numpy()):
            codes[:, level] = nearest(r, book)
            r -= book[codes[:, level]]
        return codes

    @torch.no_grad()
    def decode(self, codes: np.ndarray) -> np.ndarray:
        net = self._require_net()
        codes = torch.from_numpy(self._check_codes(codes))
        z_q = sum(net.codebooks[l][codes[:, l]] for l in range(self.levels))
        return net.decoder(z_q).numpy()

    @torch.no_grad()
    def _refresh_codebooks(self) -> None:
        """Embedding-space codebooks: row k of level l = dec(e_lk) - dec(0), the decoder's
        image of the code alone. Exact when the decoder is linear; for the MLP it is a
        first-order picture, good enough to initialise embedding tables."""
        net = self._require_net()
        origin = net.decoder(torch.zeros(1, self.latent_dim))
        self.codebooks = [(net.decoder(book) - origin).numpy().astype(np.float32) for book in net.codebooks]

    # -- persistence -----------------------------------------------------------------------
    def _state(self) -> tuple[dict, dict[str, np.ndarray]]:
        net = self._require_net()
        settings = {
            "hidden": self.hidden,
            "latent_dim": self.latent_dim,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "beta": self.beta,
            "patience": self.patience,
            "min_delta": self.min_delta,
            "epochs_run": len(self.history),
        }
        return settings, {k: v.detach().numpy() for k, v in net.state_dict().items()}

    def _restore(self, settings: dict, arrays: dict[str, np.ndarray]) -> None:
        self.hidden, self.latent_dim = [int(h) for h in settings["hidden"]], int(settings["latent_dim"])
        for key in ("epochs", "batch_size", "patience"):
            setattr(self, key, int(settings[key]))
        for key in ("lr", "weight_decay", "beta", "min_delta"):
            setattr(self, key, float(settings[key]))
        net = Net(self.dim, self.hidden, self.latent_dim, self.levels, self.codebook_size)
        net.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in arrays.items()}, strict=True)
        self.net = net.eval()
        self._refresh_codebooks()
