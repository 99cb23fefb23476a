"""The manifests domain's one import for callers: the compiler and the history queries."""

from signage_server.manifests.compiler import (
    DEFAULT_HORIZON_DAYS,
    CompileCache,
    CompileResult,
    Exclusion,
    compile_screen,
    compile_screens,
    prefetch,
)
from signage_server.manifests.history import (
    REFRESH_BEFORE_EXPIRY,
    Expected,
    all_screen_ids,
    body_of,
    expected_at,
    expiring_screen_ids,
    get_manifest,
    latest_manifest,
    latest_manifests,
    list_manifests,
    manifest_assets,
    record_summary,
)

__all__ = [
    "DEFAULT_HORIZON_DAYS", "REFRESH_BEFORE_EXPIRY", "CompileCache", "CompileResult", "Exclusion", "Expected",
    "all_screen_ids", "body_of", "compile_screen", "compile_screens", "expected_at", "expiring_screen_ids",
    "get_manifest", "latest_manifest", "latest_manifests", "list_manifests", "manifest_assets", "prefetch",
    "record_summary",
]
