"""Plain values the notice site is generated from: no database, no clock, no MkDocs.

A service (``api.services.site``) loads them from the directory; the page builders in this
package turn them into Markdown. Instants are timezone-aware UTC. Nothing here names a customer
or a machine: the public site must not, so the values cannot carry them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

__all__ = [
    "SERVICE_ENTRY_POINTS",
    "AnnouncementView",
    "EntryPoint",
    "PackageView",
    "RebootView",
    "RolloutView",
    "SiteView",
    "WaveView",
    "wave_label",
]


@dataclass(frozen=True)
class AnnouncementView:
    slug: str
    title: str
    body: str  # Markdown
    published_at: datetime
    rollout: str | None = None  # the rollout's name when the announcement is one of its updates


@dataclass(frozen=True)
class WaveView:
    position: int
    name: str
    selector: str  # infrastructure | representative | percent | rest | hosts
    percent: int | None
    starts_at: datetime
    state: str  # pending | running | completed | halted | skipped


def wave_label(wave: WaveView) -> str:
    """What a wave takes, in the words of the seed announcement."""
    return {
        "infrastructure": "update of infrastructure machines",
        "representative": "update of a representative set of machines",
        "percent": f"update of {wave.percent} % of all machines",
        "rest": "update of the remaining machines",
        "hosts": "reboot of all VM hosts",
    }.get(wave.selector, wave.selector)


@dataclass(frozen=True)
class RolloutView:
    name: str
    title: str
    description: str  # Markdown
    target: str
    state: str  # announced | running | halted | delayed | completed | cancelled (never draft)
    halted_reason: str | None
    created_at: datetime
    waves: tuple[WaveView, ...] = ()

    @property
    def starts_at(self) -> datetime | None:
        return min((w.starts_at for w in self.waves), default=None)

    @property
    def ends_at(self) -> datetime | None:
        return max((w.starts_at for w in self.waves), default=None)

    @property
    def is_past(self) -> bool:
        return self.state in {"completed", "cancelled"}


@dataclass(frozen=True)
class RebootView:
    """Forced reboots of VM hosts in one slot: how many hosts, never which."""

    starts_at: datetime
    ends_at: datetime
    state: str  # planned | running | completed | failed | cancelled
    hosts: int


@dataclass(frozen=True)
class PackageView:
    name: str
    version: str
    sha256: str
    released_at: datetime
    notes: str = ""


@dataclass(frozen=True)
class EntryPoint:
    """A URL of the running service, listed for developers on the home page."""

    path: str
    link: str | None
    what: str


@dataclass(frozen=True)
class SiteView:
    """Everything the public site shows, as of ``now``."""

    title: str
    public_url: str
    timezone: str  # the operators' IANA zone, shown beside UTC
    now: datetime
    announcements: tuple[AnnouncementView, ...] = ()  # published only, any order
    rollouts: tuple[RolloutView, ...] = ()  # never drafts
    reboots: tuple[RebootView, ...] = ()
    packages: tuple[PackageView, ...] = ()
    entry_points: tuple[EntryPoint, ...] = field(default=())


# The service's own URLs: the landing page lists them before a site is built, and the site's
# home lists them for developers.
SERVICE_ENTRY_POINTS = (
    EntryPoint("/graphql", "/graphql", "the GraphQL API (GraphiQL in a browser when enabled)"),
    EntryPoint("/feeds/{group}.ics?token=…", None, "a resource group's maintenance calendar"),
    EntryPoint("/feeds/all.ics", None, "every group's windows, for operators (admin token)"),
    EntryPoint("/healthz", "/healthz", "liveness: the process is up"),
    EntryPoint("/readyz", "/readyz", "readiness: database reachable and fully migrated"),
)
