"""IQLearn recast as temporal-difference regularised MLE (Section 2, Eq. 14; Appendix A.1.2).

Offline (Eq. 14), on expert transitions only:

    L = E_E[ lam * (V(s) + log pi(a|s) - gamma V(s'))^2 - log pi(a|s) ]
      = E_E[ lam * r^2 - log pi(a|s) ],        r = q(s, a) - gamma V(s')

It is the original IQ-Learn objective with the chi^2 divergence, -E_E[phi(r)] + (1 - gamma)
E_rho0[V(s0)], where the initial-value term is telescoped over expert transitions and
lam = 1 / (4 alpha_chi2). lam = 0 is MLE exactly.

Online, a fraction ``alpha`` of the data comes from the current policy's own rollouts (B).
Appendix A.1.2 admits two readings, both implemented and both equal to Eq. 14 at alpha = 0:

- ``relaxed`` (the paper's Eqs. 15-17): the chi^2/TD term runs over the mixture
  (1 - alpha) mu_E + alpha mu_B, the log-likelihood over expert data only:

      L = (1 - alpha) E_E[lam r^2] + alpha E_B[lam r^2] - E_E[log pi(a|s)]

- ``original`` (Garg et al. 2021, online IQ-Learn: its ``value`` loss with the chi^2
  regulariser on expert and policy samples): policy rollouts join the expert transitions in
  estimating the initial-state value term and in the chi^2 term:

      L = -E_E[r] + E_mix[V(s) - gamma V(s')] + lam E_mix[r^2],
      E_mix[x] = (1 - alpha) E_E[x] + alpha E_B[x]

  Since -E_E[r] + E_E[V(s) - gamma V(s')] = -E_E[log pi], this is the relaxed form plus
  alpha (E_B[V(s) - gamma V(s')] - E_E[V(s) - gamma V(s')]): a contrastive term that lowers
  the value of states the policy visits and raises it on expert states.

Two choices inside the readings are options of ``online_loss`` (defaults: the forms above):

- ``value_data`` (original reading): the samples the initial-state value (1 - gamma) E[V(s0)]
  is telescoped onto. ``"mixture"``: expert and policy transitions, E_mix[V(s) - gamma V(s')]
  (IQ-Learn's online ``value`` loss); ``"policy"``: policy transitions only, E_B[V(s) - gamma
  V(s')] (its ``value_policy`` alternative). Then

      L = -E_E[r] + E_B[V(s) - gamma V(s')] + lam E_mix[r^2]
        = relaxed + (E_B[V(s) - gamma V(s')] - E_E[V(s) - gamma V(s')]),

  the same contrastive term with weight 1 in place of alpha.

- ``temperature`` (relaxed reading): Eq. 17 writes the implied reward with the soft-RL
  temperature tau = lam / (1 - alpha), since the policy holds only a (1 - alpha) share of the
  mixture in Eq. 15 while its entropy keeps the weight lam. With r = tau d, where
  d = V(s) + log pi(a|s) - gamma V(s') is read from the logits (as in Eq. 14, v = tau v_tau),
  Eq. 16 becomes tau^2 E_mix[d^2] - lam E_E[log pi]; dividing by lam (which only rescales the
  loss) gives, for ``"eq17"``,

      L = lam / (1 - alpha)^2 E_mix[d^2] - E_E[log pi(a|s)].

  ``"none"`` keeps tau = lam, i.e. the relaxed form above: Eq. 17 with lam replaced by
  lam (1 - alpha)^2. Both equal Eq. 14 at alpha = 0.
"""

from __future__ import annotations

import jax

from algorithms.transitions import Transitions, TokenTransitions, batch_log_prob, from_sequence, masked_mean, td_residual, values_of

ONLINE_FORMS = ("relaxed", "original")
VALUE_DATA = ("mixture", "policy")  # original reading: data of the telescoped initial-state value
TEMPERATURES = ("none", "eq17")  # relaxed reading: soft-RL temperature lam, or Eq. 17's lam / (1 - alpha)


Batch = Transitions | TokenTransitions


def reward(batch: Batch, *, gamma: float) -> jax.Array:
    """The reward IQLearn implies for each transition: r_t = Q(s_t, a_t) - gamma V(s_{t+1})."""
    return td_residual(batch, gamma)


def offline_loss(expert: Batch, *, lam: float, gamma: float) -> jax.Array:
    """Eq. 14: E_E[lam (V(s) + log pi(a|s) - gamma V(s'))^2 - log pi(a|s)].

    On token sequences (``TokenTransitions`` from ``from_sequence``) r and log pi are read from
    the same per-position q(s, a) and V(s) as MLE's log pi: one logsumexp per position serves
    log pi(a|s), V(s) and V(s'), so the update costs what MLE's does plus O(B T) arithmetic."""
    r = td_residual(expert, gamma)
    return masked_mean(lam * r**2 - batch_log_prob(expert), expert.mask)


def loss(logits: jax.Array, targets: jax.Array, mask: jax.Array, *, lam: float, gamma: float) -> jax.Array:
    """Eq. 14 over token sequences: logits [B, T, V] predict targets [B, T]; mask marks target tokens."""
    return offline_loss(from_sequence(logits, targets, mask), lam=lam, gamma=gamma)


def diagnostics(expert: Batch, *, gamma: float) -> dict[str, jax.Array]:
    """Teacher-forced quantities that show where a policy sits between MLE and the TD term, each a mean
    over the expert's target tokens:

        nll     = E_E[-log pi(a|s)]                    (the MLE loss)
        entropy = E_E[H(pi(.|s))] = E_E[-sum_a pi(a|s) log pi(a|s)]   (nats)
        v_mean  = E_E[V(s)],  V(s) = logsumexp_a q(s, a)
        td2     = E_E[r^2],   r = q(s, a) - gamma V(s')

    Eq. 14's regulariser is lam * td2, so offline_loss = lam * td2 + nll exactly. Entropy needs the
    full logits; a batch without them (a chunked loss) reports the rest."""
    from algorithms.mle_entreg import entropy

    out = {
        "nll": masked_mean(-batch_log_prob(expert), expert.mask),
        "v_mean": masked_mean(values_of(expert), expert.mask),
        "td2": masked_mean(td_residual(expert, gamma) ** 2, expert.mask),
    }
    if expert.logits is not None:
        out["entropy"] = masked_mean(entropy(expert.logits), expert.mask)
    return out


def _value_drop(batch: Batch, gamma: float) -> jax.Array:
    """V(s) - gamma V(s') per transition: the telescoped initial-state value."""
    return values_of(batch) - gamma * batch.next_values


def online_loss(
    expert: Batch, policy: Batch, *, lam: float, gamma: float, alpha: float, form: str,
    value_data: str = "mixture", temperature: str = "none",
) -> jax.Array:
    """Online IQLearn with mix-in ``alpha`` of policy transitions; ``form`` picks the reading,
    ``value_data`` (original only) and ``temperature`` (relaxed only) the choices inside it (module
    docstring). An option that does not belong to ``form`` must keep its default."""
    def mixture(f):
        return (1 - alpha) * masked_mean(f(expert), expert.mask) + alpha * masked_mean(f(policy), policy.mask)

    _check_online_options(form, value_data, temperature)
    td2 = mixture(lambda b: td_residual(b, gamma) ** 2)
    if form == "relaxed":
        weight = lam / (1 - alpha) ** 2 if temperature == "eq17" else lam
        return weight * td2 - masked_mean(batch_log_prob(expert), expert.mask)
    expert_reward = masked_mean(td_residual(expert, gamma), expert.mask)
    if value_data == "policy":
        value_term = masked_mean(_value_drop(policy, gamma), policy.mask)
    else:
        value_term = mixture(lambda b: _value_drop(b, gamma))
    return -expert_reward + value_term + lam * td2


def _check_online_options(form: str, value_data: str, temperature: str) -> None:
    """One sentence naming the first option out of its domain (or used with the wrong reading)."""
    if form not in ONLINE_FORMS:
        raise ValueError(f"online IQLearn form {form!r} is unknown; use one of {', '.join(ONLINE_FORMS)}.")
    if value_data not in VALUE_DATA:
        raise ValueError(f"online IQLearn value_data {value_data!r} is unknown; use one of {', '.join(VALUE_DATA)}.")
    if temperature not in TEMPERATURES:
        raise ValueError(f"online IQLearn temperature {temperature!r} is unknown; use one of {', '.join(TEMPERATURES)}.")
    if form != "original" and value_data != VALUE_DATA[0]:
        raise ValueError(f"online IQLearn value_data={value_data!r} belongs to form='original'; drop it or set form='original'.")
    if form != "relaxed" and temperature != TEMPERATURES[0]:
        raise ValueError(f"online IQLearn temperature={temperature!r} belongs to form='relaxed'; drop it or set form='relaxed'.")
