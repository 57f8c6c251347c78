import numpy as np
import pytest

from tasks.toy_mdp import ADVANCE, UP, ChainMDP


@pytest.mark.parametrize("recovery", [True, False])
def test_transitions_are_distributions_with_the_slip(recovery):
    mdp = ChainMDP(n=5, horizon=8, slip=0.1, recovery=recovery)
    p = mdp.transitions()
    np.testing.assert_allclose(p.sum(-1), 1.0)
    # bottom state 2: advance reaches 3 w.p. 0.9 and slips up to its top state w.p. 0.1
    assert p[2, ADVANCE, 3] == pytest.approx(0.9) and p[2, ADVANCE, mdp.n + 2] == pytest.approx(0.1)
    assert p[2, UP, mdp.n + 2] == pytest.approx(0.9) and p[2, UP, 3] == pytest.approx(0.1)
    # the last bottom state advances into the goal, which is absorbing
    assert p[4, ADVANCE, mdp.goal] == pytest.approx(0.9)
    assert p[mdp.goal, :, mdp.goal] == pytest.approx([1.0, 1.0])


def test_recovery_allows_return_and_no_recovery_does_not():
    top = 5 + 2
    with_rec = ChainMDP(n=5, horizon=8, recovery=True).transitions()
    assert with_rec[top, ADVANCE, 2] == pytest.approx(0.9) and with_rec[top, UP, 2] == pytest.approx(0.1)
    assert with_rec[top, UP, top] == pytest.approx(0.9)
    without = ChainMDP(n=5, horizon=8, recovery=False).transitions()
    # from a top state nothing leads back to the chain: it is a dead end
    assert without[top, :, top] == pytest.approx([1.0, 1.0])
    assert without[5:10, :, :5].sum() == 0 and without[5:10, :, 10].sum() == 0


def test_demonstrations_are_mistake_free_paths_to_the_goal():
    mdp = ChainMDP(n=4, horizon=6)
    demo = mdp.demonstrations(2)
    assert demo.states.tolist() == [0, 1, 2, 3, 0, 1, 2, 3]
    assert demo.next_states.tolist() == [1, 2, 3, 8, 1, 2, 3, 8]
    assert (demo.actions == ADVANCE).all() and demo.done.tolist() == [False, False, False, True] * 2


def test_success_probability_is_exact():
    n = 6
    no_rec = ChainMDP(n=n, horizon=10, recovery=False)
    assert no_rec.success_probability(no_rec.expert_policy()) == pytest.approx(0.9**n)
    # a uniform policy advances with probability 0.5 whatever the slip
    uniform = np.full((no_rec.num_states, 2), 0.5)
    assert no_rec.success_probability(uniform) == pytest.approx(0.5**n)
    # undoing a slip costs two steps (up, then back down): with horizon n+1 no slip can be undone
    assert ChainMDP(n=n, horizon=n + 1, recovery=True).success_probability(no_rec.expert_policy()) == pytest.approx(0.9**n)
    # with horizon n+2: no slip, or one slip up at any of the n steps followed by an immediate return
    p = ChainMDP(n=n, horizon=n + 2, recovery=True).success_probability(no_rec.expert_policy())
    assert p == pytest.approx(0.9**n + n * 0.1 * 0.9 * 0.9**n)


def test_success_matches_monte_carlo():
    mdp = ChainMDP(n=5, horizon=9, recovery=True)
    rng = np.random.default_rng(0)
    policy = rng.dirichlet([1, 1], size=mdp.num_states)
    p = mdp.transitions()
    hits = 0
    episodes = 20000
    for _ in range(episodes):
        s = mdp.start
        for _ in range(mdp.horizon):
            a = rng.choice(2, p=policy[s])
            s = rng.choice(mdp.num_states, p=p[s, a])
        hits += s == mdp.goal
    exact = mdp.success_probability(policy)
    assert abs(hits / episodes - exact) < 4 * np.sqrt(exact * (1 - exact) / episodes)


@pytest.mark.parametrize("kwargs, needle", [({"n": 0}, "n=0"), ({"horizon": 3, "n": 5}, "horizon=3"), ({"slip": 0.7}, "slip=0.7")])
def test_bad_parameters_name_the_fix(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        ChainMDP(**kwargs)


def test_forward_top_row_is_a_second_chain():
    n, top = 5, 5 + 2
    rec = ChainMDP(n=n, horizon=8, recovery=True, top="forward").transitions()
    # UP moves along the top row, ADVANCE still returns to the bottom state below
    assert rec[top, UP, top + 1] == pytest.approx(0.9) and rec[top, UP, 2] == pytest.approx(0.1)
    assert rec[top, ADVANCE, 2] == pytest.approx(0.9) and rec[top, ADVANCE, top + 1] == pytest.approx(0.1)
    last = 2 * n - 1  # the last top state keeps the agent
    assert rec[last, UP, last] == pytest.approx(0.9)
    without = ChainMDP(n=n, horizon=8, recovery=False, top="forward").transitions()
    assert without[top, :, top + 1] == pytest.approx([1.0, 1.0]) and without[last, :, last] == pytest.approx([1.0, 1.0])
    assert without[n:2 * n, :, :n].sum() == 0 and without[n:2 * n, :, 2 * n].sum() == 0  # still a dead end
    # the bottom row is the same MDP as with top="stay"
    np.testing.assert_array_equal(rec[:n], ChainMDP(n=n, horizon=8, recovery=True).transitions()[:n])


def test_forward_top_row_lets_slips_carry_the_agent_along_the_top():
    """Always ADVANCE, horizon n + 2 (room for one detour of two extra steps). With "stay" a slip up at b_i is
    undone only by t_i -> b_i (the existing test's n * 0.1 * 0.9 * 0.9^n). With "forward", k >= 1 further slips at
    t_i, ..., t_{i+k-1} carry the agent along the top to t_{i+k}, and ADVANCE lands on b_{i+k}: one step per
    state as below, plus the same two extra steps, for each of the n - k starts i with i + k <= n - 1."""
    n = 4
    expert = ChainMDP(n=n, horizon=n + 2).expert_policy()
    stay = ChainMDP(n=n, horizon=n + 2, recovery=True).success_probability(expert)
    forward = ChainMDP(n=n, horizon=n + 2, recovery=True, top="forward").success_probability(expert)
    assert stay == pytest.approx(0.9**n + n * 0.1 * 0.9 * 0.9**n)
    along_the_top = sum((n - k) * 0.1 ** (k + 1) * 0.9 ** (n - k + 1) for k in range(1, n))
    assert forward == pytest.approx(stay + along_the_top)


def test_unknown_top_dynamics_are_named():
    with pytest.raises(ValueError, match="top='sideways': use one of stay, forward"):
        ChainMDP(top="sideways")
