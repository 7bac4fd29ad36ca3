"""A small double DQN on torch whose Q-network scores each candidate task (torch imported inside functions).

Why not stable-baselines3: the action set changes at every decision (the due tasks), so the natural
network scores each candidate with shared weights and takes the best *valid* one. SB3's DQN has no
action masking and its Q-network maps one observation vector to a fixed set of outputs; its masked PPO
lives in sb3-contrib and is on-policy, which does not fit fine-tuning from the history table's logged
tries (off-policy by nature). The algorithm here is the textbook one — double DQN (van Hasselt et al.
2016) with a Huber loss, a target network, a replay buffer and ε-greedy exploration — in ~150 lines,
checked by unit tests (the target, the masking, a two-armed task it must solve, bit-for-bit seeded runs).

Exploration: with probability ε a random due task *or* the first choice of a random heuristic (least
slack, shortest first, longest waiting, priority), which shows the agent good schedules early.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from airflow_ai_scheduler.rl.features import CANDIDATE_FEATURES, FLEET_FEATURES, MAX_CANDIDATES, N_FEATURES
from airflow_ai_scheduler.rl.policy import FORMAT, QFunction

HIDDEN = 64


@dataclass
class DQNConfig:
    steps: int = 40_000
    gamma: float = 0.99
    lr: float = 5e-4
    batch_size: int = 64
    buffer_size: int = 40_000
    learning_starts: int = 2_000
    train_every: int = 4
    target_every: int = 1_000
    eps_start: float = 1.0
    eps_end: float = 0.05
    eps_fraction: float = 0.4
    heuristic_share: float = 0.5  #: of exploratory actions, the share taken from a heuristic
    seed: int = 0


@dataclass
class Transition:
    x: np.ndarray  #: [K, F]
    mask: np.ndarray  #: [K] (0/1)
    action: int
    reward: float
    next_x: np.ndarray
    next_mask: np.ndarray
    done: bool


class ReplayBuffer:
    """Fixed-size ring buffer in numpy; ``pinned`` transitions (history tries) are never overwritten."""

    def __init__(self, size: int, pinned: list[Transition] | None = None) -> None:
        self.size = size
        self.pinned = pinned or []
        self.x = np.zeros((size, MAX_CANDIDATES, N_FEATURES), np.float32)
        self.m = np.zeros((size, MAX_CANDIDATES), np.bool_)
        self.a = np.zeros(size, np.int64)
        self.r = np.zeros(size, np.float32)
        self.nx = np.zeros((size, MAX_CANDIDATES, N_FEATURES), np.float32)
        self.nm = np.zeros((size, MAX_CANDIDATES), np.bool_)
        self.d = np.zeros(size, np.float32)
        self.n = self.i = 0

    def add(self, x: np.ndarray, m: np.ndarray, a: int, r: float, nx: np.ndarray, nm: np.ndarray, d: bool) -> None:
        i = self.i
        self.x[i], self.m[i], self.a[i], self.r[i] = x, m, a, r
        self.nx[i], self.nm[i], self.d[i] = nx, nm, float(d)
        self.i = (i + 1) % self.size
        self.n = min(self.n + 1, self.size)

    def sample(self, rng: np.random.Generator, k: int, pinned_share: float = 0.0) -> tuple[np.ndarray, ...]:
        kp = min(len(self.pinned), int(round(k * pinned_share))) if self.pinned else 0
        idx = rng.integers(0, self.n, k - kp)
        cols = [self.x[idx], self.m[idx], self.a[idx], self.r[idx], self.nx[idx], self.nm[idx], self.d[idx]]
        if kp:
            ts = [self.pinned[j] for j in rng.integers(0, len(self.pinned), kp)]
            extra = [np.stack([t.x for t in ts]), np.stack([t.mask for t in ts]).astype(bool),
                     np.array([t.action for t in ts]), np.array([t.reward for t in ts], np.float32),
                     np.stack([t.next_x for t in ts]), np.stack([t.next_mask for t in ts]).astype(bool),
                     np.array([float(t.done) for t in ts], np.float32)]
            cols = [np.concatenate([c, e]) for c, e in zip(cols, extra, strict=True)]
        return tuple(cols)


def make_qnet(seed: int) -> Any:
    import torch
    from torch import nn

    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(N_FEATURES, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU(),
                         nn.Linear(HIDDEN, 1))


def qnet_from(q: QFunction) -> Any:
    """A torch network holding ``q``'s weights (to fine-tune an exported policy)."""
    import torch

    net = make_qnet(0)
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for lin, (w, b) in zip(linears, q.layers, strict=True):
            lin.weight.copy_(torch.from_numpy(w.T.copy()))
            lin.bias.copy_(torch.from_numpy(b.copy()))
    return net


def export(net: Any, meta: dict[str, Any]) -> QFunction:
    import torch

    layers = [(m.weight.detach().numpy().T.copy(), m.bias.detach().numpy().copy())
              for m in net if isinstance(m, torch.nn.Linear)]
    return QFunction(layers, {"format": FORMAT, "features": [*CANDIDATE_FEATURES, *FLEET_FEATURES], **meta})


def masked_q(net: Any, x: Any, mask: Any) -> Any:
    """Q per candidate row, −inf on masked rows: [B, K]."""
    import torch

    q = net(x).squeeze(-1)
    return torch.where(mask, q, torch.full_like(q, -torch.inf))


def td_loss(net: Any, target: Any, batch: tuple[np.ndarray, ...], gamma: float) -> Any:
    """Double-DQN Huber loss: y = r + γ (1 − done) Q_target(s', argmax_a' Q(s', a'))."""
    import torch
    import torch.nn.functional as F

    x, m, a, r, nx, nm, d = (torch.from_numpy(np.asarray(v)) for v in batch)
    q = net(x).squeeze(-1).gather(1, a.view(-1, 1)).squeeze(1)
    with torch.no_grad():
        any_next = nm.any(dim=1)
        best = masked_q(net, nx, nm).argmax(dim=1, keepdim=True)
        nq = target(nx).squeeze(-1).gather(1, best).squeeze(1)
        nq = torch.where(any_next, nq, torch.zeros_like(nq))
        y = r + gamma * (1.0 - d) * nq
    return F.smooth_l1_loss(q, y)


def greedy_action(net: Any, x: np.ndarray, mask: np.ndarray) -> int:
    import torch

    with torch.no_grad():
        q = masked_q(net, torch.from_numpy(x[None]), torch.from_numpy(mask[None].astype(bool)))
    return int(q.argmax(dim=1).item())


@dataclass
class TrainLog:
    points: list[dict[str, float]] = field(default_factory=list)


def train(env: Any, cfg: DQNConfig, heuristic: Callable[[Any, random.Random], int] | None = None,
          evaluate: Callable[[QFunction], dict[str, float]] | None = None, eval_every: int = 5_000,
          init: QFunction | None = None, pinned: list[Transition] | None = None, pinned_share: float = 0.0,
          log: Callable[[str], None] = print) -> tuple[QFunction, TrainLog]:
    """Train on ``env``; return the best network by ``evaluate``'s ``score`` (the last one without it)."""
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(cfg.seed)
    rng, nprng = random.Random(cfg.seed), np.random.default_rng(cfg.seed)
    net = qnet_from(init) if init is not None else make_qnet(cfg.seed)
    target = make_qnet(cfg.seed)
    target.load_state_dict(net.state_dict())
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    buf = ReplayBuffer(cfg.buffer_size, pinned)
    meta = {"steps": cfg.steps, "seed": cfg.seed, "gamma": cfg.gamma}
    trace = TrainLog()
    best: tuple[float, QFunction] | None = None
    obs, _ = env.reset(seed=cfg.seed)
    ep_return, returns = 0.0, []
    for step in range(1, cfg.steps + 1):
        eps = max(cfg.eps_end, cfg.eps_start - (cfg.eps_start - cfg.eps_end) * step / (cfg.eps_fraction * cfg.steps))
        if init is not None:
            eps = min(eps, cfg.eps_end * 2)  # fine-tuning: explore around the policy, not from scratch
        valid = int(obs["mask"].sum())
        if rng.random() < eps:
            a = heuristic(env, rng) if heuristic and rng.random() < cfg.heuristic_share else rng.randrange(valid)
        else:
            a = greedy_action(net, obs["candidates"], obs["mask"])
        nobs, r, term, trunc, info = env.step(a)
        buf.add(obs["candidates"], obs["mask"], a, r, nobs["candidates"], nobs["mask"], term)
        ep_return += r
        obs = nobs
        if term or trunc:
            returns.append(ep_return)
            ep_return = 0.0
            obs, _ = env.reset()
        if step >= cfg.learning_starts and step % cfg.train_every == 0:
            loss = td_loss(net, target, buf.sample(nprng, cfg.batch_size, pinned_share), cfg.gamma)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 10.0)
            opt.step()
        if step % cfg.target_every == 0:
            target.load_state_dict(net.state_dict())
        if evaluate is not None and (step % eval_every == 0 or step == cfg.steps):
            q = export(net, meta)
            point = {"step": step, "epsilon": eps, **evaluate(q)}
            if returns:
                point["train_return"] = float(np.mean(returns[-5:]))
            trace.points.append(point)
            log(" ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in point.items()))
            if best is None or point["score"] > best[0]:
                q.meta["validation"] = point
                best = (point["score"], q)
    final = best[1] if best else export(net, meta)
    final.meta.update(meta)
    return final, trace
