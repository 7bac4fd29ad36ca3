"""The DQN (torch) and the Gymnasium environment; see conftest.py for when these skip."""

from __future__ import annotations

import numpy as np
import pytest

from airflow_ai_scheduler.rl.features import MAX_CANDIDATES, N_FEATURES


def test_td_target_is_double_dqn_with_masking_and_done(torch):
    from airflow_ai_scheduler.rl.dqn import make_qnet, td_loss

    net, target = make_qnet(0), make_qnet(1)
    x = np.random.default_rng(0).normal(size=(3, MAX_CANDIDATES, N_FEATURES)).astype(np.float32)
    m = np.zeros((3, MAX_CANDIDATES), bool)
    m[:, :4] = True
    a, r, d = np.array([0, 1, 2]), np.array([-1.0, -2.0, 0.5], np.float32), np.array([0.0, 1.0, 0.0], np.float32)
    nm = m.copy()
    nm[2] = False  # no next choice: no bootstrap
    loss = td_loss(net, target, (x, m, a, r, x, nm, d), 0.9)
    with torch.no_grad():
        q = net(torch.from_numpy(x)).squeeze(-1)
        qt = target(torch.from_numpy(x)).squeeze(-1)
        best = q[0, :4].argmax()  # the online net picks, the target net values
        y0 = -1.0 + 0.9 * qt[0, best]
    expected = torch.nn.functional.smooth_l1_loss(
        torch.stack([q[0, 0], q[1, 1], q[2, 2]]), torch.stack([y0, torch.tensor(-2.0), torch.tensor(0.5)]))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_dqn_learns_a_contextual_bandit_and_is_seeded(torch):
    """Reward 1 for the candidate with the largest feature 0, else 0; one step per episode."""
    from airflow_ai_scheduler.rl.dqn import DQNConfig, train

    class Bandit:
        def __init__(self):
            self.rng = np.random.default_rng(0)

        def _obs(self):
            x = np.zeros((MAX_CANDIDATES, N_FEATURES), np.float32)
            n = int(self.rng.integers(2, 6))
            x[:n, 0] = self.rng.normal(size=n)
            self.best = int(np.argmax(x[:n, 0]))
            m = np.zeros(MAX_CANDIDATES, np.int8)
            m[:n] = 1
            return {"candidates": x, "mask": m}

        def reset(self, seed=None):
            return self._obs(), {}

        def step(self, a):
            r = 1.0 if a == self.best else 0.0
            return self._obs(), r, True, False, {}

    def accuracy(q):
        env = Bandit()
        env.rng = np.random.default_rng(99)
        hits = 0
        for _ in range(200):
            o, _ = env.reset()
            n = int(o["mask"].sum())
            hits += int(np.argmax(q(o["candidates"][:n])) == env.best)
        return {"score": hits / 200}

    cfg = DQNConfig(steps=800, learning_starts=100, target_every=100, train_every=1, seed=3, lr=3e-3)
    q1, log = train(Bandit(), cfg, evaluate=accuracy, eval_every=800, log=lambda s: None)
    assert log.points[-1]["score"] > 0.9  # random picks would score ~0.35
    q2, _ = train(Bandit(), cfg, evaluate=accuracy, eval_every=800, log=lambda s: None)
    for (w1, b1), (w2, b2) in zip(q1.layers, q2.layers, strict=True):
        assert np.array_equal(w1, w2) and np.array_equal(b1, b2)


def test_exported_weights_match_the_torch_network(torch):
    from airflow_ai_scheduler.rl.dqn import export, make_qnet, qnet_from

    net = make_qnet(5)
    q = export(net, {})
    x = np.random.default_rng(1).normal(size=(7, N_FEATURES)).astype(np.float32)
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).squeeze(-1).numpy()
    assert np.allclose(q(x), ref, atol=1e-5)
    back = qnet_from(q)
    with torch.no_grad():
        assert np.allclose(back(torch.from_numpy(x)).squeeze(-1).numpy(), ref, atol=1e-6)


def test_env_follows_the_gymnasium_api_and_its_return_is_the_episode_score(torch):
    from gymnasium.utils.env_checker import check_env

    from airflow_ai_scheduler.rl.env import episode_score, make_env
    from airflow_ai_scheduler.simulate.dispatch_workload import generate_workload

    def small(seed):
        return generate_workload(seed, hours=4.0)

    check_env(make_env([7], small), skip_render_check=True)
    env = make_env([7], small)
    obs, info = env.reset()
    first_penalty = env.penalty
    total, steps = 0.0, 0
    while True:
        valid = int(obs["mask"].sum())
        assert valid >= 2
        obs, r, term, trunc, info = env.step(valid - 1)
        total += r
        steps += 1
        if term:
            break
    assert steps > 10
    assert total == pytest.approx(info["score"] + first_penalty)  # the return leaves out what preceded step 1
    assert info["score"] == pytest.approx(episode_score(info["result"]))
