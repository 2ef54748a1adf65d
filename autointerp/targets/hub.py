"""Any TransformerLens / Hugging Face model name, loaded from the local HF cache or the hub."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

from autointerp.config import EMBEDDED_MODEL
from autointerp.errors import TargetError


def official_name(name: str) -> str:
    """Resolve TransformerLens aliases (`gpt2-small` -> `gpt2`)."""
    from transformer_lens.tools.model_registry.registry_io import resolve_model_alias

    return resolve_model_alias(name) or name


def in_local_cache(repo: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    for filename in ("config.json", "model_config.json"):
        try:
            hit = try_to_load_from_cache(repo, filename)
        except ValueError:  # not a valid repo id (HFValidationError): not cached, and the error below says so
            return False
        if isinstance(hit, str):
            return True
    return False


def hub_reachable(timeout: float) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        return False
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def load_hub_bridge(name: str, hub_timeout: float):
    """A bridge for a hub model; one clear error when it can be neither found locally nor fetched."""
    repo = official_name(name)
    if not in_local_cache(repo) and not hub_reachable(hub_timeout):
        raise TargetError(
            f"model {name!r} is not embedded, not in the local Hugging Face cache, and the hub is "
            f"unreachable; the embedded default {EMBEDDED_MODEL!r} works offline (--model {EMBEDDED_MODEL})"
        )
    from transformer_lens.model_bridge import TransformerBridge
    from transformer_lens.model_bridge.sources import tl_legacy

    try:
        if repo.startswith(tl_legacy.TL_LEGACY_PREFIXES):
            return tl_legacy.boot(repo, device="cpu")
        return TransformerBridge.boot_transformers(repo, device="cpu")
    except (OSError, ValueError, KeyError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise TargetError(f"cannot load model {name!r} ({repo}): {first}") from e
