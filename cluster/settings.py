"""One settings class, built once at bootstrap and passed down frozen.

Nothing reads the environment at import time: Ray re-imports modules in every worker, so
the composition root builds ``Settings`` once and hands the frozen object (it pickles) to
actors and deployments. Outside ``dev``/``test`` the class refuses unsafe values at
start-up, naming the ``ELSON_`` variable to fix.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cluster.secrets.config import VaultFields
from cluster.secrets.rules import default_secret_problems, vault_problems
from domain.fees import SEC_RATE, TAF_MAX, TAF_PER_SHARE, FeeModel

ENV_PREFIX = "ELSON_"
# Values that must never reach production. The dev default is generated per data folder.
_KNOWN_DEFAULT_SECRETS = {"", "changeme", "secret", "dev", "development", "test", "password"}
_MIN_SECRET_LEN = 32


class Environment(StrEnum):
    DEV = "dev"
    TEST = "test"
    STAGING = "staging"
    PRODUCTION = "production"

    @property
    def is_protected(self) -> bool:
        return self in (Environment.STAGING, Environment.PRODUCTION)


class SettingsError(Exception):
    """The configuration is unsafe or invalid; the message names the variable."""


class Settings(BaseSettings, VaultFields):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    env: Environment = Environment.DEV
    data_dir: Path = Path(".data")
    log_level: str = "INFO"

    # --- PostgreSQL ---
    database_url: SecretStr | None = None
    db_connection_reserve: int = Field(5, ge=0, description="connections kept for admin/migrations")
    db_pool_timeout_s: float = Field(5.0, gt=0)
    db_statement_timeout_ms: int = Field(15_000, gt=0)

    # --- Redis ---
    redis_url: SecretStr | None = None
    redis_key_prefix: str = "elson:"
    #: a slow Redis is a down Redis: each attempt of a call is bounded by this socket
    #: timeout, a call by timeout x attempts; then the client fails fast for the cooldown
    redis_timeout_s: float = Field(0.25, gt=0)
    redis_retry_attempts: int = Field(2, ge=1, le=3)
    redis_down_cooldown_s: float = Field(1.0, ge=0)

    # --- Ray / Serve ---
    ray_address: str | None = None
    ray_namespace: str = "elson"
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    serve_high_throughput: bool = True
    api_replicas: int = Field(1, ge=1)
    gateway_replicas: int = Field(1, ge=1)
    api_max_ongoing_requests: int = Field(100, ge=1)
    gateway_max_ongoing_requests: int = Field(2000, ge=1)
    job_workers: int = Field(2, ge=0)
    #: CPUs and memory (MiB) each platform actor asks Ray for, by group (the part of its
    #: name after ``elson.``: ``feed_shard``, ``paper_broker``, ``dispatcher``...). Local
    #: runs keep 0 (2 cores for everything); a cluster sets real requests so the
    #: autoscaler sees the demand (kuberay/ sets them as JSON in ``ELSON_ACTOR_CPUS``).
    actor_cpus: dict[str, float] = Field(default_factory=dict)
    actor_memory_mb: dict[str, int] = Field(default_factory=dict)
    #: ``SPREAD``: platform actors spread over the nodes (one node's loss takes only its
    #: share of feed shards with it; tests/integration/scaleout); ``DEFAULT``: Ray's packing.
    actor_scheduling: str = Field("DEFAULT", pattern="^(DEFAULT|SPREAD)$")

    # --- secrets (Vault is a settings source in a later issue) ---
    jwt_secret: SecretStr | None = None
    pii_key: SecretStr | None = None
    # ELSON_VAULT_*: cluster/secrets/config.py (VaultFields); every SecretStr field is
    # read from Vault's KV secret (key = field name) by cluster/secrets/startup.py
    #: ``/metrics`` asks for ``Authorization: Bearer <token>`` when set; in staging and
    #: production without one it is not served at all (Prometheus scrapes Ray's metrics
    #: port inside the cluster; see cluster/metrics.py).
    metrics_token: SecretStr | None = None

    # --- PII at rest (cluster/pii) ---
    #: what wraps the data keys: ``local`` (a KEK derived from ELSON_PII_KEY; in dev/test
    #: without it, a random one in the data dir) or ``transit`` (Vault transit key)
    pii_kek: str = Field("local", pattern="^(local|transit)$")
    pii_transit_key: str = "elson-pii"
    pii_transit_mount: str = "transit"
    #: the email blind index's own key; unset: derived from ELSON_PII_KEY (own label)
    pii_index_key: SecretStr | None = None
    #: unwrapped data keys stay in a process's memory at most this long
    pii_key_cache_s: float = Field(300.0, ge=0, le=3600)

    # --- auth (cluster/auth) ---
    access_token_ttl_s: int = Field(900, gt=0, le=3600)
    refresh_token_ttl_s: int = Field(30 * 24 * 3600, gt=0)
    #: a refresh token presented again within this window (a client retry after a lost
    #: response) is refused without revoking the family; later reuse revokes it.
    refresh_reuse_grace_s: float = Field(10.0, ge=0)
    login_max_failures: int = Field(5, ge=1)
    login_failure_window_s: int = Field(900, gt=0)
    #: sessions revoked (or refresh tokens expired) this long ago are purged by the job.
    session_retention_days: int = Field(30, ge=1)
    #: per-process cache of session state and account owners (cluster/auth/cache.py):
    #: entries live at most this long (a backstop: invalidations arrive over Redis pub/sub);
    #: 0 turns it off (every request reads PostgreSQL).
    auth_cache_ttl_s: float = Field(60.0, ge=0, le=3600)
    #: the cache is trusted only while its subscriber heard from Redis this recently; it
    #: bounds how long a revocation can go unseen, so it must stay below 1 s.
    auth_cache_liveness_s: float = Field(0.75, ge=0.1, lt=1.0)

    # --- time ---
    #: dev/test only: run on a clock that starts at this instant (e.g. a Tuesday 10:00 New
    #: York) so the market is open whatever day it is. Refused in staging/production.
    clock_start: datetime | None = None
    #: the real instant at which ``clock_start`` applies; filled in when settings are
    #: first built, then carried to every process so all share one shifted timeline.
    clock_anchor: datetime | None = None

    # --- trading ---
    broker: str = "paper"
    alpaca_base_url: str = "https://paper-api.alpaca.markets"
    alpaca_key_id: SecretStr | None = None
    alpaca_secret_key: SecretStr | None = None
    reserve_buffer_bps: Decimal = Decimal("50")
    reconcile_interval_s: float = Field(2.0, gt=0)
    reconcile_max_unacked_checks: int = Field(5, ge=1)
    #: Paper broker fill model (see domain.paper.FillModel) and its housekeeping tick.
    paper_slippage_bps: Decimal = Field(Decimal("0"), ge=0, lt=10_000)
    paper_allow_partial: bool = True
    paper_latency_ms: int = Field(0, ge=0)
    paper_tick_interval_s: float = Field(1.0, gt=0)
    #: Paper fee model (domain.fees.FeeModel), USD: commissions per share, per order (whole
    #: cents, on the first fill) and as a fraction of value; on sells the SEC Section 31 fee
    #: (fraction of the sale value) and the FINRA TAF per share, capped per trade.
    paper_fee_per_share: Decimal = Field(Decimal("0"), ge=0)
    paper_fee_per_order: Decimal = Field(Decimal("0"), ge=0, decimal_places=2)
    paper_fee_rate: Decimal = Field(Decimal("0"), ge=0, lt=1)
    paper_fee_sec_rate: Decimal = Field(SEC_RATE, ge=0, lt=1)
    paper_fee_taf_per_share: Decimal = Field(TAF_PER_SHARE, ge=0)
    paper_fee_taf_max: Decimal = Field(TAF_MAX, ge=0)
    #: Feed the paper broker from the market-data feed shards (off: quotes via on_quotes).
    paper_quote_feed: bool = True
    #: LULD Tier 1 symbols (S&P 500 / Russell 1000 names: 5% bands); the rest are Tier 2
    luld_tier1_symbols: str = "AAPL,MSFT,AMZN,GOOG,GOOGL,META,NVDA,TSLA,SPY"
    #: the index whose decline from the prior close halts the market (empty: none)
    mwcb_index_symbol: str = "SPY"

    # --- market data ---
    feed_shards: int = Field(4, ge=1)
    feed_symbols: str = "AAPL,MSFT,GOOG,AMZN,TSLA,NVDA,META,SPY"
    feed_providers: str = "simulated"
    feed_seed: int = 7
    feed_tick_interval_s: float = Field(1.0, gt=0)
    feed_always_open: bool = False
    feed_cache_ttl_s: int = Field(300, gt=0)
    # Feed failover and fan-out (production defaults; tests shrink them):
    #: no tick for this long during regular hours means the provider is stale (10 s)
    feed_staleness_s: float = Field(10.0, gt=0)
    #: how often each shard re-judges its providers (1 s)
    feed_check_interval_s: float = Field(1.0, gt=0)
    #: continuous health a higher-priority provider needs before traffic fails back (60 s)
    feed_hysteresis_s: float = Field(60.0, ge=0)
    #: a mid this far from the other providers' median is wrong (50 bps)
    feed_divergence_bps: Decimal = Decimal("50")
    #: EWMA of exchange-to-receive delay above this is too slow (2 s)
    feed_max_latency_s: float = Field(2.0, gt=0)
    #: provider breaker: 5 errors within 5 minutes open it for 60 s
    feed_breaker_failures: int = Field(5, ge=1)
    feed_breaker_window_s: float = Field(300.0, gt=0)
    feed_breaker_open_s: float = Field(60.0, ge=0)
    #: recent 1-minute bars kept per symbol (2 hours)
    feed_bar_history: int = Field(120, ge=1)
    #: events buffered per consumer before the oldest are dropped (and counted)
    feed_consumer_buffer: int = Field(10_000, ge=1)
    #: a consumer that has not polled for this long is forgotten (30 s)
    feed_consumer_ttl_s: float = Field(30.0, gt=0)
    #: cache writes are batched and flushed this often, off the hot path (0.25 s)
    feed_cache_flush_s: float = Field(0.25, gt=0)

    # --- request edges and rate limits (serve/edges.py, serve/limits.py) ---
    #: a request body over this many bytes is refused with 413 before it is parsed (64 KiB)
    max_body_bytes: int = Field(65_536, ge=1024)
    #: the one route that takes files (``POST /v1/optimizations/uploads``): 64 MiB
    max_upload_bytes: int = Field(67_108_864, ge=1024)
    #: per-token and per-IP request limits, shared by every replica through Redis (GCRA:
    #: ``burst`` requests at once, then ``per_s`` a second). Off only for benchmarks.
    rate_limit_enabled: bool = True
    rate_limit_token_per_s: float = Field(10.0, gt=0)
    rate_limit_token_burst: int = Field(100, ge=1)
    rate_limit_ip_per_s: float = Field(50.0, gt=0)
    rate_limit_ip_burst: int = Field(500, ge=1)
    #: peers (IPs or CIDRs, comma separated) whose ``X-Forwarded-For`` names the client,
    #: e.g. the load balancer and Serve's HAProxy; empty: the peer address is the client.
    rate_limit_trusted_proxies: str = ""

    # --- parameter optimization (jobs/optimize.py, actors/optimize_driver.py) ---
    #: a grid (or n_trials) over this many parameter sets is refused up front
    optimize_max_grid: int = Field(1_000_000, ge=1)
    #: chunk tasks in flight per CPU of the cluster (backpressure on the object store)
    optimize_in_flight_per_cpu: int = Field(4, ge=1)
    #: a chunk task lost with its worker or node is retried this many times
    optimize_task_retries: int = Field(3, ge=0)
    #: comma list of folders whose CSV/Parquet files API requests may name as data (the
    #: CLI and ``python -m jobs.optimize`` read any path their user can); empty: none
    optimize_data_dirs: str = ""
    #: the adaptive-parameter actor records a live sample of every trading strategy
    #: instance this often (``cluster.strategies.live_sampler``)
    strategy_sample_s: float = Field(300.0, gt=0)

    # --- event streams and the WebSocket gateway ---
    events_retention: int = Field(10_000, ge=10, description="events kept per stream (MAXLEN ~)")
    events_retention_s: int = Field(86_400, gt=0, description="seconds an event stays resumable")
    #: how long PostgreSQL keeps published events (resume after Redis lost them); older: gap
    events_record_s: int = Field(7 * 86_400, gt=0)
    events_prune_interval_s: float = Field(600.0, gt=0)
    #: how often the event relay and the outbox dispatcher look for work while idle (no
    #: NOTIFY: it would serialize every order's commit; an idle poll is one index probe)
    dispatch_poll_s: float = Field(0.05, gt=0)
    #: the pre-trade risk gate (trading states, locks, limits); off only for bench/risk.py
    risk_gate: bool = True
    #: a replica checks orders against a risk book PostgreSQL confirmed this recently
    risk_bound_s: float = Field(0.25, gt=0, le=0.25)
    #: the background poll of a Ray process's risk book (pushes arrive at once; the read
    #: path re-reads a book older than ``risk_bound_s`` itself, so this only keeps idle
    #: processes roughly fresh and costs one query a second)
    risk_poll_s: float = Field(1.0, gt=0)
    #: how often the risk engine releases expired locks and cools breakers
    risk_tick_s: float = Field(1.0, gt=0)
    #: how often the loss protections (daily loss, drawdown, stop-outs) are evaluated
    risk_protection_s: float = Field(5.0, gt=0)
    #: a broker's breaker opens after this many failed sends within the window
    broker_breaker_failures: int = Field(5, ge=1)
    broker_breaker_window_s: float = Field(60.0, gt=0)
    broker_breaker_open_s: float = Field(30.0, ge=0)
    #: ``POST /v1/bench/floor`` for bench/order_submit.py (refused in staging/production)
    bench_floor_route: bool = False
    ws_auth_timeout_s: float = Field(5.0, gt=0)
    ws_revocation_check_s: float = Field(2.0, gt=0)
    #: fail closed: a socket whose session no check could confirm (database down, checks
    #: failing or hanging) for this long is closed 4401 ``session-unverified``
    ws_session_unverified_s: float = Field(10.0, gt=0)
    ws_heartbeat_s: float = Field(15.0, gt=0)
    ws_heartbeat_timeout_s: float = Field(10.0, gt=0)
    ws_max_message_bytes: int = Field(65_536, ge=1024)
    ws_send_queue: int = Field(1_024, ge=4, description="messages buffered per socket")
    ws_send_timeout_s: float = Field(5.0, gt=0)
    ws_max_subscriptions: int = Field(200, ge=1, description="streams per socket")

    # --- billing: plans, PayPal subscriptions and webhooks (cluster/billing) ---
    #: plans as JSON ``{"free": {"max_trials_per_job": 1000, ...}, "premium": {...}}``;
    #: a plan or limit left out keeps its default (domain.billing.plans.DEFAULT_PLANS)
    billing_plans: dict[str, dict[str, int]] = Field(default_factory=dict)
    #: PayPal plan ids (``P-...``) of our plans, as JSON ``{"premium": "P-..."}``
    paypal_plan_ids: dict[str, str] = Field(default_factory=dict)
    paypal_base_url: str = "https://api-m.sandbox.paypal.com"
    paypal_client_id: SecretStr | None = None
    paypal_client_secret: SecretStr | None = None
    #: our webhook's id at PayPal: part of every signed message (never the request's)
    paypal_webhook_id: str = ""
    paypal_return_url: str = "http://127.0.0.1:8000/billing/return"
    paypal_cancel_url: str = "http://127.0.0.1:8000/billing/cancel"
    #: hosts that may serve PAYPAL-CERT-URL (https, port 443, exact host names)
    paypal_cert_hosts: str = "api.paypal.com,api.sandbox.paypal.com"
    paypal_cert_timeout_s: float = Field(5.0, gt=0, le=30)
    paypal_time_tolerance_s: float = Field(300.0, gt=0)
    paypal_timeout_s: float = Field(10.0, gt=0)
    #: dev/test trust override: a test CA (PEM) trusted instead of the system store and a
    #: local certificate host (``host:port``, any port) added to the allow-list.
    #: Refused in staging/production.
    paypal_test_ca_pem: str | None = None
    paypal_test_cert_host: str | None = None
    #: how often a process re-reads the entitlement version (changes it applies itself
    #: are seen at once)
    billing_poll_s: float = Field(1.0, gt=0)

    @field_validator("rate_limit_trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: str) -> str:
        for entry in filter(None, (e.strip() for e in value.split(","))):
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network") from None
        return value

    @model_validator(mode="before")
    @classmethod
    def _anchor_clock(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("clock_start") and not data.get("clock_anchor"):
            data = {**data, "clock_anchor": datetime.now(UTC)}
        return data

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> Settings:
        if not self.env.is_protected:
            return self
        problems: list[str] = []
        if self.database_url is None:
            problems.append(
                f"{ENV_PREFIX}DATABASE_URL is missing: the embedded database is for dev/test only"
            )
        if self.redis_url is None:
            problems.append(
                f"{ENV_PREFIX}REDIS_URL is missing: the embedded Redis is for dev/test only"
            )
        # ELSON_PII_KEY is not required: nothing reads it (issue 13 brings the PII keys)
        for name in ("jwt_secret",):
            value = getattr(self, name)
            var = f"{ENV_PREFIX}{name.upper()}"
            if value is None:
                problems.append(f"{var} is missing")
            elif value.get_secret_value().strip().lower() in _KNOWN_DEFAULT_SECRETS:
                problems.append(f"{var} is a default value")
            elif len(value.get_secret_value()) < _MIN_SECRET_LEN:
                problems.append(f"{var} is shorter than {_MIN_SECRET_LEN} characters")
        if self.clock_start is not None:
            problems.append(f"{ENV_PREFIX}CLOCK_START is for dev/test only")
        if self.paypal_test_ca_pem or self.paypal_test_cert_host:
            problems.append(
                f"{ENV_PREFIX}PAYPAL_TEST_CA_PEM and {ENV_PREFIX}PAYPAL_TEST_CERT_HOST (the "
                "webhook trust override) are for dev/test only"
            )
        if self.bench_floor_route:
            problems.append(f"{ENV_PREFIX}BENCH_FLOOR_ROUTE is for dev/test only")
        if self.pii_kek == "local" and self.pii_key is None:
            problems.append(f"{ENV_PREFIX}PII_KEY is missing (the local PII key-encryption key)")
        if self.pii_index_key is None and self.pii_key is None:
            problems.append(f"{ENV_PREFIX}PII_INDEX_KEY is missing (the email blind index key)")
        for name in ("pii_key", "pii_index_key"):
            secret = getattr(self, name)
            if secret is not None and len(secret.get_secret_value()) < _MIN_SECRET_LEN:
                problems.append(f"{ENV_PREFIX}{name.upper()} is shorter than {_MIN_SECRET_LEN}")
        if self.vault_addr is not None and not self.vault_addr.startswith("https://"):
            problems.append(f"{ENV_PREFIX}VAULT_ADDR must use https:// outside dev/test")
        problems += vault_problems(self) + default_secret_problems(self)
        if self.broker == "alpaca" and (
            self.alpaca_key_id is None or self.alpaca_secret_key is None
        ):
            problems.append(
                f"{ENV_PREFIX}ALPACA_KEY_ID and {ENV_PREFIX}ALPACA_SECRET_KEY are required"
            )
        if problems:
            raise ValueError(f"unsafe {self.env.value} configuration: " + "; ".join(problems))
        return self

    # --- derived values ---
    @property
    def embedded_database(self) -> bool:
        return self.database_url is None

    @property
    def embedded_redis(self) -> bool:
        return self.redis_url is None

    @property
    def symbols(self) -> list[str]:
        return [s.strip().upper() for s in self.feed_symbols.split(",") if s.strip()]

    @property
    def provider_chain(self) -> list[str]:
        return [p.strip() for p in self.feed_providers.split(",") if p.strip()]

    def paper_fee_model(self) -> FeeModel:
        """The paper broker's fees: its fills charge them, and a paper buy holds
        ``FeeModel.fee_reserve`` on top of its cash reservation."""
        return FeeModel(
            per_share=self.paper_fee_per_share,
            per_order=self.paper_fee_per_order,
            rate=self.paper_fee_rate,
            sec_rate=self.paper_fee_sec_rate,
            taf_per_share=self.paper_fee_taf_per_share,
            taf_max=self.paper_fee_taf_max,
        )

    @property
    def pooled_processes(self) -> int:
        """Processes that each hold a database pool: API and gateway replicas, the
        DB-using actors (paper broker, reconciler, outbox dispatcher, event relay) and job
        workers. (The dispatcher's and the relay's ``LISTEN`` connections, one each, come
        out of ``db_connection_reserve``.)"""
        return self.api_replicas + self.gateway_replicas + 4 + self.job_workers

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with some fields changed (validated again)."""
        data = self.model_dump()
        data.update(changes)
        return Settings.model_validate(data)


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment; unsafe or invalid values raise ``SettingsError``."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            prefix = f"{ENV_PREFIX}{loc.upper()}: " if loc else ""
            lines.append(prefix + str(err["msg"]).removeprefix("Value error, "))
        raise SettingsError("; ".join(lines)) from None
