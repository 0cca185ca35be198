"""The one settings object.

Every entry point (CLI command, worker, sink, push endpoint) builds it once with
:func:`load_settings` and passes it down.  Nothing else reads the environment.

Values come from, highest priority first:
1. environment variables (``KAFKA_BOOTSTRAP_SERVERS``, ``CLICKHOUSE_DSN``, ...);
2. an optional dotenv-style file, ``incidents.env`` in the working directory or the
   path in ``INCIDENTS_ENV_FILE``;
3. the defaults below, which run everything on this machine.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_ENV_FILE = "incidents.env"


class SettingsError(ValueError):
    """A setting has a value it cannot take; the message names its variable."""


# How an incident's casualties are chosen from its reports: the names of the rules in
# streams.semantics.CASUALTY_RULES (a unit test keeps the two equal; docs/semantics.md).
CasualtyRule = Literal["max_total", "latest"]


def _section(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(
        env_prefix=prefix,
        frozen=True,
        extra="ignore",
        env_file_encoding="utf-8",
    )


class PathsSettings(BaseSettings):
    """Where local state lives: logs, pid files, the local broker's data, the warehouse."""

    model_config = _section("INCIDENTS_")

    var_dir: Path = Field(
        default=Path("var"),
        description=(
            "Logs, pid files and local data. Unset: ./var if it is a stack's, else the one"
            " this checkout's `incidents up` recorded, else ./var (incidents_config/var_dir.py)."
        ),
    )
    cache_dir: Path = Field(
        default=Path.home() / ".cache" / "incidents",
        description=(
            "Downloaded Kafka jars (shared between checkouts), and the var dir each"
            " checkout's `incidents up` ran in (stacks/)."
        ),
    )
    places_overlay: Path | None = Field(
        default=None,
        description=(
            "The places alias overlay `incidents places accept|reject` writes and every"
            " worker loads; unset: <var dir>/places.overlay.jsonl."
        ),
    )

    @property
    def overlay(self) -> Path:
        """The places alias overlay file (it may not exist yet)."""
        return self.places_overlay or self.var_dir / "places.overlay.jsonl"

    @property
    def log_dir(self) -> Path:
        return self.var_dir / "log"

    @property
    def run_dir(self) -> Path:
        return self.var_dir / "run"


class KafkaSettings(BaseSettings):
    """How clients reach Kafka and how the project's topics are shaped."""

    model_config = _section("KAFKA_")

    bootstrap_servers: str = Field(default="127.0.0.1:9092", description="Comma-separated.")
    topic_prefix: str = Field(default="incidents", description="Prefix of every topic name.")
    partitions: int = Field(default=4, ge=1, description="Partitions of each project topic.")
    replication_factor: int = Field(
        default=1, ge=1, description="Replicas of each topic (3 on a cluster)."
    )
    retention_ms: int = Field(
        default=-1,
        ge=-1,
        description="Retention of the report topics; -1 keeps reports forever (source of truth).",
    )
    dead_letter_retention_ms: int = Field(
        default=30 * 24 * 3600 * 1000, ge=-1, description="Retention of the dead-letter topic."
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", description="How clients talk to the brokers."
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        default=None, description="SASL mechanism, with SASL_* protocols."
    )
    sasl_username: str | None = Field(default=None, description="SASL user.")
    sasl_password: SecretStr | None = Field(default=None, description="SASL password (secret).")
    ssl_cafile: Path | None = Field(default=None, description="CA bundle for SSL/SASL_SSL.")
    max_message_bytes: int = Field(
        default=1_048_576,
        ge=262_144,  # a dead letter (64 KiB of the original, base64, with errors) always fits
        description=(
            "Largest message on the project's topics (their max.message.bytes and the"
            " producers' request size); a larger report is rejected with its reason."
        ),
    )

    def client_kwargs(self) -> dict[str, Any]:
        """Connection options shared by kafka-python clients."""
        kwargs: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers.split(","),
            "security_protocol": self.security_protocol,
        }
        if self.sasl_mechanism:
            kwargs["sasl_mechanism"] = self.sasl_mechanism
            kwargs["sasl_plain_username"] = self.sasl_username
            kwargs["sasl_plain_password"] = (
                self.sasl_password.get_secret_value() if self.sasl_password else None
            )
        if self.ssl_cafile:
            kwargs["ssl_cafile"] = str(self.ssl_cafile)
        return kwargs


class LocalKafkaSettings(BaseSettings):
    """The single-node KRaft broker that `incidents up` runs from Maven jars."""

    model_config = _section("LOCAL_KAFKA_")

    enabled: bool = Field(
        default=True,
        description="Start a local broker on `incidents up`. Set false to use an existing cluster.",
    )
    version: str = Field(default="4.4.0", description="org.apache.kafka:kafka_2.13 version.")
    port: int = Field(default=9092, description="Client port of the local broker.")
    controller_port: int = Field(default=9093, description="KRaft controller port.")
    heap: str = Field(default="512m", description="JVM -Xmx/-Xms of the local broker.")
    start_timeout_s: float = Field(default=90.0, description="How long to wait for it to answer.")


class ClickHouseSettings(BaseSettings):
    """Where the warehouse is. `chdb://` = embedded engine, `http(s)://` = a server."""

    model_config = _section("CLICKHOUSE_")

    dsn: str = Field(
        default="",
        description="Empty means chdb:///<INCIDENTS_VAR_DIR>/warehouse (embedded).",
    )
    database: str = Field(default="incidents", description="Database holding tables and views.")
    cluster: str = Field(
        default="",
        description="Server only: run DDL ON CLUSTER <name> with Replicated engines.",
    )
    sql_host: str = Field(default="127.0.0.1", description="Embedded read-only SQL endpoint host.")
    sql_port: int = Field(
        default=8123,
        ge=0,
        le=65535,
        description="Embedded read-only SQL endpoint port (0: any free port, see status).",
    )
    sql_max_body_bytes: int = Field(
        default=1_048_576, ge=1, description="Largest request body the SQL endpoint accepts (413)."
    )
    sql_max_execution_s: float = Field(
        default=30.0, gt=0, description="SQL endpoint: longest a query may run (then TIMEOUT)."
    )
    sql_max_result_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=1024,
        description="SQL endpoint: largest result a query returns.",
    )
    sql_max_memory_bytes: int = Field(
        default=1024 * 1024 * 1024,
        ge=16 * 1024 * 1024,
        description="SQL endpoint: memory one query may use.",
    )
    sql_max_concurrent: int = Field(
        default=2, ge=1, le=32, description="SQL endpoint: queries that run at once."
    )
    sql_queue_timeout_s: float = Field(
        default=10.0,
        ge=0,
        description="SQL endpoint: how long a query waits for a free slot before 503.",
    )

    def resolved_dsn(self, paths: PathsSettings) -> str:
        if self.dsn:
            return self.dsn
        return f"chdb://{(paths.var_dir / 'warehouse').resolve()}"

    def is_embedded(self, paths: PathsSettings) -> bool:
        return self.resolved_dsn(paths).startswith("chdb://")


class StreamSettings(BaseSettings):
    """The Faust workers."""

    model_config = _section("STREAMS_")

    app_id: str = Field(
        default="streams",
        description="Faust app id; the consumer group is <KAFKA_TOPIC_PREFIX>-<app id>.",
    )
    store: Literal["rocksdb://", "memory://"] = Field(
        default="rocksdb://",
        description="Faust table store: rocksdb:// (rocksdict, on disk) or memory:// (tests).",
    )
    processing_guarantee: Literal["at_least_once", "exactly_once"] = Field(
        default="at_least_once", description="Faust's guarantee; see docs/streams.md."
    )
    batch_size: int = Field(default=500, ge=1, description="Events taken per stream.take batch.")
    batch_timeout_s: float = Field(
        default=0.2, gt=0, description="Longest wait to fill a batch, in seconds."
    )
    generation: int | None = Field(
        default=None,
        ge=0,
        description=(
            "Pipeline generation the workers and the sink run; unset: the live one that"
            " `incidents replay` recorded in var/run/generation (0 before any replay)."
        ),
    )
    table_memory_mb: int = Field(
        default=24,
        ge=4,
        le=4096,
        description=(
            "RocksDB memory per table partition a worker holds (block cache + write buffers);"
            " Faust's own default allows over 2 GiB each."
        ),
    )
    loop: Literal["uvloop", "aio"] = Field(
        default="uvloop", description="The workers' event loop (faust --loop); aio = asyncio."
    )
    linger_ms: int = Field(
        default=10,
        ge=0,
        le=1000,
        description="How long the workers' producer waits to fill a batch of messages.",
    )
    session_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="A worker silent this long is presumed dead; its partitions move on.",
    )
    casualty_rule: CasualtyRule = Field(
        default="max_total",
        description="How an incident's casualties are chosen from its reports (docs/semantics.md).",
    )
    max_state_bytes: int = Field(
        default=900_000,
        ge=10_000,
        le=1_000_000,
        description=(
            "Largest table value or snapshot one key may grow to (under Faust's 1,000,000-byte"
            " request limit); an update past it is dead-lettered with its reason."
        ),
    )


class SinkSettings(BaseSettings):
    """The process that writes to ClickHouse (and, embedded, owns the warehouse)."""

    model_config = _section("SINK_")

    group_id: str = Field(default="incidents-sink", description="The sink's consumer group.")
    batch_size: int = Field(default=5000, ge=1, description="Rows per ClickHouse insert, at most.")
    flush_interval_s: float = Field(
        default=0.5, gt=0, description="Longest a row waits before it is written, in seconds."
    )
    build_generation: int | None = Field(
        default=None,
        ge=1,
        description=(
            "A generation `incidents replay` is building: the sink also writes it, into"
            " tables suffixed _g<N>, until the switch."
        ),
    )


class PushSettings(BaseSettings):
    """The HTTP push endpoint for upstream feeds (`POST /v1/reports`)."""

    model_config = _section("PUSH_")

    host: str = Field(default="127.0.0.1", description="Push endpoint address.")
    port: int = Field(
        default=8088, ge=0, le=65535, description="Push endpoint port (0: any free port)."
    )
    token: SecretStr | None = Field(default=None, description="Bearer token feeds must send.")
    open: bool = Field(default=False, description="Allow running without a token (local use only).")
    max_body_bytes: int = Field(
        default=1_048_576, ge=1, description="Largest request body; larger gets 413."
    )
    max_items: int = Field(
        default=5_000,
        ge=1,
        le=1_000_000,
        description=(
            "Most reports (JSON lines) one request may carry; more gets 413. Bounds what a"
            " body of tiny invalid lines costs to validate."
        ),
    )
    delivery_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="How long a request waits for Kafka to acknowledge its reports before 503.",
    )
    connect_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="How long the endpoint tries to reach Kafka before answering 503.",
    )


class AlertsSettings(BaseSettings):
    """Alerting on spikes (docs/alerting.md): rules, notifiers, delivery."""

    model_config = _section("ALERTS_")

    enabled: bool = Field(default=True, description="Evaluate alert rules in the sink.")
    rules_file: Path | None = Field(
        default=None, description="TOML rules file; empty: the defaults shipped in the repo."
    )
    webhook_url: SecretStr | None = Field(
        default=None, description="Alertmanager-format webhook receiver URL (secret)."
    )
    webhook_token: SecretStr | None = Field(
        default=None, description="Bearer token sent to the webhook (secret)."
    )
    slack_url: SecretStr | None = Field(
        default=None, description="Slack incoming-webhook URL (secret)."
    )
    retries: int = Field(default=5, ge=1, le=20, description="Attempts per notification.")
    retry_base_s: float = Field(
        default=1.0, gt=0, description="First retry delay; doubles per attempt."
    )
    timeout_s: float = Field(default=10.0, gt=0, description="HTTP timeout per attempt.")
    tick_s: float = Field(
        default=300.0, gt=0, description="How often firing alerts are checked for resolution."
    )
    evaluate_s: float = Field(
        default=2.0,
        ge=0,
        le=60,
        description=(
            "The least time between two evaluations of the alert rules while the sink writes"
            " (longer when an evaluation is slow: at most a tenth of the sink's time); the"
            " offsets of what it wrote meanwhile are committed after the next one."
        ),
    )
    alertmanager_url: SecretStr | None = Field(
        default=None,
        description=(
            "An Alertmanager to send alerts to (its base URL, e.g. http://alertmanager:9093;"
            " secret: it may hold credentials)."
        ),
    )
    alertmanager_resend_s: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="How often firing alerts are sent to Alertmanager again (they end 4x later).",
    )
    today: date | None = Field(
        default=None,
        description="Evaluate as of this date instead of today (replays, tests).",
    )
    external_url: str = Field(
        default="", description="Link sent as Alertmanager's externalURL (e.g. a dashboard)."
    )


class DqSettings(BaseSettings):
    """Data quality (docs/quality.md): the Great Expectations suites `incidents dq` runs."""

    model_config = _section("DQ_")

    interval_s: float = Field(
        default=3600.0,
        ge=0,
        description="How often the stack runs `incidents dq` (0: never; run it by hand).",
    )
    dead_letter_window_h: float = Field(
        default=24.0, gt=0, description="Window of the dead-letter rate check, hours."
    )
    dead_letter_max_rate: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="Largest share of a source's messages in the window that may be dead letters.",
    )
    freshness_max_age_h: float = Field(
        default=48.0,
        gt=0,
        description="A source whose newest report is older than this has gone silent, hours.",
    )


class MetricsSettings(BaseSettings):
    """Prometheus metrics that every long-running process serves on ``/metrics``."""

    model_config = _section("METRICS_")

    enabled: bool = Field(default=True, description="Serve Prometheus metrics.")
    host: str = Field(default="127.0.0.1", description="Address the metrics servers listen on.")
    sink_port: int = Field(
        default=9464, ge=0, description="Sink metrics port (0: any free port, see status)."
    )
    push_port: int = Field(default=9465, ge=0, description="Push endpoint metrics port.")
    worker_port: int = Field(
        default=9466, ge=0, description="Worker N serves metrics on this port + N - 1."
    )


class Settings(BaseModel):
    """All settings, one section per component."""

    model_config = ConfigDict(frozen=True)

    paths: PathsSettings
    kafka: KafkaSettings
    local_kafka: LocalKafkaSettings
    clickhouse: ClickHouseSettings
    streams: StreamSettings
    sink: SinkSettings
    push: PushSettings
    alerts: AlertsSettings
    dq: DqSettings
    metrics: MetricsSettings

    @property
    def clickhouse_dsn(self) -> str:
        return self.clickhouse.resolved_dsn(self.paths)

    @property
    def embedded_warehouse(self) -> bool:
        return self.clickhouse.is_embedded(self.paths)

    def in_var_dir(self, var_dir: Path) -> Settings:
        """The same settings, with local state in `var_dir`."""
        paths = self.paths.model_copy(update={"var_dir": var_dir})
        return self.model_copy(update={"paths": paths})

    def for_generation(self, generation: int) -> Settings:
        """The same settings, running `generation` (pinned, whatever the file says)."""
        streams = self.streams.model_copy(update={"generation": generation})
        return self.model_copy(update={"streams": streams})


SECTIONS: dict[str, type[BaseSettings]] = {
    "paths": PathsSettings,
    "kafka": KafkaSettings,
    "local_kafka": LocalKafkaSettings,
    "clickhouse": ClickHouseSettings,
    "streams": StreamSettings,
    "sink": SinkSettings,
    "push": PushSettings,
    "alerts": AlertsSettings,
    "dq": DqSettings,
    "metrics": MetricsSettings,
}


def load_settings(env_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Build the settings from the environment and the optional file.

    ``overrides`` maps a section name to a dict of values; tests use it to point at
    their own topics and folders without touching the environment. A value that does not
    fit raises :class:`SettingsError` naming its variable.
    """
    path = Path(env_file or os.environ.get("INCIDENTS_ENV_FILE", DEFAULT_ENV_FILE))
    file_arg = path if path.is_file() else None
    sections: dict[str, BaseSettings] = {}
    for name, cls in SECTIONS.items():
        try:
            sections[name] = cls(_env_file=file_arg, **overrides.get(name, {}))
        except ValidationError as e:
            raise SettingsError(_describe(cls, e, file_arg)) from e
    return Settings(**sections)


def _describe(cls: type[BaseSettings], error: ValidationError, env_file: Path | None) -> str:
    """One line for the first wrong value: its variable, what is wrong, what was given."""
    first = error.errors()[0]
    prefix = cls.model_config.get("env_prefix", "")
    field = ".".join(str(part) for part in first["loc"]) or "?"
    given = first.get("input")
    shown = "" if isinstance(given, dict) else f" (got {str(given)[:80]!r})"
    where = f" in the environment or {env_file}" if env_file else ""
    return f"setting {prefix}{field.upper()}{where}: {first['msg']}{shown}"


def child_env(settings: Settings) -> dict[str, str]:
    """Return environment variables that rebuild exactly these settings in a child process.

    `incidents up` passes them to the worker, sink and push processes, so a setting given
    by file, by environment or by a test's overrides reaches every part of the stack.
    """
    env: dict[str, str] = {}
    for name, cls in SECTIONS.items():
        section = getattr(settings, name)
        prefix = cls.model_config.get("env_prefix", "")
        for field in cls.model_fields:
            value = getattr(section, field)
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            elif isinstance(value, bool):
                value = "true" if value else "false"
            env[f"{prefix}{field}".upper()] = str(value)
    return env
