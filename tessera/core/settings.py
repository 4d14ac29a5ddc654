"""Settings, read from the environment once (prefix TESSERA_) and passed down explicitly."""

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def public_base_url(v: str | None) -> str | None:
    """``v`` checked as a base for absolute links: http(s), a host, no query or fragment; "" means unset."""
    if v is None or not v.strip():
        return None
    parts = urlsplit(v.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"the public URL must be an http(s) base URL like https://tessera.example.org, got {v!r}")
    return v.strip()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TESSERA_", extra="ignore")

    data_dir: Path = Field(default=Path("./tessera-data"), description="Where the catalogue keeps its files.")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: an SQLite file in the data dir."
    )
    # Indexing
    workers: int = Field(default=0, description="Indexer processes; 0 means one per core.")
    segment_seconds: float = 30.0
    segment_min_duration: float = 60.0
    max_audio_seconds: float = 4 * 3600.0
    max_file_bytes: int = 2 * 1024**3
    max_memory_bytes: int = Field(default=4 * 1024**3, description="Peak memory one file may need while "
                                  "indexed (estimated from its header); with N workers up to N times this.")
    max_cpu_seconds_per_file: float = Field(default=0.0, description="CPU seconds one file may take in an "
                                            "indexer worker before the worker is ended; 0 = no limit.")
    duplicate_max_bit_error_rate: float = Field(default=0.2, description="Chromaprint bit error rate at or "
                                                "below which two files are the same recording.")
    # API
    max_page_size: int = 200
    max_upload_bytes: int = Field(default=50 * 1024**2, description="Largest recording accepted by POST /api/search.")
    max_upload_seconds: float = Field(
        default=600.0, description="Longest recording POST /api/search analyses (and, at 48 kHz stereo, the sample "
        "budget a file's header may declare: a 96 kHz stereo upload may be half as long).")
    upload_workers: int = Field(default=0, description="Processes decoding uploads at once; 0 = one per core.")
    upload_queue_wait: float = Field(
        default=10.0, description="Seconds an upload may wait for a free decoder before a 503 with Retry-After.")
    upload_max_waiting: int = Field(
        default=0, description="Uploads that may wait for a decoder at once (more: 503); 0 = four per decoder.")
    uploads_per_address: int = Field(
        default=2, description="Uploads one client address may have waiting or decoding at once (more: 429).")
    cors_origins: list[str] = Field(default_factory=list)
    editor_token: str | None = Field(
        default=None, description="Bootstrap bearer token that acts as an editor (before any user exists).")
    rate_limit_anonymous: int = Field(default=120, description="Requests per minute per client address.")
    rate_limit_key: int = Field(default=1200, description="Requests per minute per API key.")
    rate_limit_audio_anonymous: int = Field(default=30, description="Audio streams per minute per address.")
    anonymous_max_page_size: int = 50
    anonymous_max_points: int = Field(default=5000, description="Map points per answer for anonymous callers.")
    rate_limit_export_key: int = Field(default=10, description="Exports with bundled audio per minute per key.")
    auth_failures_per_address: int = Field(
        default=20, description="Invalid API keys per minute per address before it is answered 429.")
    auth_failures_per_key: int = Field(
        default=20, description="Invalid secrets per minute for one key prefix before it is answered 429 "
        "(a valid key is never refused for this).")
    login_failures_per_account: int = Field(
        default=5, description="Failed sign-ins per minute per user name before sign-in answers 429.")
    trusted_proxies: list[str] = Field(
        default_factory=list, description="Addresses or CIDRs of reverse proxies whose X-Forwarded-For / "
        "Forwarded headers name the client; empty: the headers are never honoured (the peer is the client).")
    allowed_hosts: list[str] = Field(
        default_factory=lambda: ["*"], description="Host header values this server answers (TrustedHost); "
        "'*' allows any, fine for a local install; set your public host names when exposed.")
    public_url: str | None = Field(
        default=None, description="The server's public base URL (e.g. https://tessera.example.org), used for "
        "SKOS URIs and every absolute URL of an export (its page, and the audio URL of files held only here); "
        "unset: links are relative and never built from the request's Host header, and exported local files "
        "have no download URL.")
    audio_cache_seconds: int = Field(
        default=300, description="max-age of audio and previews: short, so a withdrawal reaches caches soon.")
    audio_requires_key: bool = Field(default=False, description="Full audio only for callers with an API key.")
    # Crawlers
    zenodo_url: str = "https://zenodo.org"
    zenodo_token: str | None = None
    ia_url: str = "https://archive.org"
    source_url: str = Field(default="https://github.com/tessera-audio/tessera", description="Where this server's "
                            "source code is offered to its users (AGPL-3.0 section 13): linked from the web app and "
                            "/health; point it at your fork when you change the code.")
    user_agent: str = "Tessera/0.1 (open sound dataset catalogue; +https://github.com/tessera-audio/tessera)"

    @field_validator("public_url")
    @classmethod
    def _public_base(cls, v: str | None) -> str | None:
        return public_base_url(v)

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'catalog.sqlite').resolve()}"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"

    @property
    def previews_dir(self) -> Path:
        return self.data_dir / "previews"

    def ensure_dirs(self) -> None:
        for d in (self.data_dir, self.index_dir, self.cache_dir, self.previews_dir):
            d.mkdir(parents=True, exist_ok=True)
