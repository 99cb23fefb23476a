"""HTTP for assets: upload (sniffed, deduplicated) and download by id."""

from __future__ import annotations

from fastapi import APIRouter, Response, UploadFile, status

from signage_server.assets import service
from signage_server.assets.schemas import AssetRead
from signage_server.deps import AssetStoreDep, CurrentUser, NowDep, SessionDep, SettingsDep
from signage_server.pagination import Page, PageDep
from signage_server.uploads import read_upload

router = APIRouter(tags=["assets"])


@router.get("/assets", response_model=Page[AssetRead])
def list_assets(session: SessionDep, user: CurrentUser, page: PageDep) -> Page[AssetRead]:
    items, total = service.list_assets(session, limit=page.limit, offset=page.offset)
    return Page(items=[AssetRead.model_validate(a) for a in items], total=total, limit=page.limit, offset=page.offset)


@router.post("/assets", status_code=status.HTTP_201_CREATED)
def upload_asset(file: UploadFile, store: AssetStoreDep, response: Response, session: SessionDep,
                 user: CurrentUser, settings: SettingsDep, now: NowDep) -> AssetRead:
    data = read_upload(file, settings.max_upload_bytes)
    asset, new = service.store_image(session, actor=user, store=store, data=data,
                                     max_bytes=settings.max_upload_bytes, max_pixels=settings.max_image_pixels,
                                     now=now)
    if not new:
        response.status_code = status.HTTP_200_OK
    return AssetRead.model_validate(asset)


@router.get("/assets/{asset_id}")
def get_asset(asset_id: int, session: SessionDep, user: CurrentUser) -> AssetRead:
    return AssetRead.model_validate(service.get_asset(session, asset_id=asset_id))


@router.get("/assets/{asset_id}/content", response_class=Response)
def asset_content(asset_id: int, store: AssetStoreDep, session: SessionDep, user: CurrentUser) -> Response:
    asset = service.get_asset(session, asset_id=asset_id)
    data = store.read(asset.sha256)
    return Response(content=data, media_type=asset.media_type,
                    headers={"ETag": f'"{asset.sha256}"', "X-Content-Type-Options": "nosniff"})
