"""One entitlement service per process, answering from an in-memory snapshot.

The snapshot is ``user id -> plan`` of the active subscriptions (everyone else is
``free``) and its version, the newest ``billing_entitlement_changes.id``. A process that
applies a change refreshes at once; every process also polls the version (an index
lookup) every ``poll_s`` on a background thread and reloads when it moved. No request
queries the database to learn a plan.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping

from cluster.billing import repository as repo
from cluster.billing.admission import refusals
from cluster.db import Database
from domain.billing.plans import FREE, Entitlements, Quota

log = logging.getLogger(__name__)


class EntitlementService:
    def __init__(self, db: Database, plans: Mapping[str, Entitlements], *, poll_s: float = 1.0):
        self.db, self.plans, self.poll_s = db, dict(plans), poll_s
        self.version = -1
        self._plans_by_user: dict[str, str] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self) -> None:
        with self.db.session() as s:
            version = repo.version(s)
            if version == self.version:
                return
            by_user = repo.active_plans(s)
        with self._lock:
            if version >= self.version:
                self.version, self._plans_by_user = version, by_user

    def plan_of(self, user_id: str) -> str:
        plan = self._plans_by_user.get(str(user_id), FREE)
        return plan if plan in self.plans else FREE

    def entitlements_of(self, user_id: str) -> Entitlements:
        return self.plans[self.plan_of(user_id)]

    def check(self, user_id: str, limit: str, wanted: int) -> None:
        """Raise ``PlanLimit`` when ``wanted`` (the amount after the action: running jobs
        + 1, the job's trials, strategies + 1, symbols after subscribing) is over the
        user's plan."""
        refusal = Quota.of(self.plans, self.plan_of(user_id), limit).refusal(wanted)
        if refusal is not None:
            refusals().inc(1, {"limit": limit})
            raise refusal

    def quota(self, user_id: str, limit: str) -> Quota:
        """The user's ``limit`` as plain data, for a limit that counts rows: it is checked
        in the transaction that adds the row (``cluster.billing.admission``)."""
        return Quota.of(self.plans, self.plan_of(user_id), limit)

    # -- background ----------------------------------------------------------------------
    def start(self) -> EntitlementService:
        try:
            self.refresh()
        except Exception:  # the poll retries; until then everyone has the free plan
            log.warning(
                "entitlements not loaded at start; retrying in the background", exc_info=True
            )
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="entitlements", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.refresh()
            except Exception:
                log.warning("entitlement refresh failed; keeping the last snapshot", exc_info=True)
