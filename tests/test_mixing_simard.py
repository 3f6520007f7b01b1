"""Mixup by the chapter's name, the Mixup/CutMix switch (library and strategy study), and the
chapter's Simard elastic field (Gaussian noise, reflected edges)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import yaml
from scipy import ndimage as ndi

from mira.augment import (
    CHAPTER_MIXUP_ALPHA,
    Mixup,
    MixupOrCutMix,
    Sample,
    cutmix,
    elastic_deform_simard,
    mixup,
    simard_displacement,
)
from mira.augment.catalogue import TEXTBOOK_ALPHA, TEXTBOOK_SIGMA, TextbookElastic
from mira.augment.spatial import ElasticDeformation, Geometry
from mira.config import validate_config
from mira.errors import ConfigError, ParameterError
from mira.evaluate.strategies import build_strategy


def batch(n: int = 8):
    x = torch.arange(n, dtype=torch.float32).reshape(n, 1, 1, 1).expand(n, 1, 16, 16).contiguous()
    return x, torch.arange(n) % 2


# ---- Mixup / CutMix -----------------------------------------------------------------------------


def test_chapter_alpha_by_name():
    assert CHAPTER_MIXUP_ALPHA == 1.0 and Mixup.chapter().alpha == 1.0 and Mixup("chapter").alpha == 1.0
    x, y = batch()
    a = mixup(x, y, alpha="chapter", generator=torch.Generator().manual_seed(1))
    b = mixup(x, y, alpha=1.0, generator=torch.Generator().manual_seed(1))
    c = mixup(x, y, alpha=0.4, generator=torch.Generator().manual_seed(1))
    assert a.lam == b.lam and torch.equal(a.inputs, b.inputs) and a.lam != c.lam
    with pytest.raises(ParameterError, match="'chapter'"):
        Mixup("book")
    with pytest.raises(ParameterError, match="> 0"):
        mixup(x, y, alpha=0.0, generator=torch.Generator())


def test_mixup_or_cutmix_switch_follows_cutmix_prob_and_the_generator():
    x, y = batch()
    masks = torch.zeros(8, 16, 16, dtype=torch.int64)
    always_mix = MixupOrCutMix(cutmix_prob=0.0)
    always_cut = MixupOrCutMix(cutmix_prob=1.0)
    g = torch.Generator().manual_seed(0)
    assert all(always_mix(x, y, g).kind == "mixup" for _ in range(20))
    assert all(always_cut(x, y, g, masks=masks).kind == "cutmix" for _ in range(20))
    half = MixupOrCutMix()  # the chapter: alpha 1.0 for both, CutMix with probability 0.5
    assert (half.mixup_alpha, half.cutmix_alpha, half.cutmix_prob) == (1.0, 1.0, 0.5)
    kinds = [half(x, y, torch.Generator().manual_seed(s)).kind for s in range(300)]
    assert 110 < kinds.count("cutmix") < 190  # binomial(300, 0.5): +-4.6 sd
    for gen in (np.random.default_rng(3), torch.Generator().manual_seed(3)):
        again = np.random.default_rng(3) if isinstance(gen, np.random.Generator) else torch.Generator().manual_seed(3)
        a = [half(x, y, gen) for _ in range(10)]
        b = [half(x, y, again) for _ in range(10)]
        assert [m.kind for m in a] == [m.kind for m in b] and len({m.kind for m in a}) == 2
        assert all(torch.equal(m.inputs, n.inputs) and m.lam == n.lam for m, n in zip(a, b))
        assert all(abs(sum(m.weights) - 1) < 1e-12 for m in a)
    assert cutmix(x, y, generator=torch.Generator()).kind == "cutmix"
    with pytest.raises(ParameterError, match="cutmix_prob"):
        MixupOrCutMix(cutmix_prob=1.5)
    with pytest.raises(ParameterError, match="explicit"):
        half(x, y, 42)


def test_strategy_study_accepts_the_chapter_alpha(repo):
    s = build_strategy("mixup", "ct", mixup_alpha="chapter")
    assert s.batch_mix == "mixup" and s.mix_alpha == 1.0 and "chapter" in s.description
    assert build_strategy("mixup", "ct").mix_alpha == 0.4
    cfg = yaml.safe_load((repo / "tests" / "config" / "tiny.yaml").read_text())
    cfg.setdefault("evaluate", {}).setdefault("strategies", {})["mixup_alpha"] = "chapter"
    assert validate_config(cfg)["evaluate"]["strategies"]["mixup_alpha"] == "chapter"
    cfg["evaluate"]["strategies"]["mixup_alpha"] = "book"
    with pytest.raises(ConfigError, match="mixup_alpha"):
        validate_config(cfg)


# ---- Simard elastic field -----------------------------------------------------------------------


def test_simard_field_is_the_chapter_s_gaussian_reflected_field():
    rng = np.random.default_rng(7)
    d = simard_displacement((256, 256), 800, 6, np.random.default_rng(7))
    # exactly the chapter's formula: dx drawn first, then dy, smoothed with reflected edges
    dx = ndi.gaussian_filter(rng.standard_normal((256, 256)), 6, mode="reflect") * 800
    dy = ndi.gaussian_filter(rng.standard_normal((256, 256)), 6, mode="reflect") * 800
    assert np.array_equal(d[1], dx.astype(np.float32)) and np.array_equal(d[0], dy.astype(np.float32))
    # RMS per component: alpha / (2 sqrt(pi) sigma) = 37.6 px for Gaussian white noise
    expected = 800 / (2 * math.sqrt(math.pi) * 6)
    rms = np.sqrt((d ** 2).mean(axis=(1, 2)))
    assert np.all(np.abs(rms / expected - 1) < 0.10), (rms, expected)
    uniform_noise = expected / math.sqrt(3)  # 21.7 px: what U(-1, 1) noise would give
    assert rms.min() > 1.4 * uniform_noise
    # reflected edges: the border moves as much as the interior (zero padding would damp it)
    border = np.sqrt((d[:, :, 0] ** 2).mean())
    assert border > 0.9 * expected


def test_elastic_deform_simard_samples_the_image_at_p_plus_d():
    n = 96
    yy, xx = np.mgrid[:n, :n].astype(np.float32)
    img = (yy * 2 + xx).astype(np.float32)  # linear ramp: linear interpolation is exact inside
    out, lab, d = elastic_deform_simard(img, np.random.default_rng(3), 80, 8, label=(xx > 40).astype(np.uint8))
    inside = ((yy + d[0]) > 0) & ((yy + d[0]) < n - 1) & ((xx + d[1]) > 0) & ((xx + d[1]) < n - 1)
    assert inside.mean() > 0.5
    assert np.allclose(out[inside], (2 * (yy + d[0]) + xx + d[1])[inside], atol=1e-2)
    assert set(np.unique(lab)) <= {0, 1}
    with pytest.raises(ParameterError, match="sigma"):
        simard_displacement((8, 8), 800, 0, np.random.default_rng(0))


def test_textbook_elastic_uses_the_same_field():
    s = Sample(np.zeros((64, 64), np.float32), modality="ct")
    params = TextbookElastic(modality="ct").draw(s, np.random.default_rng(0))
    field = ElasticDeformation.displacement(params, Geometry(s.shape, s.spacing))
    direct = simard_displacement(s.shape, TEXTBOOK_ALPHA, TEXTBOOK_SIGMA, np.random.default_rng(params["seed"]))
    assert np.array_equal(field, direct)


def test_mixup_cutmix_strategy_reaches_the_classifier_with_its_switch(monkeypatch):
    """The pipeline's ``mixup_cutmix`` strategy trains through MixupOrCutMix with the configured cutmix_prob."""
    import torch

    from mira.augment.mixing import MixupOrCutMix
    from mira.evaluate import classifier
    from mira.evaluate.strategies import build_strategy

    st = build_strategy("mixup_cutmix", "ct", mixup_alpha="chapter", cutmix_prob=1.0)
    assert isinstance(st.mixer, MixupOrCutMix) and st.mixer.cutmix_prob == 1.0 and st.mixer.mixup_alpha == 1.0
    kinds = []
    mixer = st.mixer

    def spy(x, t, gen):
        out = mixer(x, t, gen)
        kinds.append(out.kind)
        return out

    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 1, 8, 8)).astype(np.float32)
    t = np.eye(2, dtype=np.float32)[rng.integers(0, 2, 8)]
    batches = classifier._batches(list(x), t, lambda a: a, None, spy, 1.0, 4, seed=3)(0)
    xb, tb = next(batches)
    assert kinds == ["cutmix"] and isinstance(xb, torch.Tensor) and tb.shape == (4, 2)
    with pytest.raises(Exception, match="cutmix_prob"):
        build_strategy("mixup_cutmix", "ct", cutmix_prob=1.5)
