"""Online IQLearn's two reading-specific options on literal arrays: the data the initial-state value is
telescoped onto (original reading) and Eq. 17's temperature (relaxed reading)."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from algorithms import Transitions, iqlearn
from bench.registry import ALGORITHMS, BenchError

LOG2 = float(np.log(2.0))
GAMMA, ALPHA, LAM = 0.5, 0.25, 0.5

# expert: q = (1, 1), a = 0, V(s') = 2  ->  V(s) = 1 + log 2, r = 1 - 0.5 * 2 = 0, log pi = -log 2,
#         V(s) - gamma V(s') = log 2
EXPERT = Transitions(jnp.array([[1.0, 1.0]]), jnp.array([0]), jnp.array([2.0]), jnp.ones(1))
# policy: q = (0, 0), a = 1, V(s') = 1  ->  V(s) = log 2, r = -0.5, V(s) - gamma V(s') = log 2 - 0.5
POLICY = Transitions(jnp.array([[0.0, 0.0]]), jnp.array([1]), jnp.array([1.0]), jnp.ones(1))
# E_mix[r^2] = 0.75 * 0 + 0.25 * 0.25 = 1/16


def loss(**options):
    fn = jax.jit(partial(iqlearn.online_loss, lam=LAM, gamma=GAMMA, alpha=ALPHA, **options))
    return float(fn(EXPERT, POLICY))


def test_original_reading_telescopes_the_value_onto_the_mixture_by_default():
    # -E_E[r] + (0.75 log 2 + 0.25 (log 2 - 0.5)) + lam / 16
    expected = 0.0 + (LOG2 - 0.125) + LAM / 16
    assert loss(form="original") == pytest.approx(expected, rel=1e-6)
    assert loss(form="original", value_data="mixture") == pytest.approx(expected, rel=1e-6)


def test_original_reading_with_policy_value_data_uses_the_policy_samples_only():
    # -E_E[r] + (log 2 - 0.5) + lam / 16: the expert's V(s) - gamma V(s') (= log 2) no longer enters
    assert loss(form="original", value_data="policy") == pytest.approx(LOG2 - 0.5 + LAM / 16, rel=1e-6)


def test_policy_value_data_weighs_the_contrastive_term_one_not_alpha():
    """original(policy) - relaxed = E_B[V - gamma V'] - E_E[V - gamma V']; with the mixture it is alpha times that."""
    contrast = (LOG2 - 0.5) - LOG2
    relaxed = loss(form="relaxed")
    assert loss(form="original", value_data="policy") - relaxed == pytest.approx(contrast, abs=1e-6)
    assert loss(form="original") - relaxed == pytest.approx(ALPHA * contrast, abs=1e-6)


def test_relaxed_reading_without_temperature_weighs_the_td_term_lam():
    # lam E_mix[r^2] - E_E[log pi] = lam / 16 + log 2
    assert loss(form="relaxed") == pytest.approx(LAM / 16 + LOG2, rel=1e-6)
    assert loss(form="relaxed", temperature="none") == pytest.approx(LAM / 16 + LOG2, rel=1e-6)


def test_relaxed_reading_with_eq17_temperature_weighs_the_td_term_lam_over_one_minus_alpha_squared():
    # lam / (1 - alpha)^2 E_mix[r^2] - E_E[log pi] = (0.5 / 0.5625) / 16 + log 2 = 1/18 + log 2
    assert loss(form="relaxed", temperature="eq17") == pytest.approx(1 / 18 + LOG2, rel=1e-6)


def test_eq17_temperature_is_the_untempered_loss_at_lam_times_one_minus_alpha_squared():
    tempered = loss(form="relaxed", temperature="eq17")
    untempered = float(iqlearn.online_loss(EXPERT, POLICY, lam=LAM / (1 - ALPHA) ** 2, gamma=GAMMA, alpha=ALPHA, form="relaxed"))
    assert tempered == pytest.approx(untempered, rel=1e-6)


def test_eq17_temperature_reduces_to_eq14_at_alpha_zero():
    online = iqlearn.online_loss(EXPERT, POLICY, lam=LAM, gamma=GAMMA, alpha=0.0, form="relaxed", temperature="eq17")
    assert float(online) == pytest.approx(float(iqlearn.offline_loss(EXPERT, lam=LAM, gamma=GAMMA)), rel=1e-6)


@pytest.mark.parametrize(
    "options, needle",
    [
        ({"form": "original", "value_data": "expert"}, "value_data 'expert' is unknown; use one of mixture, policy"),
        ({"form": "relaxed", "temperature": "hot"}, "temperature 'hot' is unknown; use one of none, eq17"),
        ({"form": "relaxed", "value_data": "policy"}, "value_data='policy' belongs to form='original'"),
        ({"form": "original", "temperature": "eq17"}, "temperature='eq17' belongs to form='relaxed'"),
    ],
)
def test_the_loss_refuses_an_option_out_of_its_domain_in_one_sentence(options, needle):
    with pytest.raises(ValueError, match=needle):
        iqlearn.online_loss(EXPERT, POLICY, lam=LAM, gamma=GAMMA, alpha=ALPHA, **options)


@pytest.mark.parametrize(
    "options, needle",
    [
        ({"form": "original", "value_data": "expert"}, "value_data='expert': the initial-state value is telescoped onto 'mixture'"),
        ({"form": "relaxed", "temperature": "hot"}, "temperature='hot': use 'none'"),
        ({"form": "relaxed", "value_data": "policy"}, "value_data is a choice of the original reading"),
        ({"form": "original", "temperature": "eq17"}, "the Eq. 17 temperature is a choice of the relaxed reading"),
    ],
)
def test_the_registered_objective_names_a_bad_option_and_its_fix(options, needle):
    with pytest.raises(BenchError, match=needle):
        ALGORITHMS.build("iqlearn_online", lam=LAM, gamma=GAMMA, alpha=ALPHA, **options)


@pytest.mark.parametrize("form, option", [("original", {"value_data": "mixture"}), ("relaxed", {"temperature": "none"})])
def test_an_option_at_its_default_builds_the_objective_a_cell_without_it_always_had(form, option):
    """Same Objective (equal and equally hashed, so one jit compilation) as a cell that does not name it."""
    plain = ALGORITHMS.build("iqlearn_online", lam=LAM, gamma=GAMMA, alpha=ALPHA, form=form)
    named = ALGORITHMS.build("iqlearn_online", lam=LAM, gamma=GAMMA, alpha=ALPHA, form=form, **option)
    assert plain == named and hash(plain) == hash(named)
    assert dict(plain.kwargs) == {"alpha": ALPHA, "form": form, "gamma": GAMMA, "lam": LAM}


@pytest.mark.parametrize("form, option, expected", [
    ("original", {"value_data": "policy"}, LOG2 - 0.5 + LAM / 16),
    ("relaxed", {"temperature": "eq17"}, 1 / 18 + LOG2),
])
def test_the_registered_objective_passes_a_non_default_option_to_the_loss(form, option, expected):
    objective = ALGORITHMS.build("iqlearn_online", lam=LAM, gamma=GAMMA, alpha=ALPHA, form=form, **option)
    assert float(objective(EXPERT, POLICY)) == pytest.approx(expected, rel=1e-6)
