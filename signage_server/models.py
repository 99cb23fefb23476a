"""Every table, imported in one place so metadata is complete for Alembic and tests."""

from signage_server.alerts.models import Alert, AlertSequence, AlertTarget, AlertTemplate
from signage_server.assets.models import Asset
from signage_server.audit.models import AuditEvent
from signage_server.captions.models import CaptionRevision, CaptionState
from signage_server.enrolment.models import EnrolmentAttempt, EnrolmentCode
from signage_server.feeds.models import DataFeed
from signage_server.manifests.models import ManifestChange, ManifestRecord
from signage_server.playlists.models import Playlist, PlaylistItem
from signage_server.schedules.models import Schedule, ScheduleGroupLink, ScheduleScreenLink
from signage_server.screens.models import (
    Enrolment,
    Layout,
    Orientation,
    Screen,
    ScreenGroup,
    ScreenGroupLink,
    Site,
)
from signage_server.slides.models import Slide
from signage_server.telemetry.models import (
    PlayLogEntry,
    PlayLogSegment,
    PresenceEvent,
    ScreenHeartbeat,
    ScreenPresence,
    ScreenScreenshot,
)
from signage_server.users.models import ApiToken, LoginAttempt, LoginSession, Role, User

__all__ = [
    "DataFeed",
    "Alert",
    "AlertSequence",
    "AlertTarget",
    "AlertTemplate",
    "EnrolmentAttempt",
    "EnrolmentCode",
    "PlayLogEntry",
    "PlayLogSegment",
    "PresenceEvent",
    "ScreenHeartbeat",
    "ScreenPresence",
    "ScreenScreenshot",
    "ApiToken",
    "Asset",
    "AuditEvent",
    "CaptionRevision",
    "CaptionState",
    "Enrolment",
    "Layout",
    "LoginAttempt",
    "LoginSession",
    "ManifestChange",
    "ManifestRecord",
    "Orientation",
    "Playlist",
    "PlaylistItem",
    "Role",
    "Schedule",
    "ScheduleGroupLink",
    "ScheduleScreenLink",
    "Screen",
    "ScreenGroup",
    "ScreenGroupLink",
    "Site",
    "Slide",
    "User",
]
