"""Importance-weighted bounds (IWAE) and their doubly-reparameterised gradient (DReG).

For a posterior q with components q_j (weights a_j; a single distribution is one component with
a = 1), K reparameterised draws z_jk ~ q_j per component, and

    log w_jk = sum_t w_t log p(x_t | z_jk) + log p(z_jk) - log q(z_jk | X)      (q: the whole mixture)

the value of the term per data item is
    single / looser:  sum_j a_j [logsumexp_k log w_jk - log K]          (MMVAE's m_iwae_looser)
    standard:         logsumexp_{j,k} (log a_j + log w_jk) - log K       (MMVAE's m_iwae; a_j = 1/M)

Gradients. `iwae`: plain reparameterised gradients of that value. `dreg` (Tucker et al. 2018, and
MMVAE's m_dreg / m_dreg_looser): log q is evaluated with the posterior's parameters detached, the
surrogate sum_jk a'_j w~_jk log w_jk is differentiated with the normalised weights w~ held constant
(w~ = softmax over k within each component for looser/single, a'_j = a_j; softmax over all (j, k) of
log a_j + log w_jk for standard, a'_j = 1), and the gradient reaching the samples z is multiplied by w~
once more, so the encoder receives sum w~^2 d log w / dz dz/dphi while the decoder and the prior
receive exactly the IWAE gradient. For a single distribution the DReG gradient is unbiased for the
IWAE gradient; for a mixture with K > 1 the authors' form is not exactly so (the score term of the
mixture density is dropped although each stratum has its own normalised weights); we follow their
code and say so in docs/language.md. The reported value is always the IWAE bound itself.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from ..model import ir
from ..model.graph import mixture_parts
from .distributions import constant
from . import latents as several


def iwae_value(ev, leaf: ir.IWAE) -> Tensor:
    """The bound per data item [B]; with estimator=dreg its gradient is DReG's."""
    parts = mixture_parts(ev.g, leaf.dist)
    log_a = constant(tuple(math.log(a) for _, a in parts), ev.like)
    dreg = leaf.estimator == "dreg"
    if ev.g.has_layout:             # components over several latents (mmspec/lower/latents.py)
        log_w, scale = log_weights_by_latent(ev, leaf, parts, dreg)
    else:
        z = torch.stack([ev.samples(c, leaf.k) for c, _ in parts])      # [J, K, B, D]
        scale = [] if dreg and z.requires_grad else None
        if scale is not None:
            _scale_gradient(z, scale)
        q = ev.posterior(leaf.dist)
        log_w = log_weights(ev, leaf, z, q.detach() if dreg else q)    # [J, K, B]
    value = bound(log_w, log_a, leaf.form)
    if not dreg:
        return value
    with torch.no_grad():
        norm = normalised_weights(log_w, log_a, leaf.form)            # [J, K, B]
    if scale is not None:
        scale.append(norm)
    outer = log_a.exp()[:, None, None] if leaf.form != "standard" else 1.0
    surrogate = (outer * norm * log_w).sum(dim=(0, 1))
    return value.detach() + surrogate - surrogate.detach()


def log_weights(ev, leaf: ir.IWAE, z: Tensor, q) -> Tensor:
    """log w = sum_t w_t log p(x_t|z) + log p(z) - log q(z|X) for z [J, K, B, D] -> [J, K, B];
    one decoder pass per target over all J·K draws."""
    J, K, B, D = z.shape
    flat = z.reshape(J * K, B, D)
    loglik = _weighted_loglik(ev, leaf, {t: flat for t in leaf.targets})
    if leaf.prior is None:                  # prior=none: the importance-weighted reconstruction alone
        return loglik.reshape(J, K, B)
    log_w = loglik + ev.posterior(leaf.prior).log_prob(flat) - q.log_prob(flat)
    return log_w.reshape(J, K, B)


def bound(log_w: Tensor, log_a: Tensor, form: str) -> Tensor:
    """The importance-weighted bound [B] from log weights [J, K, B] and log component weights [J]."""
    K = log_w.shape[1]
    if form == "standard":
        return torch.logsumexp((log_w + log_a[:, None, None]).flatten(0, 1), dim=0) - math.log(K)
    per_component = torch.logsumexp(log_w, dim=1) - math.log(K)         # [J, B]
    return (log_a.exp()[:, None] * per_component).sum(0)


def normalised_weights(log_w: Tensor, log_a: Tensor, form: str) -> Tensor:
    """w~: the self-normalised importance weights the bound's gradient puts on each draw."""
    if form == "standard":
        shifted = log_w + log_a[:, None, None]
        return torch.softmax(shifted.flatten(0, 1), dim=0).reshape(log_w.shape)
    return torch.softmax(log_w, dim=1)


def log_weights_by_latent(ev, leaf: ir.IWAE, parts_of: list[tuple[str, float]], dreg: bool):
    """log w [J, K, B] when the components describe several latents: each decoder reads its latents
    from the component's draw or from their priors (mmspec/lower/latents.py), and the densities go
    latent by latent; one decoder pass per target over all J·K draws. With DReG, the returned holder
    scales the gradient reaching each component's draws, as for one latent."""
    holder: list[Tensor] | None = [] if dreg else None
    draws = []
    for j, (comp, _) in enumerate(parts_of):
        drawn = several.draw(ev, comp, leaf.k)
        if dreg:
            drawn = {l: _scale_gradient(z.clone(), holder, j) if z.requires_grad else z for l, z in drawn.items()}
        draws.append(drawn)
    inputs = {t: torch.cat([several.decoder_input(ev, c, d, t) for (c, _), d in zip(parts_of, draws)])
              for t in leaf.targets}
    log_w = _weighted_loglik(ev, leaf, inputs).reshape(len(draws), leaf.k, ev.B)
    if leaf.prior is None:
        return log_w, holder
    densities = torch.stack([several.log_density(ev, leaf.prior, d)
                             - several.log_density(ev, leaf.dist, d, detached=dreg) for d in draws])
    return log_w + densities, holder


def _weighted_loglik(ev, leaf: ir.IWAE, inputs: dict[str, Tensor]) -> Tensor:
    """sum_t w_t log p(x_t | its decoder's input), one decoder pass per target -> [J·K, B]."""
    liks = ev.decode_logliks(inputs)
    return sum(ev.g.modalities[t].weight * liks[t] for t in leaf.targets)


def _scale_gradient(z: Tensor, holder: list, component: int | None = None) -> Tensor:
    """Multiply the gradient reaching the draws z by w~ (known only after the decoder pass, so the caller
    appends it to `holder`): all of w~ for the stacked draws [J, K, B, D], row `component` of it for one
    component's draws [K, B, D]. z is this term's own copy of the shared samples, so the gradients
    other terms send to the same samples stay unscaled."""
    pick = (lambda norm: norm) if component is None else (lambda norm: norm[component])
    z.register_hook(lambda grad: grad * pick(holder[0]).unsqueeze(-1))
    return z
