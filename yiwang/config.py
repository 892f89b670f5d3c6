"""The one settings object. Every ``YIWANG_*`` environment variable lands here;
no other module reads ``os.environ``.
"""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Platform settings, read from ``YIWANG_<NAME>`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="YIWANG_", extra="ignore")

    data_dir: Path = Field(Path("./var"), description="Where the SQLite database, keys and secrets live.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default: SQLite file yiwang.db under the data dir."
    )
    crypto_suite: Literal["standard", "sm"] = Field(
        "standard", description="standard = Ed25519 + SHA-256; sm = 国密 SM2 + SM3 + SM4. Chosen at init."
    )
    secret_key: str | None = Field(
        None, description="Signs session cookies; generated and kept under the data dir when absent."
    )
    audit_checkpoint_every: int = Field(1000, description="Sign an audit checkpoint every N entries.")
    audit_checkpoint_seconds: int = Field(60, description="... or every T seconds while the log grows.")
    session_hours: int = Field(8, description="How long a page session lasts.")
    login_max_failures: int = Field(5, description="Failed logins allowed per username in the window.")
    login_window_minutes: int = Field(15, description="Window and lockout length for login throttling.")
    calendar_extra_closures: list[str] = Field(
        default_factory=list,
        description="Extra non-working dates (YYYY-MM-DD), e.g. typhoon closures; JSON list in the env.",
    )
    calendar_extra_workdays: list[str] = Field(
        default_factory=list,
        description="Extra working dates (YYYY-MM-DD), e.g. a make-up day published after the package.",
    )
    sharing_decision_days: int = Field(
        10, ge=1, le=60, description="Working days a provider has to decide a conditional sharing request."
    )
    sharing_reminder_days: int = Field(
        2, ge=0, le=30, description="Remind the provider this many working days before a decision is due."
    )
    objection_answer_days: int = Field(
        5, ge=1, le=60, description="Working days a provider has to answer a data objection."
    )
    http_access_log: bool = Field(
        False,
        description="One line per HTTP request on stderr (uvicorn's access log). Off by default: the "
        "audit and gateway access logs record what matters, and a busy gateway would print thousands "
        "of lines a second; turn on to debug, or log at the reverse proxy.",
    )
    language: Literal["zh", "en"] = Field("zh", description="Default page language.")
    secure_cookies: bool = Field(False, description="Mark cookies Secure (behind HTTPS).")

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'yiwang.db').resolve()}"

    def resolved_secret_key(self) -> str:
        """The cookie-signing secret: from the env, else kept in ``<data_dir>/secret_key``."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(48)
        path.touch(mode=0o600)
        path.write_text(value)
        return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Forget the cached settings (tests and the CLI change the environment)."""
    get_settings.cache_clear()
