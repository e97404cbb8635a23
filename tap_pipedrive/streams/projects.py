"""Projects (API v2): projects, archived projects, templates, tasks and boards.

Off by default: they need Pipedrive's Projects feature, which many accounts do not have, and
a default run must not fail on it.
"""

from __future__ import annotations

from tap_pipedrive.client import V2Stream
from tap_pipedrive.streams.base import BatchingParent, CustomFieldsStream, UnpagedV2Stream
from tap_pipedrive.streams.fields import ProjectFieldsStream

# Deleted projects are left out unless asked for (spec GET /api/v2/projects `status`).
PROJECT_STATUSES = {"status": "open,completed,canceled,deleted"}


class _ProjectsFeature(V2Stream):
    selected_by_default = False


class ProjectsStream(CustomFieldsStream, BatchingParent, _ProjectsFeature):
    # No updated_since and no sort parameter: full table.
    name = "projects"
    path = "/api/v2/projects"
    primary_keys = ("id",)
    extra_params = PROJECT_STATUSES
    custom_field_source = ProjectFieldsStream
    custom_field_entity = "project"


class ArchivedProjectsStream(CustomFieldsStream, _ProjectsFeature):
    name = "archived_projects"
    path = "/api/v2/projects/archived"
    primary_keys = ("id",)
    extra_params = PROJECT_STATUSES
    custom_field_source = ProjectFieldsStream
    custom_field_entity = "project"


class ProjectTemplatesStream(_ProjectsFeature):
    name = "project_templates"
    path = "/api/v2/projectTemplates"
    primary_keys = ("id",)


class TasksStream(_ProjectsFeature):
    name = "tasks"
    path = "/api/v2/tasks"
    primary_keys = ("id",)


class BoardsStream(BatchingParent, UnpagedV2Stream):
    selected_by_default = False  # the Projects feature (module docstring)
    # Takes no parameters (spec): one call lists every active board.
    name = "boards"
    path = "/api/v2/boards"
    primary_keys = ("id",)


STREAMS = [ProjectsStream, ArchivedProjectsStream, ProjectTemplatesStream, TasksStream,
           BoardsStream]
