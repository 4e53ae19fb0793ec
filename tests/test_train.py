"""The trainer on a tiny config: it learns, it checkpoints, and a resume continues exactly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from rpncodec import codec
from rpncodec.cli import main
from rpncodec.errors import RpncodecError
from rpncodec.training.config import stage_at
from rpncodec.training.export import export
from rpncodec.training.losses import guidance_weights, uncertainty_nll
from rpncodec.training.trainer import TrainConfig, Trainer
from rpncodec.utils.testing import smooth_image
from rpncodec.zoo import load_model


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "train"
    folder.mkdir()
    for i in range(4):
        Image.fromarray(smooth_image(80, 96, seed=i)).save(folder / f"{i}.png")
    return folder


def train(folder: Path, out: Path, steps: int, *extra: str) -> int:
    return main(["train", "--preset", "tiny", "--steps", str(steps), "--batch", "2",
                 "--crop", "64", "--data", str(folder), "--out", str(out),
                 "--checkpoint-every", "2", "--val-every", "2", *extra])


def test_resume_continues_exactly_where_a_straight_run_would_be(image_folder, tmp_path) -> None:
    assert train(image_folder, tmp_path / "straight", 4) == 0
    assert train(image_folder, tmp_path / "split", 2) == 0
    assert train(image_folder, tmp_path / "split", 4, "--resume") == 0
    a = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=True)
    b = torch.load(tmp_path / "split" / "checkpoint.pt", weights_only=True)
    assert a["step"] == b["step"] == 4
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key


def test_export_gives_a_loadable_model_that_codes(image_folder, tmp_path) -> None:
    weights = tmp_path / "m.pt"
    assert train(image_folder, tmp_path / "run", 2, "--export", str(weights)) == 0
    loaded = load_model(str(weights))
    assert all(not v.is_floating_point() or v.dtype == torch.float16
               for v in torch.load(weights, weights_only=True)["state_dict"].values())
    image = smooth_image(32, 32)
    assert codec.decode(codec.encode(image, loaded), None, loaded).image.shape == image.shape
    log = (tmp_path / "run" / "log.jsonl").read_text()
    assert '"val"' in log and '"psnr"' in log


def test_stage_schedule_is_a_function_of_the_step_and_gives_guidance_most_steps() -> None:
    stages = [stage_at(step, 1000) for step in range(1000)]
    assert stages[:100] == [0] * 100  # plain warm-up
    assert stages[100:105] == [1] * 5 and stages[105:120] == [2] * 15
    assert stages.count(2) == 675 and stages.count(1) == 225
    assert set(stage_at(s, 1000, enabled=False) for s in range(1000)) == {0}


def test_guided_stages_train_the_uncertainty_nets_and_weight_the_codec(image_folder, tmp_path):
    cfg = TrainConfig(preset="tiny", steps=100, batch=2, crop=64, data=str(image_folder))
    trainer = Trainer(cfg, tmp_path / "run")
    trainer.step = 10  # stage 1
    before = [p.clone() for p in trainer.uncertainty.parameters()]
    rec = trainer.train_step()
    assert rec["stage"] == 1 and rec["nll"] > 0
    after = list(trainer.uncertainty.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))
    trainer.step = 20  # stage 2: uncertainty nets frozen
    before = [p.clone() for p in trainer.uncertainty.parameters()]
    assert trainer.train_step()["stage"] == 2
    after = list(trainer.uncertainty.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))
    summary = trainer.validate()["uncertainty"]
    assert len(summary) == 3 and len(summary[0]["quantiles_5_25_50_75_95"]) == 5


def test_guidance_weights_have_mean_one_and_follow_uncertainty() -> None:
    s = torch.tensor([[[[0.0, 1.0], [2.0, 3.0]]]]).repeat(2, 3, 1, 1)
    w = guidance_weights(s)
    assert torch.allclose(w.mean(dim=(1, 2, 3)), torch.ones(2))
    assert w[0, 0, 1, 1] > w[0, 0, 0, 0]


def test_uncertainty_nll_is_minimised_at_the_log_squared_error() -> None:
    x, x_hat = torch.zeros(1, 3, 2, 2), torch.full((1, 3, 2, 2), 4 / 255)
    best = torch.full((1, 3, 2, 2), float(torch.log(torch.tensor(16.0))))
    assert uncertainty_nll(best, x, x_hat) < uncertainty_nll(best + 0.5, x, x_hat)
    assert uncertainty_nll(best, x, x_hat) < uncertainty_nll(best - 0.5, x, x_hat)


def test_torchrun_with_two_processes_keeps_replicas_identical(image_folder, tmp_path) -> None:
    script = tmp_path / "ddp_check.py"
    script.write_text(DDP_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                    "--master_port=29517", str(script), str(image_folder), str(tmp_path)],
                   check=True, env=env, timeout=300)
    a = torch.load(tmp_path / "rank0.pt", weights_only=True)
    b = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["step"] == 12


DDP_SCRIPT = """
import os, sys, torch
from pathlib import Path
from rpncodec.training.export import export
from rpncodec.training.trainer import TrainConfig, Trainer
folder, out = sys.argv[1], Path(sys.argv[2])
cfg = TrainConfig(preset="tiny", steps=12, batch=2, crop=64, data=folder, val_every=100,
                  checkpoint_every=6)
trainer = Trainer(cfg, out / "run")
trainer.run()  # stages 0, 1 and 2 all occur in 12 steps
state = {**{"m." + k: v for k, v in trainer.model.state_dict().items()},
         **{"u." + k: v for k, v in trainer.uncertainty.state_dict().items()}}
torch.save(state, out / f"rank{trainer.rank}.pt")
"""


def test_training_forward_feeds_rounded_residuals_to_the_syntheses() -> None:
    from rpncodec.models import build_model, preset

    torch.manual_seed(0)
    model = build_model(preset("quality", "tiny")).train()
    out = model(torch.rand(1, 3, 32, 32))
    y1 = out["y_hat"][0]
    m = model.levels[0].latent_codec.bottleneck.medians.view(1, -1, 1, 1)
    assert torch.allclose(y1 - m, (y1 - m).round(), atol=1e-5)  # rounded, not noisy
    out["x_hat"][0].sum().backward()
    assert model.levels[0].analysis[0].weight.grad.abs().sum() > 0  # straight-through gradient


def test_rate_warmup_ramps_every_lambda_from_near_zero_to_one() -> None:
    cfg = TrainConfig(rate_warmup=100)
    scales = [cfg.rate_scale_at(s) for s in (0, 49, 99, 500)]
    assert scales[0] == pytest.approx(0.01)
    assert scales[1] == pytest.approx(0.5)
    assert scales[2:] == [1.0, 1.0]
    assert TrainConfig(rate_warmup=0).rate_scale_at(0) == 1.0


def test_progressive_training_changes_only_the_level_of_each_phase(image_folder, tmp_path):
    cfg = TrainConfig(preset="tiny", steps=8, batch=2, crop=64, data=str(image_folder),
                      val_every=1000, checkpoint_every=1000, progressive=[2, 2, 2, 2],
                      rate_warmup=0)
    trainer = Trainer(cfg, tmp_path / "run")
    model = trainer.model

    def snapshot() -> dict:
        return {n: p.detach().clone() for n, p in model.named_parameters()}

    for level in (1, 2, 3, 4):
        before = snapshot()
        records = [trainer.train_step(), trainer.train_step()]
        assert [r["level"] for r in records] == [level, level]
        assert len(records[0]["bpp"]) == level  # nothing above the trained level runs
        own = {id(p) for p in model.levels[level - 1].parameters()}
        changed = {id(p) for n, p in model.named_parameters() if not torch.equal(p, before[n])}
        assert changed <= own
        assert any(id(p) in changed for p in model.levels[level - 1].synthesis.parameters())


@pytest.mark.parametrize("prediction", ["crcm", "plain"])
def test_progressive_conditional_models_train_and_export(image_folder, tmp_path, prediction):
    """Level by level with codecs that have no auxiliary part (conditional) and a frozen one
    (the hyperprior's, after phase 1): training and the export's quantile settling run."""
    cfg = TrainConfig(preset="tiny", steps=8, batch=2, crop=64, data=str(image_folder),
                      val_every=1000, checkpoint_every=1000, progressive=[2, 2, 2, 2],
                      rate_warmup=0, prediction=prediction,
                      latent_codecs=["hyperprior", "conditional", "conditional", "conditional"])
    trainer = Trainer(cfg, tmp_path / "run")
    for _ in range(8):
        trainer.train_step()
    export(trainer.model, tmp_path / "m.pt", settle_steps=5)
    loaded = load_model(str(tmp_path / "m.pt"))
    assert loaded.config.prediction == prediction
    assert codec.decode(codec.encode(smooth_image(32, 48), loaded), 4, loaded).layers == 4


def test_a_grown_level_starts_exactly_at_the_quality_of_the_level_below() -> None:
    from rpncodec.models import build_model, preset
    from rpncodec.training.progressive import grow_level

    torch.manual_seed(0)
    model = build_model(preset("quality", "tiny")).eval()
    grow_level(model, 2)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        out = model(x, levels=2)
    assert torch.allclose(out["x_hat"][1], out["x_hat"][0], atol=1e-6)
    assert torch.equal(model.levels[1].analysis[0].weight, model.levels[0].analysis[0].weight)


def test_growing_a_level_resets_its_entropy_model_in_place() -> None:
    from rpncodec.models import build_model, preset
    from rpncodec.training.progressive import grow_level

    model = build_model(preset("quality", "tiny"))
    quantiles = model.levels[2].latent_codec.bottleneck.quantiles
    with torch.no_grad():
        quantiles.zero_()  # a collapsed density
    grow_level(model, 3)
    # the same tensor: optimisers stay valid
    assert model.levels[2].latent_codec.bottleneck.quantiles is quantiles
    assert float(quantiles.detach().abs().sum()) > 0


def test_init_from_a_file_that_is_not_weights_is_one_clear_error(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    code = main(["train", "--preset", "tiny", "--steps", "1", "--init", str(bad),
                 "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1
    assert err[0].startswith("rpncodec: error: --init") and "not weights of a quality" in err[0]


def test_single_mode_trains_resumes_and_exports_a_one_layer_model(image_folder, tmp_path):
    out = tmp_path / "single"
    assert train(image_folder, out, 2, "--mode", "single", "--lambdas", "45") == 0
    assert train(image_folder, out, 4, "--mode", "single", "--lambdas", "45", "--resume",
                 "--export", str(tmp_path / "s.pt")) == 0
    loaded = load_model(str(tmp_path / "s.pt"))
    assert loaded.config.mode == "single" and loaded.config.layers == 1
    assert torch.load(out / "checkpoint.pt", weights_only=True)["step"] == 4


def test_a_time_budget_fits_steps_and_every_progressive_phase_to_it() -> None:
    cfg = TrainConfig(steps=1000, minutes=1.0)
    cfg.fit_steps(250)
    assert cfg.steps == 250 and cfg.lr_at(213) == cfg.lr * 0.1 and cfg.lr_at(212) == cfg.lr
    cfg = TrainConfig(progressive=[0, 100, 300], steps=400, minutes=1.0)
    cfg.fit_steps(800)
    assert cfg.progressive == [0, 200, 600] and cfg.steps == 800
    assert cfg.phase_at(199).level == 2 and cfg.phase_at(200).level == 3


def test_a_time_budgeted_run_stops_in_time_and_its_fitted_schedule_survives_resume(
        image_folder, tmp_path, monkeypatch) -> None:
    clock = iter(range(10**6))  # a clock that ticks one second per reading: deterministic
    monkeypatch.setattr("rpncodec.training.trainer.time.monotonic", lambda: float(next(clock)))
    out = tmp_path / "timed"
    assert train(image_folder, out, 100000, "--minutes", "1") == 0
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert state["fitted"] and 40 < state["config"]["steps"] < 80
    assert state["step"] <= state["config"]["steps"]
    def resumed(checkpoint: Path) -> Trainer:
        trainer = Trainer(TrainConfig(preset="tiny", crop=64, steps=100000, minutes=5.0,
                                      data=str(image_folder)), tmp_path / "resumed")
        trainer.load(checkpoint)
        return trainer

    state["step"] = state["config"]["steps"] - 1  # unfinished: keeps its fitted schedule
    torch.save(state, tmp_path / "unfinished.pt")
    trainer = resumed(tmp_path / "unfinished.pt")
    assert trainer.cfg.steps == state["config"]["steps"] and trainer.fitted
    state["step"] = state["config"]["steps"]  # finished: extended by the new budget
    torch.save(state, tmp_path / "finished.pt")
    trainer = resumed(tmp_path / "finished.pt")
    assert trainer.cfg.steps == 100000 and not trainer.fitted


def test_a_time_budgeted_run_that_slows_down_still_ends_its_schedule_in_time(
        image_folder, tmp_path, monkeypatch) -> None:
    readings = iter(range(10**6))  # each clock reading is a second, 1.5 after the 60th
    monkeypatch.setattr("rpncodec.training.trainer.time.monotonic",
                        lambda: (lambda n: n if n < 60 else 60 + 1.5 * (n - 60))(next(readings)))
    out = tmp_path / "slowed"
    assert train(image_folder, out, 100000, "--minutes", "2", "--checkpoint-every", "1000",
                 "--val-every", "1000") == 0
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    fitted = next(r["fitted_steps"] for r in log if "fitted_steps" in r)
    refits = [r["refitted_steps"] for r in log if "refitted_steps" in r]
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert refits and refits == sorted(refits, reverse=True) and refits[-1] < fitted
    assert not any("stopped" in r for r in log)  # without the refits the budget cut it
    assert state["step"] == state["config"]["steps"] == refits[-1]  # lr decay included


def test_spatial_levels_warm_started_from_single_layer_models(image_folder, tmp_path) -> None:
    from rpncodec.models import build_model, preset
    from rpncodec.training.warmstart import levels_from_singles

    singles = []
    for seed in range(3):
        torch.manual_seed(seed)
        singles.append(build_model(preset("single", "tiny")))
    model = build_model(preset("spatial", "tiny"))
    levels_from_singles(model, singles)
    assert torch.equal(model.levels[2].synthesis[0].weight,
                       singles[2].levels[0].synthesis[0].weight)
    assert torch.equal(model.levels[1].latent_codec.bottleneck.quantiles,
                       singles[1].levels[0].latent_codec.bottleneck.quantiles)
    z = torch.randn(1, 8, 4, 4)
    assert not model.levels[1].prediction(z).any()  # the prediction starts at exactly zero
    with pytest.raises(ValueError, match="one single-layer model per level"):
        levels_from_singles(model, singles[:2])
    path = tmp_path / "single.pt"
    export(singles[0], path, settle_steps=10)
    assert train(image_folder, tmp_path / "s", 2, "--mode", "spatial",
                 "--init-levels", str(path), str(path), str(path)) == 0
    assert train(image_folder, tmp_path / "q", 2, "--init-levels", str(path)) == 1


def test_extra_data_fills_its_share_of_each_batch_and_is_validated_apart(image_folder,
                                                                         tmp_path) -> None:
    extra = tmp_path / "extra"
    extra.mkdir()
    flat = np.zeros((80, 96, 3), np.uint8)
    flat[:, :48] = (250, 40, 180)  # flat colour: nothing like the smooth training images
    for i in range(21):  # every 20th is held out: files 0 and 20
        Image.fromarray(flat).save(extra / f"{i:02d}.png")
    cfg = TrainConfig(preset="tiny", steps=2, batch=4, crop=64, data=str(image_folder),
                      extra_data=str(extra), extra_share=0.5, val_every=1)
    trainer = Trainer(cfg, tmp_path / "run")
    x = trainer.batch()
    assert x.shape == (4, 3, 64, 64)
    is_flat = [bool(((b * 255).round() == 250).any() and ((b * 255).round() == 0).any())
               for b in x]
    assert is_flat == [False, False, True, True]
    record = trainer.validate()
    assert trainer.val_extra.shape[0] == 2
    assert set(record["extra"]) >= {"bpp", "psnr"} and record["extra"]["psnr"] != record["psnr"]
    with pytest.raises(RpncodecError, match="--extra-share"):
        Trainer(replace(cfg, extra_share=1.5), tmp_path / "bad")
