"""Posteriors computed by gradient steps, lowered: iterative refinement (MIAI) and gradient origin (SMVGON).

Refinement (methods.md 17; seed 000, Appendix A). From the initial posterior (mu_0, log sigma_0), for
t = 0..T-1, with L the refinement's objective evaluated at the current iterate:
    h_x = ELU(W_x x + b),  h_g = ELU(W_g [mu_t, log sigma_t, LN(grad_mu L), LN(grad_logsigma L)] + b),
    h = [h_x, h_g],  mu~ = tanh(W h + b),  log sigma~ = tanh(W h + b),  g = sigmoid(W h + b) (one gate each),
    mu_{t+1} = g_mu * mu_t + (1 - g_mu) * mu~,  log sigma_{t+1} = g_s * log sigma_t + (1 - g_s) * log sigma~.
`grad=detached`: the gradients enter as constants (first order, the reference implementation);
`grad=through`: they are differentiable (create_graph), so the loss differentiates through them.
`loss=mean`: while training, each term of the refined posterior itself (rec(r -> ..), kl(r || ..))
is averaged over the iterates t = 1..T; any other use reads the final iterate.

Gradient origin (methods.md 15): z0 = 0; L evaluated at q(z0) = N(mu(z0), exp lv(z0)) with linear heads
mu, lv; z0' = z0 + grad_z0 L; the posterior is N(mu(z0'), exp lv(z0')). While training the gradient
is taken with create_graph=True, so the loss reaches the decoder through the gradient step.

Both run with autograd enabled even under torch.no_grad (evaluation), and return detached values there.
"""
from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..model import ir
from ..model.graph import GradientOrigin, ModelGraph, Refined, dependents
from .distributions import DiagGaussian


class UpdateNetwork(nn.Module):
    """f_w(x, mu, log sigma, grad mu, grad log sigma) -> candidates and gates (MIAI, Appendix A)."""

    def __init__(self, x_dim: int, latent_dim: int, hidden: int):
        super().__init__()
        self.embed_x = nn.Linear(x_dim, hidden) if x_dim else None
        self.embed_state = nn.Linear(4 * latent_dim, hidden)
        self.norm_mu = nn.LayerNorm(latent_dim)
        self.norm_logsigma = nn.LayerNorm(latent_dim)
        width = hidden * (2 if x_dim else 1)
        self.candidate_mu = nn.Linear(width, latent_dim)
        self.candidate_logsigma = nn.Linear(width, latent_dim)
        self.gate_mu = nn.Linear(width, latent_dim)
        self.gate_logsigma = nn.Linear(width, latent_dim)

    def forward(self, x: Tensor | None, mu: Tensor, logsigma: Tensor, grad_mu: Tensor, grad_logsigma: Tensor):
        """-> (mu~, log sigma~, g_mu, g_sigma), each [B, D]."""
        state = torch.cat([mu, logsigma, self.norm_mu(grad_mu), self.norm_logsigma(grad_logsigma)], dim=-1)
        h = F.elu(self.embed_state(state))
        if self.embed_x is not None:
            h = torch.cat([F.elu(self.embed_x(x)), h], dim=-1)
        return (torch.tanh(self.candidate_mu(h)), torch.tanh(self.candidate_logsigma(h)),
                torch.sigmoid(self.gate_mu(h)), torch.sigmoid(self.gate_logsigma(h)))


class OriginHeads(nn.Module):
    """SMVGON's trainable linear maps from z0' to the mean and the log-variance."""

    def __init__(self, latent_dim: int):
        super().__init__()
        self.mu = nn.Linear(latent_dim, latent_dim)
        self.logvar = nn.Linear(latent_dim, latent_dim)

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        return self.mu(z), self.logvar(z)


def build_modules(graph: ModelGraph, latent_dim: int) -> tuple[dict, dict]:
    """(update networks by declaration, gradient-origin heads by declaration) for SpecModule."""
    refiners, origins = {}, {}
    for node in graph.nodes.values():
        if isinstance(node, Refined):
            x_dim = sum(math.prod(graph.modalities[m].shape) for m in node.inputs)
            refiners[node.network] = UpdateNetwork(x_dim, latent_dim, node.hidden)
        elif isinstance(node, GradientOrigin):
            origins[node.network] = OriginHeads(latent_dim)
    return refiners, origins


# ---- evaluating an objective at an iterate ---------------------------------------------------

def fork(ev, overrides: dict, leaves: list | None = None):
    """A child Evaluation where `overrides` (node key -> distribution) replace those nodes; cached
    results that do not depend on them are shared (each encoder still runs once). `leaves`: the
    terms the child evaluates, when they may need more samples of a node than the parent's."""
    need = dict(ev.samples_needed)
    for key, k in (ir.samples_needed(ev.g, leaves) if leaves else {}).items():
        need[key] = max(k, need.get(key, 1))
    return ev.fork(overrides, dependents(ev.g, overrides), need)


@lru_cache(maxsize=None)
def _terms(node) -> tuple:
    return tuple(ir.Objective("inner", node.direction, node.objective).linear_terms())


def objective_value(ev, node, iterate: DiagGaussian) -> Tensor:
    """The node's objective per item [B] at the given iterate, in the ascent direction."""
    terms = _terms(node)
    leaves = list(dict.fromkeys(t.leaf for t in terms))
    values = fork(ev, {node.iterate: iterate}, leaves).leaf_values(leaves)
    total = sum(t.coefficient * (values[t.leaf].detach() if t.detached else values[t.leaf]) for t in terms)
    return total if node.direction == "maximize" else -total


def gradients(ev, node, mu: Tensor, logsigma: Tensor, through: bool) -> tuple[Tensor, Tensor]:
    """(dL/dmu, dL/dlog sigma) [B, D] at the iterate; differentiable when `through`."""
    with torch.enable_grad():
        m = mu if through and mu.requires_grad else mu.detach().requires_grad_()
        s = logsigma if through and logsigma.requires_grad else logsigma.detach().requires_grad_()
        value = objective_value(ev, node, DiagGaussian(m, 2.0 * s))
        g_mu, g_s = torch.autograd.grad(value.sum(), (m, s), create_graph=through)
    return g_mu, g_s            # without create_graph, autograd.grad's results carry no graph


# ---- refinement --------------------------------------------------------------------------------

def gated_update(net: UpdateNetwork, x, mu, logsigma, grad_mu, grad_logsigma) -> tuple[Tensor, Tensor]:
    cand_mu, cand_s, gate_mu, gate_s = net(x, mu, logsigma, grad_mu, grad_logsigma)
    return gate_mu * mu + (1 - gate_mu) * cand_mu, gate_s * logsigma + (1 - gate_s) * cand_s


def update_inputs(ev, node: Refined) -> Tensor | None:
    if not node.inputs:
        return None
    return torch.cat([ev.batch[m].reshape(ev.B, -1).to(ev.like.dtype) for m in node.inputs], dim=-1)


def trajectory(ev, node: Refined, steps: int) -> list[DiagGaussian]:
    """[q^0, q^1, ..., q^T]: the initial posterior and every refined iterate."""
    init = ev.gaussian(node.init)
    net = ev.module.refiners[node.network]
    x = update_inputs(ev, node)
    through = node.grad == "through" and torch.is_grad_enabled()
    mu, logsigma = init.mu.expand(ev.B, ev.D), 0.5 * init.logvar.expand(ev.B, ev.D)
    out = [init]
    for _ in range(steps):
        g_mu, g_s = gradients(ev, node, mu, logsigma, through)
        mu, logsigma = gated_update(net, x, mu, logsigma, g_mu, g_s)
        out.append(DiagGaussian(mu, 2.0 * logsigma))
    return out


def refined(ev, node: Refined) -> DiagGaussian:
    """The engine's value of a refined posterior: T = steps while training, eval_steps otherwise."""
    steps = node.steps if ev.module.training else node.eval_steps
    path = trajectory(ev, node, steps)
    ev.refine_trajectories[node.key] = path
    return path[-1]


def average_over_iterates(ev, leaves: list, out: dict) -> dict:
    """loss=mean: while training, a term of a refined posterior itself is the mean over t = 1..T."""
    if not ev.module.training or ev.averaging_iterate:
        return out
    for leaf in leaves:
        key = next((d for d in leaf.distributions() if isinstance(ev.g.nodes[d], Refined)
                    and ev.g.nodes[d].loss == "mean"), None)
        if key is None:
            continue
        iterates = ev.refine_trajectories[key][1:]
        values = [_at_iterate(ev, key, q).leaf_values([leaf])[leaf] for q in iterates[:-1]] + [out[leaf]]
        out[leaf] = torch.stack(values).mean(0)
    return out


def _at_iterate(ev, key: str, q: DiagGaussian):
    child = fork(ev, {key: q})
    child.averaging_iterate = True
    return child


# ---- gradient origin -----------------------------------------------------------------------------

def gradient_origin(ev, node: GradientOrigin) -> DiagGaussian:
    heads = ev.module.origins[node.network]
    create = torch.is_grad_enabled()
    with torch.enable_grad():
        z0 = torch.zeros((ev.B, ev.D), device=ev.like.device, dtype=ev.like.dtype, requires_grad=True)
        value = objective_value(ev, node, DiagGaussian(*heads(z0)))
        (step,) = torch.autograd.grad(value.sum(), z0, create_graph=create)
    return DiagGaussian(*heads(z0.detach() + step))


def infer(ev, node) -> DiagGaussian:
    """Hook for Evaluation._single."""
    return refined(ev, node) if isinstance(node, Refined) else gradient_origin(ev, node)


# ---- for evaluation (CompiledSpec) -------------------------------------------------------------

def refined_posteriors(graph: ModelGraph) -> dict[str, tuple[str, ...]]:
    return {graph.label(k): n.inputs for k, n in graph.nodes.items() if isinstance(n, Refined)}


def trajectory_of(model, batch: dict, name: str, steps: int) -> list[DiagGaussian]:
    g = model.graph
    key = next((k for k, n in g.nodes.items() if isinstance(n, Refined) and g.label(k) == name), None)
    if key is None:
        raise KeyError(f"no refined posterior {name!r}; the spec has {', '.join(refined_posteriors(g)) or 'none'}")
    return trajectory(model.evaluation(batch), g.nodes[key], steps)
