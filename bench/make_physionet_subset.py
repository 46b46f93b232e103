"""Rebuild ``tests/data/physionet``: the small subset of PhysioNet recordings the project carries.

Run from the repository root: ``.venv/bin/python bench/make_physionet_subset.py``. It reads the
full development sets (``TELEMED_PHYSIONET_DIR``, default ``../shared/data/physionet``) and
rewrites the subset's data files; ``tests/data/physionet/README.md`` (attribution, licences,
what was adapted) is kept by hand. MIT-BIH records keep channel 0 only (MLII, the lead every
test reads), whole length, the ADC values unchanged; everything else is copied byte for byte.
"""

from __future__ import annotations

import csv
import shutil
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _physionet import physionet_dir  # noqa: E402  (bench/ is on sys.path)

OUT = REPO / "tests" / "data" / "physionet"
#: Clean (100), paced (104), noisy, the hard one (105), PVCs and wide QRS (106).
MITDB = ("100", "104", "105", "106")
#: Every annotated record whose annotations a test reads (no signals needed).
MITDB_ANNOTATIONS = ("100", "102", "103", "104", "105", "106", "107")
#: Every alarm type true and false, chosen among the hard cases (tests/telemed_signal/
#: test_lethal.py says why each one), plus a754s (a true asystole with ABP) and b841l (clean
#: ABP at 60 bpm) that the behaviour tests use.
CHALLENGE2015 = (
    "a103l", "a639l", "a446s", "a754s", "b125l", "b339l", "b841l", "t817l", "t709l",
    "v758s", "v452s", "v475l", "f120s", "f697l",
)  # fmt: skip
#: Development records only: the bench's fixed AF holdout (04048, 06995) stays out of the tests.
AFDB = ("00735", "04043", "04936", "05261", "08215", "08378")
NUMERICS = ("s00001-2896-10-10-00-31n", "s25047-2704-05-04-10-44n")
#: Strips per class drawn from the 600 of ``REFERENCE.csv`` (seeded), plus the first four
#: normal and AF strips (the worker's strip tests read those).
STRIPS_PER_CLASS = {"N": 24, "A": 24, "O": 24, "~": 12}
SEED = 2017


def _copy(src: Path, names: tuple[str, ...], exts: tuple[str, ...], dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for name in names:
        for ext in exts:
            shutil.copyfile(src / f"{name}{ext}", dst / f"{name}{ext}")


def _mitdb(src: Path) -> None:
    import wfdb

    dst = OUT / "mitdb"
    dst.mkdir(parents=True, exist_ok=True)
    for name in MITDB:
        rec = wfdb.rdrecord(str(src / "mitdb" / name), channels=[0], physical=False)
        wfdb.wrsamp(
            name,
            fs=rec.fs,
            units=rec.units,
            sig_name=rec.sig_name,
            d_signal=rec.d_signal,
            fmt=rec.fmt,
            adc_gain=rec.adc_gain,
            baseline=rec.baseline,
            comments=[*rec.comments, "channel 0 of the MIT-BIH record (see README.md)"],
            write_dir=str(dst),
        )
        again = wfdb.rdrecord(str(dst / name), physical=False)
        assert np.array_equal(again.d_signal, rec.d_signal), name
    _copy(src / "mitdb", MITDB_ANNOTATIONS, (".atr",), dst)


def _strips(src: Path) -> None:
    rows = list(csv.reader((src / "challenge2017" / "REFERENCE.csv").read_text().splitlines()))
    rng = np.random.default_rng(SEED)
    keep = {name for name, _ in [r for r in rows if r[1] == "N"][:4]}
    keep |= {name for name, _ in [r for r in rows if r[1] == "A"][:4]}
    for label, n in STRIPS_PER_CLASS.items():
        names = [name for name, lab in rows if lab == label]
        keep |= set(rng.choice(names, size=n, replace=False).tolist())
    chosen = [(name, label) for name, label in rows if name in keep]
    _copy(
        src / "challenge2017", tuple(n for n, _ in chosen), (".hea", ".mat"), OUT / "challenge2017"
    )
    with open(OUT / "challenge2017" / "REFERENCE.csv", "w", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(chosen)


def main() -> None:
    src = physionet_dir()
    _mitdb(src)
    _copy(src / "challenge2015", CHALLENGE2015, (".hea", ".mat"), OUT / "challenge2015")
    alarms = [r for r in (src / "challenge2015" / "ALARMS").read_text().splitlines() if r]
    alarms += [r for r in (src / "challenge2015" / "ALARMS-2").read_text().splitlines() if r]
    shipped = [r for r in alarms if r.split(",")[0] in CHALLENGE2015]
    assert len(shipped) == len(CHALLENGE2015), shipped
    (OUT / "challenge2015" / "ALARMS").write_text("\n".join(shipped) + "\n")
    _copy(src / "afdb", AFDB, (".atr", ".qrs"), OUT / "afdb")
    _copy(src / "mimic2wdb_numerics", NUMERICS, (".hea",), OUT / "mimic2wdb_numerics")
    for dat in ("3234460n.dat", "3975656n.dat"):
        shutil.copyfile(src / "mimic2wdb_numerics" / dat, OUT / "mimic2wdb_numerics" / dat)
    _strips(src)


if __name__ == "__main__":
    main()
