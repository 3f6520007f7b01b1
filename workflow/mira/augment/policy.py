"""Learned augmentation in the AutoAugment spirit: policies of sub-policies, and a real search.

* An **operation** is ``(op, probability, magnitude)`` with ``op`` in :data:`OPS` (rotate,
  translate_x/y, shear_x/y, contrast, brightness, gamma, noise, blur), probability in 0..1 (steps
  of 0.1) and magnitude 0..10 (integer). Magnitude ``m`` maps linearly onto the modality profile's
  range (``m = 10`` is the profile's limit: a rotate of magnitude 10 on CT is +-5 deg, random
  sign), so no policy can leave the medical limits.
* A **sub-policy** is two operations applied in order; a :class:`Policy` holds several and applies
  one chosen uniformly per sample (Cubuk et al. 2019). :class:`RandAugment` applies ``n`` random
  operations at a shared magnitude ``m`` (Cubuk et al. 2020).
* :func:`search_policy` scores candidates (random policies, a RandAugment grid, and the
  no-augmentation baseline) with the ``scorer(policy, train, val, rng) -> {"score": ...}`` its
  caller passes (higher is better) and returns them ranked. The built-in scorers are in
  :mod:`mira.augment.scorers` (chosen by name from its plain dict ``SCORERS``); the study layer
  may pass any other, e.g. the strategy study's classifier (:mod:`mira.evaluate.scorer`).

Profiles: a policy takes the resolved :class:`~mira.modalities.ModalityProfile` as ``modality=``
(``Settings.profile(m)``, with the config's ``profiles:`` overrides); :func:`search_policy` passes
its ``profile=`` to the candidates. A modality name, or none (the sample's ``modality``), means the
built-in profile.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import ParameterError
from ..modalities import ModalityProfile, as_profile
from .base import check_generator, to_jsonable, value_range_param
from .compose import apply_records
from .intensity import RandomBlur, RandomBrightness, RandomContrast, RandomGamma, RandomNoise
from .sample import Sample, as_sample
from .spatial import RandomAffine

log = logging.getLogger(__name__)

OPS: tuple[str, ...] = ("rotate", "translate_x", "translate_y", "shear_x", "shear_y", "contrast", "brightness",
                        "gamma", "noise", "blur")
MAX_MAGNITUDE = 10


def _shear_index(nd: int, a: int, b: int) -> int:
    pairs = [(i, j) for i in range(nd) for j in range(nd) if i != j]
    return pairs.index((a % nd, b % nd))


def _towards(m: float, sign: int, lo: float, hi: float, centre: float) -> float:
    """Magnitude ``m`` (0..10) towards ``hi`` (sign > 0) or ``lo`` from the identity ``centre``."""
    end = hi if sign > 0 else lo
    return centre + (end - centre) * m / MAX_MAGNITUDE


def operation_record(op: str, magnitude: float, sign: int, sample: Sample, profile: ModalityProfile):
    """``(transform class, params)`` of one operation at ``magnitude`` with ``sign`` (+1/-1)."""
    if op not in OPS:
        raise ParameterError(f"unknown policy operation {op!r} (known: {', '.join(OPS)})")
    if not 0 <= magnitude <= MAX_MAGNITUDE:
        raise ParameterError(f"magnitude {magnitude} must lie in 0..{MAX_MAGNITUDE}")
    cls, params = _operation_record(op, magnitude, sign, sample, profile)
    if not cls.spatial and profile.name == "us" and sample.meta.get("sector") is not None:
        params["keep_field_of_view"] = dict(sample.meta["sector"])  # nothing changes outside the scan sector
    return cls, params


def _operation_record(op: str, magnitude: float, sign: int, sample: Sample, profile: ModalityProfile):
    nd = sample.ndim
    m = float(magnitude) / MAX_MAGNITUDE
    vr = value_range_param(profile)
    if op in ("rotate", "translate_x", "translate_y", "shear_x", "shear_y"):
        params: dict[str, Any] = {"order": 1, "fill": float(profile.fill_value), "value_range": vr}
        if profile.name == "us" and sample.meta.get("sector") is not None:
            params["keep_field_of_view"] = dict(sample.meta["sector"])
            if op.startswith(("rotate", "shear")):
                params["centre_mm"] = list(sample.meta["sector"]["apex_mm"])
        if op == "rotate":
            params["rotation_deg"] = sign * m * profile.rotation_deg
            if nd == 3:
                params["rotation_axis"] = [1.0, 0.0, 0.0]
        elif op.startswith("translate"):
            t = [0.0] * nd
            t[-1 if op == "translate_x" else -2] = sign * m * profile.translation_max_mm
            params["translation_mm"] = t
        else:
            sh = [0.0] * (nd * (nd - 1))
            # shear_x: x shifts with y; shear_y: y shifts with x
            idx = _shear_index(nd, -1, -2) if op == "shear_x" else _shear_index(nd, -2, -1)
            sh[idx] = sign * m * profile.shear_max_deg
            params["shear_deg"] = sh
        return RandomAffine, params
    if op == "contrast":
        lo, hi = profile.contrast_range
        return RandomContrast, {"factor": _towards(magnitude, sign, lo, hi, min(max(1.0, lo), hi)), "value_range": vr}
    if op == "gamma":
        lo, hi = profile.gamma_range
        return RandomGamma, {"gamma": _towards(magnitude, sign, lo, hi, min(max(1.0, lo), hi)),
                             "window": list(profile.metric_window), "value_range": vr}
    if op == "brightness":
        return RandomBrightness, {"offset": sign * m * profile.brightness_max, "value_range": vr}
    if op == "noise":
        lo, hi = profile.noise_sigma_range
        kind = "rician" if profile.name == "mri" else "gaussian"
        return RandomNoise, {"sigma": lo + (hi - lo) * m, "kind": kind, "value_range": vr}
    lo, hi = profile.blur_sigma_mm_range
    return RandomBlur, {"sigma_mm": lo + (hi - lo) * m, "value_range": vr}


@dataclass(frozen=True)
class Operation:
    """One ``(op, probability, magnitude)`` triple."""

    op: str
    probability: float
    magnitude: int

    def __post_init__(self):
        if self.op not in OPS:
            raise ParameterError(f"unknown policy operation {self.op!r} (known: {', '.join(OPS)})")
        if not 0.0 <= self.probability <= 1.0:
            raise ParameterError(f"operation probability {self.probability} must lie in [0, 1]")
        if not 0 <= self.magnitude <= MAX_MAGNITUDE:
            raise ParameterError(f"operation magnitude {self.magnitude} must lie in 0..{MAX_MAGNITUDE}")

    def to_list(self) -> list:
        return [self.op, float(self.probability), int(self.magnitude)]


def _draw_record(op: Operation | tuple, sample: Sample, profile: ModalityProfile, rng: np.random.Generator):
    name, magnitude = (op.op, op.magnitude) if isinstance(op, Operation) else op
    sign = 1 if rng.random() < 0.5 else -1
    cls, params = operation_record(name, magnitude, sign, sample, profile)
    if cls is RandomNoise:
        params["seed"] = int(rng.integers(0, 2 ** 63 - 1))
    return cls, to_jsonable(params)


class _PolicyBase:
    def __init__(self, modality: ModalityProfile | str | None):
        self.profile = None if modality is None else as_profile(modality)

    def _profile(self, sample: Sample) -> ModalityProfile:
        if self.profile is not None:
            return self.profile
        if sample.modality is None:
            raise ParameterError("policies need a modality: pass modality= (the profile) or set Sample.modality")
        return as_profile(sample.modality)


class Policy(_PolicyBase):
    """An AutoAugment policy: a list of sub-policies of two :class:`Operation` each."""

    def __init__(self, sub_policies: Sequence[Sequence[Operation | Sequence]], modality=None, name: str = "policy"):
        subs = []
        for sp in sub_policies:
            ops = tuple(o if isinstance(o, Operation) else Operation(str(o[0]), float(o[1]), int(o[2])) for o in sp)
            if not ops:
                raise ParameterError("a sub-policy needs at least one operation")
            subs.append(ops)
        self.sub_policies = subs
        self.name = name
        super().__init__(modality)

    def __call__(self, data: Any, rng: np.random.Generator) -> Any:
        sample, back = as_sample(data, self.profile.name if self.profile else None)
        check_generator(rng)
        if not self.sub_policies:
            return back(sample)
        profile = self._profile(sample)
        sub = self.sub_policies[int(rng.integers(len(self.sub_policies)))]
        records = []
        for op in sub:
            if rng.random() < op.probability:
                records.append(_draw_record(op, sample, profile, rng))
        return back(apply_records(sample, records))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "autoaugment", "name": self.name,
                "sub_policies": [[o.to_list() for o in sp] for sp in self.sub_policies]}

    def __repr__(self) -> str:
        return f"Policy({self.name}: {self.to_dict()['sub_policies']})"


class RandAugment(_PolicyBase):
    """RandAugment: ``n`` operations drawn uniformly from ``ops`` per sample, all at magnitude ``m``."""

    def __init__(self, n: int, m: int, ops: Sequence[str] = OPS, modality=None, name: str | None = None):
        if int(n) < 0 or not 0 <= int(m) <= MAX_MAGNITUDE:
            raise ParameterError(f"RandAugment needs n >= 0 and 0 <= m <= {MAX_MAGNITUDE}, got n={n}, m={m}")
        bad = [o for o in ops if o not in OPS]
        if bad:
            raise ParameterError(f"unknown policy operations {bad}")
        self.n, self.m, self.ops = int(n), int(m), tuple(ops)
        self.name = name or f"randaugment_n{self.n}_m{self.m}"
        super().__init__(modality)

    def __call__(self, data: Any, rng: np.random.Generator) -> Any:
        sample, back = as_sample(data, self.profile.name if self.profile else None)
        check_generator(rng)
        profile = self._profile(sample)
        records = [_draw_record((self.ops[int(rng.integers(len(self.ops)))], self.m), sample, profile, rng)
                   for _ in range(self.n)]
        return back(apply_records(sample, records))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "randaugment", "name": self.name, "n": self.n, "m": self.m, "ops": list(self.ops)}


def policy_from_dict(d: dict[str, Any], modality=None):
    """Rebuild a :class:`Policy` or :class:`RandAugment` from its ``to_dict()`` form (e.g. the JSON result)."""
    kind = d.get("kind")
    if kind == "autoaugment":
        return Policy(d["sub_policies"], modality=modality, name=d.get("name", "policy"))
    if kind == "randaugment":
        return RandAugment(d["n"], d["m"], d.get("ops", OPS), modality=modality, name=d.get("name"))
    raise ParameterError(f"unknown policy kind {kind!r}")


def random_policy(rng: np.random.Generator, n_sub_policies: int = 5, ops: Sequence[str] = OPS, modality=None,
                  name: str = "random") -> Policy:
    """A random AutoAugment policy: each sub-policy two ops, probability in 0..1 (step 0.1), magnitude 0..10."""
    subs = []
    for _ in range(int(n_sub_policies)):
        subs.append([Operation(ops[int(rng.integers(len(ops)))], float(rng.integers(0, 11)) / 10.0,
                               int(rng.integers(0, MAX_MAGNITUDE + 1))) for _ in range(2)])
    return Policy(subs, modality=modality, name=name)


# ------------------------------------------------------------------------------------------------
# scorers: the contract (the built-in scorers live in mira.augment.scorers)

#: ``scorer(policy, train, val, rng) -> {"score": ..., ...}``; ``policy`` is None for the baseline.
Scorer = Callable[[Any, Sequence[Sample], Sequence[Sample], np.random.Generator], dict]


def tissue_window(samples: Sequence[Sample]) -> tuple[float, float]:
    """Intensity window of the anatomy: 1st..99th percentile of labelled (or all) training pixels."""
    vals = np.concatenate([(s.image[s.label > 0] if s.label is not None and (s.label > 0).any() else s.image).ravel()
                           for s in samples])
    lo, hi = np.percentile(vals, [1, 99])
    return float(lo), float(hi if hi > lo else lo + 1.0)


# ------------------------------------------------------------------------------------------------
# search


@dataclass
class SearchResult:
    """Ranked candidates (best first); ``best`` is the winning policy object."""

    best: Any
    candidates: list[dict[str, Any]]
    baseline: dict[str, Any] | None
    evaluated: int
    wall_s: float
    stopped_early: bool

    def to_dict(self) -> dict[str, Any]:
        return {"best": self.best.to_dict() if self.best is not None else None,
                "best_score": self.candidates[0]["score"] if self.candidates else None,
                "baseline": self.baseline, "evaluated": self.evaluated, "wall_s": self.wall_s,
                "stopped_early": self.stopped_early, "candidates": self.candidates}


class _NoAugmentation:
    name = "no_augmentation"

    def __call__(self, data, rng):
        return data

    def to_dict(self):
        return {"kind": "none", "name": self.name}


def candidate_policies(rng: np.random.Generator, method: str = "both", n_random: int = 8, n_sub_policies: int = 5,
                       randaugment_n: Sequence[int] = (1, 2), randaugment_m: Sequence[int] = (3, 6, 9),
                       modality=None) -> list:
    """The search space: random AutoAugment policies and/or a RandAugment (n, m) grid."""
    if method not in ("random", "randaugment", "both"):
        raise ParameterError(f"policy search method must be 'random', 'randaugment' or 'both', got {method!r}")
    out: list = []
    if method in ("random", "both"):
        out += [random_policy(rng, n_sub_policies, modality=modality, name=f"random_{i:02d}")
                for i in range(int(n_random))]
    if method in ("randaugment", "both"):
        out += [RandAugment(n, m, modality=modality) for n in randaugment_n for m in randaugment_m]
    return out


def search_policy(train: Sequence[Sample], val: Sequence[Sample], scorer: Scorer, rng: np.random.Generator, *,
                  candidates: Sequence[Any] | None = None, method: str = "both", n_random: int = 8,
                  n_sub_policies: int = 5, randaugment_n: Sequence[int] = (1, 2),
                  randaugment_m: Sequence[int] = (3, 6, 9), time_budget_s: float = 0.0,
                  include_baseline: bool = True, profile: ModalityProfile | None = None) -> SearchResult:
    """Score every candidate policy with ``scorer`` and rank them (best = highest score).

    Each candidate gets its own generator derived from ``rng`` in a fixed order, so results do not
    depend on which candidates ran before. ``time_budget_s > 0`` stops after the candidate that
    crosses the budget (the result says so); the no-augmentation baseline is always scored first.
    ``profile`` (the resolved profile of the samples' modality) bounds the candidates; without it,
    the built-in profile of the first training sample's modality.
    """
    check_generator(rng)
    if not train or not val:
        raise ParameterError("policy search needs training and validation samples")
    modality = profile if profile is not None else train[0].modality
    cands = list(candidates) if candidates is not None else candidate_policies(
        rng, method, n_random, n_sub_policies, randaugment_n, randaugment_m, modality=modality)
    seeds = rng.integers(0, 2 ** 62, size=len(cands) + 1)
    t0 = time.perf_counter()
    rows: list[dict[str, Any]] = []
    baseline = None
    if include_baseline:
        res = scorer(None, train, val, np.random.default_rng(int(seeds[0])))
        baseline = {"name": "no_augmentation", "kind": "none", **res}
        rows.append({**baseline, "policy": {"kind": "none", "name": "no_augmentation"}})
        log.info("baseline (no augmentation): score %.4f", res["score"])
    stopped = False
    evaluated = 0
    for k, pol in enumerate(cands):
        if time_budget_s and time.perf_counter() - t0 > time_budget_s:
            stopped = True
            log.warning("policy search budget %.0f s reached after %d of %d candidates", time_budget_s, k, len(cands))
            break
        res = scorer(pol, train, val, np.random.default_rng(int(seeds[k + 1])))
        d = pol.to_dict()
        rows.append({"name": d["name"], "kind": d["kind"], **res, "policy": d})
        evaluated += 1
        log.info("%s: score %.4f", d["name"], res["score"])
    rows.sort(key=lambda r: -r["score"])
    best_row = rows[0]
    lookup = {p.to_dict()["name"]: p for p in cands}
    best = lookup.get(best_row["name"], _NoAugmentation())
    return SearchResult(best=best, candidates=to_jsonable(rows), baseline=to_jsonable(baseline), evaluated=evaluated,
                        wall_s=time.perf_counter() - t0, stopped_early=stopped)


__all__ = ["OPS", "Operation", "Policy", "RandAugment", "random_policy", "policy_from_dict", "candidate_policies",
           "search_policy", "SearchResult", "Scorer", "tissue_window", "operation_record"]
