"""Accepting uploads: sniff, dedupe by hash, record once."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from signage_server.assets.models import Asset
from signage_server.assets.store import AssetStore, ImageSource, clean_image, sniff_image
from signage_server.audit import service as audit
from signage_server.errors import NotFound
from signage_server.pagination import paginate
from signage_server.permissions import require_role
from signage_server.users.models import Role, User


def store_image(
    session: Session,
    *,
    actor: User | None,
    store: AssetStore,
    data: ImageSource,
    max_bytes: int,
    max_pixels: int,
    now: datetime,
) -> tuple[Asset, bool]:
    """Return the asset for these bytes and whether it was new; same picture twice gives one asset."""
    if actor is not None:
        require_role(actor, Role.ADMIN, Role.OPERATOR)
    # What is stored is our own re-encoding, never the uploaded bytes.
    cleaned = clean_image(data, max_bytes=max_bytes, max_pixels=max_pixels)
    info = sniff_image(cleaned, max_bytes=max(max_bytes, len(cleaned)), max_pixels=max_pixels)
    existing = session.exec(select(Asset).where(Asset.sha256 == info.sha256)).first()
    store.put(cleaned, info.sha256)  # also repairs a file lost from disk
    if existing is not None:
        return existing, False
    asset = Asset(
        sha256=info.sha256,
        size_bytes=info.size_bytes,
        media_type=info.media_type,
        width_px=info.width_px,
        height_px=info.height_px,
        created_at=now,
        created_by_id=actor.id if actor else None,
    )
    session.add(asset)
    session.flush()
    audit.record(session, actor=actor, action="asset.create", entity="asset", entity_id=asset.id,
                 before=None, after=audit.snapshot(asset), now=now)
    return asset, True


def get_asset(session: Session, *, asset_id: int) -> Asset:
    asset = session.get(Asset, asset_id)
    if asset is None:
        raise NotFound("asset", asset_id)
    return asset


def list_assets(session: Session, *, limit: int, offset: int) -> tuple[list[Asset], int]:
    return paginate(session, select(Asset).order_by(col(Asset.id)), limit=limit, offset=offset)
