"""Settings, read from the environment once (prefix TESSERA_) and passed down explicitly."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    # API
    max_page_size: int = 200
    max_upload_bytes: int = Field(default=50 * 1024**2, description="Largest recording accepted by POST /api/search.")
    cors_origins: list[str] = Field(default_factory=list)
    editor_token: str | None = Field(
        default=None, description="Bootstrap bearer token that acts as an editor (before any user exists).")
    rate_limit_anonymous: int = Field(default=120, description="Requests per minute per client address.")
    rate_limit_key: int = Field(default=1200, description="Requests per minute per API key.")
    rate_limit_audio_anonymous: int = Field(default=30, description="Audio streams per minute per address.")
    anonymous_max_page_size: int = 50
    audio_requires_key: bool = Field(default=False, description="Full audio only for callers with an API key.")
    # Crawlers
    zenodo_url: str = "https://zenodo.org"
    zenodo_token: str | None = None
    ia_url: str = "https://archive.org"
    user_agent: str = "Tessera/0.1 (open sound dataset catalogue; +https://github.com/tessera-audio/tessera)"

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
