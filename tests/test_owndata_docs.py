"""docs/data.md is true: its file-writing snippet, spec, check output (good and broken) and
`data show` counts are what mmspec does with them; the spec trains and evaluates."""
from __future__ import annotations

import os
import re

from owndata_helpers import FAST, cli
from spec_helpers import ROOT

DOC = (ROOT / "docs" / "data.md").read_text()


def _block(lang: str) -> str:
    return re.findall(rf"```{lang}\n(.*?)```", DOC, flags=re.DOTALL)[0]


def test_data_doc_example(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(_block("python"), "docs/data.md", "exec"), {})
    spec = tmp_path / "mopoe_cite.mms"
    spec.write_text(_block("mms"))
    assert cli("check", "mopoe_cite.mms").output.strip() == "mopoe_cite.mms: ok"
    broken = tmp_path / "broken.mms"
    broken.write_text(spec.read_text().replace("vector(20)", "vector(25)").replace(
        'label cell_type from "meta.csv"["cell_type"]', 'label celltype from "meta.csv"["celltype"]'))
    shown = cli("check", "broken.mms").output.replace(str(tmp_path), "/home/me")
    documented = DOC.split("$ mmspec check broken.mms\n")[1].split("```")[0]
    assert shown.strip() == documented.strip()
    show = cli("data", "show", spec)
    assert show.exit_code == 0
    for line in ("train: 1,614 items", "labels (cell_type): B: 386, NK: 407, T: 395, mono: 426",
                 "test: 386 items", "split: train 1614, test 386 of 2000 items"):
        assert line in show.output and line in DOC
    run = cli("run", spec, "--out", tmp_path / "run", "--cache-dir", tmp_path / "cache", *FAST,
              "--metrics", "latent_probe")
    assert run.exit_code == 0, run.output
    assert os.path.exists(tmp_path / "run" / "grid_rna_to_adt.png")


def test_tutorial_own_data_walkthrough(tmp_path, monkeypatch):
    """docs/tutorial.md's second walk-through: its files, the check error it shows, the fix, and
    the counts `data show` prints."""
    tutorial = (ROOT / "docs" / "tutorial.md").read_text().split("# Walk-through 2")[1]
    monkeypatch.chdir(tmp_path)
    exec(compile(re.findall(r"```python\n(.*?)```", tutorial, flags=re.DOTALL)[0], "tutorial.md", "exec"), {})
    spec = re.findall(r"```mms\n(.*?)```", tutorial, flags=re.DOTALL)[0]
    (tmp_path / "mvae_birds.mms").write_text(spec)
    shown = cli("check", "mvae_birds.mms").output.replace(str(tmp_path), "/home/me")
    documented = tutorial.split("$ mmspec check mvae_birds.mms\n")[1].split("```")[0]
    assert shown.strip() == documented.strip()
    (tmp_path / "mvae_birds.mms").write_text(spec.replace('from "photo" ', 'from "photos"'))
    assert cli("check", "mvae_birds.mms").output.strip() == "mvae_birds.mms: ok"
    show = cli("data", "show", "mvae_birds.mms").output
    for line in ("caption: text (6, 12), vocabulary 12, real", "labels (species): blue: 174, green: 165, red: 141",
                 "labels (species): blue: 50, green: 35, red: 35", "split: train 480, test 120 of 600 items"):
        assert line in show and line in tutorial
