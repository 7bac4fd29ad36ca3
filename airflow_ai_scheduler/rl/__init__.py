"""The reinforcement-learning dispatcher: features (numpy), the ``rl`` policy (numpy inference), a Gymnasium
environment over the dispatch simulator, a small DQN on torch, training, evaluation and fine-tuning.

Only :mod:`.features` and :mod:`.policy` are imported by the scheduler; torch and gymnasium are imported
inside the functions of :mod:`.env`, :mod:`.dqn` and :mod:`.training` that need them (the ``[rl]`` extra).
"""
