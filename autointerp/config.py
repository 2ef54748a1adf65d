"""Settings, read once from the environment (prefix AUTOINTERP_)."""

from functools import lru_cache
from pathlib import Path

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from autointerp.errors import InputError
from autointerp.paths import DataLayout

EMBEDDED_MODEL = "smollm2-135m"
EMBEDDED_CORPUS = "embedded"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AUTOINTERP_", extra="ignore")

    home: Path = Field(default=Path("~/.autointerp"), description="data dir: weights, caches, stores")
    model: str = EMBEDDED_MODEL
    corpus: str = EMBEDDED_CORPUS
    # 2048 windows of 64: layer 6 of the embedded model builds in about a minute on 2 cores.
    tokens: int = 131_072
    window: int = 64
    batch_size: int = 32
    top_k: int = 100
    n_random: int = 100
    quantile_bins: int = 10
    per_bin: int = 10
    hist_bins: int = 64
    seed: int = Field(default=0, description="what an eval samples: its neurons, held-out splits and scoring "
                      "draws (never a cache: that is cache_seed)")
    cache_seed: int = Field(default=0, description="which windows a layer cache keeps: the corpus shuffle and "
                            "its random and quantile samples; each seed's caches live side by side")
    checkpoint_seconds: float = 120.0
    hub_timeout: float = 3.0
    chroma_url: str | None = Field(default=None, description="a Chroma server (http://host:port); default: a "
                                   "PersistentClient under the data dir")
    store_retry_seconds: float = Field(default=60.0, ge=0, description="how long a write to a Chroma server "
                                       "that does not answer is tried again (backing off) before it fails")
    llm_timeout: float = Field(default=60.0, gt=0, description="seconds to wait for one LLM reply")
    llm_attempts: int = Field(default=5, ge=1, le=20, description="tries per LLM call (transient errors only)")
    llm: str = Field(default="local", description="explainer/simulator LLM: local, openai:<m>, "
                     "openai-compatible:<m>@<url>")
    prefix_cache: bool = Field(default=True, description="the local LLM keeps the key/value cache of its last "
                               "calls and runs only a new call's unshared tokens (off: the benchmarks' baseline)")

    @property
    def data_dir(self) -> Path:
        return self.home.expanduser()

    @property
    def layout(self) -> DataLayout:
        return DataLayout(self.data_dir)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The environment's settings; one InputError naming the variable when one is malformed, or
    when the data dir cannot be a directory (HOME or AUTOINTERP_HOME pointing at a file)."""
    try:
        settings = Settings()
    except ValidationError as e:
        first = e.errors()[0]
        name = "AUTOINTERP_" + str(first["loc"][0]).upper() if first["loc"] else "an AUTOINTERP_ variable"
        raise InputError(f"bad setting {name}={first.get('input')!r}: {first['msg']}") from None
    check_data_dir(settings.data_dir)
    return settings


def check_data_dir(path: Path) -> None:
    """The data dir, or the first of its parents that exists, must be a directory."""
    for p in (path, *path.parents):
        if p.exists():
            if not p.is_dir():
                raise InputError(f"the data dir {path} cannot be created: {p} is a file "
                                 "(set AUTOINTERP_HOME to a directory)")
            return
