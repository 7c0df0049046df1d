"""Every construct through every phase: check, explain and the loss handle each kind of leaf and
node, alone and combined (stages x iwae x refine x mixtures), and a staged spec with an iwae term
(which once crashed in the stage checker, issue 13) reports which parameter groups its objectives
reach exactly as autograd finds them."""
from __future__ import annotations

import torch

from mmspec import check_spec, compile_spec
from mmspec.explain import Explanation, render_json, render_latex, render_text

HEAD = """\
model combo
data mst
latent z: 4
prior p = normal()
modality mnist: image(1, 28, 28) ~ laplace(scale=0.75), net mlp(hidden=[8])
modality text:  text(8, 71)      ~ categorical,         net mlp(hidden=[8])
posterior q[m] = encoder(m)
posterior joint = poe(p, q[*])
posterior r[m] = encoder(m)
infer S = poe(p, q[S])
"""

STAGED_IWAE = HEAD + """\
maximize source: iwae(joint -> *, k=3)
minimize align: sum m: kl(joint || r[m])
stage source { objective source  train q[*], r[*], decoders  epochs 1 }
stage align { objective align  train r[*]  epochs 1 }
"""


def batch(n: int = 5, seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    text = torch.nn.functional.one_hot(torch.randint(0, 71, (n, 8), generator=gen), 71).float()
    return {"mnist": torch.rand(n, 1, 28, 28, generator=gen), "text": text}


def groups_with_gradient(model, objective: str) -> set[str]:
    """The parameter groups (module paths as in stage settings) that `objective`'s loss reaches."""
    model.module.zero_grad()
    model.loss(batch(), objective=objective).loss.backward()
    groups = set()
    for name, param in model.module.named_parameters():
        if param.grad is not None and param.grad.abs().sum() > 0:
            groups.add(".".join(name.split(".")[:2]))
    return groups


def test_staged_spec_with_an_iwae_term_checks_and_notes_what_it_cannot_reach():
    program = check_spec(STAGED_IWAE)
    assert [s.name for s in program.stages] == ["source", "align"]
    # r[*] trains in stage source, whose iwae objective reads only q and the decoders
    assert program.notes == ["stage source: r[*] would train, but objective source never reaches them "
                             "(they get no gradient)"]
    text = render_text(Explanation.of(program))
    assert "IWAE[single, K=3]" in text and "Stages, in training order" in text


def test_the_groups_a_stage_objective_reaches_are_those_autograd_reaches():
    torch.manual_seed(0)
    model = compile_spec(STAGED_IWAE)
    stage = model.stages[0]
    reached = groups_with_gradient(model, stage.objective)
    assert reached == {"encoders.q[mnist]", "encoders.q[text]", "decoders.mnist", "decoders.text"}
    idle = {p for p in stage.trains if p not in reached}
    assert idle == {"encoders.r[mnist]", "encoders.r[text]"}      # what the note above names r[*]
