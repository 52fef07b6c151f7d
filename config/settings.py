"""Recap's settings: environment variables with the prefix RECAP_, and an optional .env file."""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "RECAP_"


class ConfigError(ValueError):
    """A setting is missing or invalid; the message names the variable and what it accepts."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", protected_namespaces=()
    )

    # Model and generation
    model: str = Field("google/flan-t5-base", description="Base model: a hub id or a local folder.")
    adapter: str | None = Field(None, description="Optional peft LoRA adapter folder (or hub id).")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto picks CUDA (bf16) if present.")
    max_input_tokens: int = Field(512, ge=32, le=16384, description="Model window; longer input is map-reduced.")
    max_new_tokens: int = Field(128, ge=1, le=2048, description="Longest summary, in tokens.")
    num_beams: int = Field(1, ge=1, le=16, description="Beam search width (1 = greedy).")
    do_sample: bool = Field(False, description="Sample instead of greedy/beam decoding.")
    temperature: float = Field(1.0, gt=0, le=5, description="Sampling temperature (with do_sample).")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling mass (with do_sample).")
    length_penalty: float = Field(1.0, ge=-5, le=5, description="Beam length penalty (>1 longer, <1 shorter).")
    no_repeat_ngram_size: int = Field(0, ge=0, le=10, description="Never repeat an n-gram of this size (0 = off).")
    repetition_penalty: float = Field(1.0, ge=1, le=5, description="Penalty on repeated tokens (1 = off).")
    min_new_tokens: int = Field(0, ge=0, le=512, description="Shortest summary, in tokens.")
    batch_size: int = Field(8, ge=1, le=256, description="Dialogues per generate() call.")
    cache_dir: str | None = Field(None, description="Where models are cached (default: the HF cache).")

    # Queue
    redis_url: str = Field("redis://localhost:6379/0", description="Redis URL shared by bots and workers.")
    queue_name: str = Field("recap", description="RQ queue name.")
    result_ttl_s: int = Field(600, ge=1, le=7 * 86400, description="Seconds a job result stays in Redis.")
    failure_ttl_s: int = Field(6 * 3600, ge=1, le=30 * 86400, description="Seconds a failed job is kept.")
    job_timeout_s: int = Field(600, ge=10, description="Longest a summary job may run.")
    job_retries: int = Field(2, ge=0, le=10, description="Retries for transient errors.")
    retry_intervals_s: list[int] = Field(default_factory=lambda: [5, 30], description="Seconds before each retry.")
    max_queued: int = Field(1000, ge=1, description="Most summary jobs waiting in the queue; past it, 'busy'.")

    # Store
    store_url: str = Field("sqlite:///recap.db", description="SQLAlchemy URL (sqlite:/// or postgresql+psycopg://).")
    retention_days: int = Field(30, ge=1, le=3650, description="Days summaries and feedback are kept.")
    voter_salt: SecretStr = Field(SecretStr("recap"), description="Salt for hashing voter ids.")

    # Requests
    max_messages: int = Field(500, ge=1, le=20000, description="Most messages collected for one summary.")
    default_window_hours: float = Field(24, gt=0, le=24 * 30, description="Default /summarize window.")
    rate_limit_requests: int = Field(10, ge=1, description="Summaries one user may ask for per window.")
    rate_limit_window_s: int = Field(3600, ge=1, description="Rate-limit window in seconds.")

    # Slack
    slack_bot_token: SecretStr | None = Field(None, description="xoxb- bot token.")
    slack_app_token: SecretStr | None = Field(None, description="xapp- token for Socket Mode.")
    slack_signing_secret: SecretStr | None = Field(None, description="Signing secret for HTTP mode.")
    slack_mode: Literal["socket", "http"] = Field("socket", description="socket (default) or http.")
    slack_port: int = Field(3000, ge=1, le=65535, description="Port of /slack/events in HTTP mode.")
    slack_api_url: str = Field("https://slack.com/api/", description="Slack Web API base URL.")
    slack_digest_admins: list[str] = Field(
        default_factory=list, description="Extra Slack user ids allowed to manage digests."
    )

    # Discord
    discord_token: SecretStr | None = Field(None, description="Discord bot token.")
    discord_application_id: str | None = Field(None, description="Discord application id (for invite-url).")
    discord_dev_guild: int | None = Field(None, description="Sync commands to this guild only (development).")
    discord_api_url: str | None = Field(None, description="Override Discord's REST base URL (tests).")

    # Digests
    digest_grace_hours: float = Field(6, ge=0, le=48, description="A missed digest is posted late within this.")
    digest_gap_minutes: int = Field(30, ge=1, description="Silence that splits a channel into conversations.")
    digest_channel_allow: list[str] = Field(default_factory=list, description="Only these channels may have digests.")
    digest_channel_deny: list[str] = Field(default_factory=list, description="These channels never get digests.")

    # Playground
    demo_host: str = Field("127.0.0.1", description="Playground bind address.")
    demo_port: int = Field(7860, ge=1, le=65535, description="Playground port.")

    # --- first-hour ---
    playground_max_chars: int = Field(
        16000, ge=200, le=2_000_000,
        description="Most characters of one playground conversation sent to the worker (also capped at 30 per "
                    "second of RECAP_JOB_TIMEOUT_S); longer pastes keep their last messages, with a note.",
    )

    # --- worker-faults ---
    delivery_windows_s: dict[str, int] = Field(
        default_factory=lambda: {"slack": 1800, "discord": 840},
        description="Per platform, seconds after a request within which its reply may still be posted "
                    "(Slack response_url: 30 min; Discord interaction token: 15 min, less a margin for the notice).",
    )
    store_retry_window_s: int = Field(900, ge=0, description="Seconds a job waits out store errors before failing.")
    worker_alive_ttl_s: int = Field(15, ge=3, le=600, description="A worker silent this long is dead; its job reruns.")
    recovery_interval_s: float = Field(5, gt=0, le=300, description="Seconds between recovery passes.")
    failed_job_ttl_s: int = Field(900, ge=1, description="Seconds a failed job (reason only, no text) is kept.")
    redis_max_backoff_s: float = Field(10, gt=0, le=300, description="Longest wait between Redis reconnects.")

    # --- store-queue ---
    max_queued_per_workspace: int = Field(
        200, ge=1, description="Most summary jobs one workspace may have waiting (within RECAP_MAX_QUEUED); past it, "
        "'busy'.")
    queued_ttl_s: int | None = Field(
        None, ge=60, description="Seconds a queued job may wait before it expires; default RECAP_MAX_QUEUED x "
        "RECAP_JOB_TIMEOUT_S plus one timeout, longer than the longest backlog the bound allows.")
    max_job_messages: int | None = Field(
        None, ge=1, description="Most messages in one summary job, refused at enqueue past it; default "
        "RECAP_MAX_MESSAGES.")
    max_job_tokens: int = Field(
        12000, ge=64, description="Most input tokens (estimated from words) in one summary job, refused at enqueue "
        "past it; input within it longer than RECAP_MAX_INPUT_TOKENS is map-reduced.")
    store_busy_timeout_s: float = Field(
        10.0, gt=0, le=300, description="Seconds a SQLite store waits for another writer's lock before the write "
        "counts as a passing fault.")

    # --- training ---
    export_min_rows: int = Field(
        50, ge=0, description="`recap train export-feedback` refuses to write fewer distinct dialogues than this."
    )

    # --- slack ---
    slack_host: str = Field("0.0.0.0", description="HTTP mode bind address (RECAP_SLACK_PORT is the port).")

    # --- discord ---

    # --- ct2 ---
    backend: Literal["auto", "transformers", "ctranslate2"] = Field(
        "auto", description="Model backend: auto uses CTranslate2 when it is installed and the model converts."
    )
    compute_type: Literal["auto", "int8", "int8_float32", "int8_bfloat16", "bfloat16", "float32"] = Field(
        "auto", description="Weights/compute precision: auto is int8 (CTranslate2) or float32 on CPU, "
        "int8_bfloat16 or bfloat16 on CUDA. Never float16 (T5 overflows)."
    )
    cpu_threads: int | None = Field(
        None, ge=1, le=512, description="CPU threads for torch and CTranslate2 (default: the cores available)."
    )
    batch_tokens: int = Field(
        4096, ge=0, le=1_000_000,
        description="Most padded input tokens in one generate call (and one worker batch); raise it on a GPU. "
        "0: one dialogue per call, and the worker gathers no waiting jobs.",
    )

    # --- adapters ---
    adapter_memory_gb: float = Field(
        4.0, gt=0, le=1024, description="Memory budget for adapters a worker keeps loaded (least recently used go)."
    )
    ab_confidence: float = Field(0.95, gt=0.5, lt=1, description="Confidence level of A/B intervals and tests.")
    ab_auto_stop: bool = Field(True, description="Stop an experiment when one arm is worse beyond its interval.")
    ab_min_votes: int = Field(30, ge=1, description="Votes each arm needs before an experiment may stop itself.")
    adapter_status_ttl_s: int = Field(120, ge=10, description="Seconds a worker's published adapter list stays valid.")

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level.")

    @field_validator("adapter", "cache_dir", "discord_application_id", "discord_api_url", "discord_dev_guild",
                     mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("expected a URL starting with redis://, rediss:// or unix://")
        return value

    @field_validator("store_url")
    @classmethod
    def _store_scheme(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "postgresql")):
            raise ValueError("expected sqlite:///path.db or postgresql+psycopg://user@host/db")
        return value

    def generation_dict(self) -> dict[str, Any]:
        names = ("max_new_tokens", "num_beams", "do_sample", "temperature", "top_p", "length_penalty",
                 "no_repeat_ngram_size", "repetition_penalty", "min_new_tokens")
        return {name: getattr(self, name) for name in names}

    def redacted(self) -> dict[str, Any]:
        """Effective settings with every secret replaced by a marker."""
        shown: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = "**********" if value.get_secret_value() else ""
            shown[ENV_PREFIX + name.upper()] = value
        return shown


def _describe(error: dict[str, Any]) -> str:
    field = str(error["loc"][0]) if error.get("loc") else "?"
    variable = ENV_PREFIX + field.upper()
    info = Settings.model_fields.get(field)
    hint = f" ({info.description})" if info is not None and info.description else ""
    got = error.get("input")
    shown = "" if isinstance(got, dict) else f"; got {got!r}"
    return f"{variable}: {error['msg']}{shown}{hint}"


def load_settings(**overrides: Any) -> Settings:
    """Validate every setting now, so a bad one fails at start-up, not at the first request."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = [_describe(dict(err)) for err in exc.errors()]
        raise ConfigError("Invalid configuration:\n  " + "\n  ".join(lines)) from None


@lru_cache(maxsize=1)
def cached_settings() -> Settings:
    return load_settings()


_active: Settings | None = None


def set_active_settings(settings: Settings | None) -> None:
    """Make ``settings`` the process-wide settings (the CLI after parsing flags; tests)."""
    global _active
    _active = settings


def active_settings() -> Settings:
    """The settings set by ``set_active_settings``, else the environment's (validated once)."""
    return _active if _active is not None else cached_settings()
