"""What the fault tests share: private Redis and PostgreSQL servers on loopback ports of their
own, a TCP proxy that cuts connections, a probe that counts alerts and escalations across a
fault, the stored-once check, and the fault report.

How long the fault runs are: ``TELEMED_FAULT_ROUNDS`` (default 1, what CI runs; the documented
long run sets more). Every fault test records one line of the fault report (``record``): the
faults injected by kind, items sent / stored / duplicated / lost, alerts expected / raised /
doubled, escalations expected / fired / doubled. ``tests/conftest.py`` prints the report at the
end of the session.
"""

from __future__ import annotations

from tests.fault_kit.cluster import TELEMED, ClusterRun, count_items, running_cluster
from tests.fault_kit.probe import PROBE_PHASES, Probe, a_desaturation, enrol_probes, seqs_of, tally
from tests.fault_kit.proxy import CuttingProxy, cut_during
from tests.fault_kit.report import REPORT_ENV, record, rounds, summary
from tests.fault_kit.servers import (
    PG_BIN,
    PrivatePostgres,
    PrivateRedis,
    as_postgres,
    free_port,
    postgres_binaries,
    two_free_ports,
)

__all__ = [
    "PG_BIN",
    "PROBE_PHASES",
    "REPORT_ENV",
    "TELEMED",
    "ClusterRun",
    "CuttingProxy",
    "PrivatePostgres",
    "PrivateRedis",
    "Probe",
    "a_desaturation",
    "as_postgres",
    "count_items",
    "cut_during",
    "enrol_probes",
    "free_port",
    "postgres_binaries",
    "record",
    "rounds",
    "running_cluster",
    "seqs_of",
    "summary",
    "tally",
    "two_free_ports",
]
