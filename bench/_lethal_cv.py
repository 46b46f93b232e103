"""Challenge 2015 alarms under the protocol of ``_protocol``: per-record outcomes of each
candidate parameter set (cached), grouped stratified CV with selection inside the folds, the
fitted figure beside it, and the fixed holdout on request."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import time
from collections.abc import Sequence

import numpy as np
from _physionet import physionet_dir
from _protocol import (
    REPO,
    SEEDS,
    cv_select,
    fitted_best,
    grouped_folds,
    holdout_split,
    load_json,
    save_json,
)

from telemed_signal.lethal import ALARMS, confirm_alarm
from telemed_signal.lethal_rules import LethalParams

PHYSIONET = physionet_dir()
ALARM_DIR = PHYSIONET / "challenge2015"
TYPES = {
    "Asystole": "asystole",
    "Bradycardia": "extreme_bradycardia",
    "Tachycardia": "extreme_tachycardia",
    "Ventricular_Tachycardia": "ventricular_tachycardia",
    "Ventricular_Flutter_Fib": "ventricular_flutter_fib",
}
ALARM_S = 300.0
FOLDS = 5

#: The settings CV chooses among: every combination of these tolerances (physiological ranges,
#: never per record). An alarm's outcome depends only on the fields its own rule reads
#: (:data:`RELEVANT`), so each combination costs a run only where those fields differ.
GRID: dict[str, tuple[float, ...]] = {
    "tachy_tolerance": (0.05, 0.15, 0.22),
    "rate_tolerance": (0.05,),
    "vt_tolerance": (0.05, 0.15, 0.2),
    "vt_pulse_steady": (0.0, 0.15),
}
RELEVANT: dict[str, tuple[str, ...]] = {
    "asystole": (),
    "extreme_bradycardia": ("rate_tolerance",),
    "extreme_tachycardia": ("tachy_tolerance",),
    "ventricular_tachycardia": ("vt_tolerance", "vt_pulse_steady"),
    "ventricular_flutter_fib": (),
}
CANDIDATES: dict[str, LethalParams] = {
    ",".join(f"{k}={v:g}" for k, v in zip(GRID, vals, strict=True)): dataclasses.replace(
        LethalParams(), **dict(zip(GRID, vals, strict=True))
    )
    for vals in itertools.product(*GRID.values())
}


def effective(params: LethalParams, kind: str) -> LethalParams:
    """``params`` with every field the rule of ``kind`` does not read reset to its default."""
    return dataclasses.replace(LethalParams(), **{f: getattr(params, f) for f in RELEVANT[kind]})


def alarm_index() -> list[tuple[str, str, bool]]:
    """(record, alarm kind, truth) of every development alarm (``ALARMS`` and ``ALARMS-2``)."""
    out = []
    for index in ("ALARMS", "ALARMS-2"):
        for line in (ALARM_DIR / index).read_text().split():
            name, kind, truth = line.strip().split(",")
            out.append((name, TYPES[kind], truth == "1"))
    return sorted(set(out))


#: The modules ``confirm_alarm`` runs: a cached outcome is reused only for the same code.
LETHAL_CODE = ("lethal", "lethal_ecg", "lethal_pulse", "lethal_rate", "lethal_rules")
LETHAL_CODE += ("lethal_ventricular", "lethal_slow")
LETHAL_CODE += ("ecg", "ecg_features", "ecg_rules", "ecg_quality", "beats", "findings")


def code_hash() -> str:
    """Hash of the sources of :data:`LETHAL_CODE`."""
    h = hashlib.sha256()
    for path in (REPO / "telemed_signal" / f"{m}.py" for m in LETHAL_CODE):
        h.update(path.read_bytes())
    return h.hexdigest()[:10]


def _key(params: LethalParams) -> str:
    fields = dataclasses.asdict(params)
    return hashlib.sha256(repr(sorted(fields.items())).encode()).hexdigest()[:10]


def outcomes(
    alarms: Sequence[tuple[str, str, bool]], params: LethalParams
) -> tuple[list[bool], float]:
    """``confirm_alarm`` on each alarm (cached per code and params) and CPU s per new record."""
    import wfdb

    name = f"lethal/{code_hash()}.json"
    cache = load_json(name)
    cpu, fresh = 0.0, 0
    for rec, kind, _ in alarms:
        key = f"{rec}:{_key(effective(params, kind))}"
        if key in cache:
            continue
        r = wfdb.rdrecord(str(ALARM_DIR / rec))
        sig = {s: np.asarray(r.p_signal[:, j], np.float64) for j, s in enumerate(r.sig_name)}
        c0 = time.process_time()
        cache[key] = bool(confirm_alarm(sig, float(r.fs), kind, ALARM_S, params))
        cpu += time.process_time() - c0
        fresh += 1
        if fresh % 20 == 0:
            save_json(name, cache)
    save_json(name, cache)
    said = [bool(cache[f"{rec}:{_key(effective(params, kind))}"]) for rec, kind, _ in alarms]
    return said, cpu / max(fresh, 1)


def counts(truth: Sequence[bool], said: Sequence[bool]) -> dict[str, int]:
    c = {"TP": 0, "TN": 0, "FP": 0, "FN": 0}
    for t, s in zip(truth, said, strict=True):
        c[("TP" if s else "FN") if t else ("FP" if s else "TN")] += 1
    return c


def score(c: dict[str, int]) -> float:
    d = c["TP"] + c["TN"] + c["FP"] + 5 * c["FN"]
    return 100.0 * (c["TP"] + c["TN"]) / d if d else float("nan")


def table(alarms: Sequence[tuple[str, str, bool]], said: Sequence[bool], title: str) -> None:
    print(f"\n{title}")
    print(f"{'alarm':<26}{'TP':>4}{'TN':>4}{'FP':>4}{'FN':>4}{'score':>8}")
    for kind in ALARMS:
        sel = [i for i, a in enumerate(alarms) if a[1] == kind]
        c = counts([alarms[i][2] for i in sel], [said[i] for i in sel])
        print(f"{kind:<26}" + "".join(f"{c[k]:>4}" for k in c) + f"{score(c):8.2f}")
    c = counts([a[2] for a in alarms], said)
    print(f"{'overall':<26}" + "".join(f"{c[k]:>4}" for k in c) + f"{score(c):8.2f}")


def per_type(alarms: Sequence[tuple[str, str, bool]], said: Sequence[bool]) -> dict[str, float]:
    out = {}
    for kind in (*ALARMS, "overall"):
        sel = [i for i, a in enumerate(alarms) if kind in ("overall", a[1])]
        out[kind] = score(counts([alarms[i][2] for i in sel], [said[i] for i in sel]))
    return out


def run(show_holdout: bool) -> None:
    every = alarm_index()
    dev_i, hold_i = holdout_split([a[0] for a in every], [(a[1], a[2]) for a in every])
    dev = [every[i] for i in dev_i]
    truth = [a[2] for a in dev]
    preds: dict[str, list[bool]] = {}
    for label, params in CANDIDATES.items():
        preds[label], cpu = outcomes(dev, params)
        print(f"candidate {label}: fitted score {score(counts(truth, preds[label])):.2f}")

    def metric(items: Sequence[int], p: Sequence[bool]) -> float:
        return score(counts([truth[i] for i in items], p))

    best, fitted = fitted_best(preds, metric)
    table(dev, preds[best], f"FITTED (best candidate {best!r} chosen and scored on all {len(dev)})")
    per_seed = []
    for seed in SEEDS:
        folds = grouped_folds([a[0] for a in dev], [(a[1], a[2]) for a in dev], FOLDS, seed)
        said, chosen = cv_select(preds, metric, folds)
        per_seed.append(per_type(dev, said))
        if seed == SEEDS[0]:
            table(dev, said, f"CROSS-VALIDATED ({FOLDS}-fold, seed {seed}; chosen: {chosen})")
    print("\nCV score (mean +/- sd over seeds) vs fitted, per alarm type:")
    fit = per_type(dev, preds[best])
    for kind in (*ALARMS, "overall"):
        v = np.array([s[kind] for s in per_seed])
        print(
            f"  {kind:<26} CV {v.mean():6.2f} +/- {v.std():4.2f}   fitted {fit[kind]:6.2f}   gap {fit[kind] - v.mean():+5.2f}"
        )
    if show_holdout:
        hold = [every[i] for i in hold_i]
        said, _ = outcomes(hold, CANDIDATES[best])
        table(
            hold, said, f"HOLDOUT ({len(hold)} alarms never used for a choice; candidate {best!r})"
        )
    else:
        print(f"\n(holdout of {len(hold_i)} alarms not evaluated; --holdout shows it once)")
