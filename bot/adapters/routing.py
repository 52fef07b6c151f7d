"""Which adapter serves a summary request: the channel's assignment, else the workspace's, else the default,
then a running experiment may send the request to its candidate (by hashing the requester).

The bot calls `route_job` just before `enqueue_summary`; the job then carries the adapter's name
(payload schema version 2). With nothing registered, the route is None and the worker serves its
configured RECAP_ADAPTER, as before.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from bot.adapters.experiments import ArmChoice, Experiments
from bot.queue import SummaryJob


@dataclass(frozen=True)
class Route:
    adapter: str | None  # None: the worker's default
    experiment: str | None = None
    arm: str | None = None  # control | candidate


def route_request(store: Any, platform: str, workspace: str, channel: str, requester: str) -> Route:
    """The adapter for one request; nothing is written."""
    experiments = Experiments(store)
    assigned = experiments.registry.resolve(platform, workspace, channel)
    choice = experiments.choose(platform, workspace, requester, assigned) if assigned else None
    if choice is None:
        return Route(assigned)
    return Route(choice.adapter, choice.experiment, choice.arm)


def route_job(job: SummaryJob, store: Any) -> SummaryJob:
    """The job with its adapter set, and its route (adapter, experiment, arm) recorded by request_id.

    A retried request keeps the route recorded the first time, so it never changes arm.
    """
    if job.adapter is not None:
        return job
    experiments = Experiments(store)
    known = experiments.route_of(job.request_id)
    if known is not None:
        return dataclasses.replace(job, adapter=known.adapter_name)
    route = route_request(store, job.platform, job.workspace, job.channel, job.requester)
    choice = None
    if route.experiment is not None and route.arm is not None and route.adapter is not None:
        choice = ArmChoice(route.experiment, route.arm, route.adapter)
    experiments.record_request(job.request_id, route.adapter, choice)
    return dataclasses.replace(job, adapter=route.adapter)
