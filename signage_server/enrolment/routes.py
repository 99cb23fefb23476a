"""HTTP for enrolment: admins issue codes, players trade a code for their credentials."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request, status

from signage_server.db import saved_id
from signage_server.deps import (
    BrokerDep,
    CurrentUser,
    KeyRingDep,
    NowDep,
    RecompilerDep,
    SecretKeyDep,
    SessionDep,
    SettingsDep,
    client_address,
)
from signage_server.enrolment import service
from signage_server.enrolment.schemas import EnrolmentCodeRead, EnrolRequest, EnrolResponse
from signage_server.screens.models import Site
from signage_server.transport.ids import screen_alert_groups, screen_wire_id

router = APIRouter(tags=["enrolment"])


@router.post("/screens/{screen_id}/enrolment-code", status_code=status.HTTP_201_CREATED)
def issue_code(screen_id: int, session: SessionDep, user: CurrentUser, settings: SettingsDep, secret: SecretKeyDep,
               now: NowDep) -> EnrolmentCodeRead:
    code, row = service.issue_code(session, actor=user, screen_id=screen_id, secret=secret,
                                   ttl=timedelta(hours=settings.enrolment_code_hours), now=now)
    return EnrolmentCodeRead(code=code, expires_at=row.expires_at)


@router.post("/enrol")
def enrol(body: EnrolRequest, request: Request, session: SessionDep, settings: SettingsDep, secret: SecretKeyDep,
          broker: BrokerDep, ring: KeyRingDep, recompiler: RecompilerDep, now: NowDep) -> EnrolResponse:
    """No login: the code is the credential. Broker account first, so a broker failure consumes no code."""
    transport = broker.require(needed_for="enrolling a player")
    limits = service.EnrolLimits(window=timedelta(minutes=settings.enrol_window_minutes),
                                 max_failures_per_address=settings.enrol_max_failures_per_address)
    screen = service.redeem_code(session, code=body.code, address=client_address(request),
                                 agent_version=body.agent_version, secret=secret,
                                 limits=limits, now=now)
    screen_id = saved_id(screen)
    group_ids = [saved_id(g) for g in screen.groups]
    site = session.get(Site, screen.site_id)
    slug = site.slug if site is not None else None
    # A screen of a site in a region gets its account, and its broker address, from that region's broker.
    creds = transport.enrol_account(screen_id, group_ids, site=slug)
    # Compiled before it enrolled (content approved first): publish it retained once this commit has released
    # the database, so the player's first subscribe finds it.
    recompiler.defer_notice(session, [str(screen_id)])
    key = ring.current().public_key
    return EnrolResponse(
        screen_id=screen_wire_id(screen_id), broker_url=transport.broker_url_for(slug), username=creds.username,
        password=creds.password, server_public_key=key.base64, key_id=key.key_id, fingerprint=key.fingerprint,
        groups=screen_alert_groups(screen_id, group_ids), server_time=now)
