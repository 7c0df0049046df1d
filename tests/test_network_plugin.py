"""A user's own network from an installed package: an entry point of the group "mmspec.networks"
names a NetworkInfo, and specs use it like a built-in network (`net tiny(width=6)`), checked at
compile time with located errors. The package is a module plus a .dist-info folder on PYTHONPATH
(what pip install writes), so the test runs in a fresh interpreter."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

PLUGIN = '''
import math
from torch import nn
from mmspec.networks.base import NetworkInfo

def _body(p, kind, shape, latent_dim):
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(shape), p["width"]), nn.Tanh()), p["width"]

def _decoder(p, kind, shape, latent_dim):
    return nn.Sequential(nn.Linear(latent_dim, p["width"]), nn.Tanh(), nn.Linear(p["width"], math.prod(shape)),
                         nn.Unflatten(-1, tuple(shape)))

INFO = NetworkInfo(name="tiny", summary="a test plug-in", defaults={"width": 8}, body=_body,
                   decoder=_decoder, kinds=("vector",), source="tests/test_network_plugin.py")
'''

SPEC = """model t
data toy
latent z: 3
prior p = normal()
modality a: vector(5) ~ gaussian(scale=1), net NET_A
modality b: vector(2) ~ gaussian(scale=1), net mlp(hidden=[4])
posterior q[m] = encoder(m)
posterior j = poe(p, q[*])
maximize rec(j -> *) - kl(j || p)
infer S = poe(p, q[S])
"""

PROBE = '''
import json, sys, torch
from mmspec import SpecError, compile_spec
out = {}
model = compile_spec(sys.argv[1])
batch = {"a": torch.randn(4, 5), "b": torch.randn(4, 2)}
out["loss_finite"] = bool(torch.isfinite(model.loss(batch).loss))
out["widths"] = sorted({p.shape[0] for n, p in model.module.named_parameters() if "encoders" in n and p.dim() == 2})
for bad in sys.argv[2:]:
    try:
        compile_spec(bad)
        out.setdefault("errors", []).append(None)
    except SpecError as err:
        out.setdefault("errors", []).append(str(err))
print(json.dumps(out))
'''


def test_plugin_network_is_compiled_and_checked(tmp_path):
    (tmp_path / "tinynet.py").write_text(PLUGIN)
    info = tmp_path / "tinynet-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tinynet\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[mmspec.networks]\ntiny = tinynet:INFO\n")
    specs = []
    for name, net in (("good", "tiny(width=6)"), ("kind", None), ("param", "tiny(widht=6)")):
        text = SPEC.replace("NET_A", net or "mlp")
        if name == "kind":                        # the plug-in declares vector inputs only
            text = text.replace("modality b: vector(2) ~ gaussian(scale=1), net mlp(hidden=[4])",
                                "modality b: image(1, 2, 2) ~ gaussian(scale=1), net tiny")
        (tmp_path / f"{name}.mms").write_text(text)
        specs.append(str(tmp_path / f"{name}.mms"))
    env = dict(os.environ, PYTHONPATH=str(tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(PROBE), *specs], env=env, check=True,
                          capture_output=True, text=True, timeout=120)
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["loss_finite"] and 6 in out["widths"]
    kind, param = out["errors"]
    assert "kind.mms:6:" in kind and "tiny" in kind and "image" in kind
    assert "param.mms:5:" in param and "did you mean 'width'" in param
