"""The WGAN family's factorised output (``output: "layers"``): shares × layer energies, critics, calibration."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

from caloforge.exceptions import ConfigError
from caloforge.models import build_model, load_model, save_model
from caloforge.models.calibration import matching_cuts
from caloforge.models.seeding import torch_generator
from caloforge.models.wgan import WGAN, WGANTrainer, _gumbel
from caloforge.training.data import DeviceData
from tests.models.tiny import TINY, tiny_showers

CFG = {**TINY["wgan"][0], "output": "layers"}


pytestmark = pytest.mark.usefixtures("one_thread")


def _model(n: int = 64, seed: int = 0, **config: object) -> WGAN:
    data = tiny_showers(n, seed=seed)
    model = build_model("wgan", data.geometry, data=data, config={**CFG, **config}, seed=0)
    assert isinstance(model, WGAN)
    return model


def _inputs(model: WGAN, seed: int, energy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded noise for len(energy) showers and the model's conditions for those energies."""
    z = torch.randn(len(energy), model.latent_dim, generator=torch_generator(seed))
    return z, model.preprocessing.condition(energy)


def _step_moves_every_parameter(trainer: WGANTrainer) -> dict[str, float]:
    """One training step on two batches of 16 toy showers; every generator and critic parameter must move."""
    data = DeviceData.build(tiny_showers(32, seed=1), trainer.model.preprocessing, torch.device("cpu"))
    params = [p for opt in trainer.optimizers.values() for g in opt.param_groups for p in g["params"]]
    before = [p.detach().clone() for p in params]
    losses = trainer.training_step([data.batch(np.arange(i * 16, (i + 1) * 16)) for i in range(2)])
    assert all(np.isfinite(v) for v in losses.values())
    for p, b in zip(params, before, strict=True):
        assert not torch.equal(p.detach(), b), f"parameter {tuple(p.shape)} never got a gradient"
    return losses


def test_config_checks() -> None:
    with pytest.raises(ConfigError, match='voxel_transform: output "layers" needs "linear"'):
        _model(voxel_transform="log")
    with pytest.raises(ConfigError, match='voxel_cut: needs output "layers"'):
        _model(output="voxels", voxel_cut=[0.1, 0.1, 0.1])
    with pytest.raises(ConfigError, match="voxel_cut: must be finite energies"):
        _model(voxel_cut=[0.1, -1.0, 0.1])
    with pytest.raises(ConfigError, match="voxel_cut: needs one cut per layer"):
        _model(voxel_cut=[0.1])
    with pytest.raises(ConfigError, match='placement_noise: needs output "layers"'):
        _model(output="voxels", placement_noise=True)
    with pytest.raises(ConfigError, match='energy_noise: needs output "layers"'):
        _model(output="voxels", energy_noise=True)
    with pytest.raises(ConfigError, match='radial_moments: needs output "layers"'):
        _model(output="voxels", radial_moments=True)


def test_u_features_standardise_and_invert() -> None:
    data = tiny_showers(400, seed=2)
    model = _model(400, seed=2)
    energy = torch.from_numpy(data.energy.astype(np.float32))
    layer = torch.from_numpy(data.layer_energies().astype(np.float32))
    t = model.u_features(layer, energy)
    # fitted on this very sample: mean 0 and spread 1 in every feature; the toy's response E_tot/E_inc is
    # exact, so log u_0 has no spread and its scale stops at the floor
    np.testing.assert_allclose(t.mean(dim=0).numpy(), 0.0, atol=1e-3)
    np.testing.assert_allclose(t.std(dim=0)[1:].numpy(), 1.0, atol=1e-2)
    assert float(model.u_scale[0]) == pytest.approx(1e-4)
    back = model.layer_energies(t, energy)
    filled = (layer > 0).all(dim=1)
    assert filled.float().mean() > 0.5
    torch.testing.assert_close(back[filled], layer[filled], rtol=1e-3, atol=1e-3)


def test_shares_sum_to_one_per_layer_and_showers_keep_their_layer_energies() -> None:
    model = _model().eval()
    n = 50
    energy = torch.linspace(1_000.0, 90_000.0, n)
    z, cond = _inputs(model, 4, energy)
    with torch.no_grad():
        share, t = model.parts(z, cond)
        showers = model(z, energy)
    assert share.shape == (n, 40)
    assert t.shape == (n, 3)
    torch.testing.assert_close(share @ model.membership, torch.ones(n, 3))
    assert (share > 0).all()  # a softmax: no voxel is empty before the cut
    torch.testing.assert_close(showers @ model.membership, model.layer_energies(t, energy), rtol=1e-4, atol=1e-3)


def test_trainer_moves_every_parameter_and_is_deterministic() -> None:
    def run() -> tuple[dict[str, float], dict[str, torch.Tensor]]:
        model = _model()
        cls = model.trainer_class()
        assert cls is WGANTrainer
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)  # the critics' initial weights (the training loop seeds them the same way)
            trainer = cls(model, cls.config_from_dict(TINY["wgan"][1]), generator=torch_generator(0))
        trainer.train()
        losses = _step_moves_every_parameter(trainer)
        # the voxel critic sees the shares and the u-features: V + L inputs besides the condition
        assert trainer.critics["voxel"].net[0].in_features == 40 + 3 + model.preprocessing.n_conditions
        return losses, model.state_dict()

    (la, wa), (lb, wb) = run(), run()
    assert la == lb
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_calibration_matches_the_number_of_filled_voxels_and_round_trips(tmp_path: Path) -> None:
    data = tiny_showers(300, seed=3)
    model = _model().eval()
    energy = torch.from_numpy(data.energy.astype(np.float32))
    with torch.no_grad():
        uncut = model.sample(energy, generator=torch_generator(11)).numpy()
    model.calibrate(data, seed=11)
    cuts = model.config.voxel_cut
    assert cuts is not None
    assert len(cuts) == 3
    with torch.no_grad():
        showers = model.sample(energy, generator=torch_generator(11)).numpy()
    bounds = np.cumsum((0, *data.geometry.layer_sizes))
    counts = [int((showers[:, a:b] > 0).sum()) for a, b in itertools.pairwise(bounds)]
    wanted = [int((data.showers[:, a:b] > 0).sum()) for a, b in itertools.pairwise(bounds)]
    assert counts == wanted
    assert (uncut > 0).sum() == uncut.size > sum(wanted)  # the softmax filled every voxel: the cut mattered
    # the cut energy goes back to the layer: a layer with a voxel above the cut keeps its generated energy
    # (an untrained generator spreads the energy evenly, so many of its low-energy layers fall below the cut)
    cut_sums, uncut_sums = showers @ model.membership.numpy(), uncut @ model.membership.numpy()
    filled = cut_sums > 0
    assert filled.mean() > 0.3
    np.testing.assert_allclose(cut_sums[filled], uncut_sums[filled], rtol=1e-4)
    loaded = load_model(save_model(model, tmp_path / "m"))
    assert isinstance(loaded, WGAN)
    assert loaded.config.voxel_cut == cuts
    with torch.no_grad():
        np.testing.assert_array_equal(loaded.sample(energy, generator=torch_generator(11)).numpy(), showers)


def test_a_layer_emptied_by_the_cut_stays_finite_in_float16() -> None:
    # all of layer 2 below its cut: nothing to give its energy back to. In float16 the give-back factor
    # layer / max(kept, 1e-30) was inf (1e-30 is 0 there) and 0 × inf NaN; it is 0 now (calibration.give_back)
    model = _model(voxel_cut=[0.0, 0.0, 1e9]).eval()
    n = 20
    energy = torch.linspace(1_000.0, 50_000.0, n)
    z, cond = _inputs(model, 7, energy)
    with torch.no_grad():
        full = model._voxels(z, energy, cond, model.config.voxel_cut)
        half = model.half()._voxels(z.half(), energy.half(), cond.half(), model.config.voxel_cut)
    for showers in (full, half):
        assert torch.isfinite(showers).all()
        layer = showers.float() @ model.membership.float()
        assert (layer[:, 2] == 0).all()
        assert (layer[:, :2] > 0).all()


def test_plain_output_has_nothing_to_calibrate() -> None:
    data = tiny_showers(64)
    model = build_model("wgan", data.geometry, data=data, config=TINY["wgan"][0], seed=0)
    model.calibrate(data, seed=1)
    assert model.config.voxel_cut is None


def test_moments_are_the_layers_centres_and_widths() -> None:
    model = _model()
    geometry = model.geometry
    xy = geometry.voxel_centers()[:, :2]
    share = torch.zeros(2, geometry.n_voxels)
    bounds = np.cumsum((0, *geometry.layer_sizes))
    for i, a in enumerate(bounds[:-1]):
        share[0, a] = 1.0  # all of the layer in one cell: centre = the cell's centre, width 0
        share[1, a : a + 2] = 0.5  # two neighbouring cells: centre between them, width half their distance
        raw = model._raw_moments(share).reshape(2, -1, 4)[:, i]
        np.testing.assert_allclose(raw[0].numpy(), [*xy[a], 0.0, 0.0], atol=2e-3)
        half = np.abs(xy[a] - xy[a + 1]) / 2
        np.testing.assert_allclose(raw[1].numpy(), [*(xy[a] + xy[a + 1]) / 2, *half], atol=2e-3)
    # fitted on the training sample: standardised moments of the data have mean 0
    data = tiny_showers(64)
    moments = model.moments(model.shares(torch.from_numpy(data.showers.astype(np.float32))))
    np.testing.assert_allclose(moments.mean(dim=0).numpy(), 0.0, atol=1e-3)


def test_radial_moments_are_the_layers_mean_radius_and_radial_width() -> None:
    model = _model(radial_moments=True)
    assert model.n_moments == 6 * 3
    geometry = model.geometry
    r = geometry.voxel_r()
    bounds = np.cumsum((0, *geometry.layer_sizes))
    share = torch.zeros(1, geometry.n_voxels)
    for a in bounds[:-1]:
        share[0, a : a + 2] = 0.5  # two cells: mean radius between theirs, radial width half their difference
    raw = model._raw_moments(share).reshape(3, 6)
    for i, a in enumerate(bounds[:-1]):
        np.testing.assert_allclose(raw[i, 4:].numpy(), [(r[a] + r[a + 1]) / 2, abs(r[a] - r[a + 1]) / 2], atol=2e-3)
    plain = _model()
    torch.testing.assert_close(raw[:, :4], plain._raw_moments(share).reshape(3, 4))
    trainer = WGANTrainer(
        model,
        WGANTrainer.config_from_dict({**TINY["wgan"][1], "high_level_critic": True}),
        generator=torch_generator(0),
    )
    assert trainer.critics["energy"].net[0].in_features == 3 + 18 + model.preprocessing.n_conditions


def test_high_level_critic_sees_the_moments() -> None:
    model = _model()
    config = WGANTrainer.config_from_dict({**TINY["wgan"][1], "high_level_critic": True})
    trainer = WGANTrainer(model, config, generator=torch_generator(0))
    trainer.train()
    assert trainer.critics["energy"].net[0].in_features == 3 + 4 * 3 + model.preprocessing.n_conditions
    _step_moves_every_parameter(trainer)
    plain = build_model("wgan", model.geometry, data=tiny_showers(32), config=TINY["wgan"][0], seed=0)
    with pytest.raises(ConfigError, match='high_level_critic: needs model output "layers"'):
        WGANTrainer(plain, config, generator=torch_generator(0))


def test_soft_cut_in_training_keeps_as_many_voxels_as_the_real_batch() -> None:
    model = _model()
    config = WGANTrainer.config_from_dict({**TINY["wgan"][1], "cut_in_training": True, "cut_softness": 0.01})
    trainer = WGANTrainer(model, config, generator=torch_generator(0))
    data = DeviceData.build(tiny_showers(32, seed=1), model.preprocessing, torch.device("cpu"))
    batch = data.batch(np.arange(32))
    z = torch.randn(32, model.latent_dim, generator=torch_generator(2))
    with torch.no_grad():
        _, t = model.parts(z, batch.cond)
        # peaked shares spanning decades, as a trained generator's (an untrained one's are nearly uniform)
        logits = 3.0 * torch.randn(32, model.geometry.n_voxels, generator=torch_generator(5))
        sizes = list(model.geometry.layer_sizes)
        share = torch.cat([torch.softmax(part, dim=1) for part in logits.split(sizes, dim=1)], dim=1)
        cut_share = trainer._soft_cut(share, t, batch.energy, batch.x)
        voxels = share * model.layer_energies(t, batch.energy).index_select(1, model.voxel_layer)
        cuts = matching_cuts(voxels, batch.x, sizes, 0.0, 1e-12)  # the cut _soft_cut applies
    bounds = np.cumsum((0, *model.geometry.layer_sizes))
    n_low = 0
    for i, (a, b) in enumerate(itertools.pairwise(bounds)):
        wanted = int((batch.x[:, a:b] > 0).sum())
        assert 0 < wanted < 32 * (b - a)
        assert int((voxels[:, a:b] >= cuts[i]).sum()) == wanted
        # a sharp sigmoid (softness 0.01): in a layer with a voxel above the cut, voxels at half the cut keep
        # nothing (a layer entirely below it is renormalised as a whole: a soft cut never empties a layer)
        above = (voxels[:, a:b] >= cuts[i]).any(dim=1, keepdim=True)
        low = (voxels[:, a:b] < 0.5 * cuts[i]) & above
        n_low += int(low.sum())
        assert float(cut_share[:, a:b][low].sum()) < 1e-6 * max(int(low.sum()), 1)
    assert n_low > 0
    filled = (cut_share @ model.membership) > 0
    torch.testing.assert_close((cut_share @ model.membership)[filled], torch.ones(int(filled.sum())))
    # and the generator still gets a gradient through it
    trainer.train()
    _step_moves_every_parameter(trainer)
    plain = build_model("wgan", model.geometry, data=tiny_showers(32), config=TINY["wgan"][0], seed=0)
    with pytest.raises(ConfigError, match='cut_in_training: needs model output "layers"'):
        WGANTrainer(plain, config, generator=torch_generator(0))


def test_gumbel_noise_from_normal_noise() -> None:
    g = _gumbel(torch.randn(400_000, generator=torch_generator(6), dtype=torch.float32))
    # the standard Gumbel distribution: mean = Euler-Mascheroni constant, standard deviation pi / sqrt(6)
    assert float(g.mean()) == pytest.approx(0.5772, abs=0.01)
    assert float(g.std()) == pytest.approx(np.pi / np.sqrt(6), abs=0.01)
    assert torch.isfinite(_gumbel(torch.tensor([-40.0, 0.0, 40.0]))).all()  # clipped: finite at any noise


def test_gumbel_noise_is_accurate_in_float32_in_both_tails() -> None:
    # float32 1 − Φ(z) cancels in the upper tail (at z = 3.4 the old transform was off by 1.2e-4, enough for
    # onnxruntime and PyTorch to disagree beyond the export tolerance); the transform must follow the float64
    # truth −log(−log Φ(z)) to float32 rounding over the whole clipped range, in float16 stay finite
    z = torch.linspace(-7.0, 5.29, 100_001, dtype=torch.float64)
    exact = -torch.log(-torch.special.log_ndtr(z))
    assert float((_gumbel(z) - exact).abs().max()) < 5e-7
    err32 = (_gumbel(z.float()).double() - exact).abs() / exact.abs().clamp_min(1.0)
    assert float(err32.max()) < 2e-6
    assert torch.isfinite(_gumbel(z.half())).all()


def test_placement_noise_draws_the_shares_from_the_latent_noise() -> None:
    model = _model(placement_noise=True).eval()
    plain = _model()
    assert model.latent_dim == plain.latent_dim + model.geometry.n_voxels
    n = 200
    energy = torch.full((n,), 20_000.0)
    z, cond = _inputs(model, 4, energy)
    with torch.no_grad():
        share, t = model.parts(z, cond)
        # the same network noise, another Gumbel draw: the layer energies stay, the shares move
        other = torch.cat([z[:, : model.config.latent_dim], torch.randn(n, 40, generator=torch_generator(5))], 1)
        share2, t2 = model.parts(other, cond)
    assert t.shape == (n, 3)
    torch.testing.assert_close(t2, t)
    torch.testing.assert_close(share @ model.membership, torch.ones(n, 3))
    assert (share - share2).abs().max() > 0.01
    # one network noise for every shower, only the Gumbel draws differ: the layer-0 peak moves between showers
    same = torch.cat([z[:1, : model.config.latent_dim].expand(n, -1), z[:, model.config.latent_dim :]], dim=1)
    with torch.no_grad():
        peaks = model.parts(same, cond)[0][:, : model.geometry.layer_sizes[0]].argmax(dim=1)
    assert len(torch.unique(peaks)) > 3
    trainer = WGANTrainer(model, WGANTrainer.config_from_dict(TINY["wgan"][1]), generator=torch_generator(0))
    trainer.train()
    _step_moves_every_parameter(trainer)  # the noise scales are network outputs: all weights get a gradient


def test_energy_noise_draws_the_layer_energies_from_the_latent_noise() -> None:
    model = _model(energy_noise=True).eval()
    assert model.latent_dim == _model().latent_dim + 3
    n = 300
    z = torch.randn(n, model.latent_dim, generator=torch_generator(7))
    # one network noise for every shower, only the last three (the u-features' noise) differ
    same = torch.cat([z[:1, :-3].expand(n, -1), z[:, -3:]], dim=1)
    cond = model.preprocessing.condition(torch.full((n,), 20_000.0))
    with torch.no_grad():
        share, t = model.parts(same, cond)
    torch.testing.assert_close(share, share[:1].expand(n, -1))  # the shapes do not depend on that noise
    # t = mu + softplus(rho) * eps: linear in eps with a positive slope, the same for every shower
    eps = same[:, -3:]
    for i in range(3):
        slope = np.polyfit(eps[:, i].numpy(), t[:, i].numpy(), 1)[0]
        assert slope > 0
        np.testing.assert_allclose(t[:, i].numpy(), (t[0, i] + slope * (eps[:, i] - eps[0, i])).numpy(), atol=1e-4)
    both = _model(placement_noise=True, energy_noise=True)
    assert both.latent_dim == model.latent_dim + 40
    trainer = WGANTrainer(both, WGANTrainer.config_from_dict(TINY["wgan"][1]), generator=torch_generator(0))
    trainer.train()
    _step_moves_every_parameter(trainer)


def test_layer_sums_stay_float32_under_bf16_autocast() -> None:
    # FastSim's bf16/fp16 runs decode under autocast; the layer energies and sums that scale every voxel must
    # not be bf16 (in bf16 the sums widened calogan-eplus-wgan's 0.12 %-wide E_tot/E_inc peak by 70 %)
    model = _model(voxel_cut=[1.0, 1.0, 1.0]).eval()
    z = torch.randn(16, model.latent_dim, generator=torch_generator(3))
    energy = torch.linspace(2e3, 9e4, 16)
    cond = model.preprocessing.condition(energy)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        t = model.parts(z, cond)[1]
        voxels = model._voxels(z, energy, cond, model.config.voxel_cut)
    layer = model.layer_energies(t.float(), energy).double()
    assert voxels.dtype == torch.float32
    sums = voxels.double() @ model.membership.double()
    kept = sums > 0
    assert kept.float().mean() > 0.5
    assert torch.allclose(sums[kept], layer[kept], rtol=1e-5, atol=0)


def test_two_stage_shapes_follow_the_layer_energies_they_are_given(tmp_path: Path) -> None:
    model = _model(two_stage=True, placement_noise=True, energy_noise=True, energy_latent_dim=5).eval()
    assert model.latent_dim == model.config.latent_dim + 40 + 5 + 3
    n = 64
    energy = torch.linspace(2_000.0, 90_000.0, n)
    z, cond = _inputs(model, 8, energy)
    with torch.no_grad():
        share, t = model.parts(z, cond)
        torch.testing.assert_close(t, model.energy_features(z, cond))
        torch.testing.assert_close(share, model.shape_given(z, cond, t))
        # the shape generator is conditioned on the u-features: other layer energies, other shapes
        assert (model.shape_given(z, cond, t + 1.0) - share).abs().max() > 1e-4
        # the energy generator sees only its own noise (and the conditions): the shape noise leaves t alone
        other = z.clone()
        other[:, : model.config.latent_dim] = torch.randn(n, model.config.latent_dim, generator=torch_generator(9))
        torch.testing.assert_close(model.energy_features(other, cond), t)
        showers = model(z, energy)
    torch.testing.assert_close(share @ model.membership, torch.ones(n, 3))
    torch.testing.assert_close(showers @ model.membership, model.layer_energies(t, energy), rtol=1e-4, atol=1e-3)
    loaded = load_model(save_model(model, tmp_path / "m"))
    with torch.no_grad():
        torch.testing.assert_close(loaded(z, energy), showers, rtol=0, atol=0)
    with pytest.raises(ConfigError, match='two_stage: needs output "layers"'):
        _model(output="voxels", two_stage=True)
    with pytest.raises(ConfigError, match="energy_hidden: must be a non-empty list"):
        _model(two_stage=True, energy_hidden=[])


def test_two_stage_critics_judge_the_shapes_given_the_real_layer_energies() -> None:
    def run() -> tuple[dict[str, float], dict[str, torch.Tensor]]:
        model = _model(two_stage=True, placement_noise=True, energy_noise=True)
        config = WGANTrainer.config_from_dict({**TINY["wgan"][1], "high_level_critic": True})
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            trainer = WGANTrainer(model, config, generator=torch_generator(0))
        trainer.train()
        n_cond = model.preprocessing.n_conditions
        assert list(trainer.critics) == ["voxel", "moments", "energy"]
        # shapes | conditions and the layers' u-features; moments | the same; u-features | conditions
        assert trainer.critics["voxel"].net[0].in_features == 40 + n_cond + 3
        assert trainer.critics["moments"].net[0].in_features == model.n_moments + n_cond + 3
        assert trainer.critics["energy"].net[0].in_features == 3 + n_cond
        losses = _step_moves_every_parameter(trainer)
        return losses, model.state_dict()

    (la, wa), (lb, wb) = run(), run()
    assert la == lb
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    # the fakes the shape critics see are made at the real showers' layer energies
    model = _model(two_stage=True)
    trainer = WGANTrainer(model, WGANTrainer.config_from_dict(TINY["wgan"][1]), generator=torch_generator(0))
    batch = DeviceData.build(tiny_showers(16, seed=3), model.preprocessing, torch.device("cpu")).batch(np.arange(16))
    with torch.no_grad():
        real, real_t = trainer._real_views(batch)
        assert real_t is not None
        fake = trainer._fake_views(trainer.noise(16), batch.energy, batch.cond, batch.x, real_t)
    torch.testing.assert_close(fake["voxel"][1], real["voxel"][1])  # the same condition: E and real u-features
    torch.testing.assert_close(real["voxel"][1][:, -3:], real_t)
    assert not torch.allclose(fake["energy"][0], real_t)  # the energy critic judges the energy generator's own


def test_linear_view_shows_the_critic_standardised_energy_fractions() -> None:
    model = _model()
    config = WGANTrainer.config_from_dict({**TINY["wgan"][1], "linear_view": True})
    trainer = WGANTrainer(model, config, generator=torch_generator(0))
    trainer.train()
    n_cond = model.preprocessing.n_conditions
    assert trainer.critics["voxel"].net[0].in_features == 2 * 40 + 3 + n_cond
    data = DeviceData.build(tiny_showers(32, seed=1), model.preprocessing, torch.device("cpu"))
    first = data.batch(np.arange(16))
    with torch.no_grad():
        views, _ = trainer._real_views(first, update_scale=True)
    scale = trainer.critics["linear_scale"]
    assert int(scale.seen) == 1
    # the first real batch sets the statistics: its view of v / E_inc has mean 0 and, above the floor, spread 1
    fraction = first.x  # the WGAN's data are v / E_inc
    torch.testing.assert_close(scale.mean, fraction.mean(dim=0), rtol=1e-4, atol=1e-6)
    linear = views["voxel"][0][:, 40:80]
    torch.testing.assert_close(linear.mean(dim=0), torch.zeros(40), rtol=0, atol=1e-4)
    wide = fraction.std(dim=0, unbiased=False) > 1e-3
    assert wide.sum() > 5
    torch.testing.assert_close(linear[:, wide].std(dim=0, unbiased=False), torch.ones(int(wide.sum())))
    _step_moves_every_parameter(trainer)
    assert int(scale.seen) == 1 + 2  # one update per critic batch
    assert "linear_scale.mean" in {f"{k}" for k in trainer.critics.state_dict()}  # checkpointed
    plain = build_model("wgan", model.geometry, data=tiny_showers(32), config=TINY["wgan"][0], seed=0)
    with pytest.raises(ConfigError, match='linear_view: needs model output "layers"'):
        WGANTrainer(plain, config, generator=torch_generator(0))
