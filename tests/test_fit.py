"""mira.nn: the one training loop (fit), its settings and the device rule."""
from __future__ import annotations

import io

import pytest
import torch

from mira.errors import ParameterError
from mira.nn import TrainSettings
from mira.nn.device import model_device, resolve_device, to_device
from mira.nn.fit import fit, seeded


def _data(n: int = 32, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    return x, x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.1


def _batches(x, y, bs: int = 8, drawn: list | None = None):
    def batches(epoch):
        for k in range(0, len(x), bs):
            if drawn is not None:
                drawn.append((epoch, k))
            yield x[k:k + bs], y[k:k + bs]

    return batches


def _mse(model, batch):
    xb, yb = batch
    return torch.mean((model(xb) - yb) ** 2)


def _bytes(model) -> bytes:
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return buf.getvalue()


def test_same_seed_gives_identical_weight_bytes_and_another_seed_other_weights():
    x, y = _data()
    st = TrainSettings(epochs=3, lr=1e-2, seed=5, device="cpu")
    a = fit(lambda: torch.nn.Linear(3, 1), _batches(x, y), st, loss=_mse)
    b = fit(lambda: torch.nn.Linear(3, 1), _batches(x, y), st, loss=_mse)
    c = fit(lambda: torch.nn.Linear(3, 1), _batches(x, y), st.replace(seed=6), loss=_mse)
    assert _bytes(a.model) == _bytes(b.model) and _bytes(a.model) != _bytes(c.model)
    assert a.steps == 12 and a.epochs == 3 and a.stopped_by == "epochs" and len(a.history) == 3
    assert a.history[-1]["train_loss"] < a.history[0]["train_loss"]
    before = torch.random.get_rng_state()
    fit(lambda: torch.nn.Linear(3, 1), _batches(x, y), st, loss=_mse)
    assert torch.equal(before, torch.random.get_rng_state())  # the global stream is left untouched


def test_early_stopping_keeps_the_best_epoch_weights():
    x, y = _data()
    scores = iter([0.5, 0.9, 0.3, 0.2, 0.1, 0.8])
    snapshots = {}

    def validate(model, epoch):
        snapshots[epoch] = _bytes(model)
        return next(scores)

    res = fit(lambda: torch.nn.Linear(3, 1), _batches(x, y), TrainSettings(epochs=6, patience=2, seed=0),
              loss=_mse, validate=validate)
    assert res.stopped_by == "early_stopping" and res.epochs == 4 and res.best_epoch == 2
    assert res.best_score == pytest.approx(0.9)
    assert [r["score"] for r in res.history] == pytest.approx([0.5, 0.9, 0.3, 0.2])
    assert _bytes(res.model) == snapshots[2] and not res.model.training


def test_budget_stops_after_the_step_that_spends_it_and_batches_are_drawn_lazily():
    x, y = _data()
    drawn: list = []
    res = fit(lambda: torch.nn.Linear(3, 1), _batches(x, y, drawn=drawn),
              TrainSettings(epochs=50, budget_s=1e-9, seed=0), loss=_mse, validate=lambda m, e: 0.0)
    assert res.stopped_by == "budget" and res.steps == 1 and drawn == [(1, 0)] and len(res.history) == 1
    drawn.clear()
    res = fit(lambda: torch.nn.Linear(3, 1), _batches(x, y, drawn=drawn),
              TrainSettings(epochs=50, budget_s=1e-9, budget_check="epoch", budget_clock="cpu", seed=0), loss=_mse)
    assert res.stopped_by == "budget" and res.steps == 4 and len(drawn) == 4  # the epoch is whole


def test_steps_per_epoch_cosine_schedule_and_a_custom_step():
    x, y = _data()

    def endless(epoch):
        while True:
            yield x[:8], y[:8]

    st = TrainSettings(epochs=4, steps_per_epoch=5, lr=0.1, min_lr_factor=0.1, seed=1)
    res = fit(lambda: torch.nn.Linear(3, 1), endless, st, loss=_mse)
    assert res.steps == 20 and [r["steps"] for r in res.history] == [5, 10, 15, 20]
    assert res.history[-1]["lr"] == pytest.approx(0.01) and res.history[0]["lr"] < 0.1
    calls = []
    net = torch.nn.Linear(3, 1)
    res = fit(net, endless, TrainSettings(epochs=2, steps_per_epoch=3),
              step=lambda model, batch: calls.append(model.training) or 1.0,
              on_step=lambda model, step, loss: calls.append(step))
    assert res.model is net and res.steps == 6 and calls[:4] == [True, 1, True, 2]
    with pytest.raises(ParameterError, match="exactly one of loss= and step="):
        fit(net, endless, TrainSettings(), loss=_mse, step=lambda m, b: 0.0)


@pytest.mark.parametrize("bad", [{"epochs": 0}, {"lr": 0.0}, {"min_lr_factor": 0.0}, {"min_lr_factor": 0.5},
                                 {"patience": -1}, {"budget_s": -1.0}, {"budget_clock": "gpu"},
                                 {"budget_check": "batch"}, {"device": "tpu"}, {"threads": 0},
                                 {"betas": (0.9, 1.0)}, {"weight_decay": -1e-4}])
def test_settings_are_validated(bad):
    with pytest.raises(ParameterError):
        TrainSettings(**bad)


def test_settings_from_mapping_names_unknown_keys():
    st = TrainSettings.from_mapping({"epochs": 3, "betas": [0.5, 0.999]})
    assert st.epochs == 3 and st.betas == (0.5, 0.999)
    with pytest.raises(ParameterError, match=r"restore\.training: unknown training settings \['epoch'\]"):
        TrainSettings.from_mapping({"epoch": 3}, where="restore.training")


def test_device_resolution_uses_cuda_only_when_torch_sees_it():
    want = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == want and resolve_device(None).type == want
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ParameterError, match="unknown device 'tpu'"):
        resolve_device("tpu")
    t = torch.zeros(2)
    assert to_device(t, torch.device("cpu")) is t  # on the CPU nothing moves
    moved = to_device({"a": (t, [t]), "b": 1}, torch.device("cpu"))
    assert moved["a"][0] is t and moved["a"][1][0] is t and moved["b"] == 1
    assert model_device(torch.nn.Linear(1, 1)).type == "cpu" and model_device(torch.nn.ReLU()).type == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_cuda_without_a_cuda_device_is_refused_clearly():
    with pytest.raises(ParameterError, match="torch sees no CUDA device"):
        resolve_device("cuda")
    with pytest.raises(ParameterError, match="torch sees no CUDA device"):
        fit(torch.nn.Linear(3, 1), _batches(*_data()), TrainSettings(device="cuda"), loss=_mse)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_auto_trains_on_the_gpu_when_torch_sees_one():
    x, y = _data()
    res = fit(lambda: torch.nn.Linear(3, 1), _batches(x, y), TrainSettings(epochs=2, seed=0), loss=_mse,
              validate=lambda m, e: -float(_mse(m, (x.to(model_device(m)), y.to(model_device(m))))))
    assert res.device.type == "cuda" and model_device(res.model).type == "cuda"


def test_seeded_restores_the_global_stream():
    before = torch.random.get_rng_state()
    with seeded(3):
        a = torch.rand(2)
    with seeded(3):
        b = torch.rand(2)
    assert torch.equal(a, b) and torch.equal(before, torch.random.get_rng_state())
