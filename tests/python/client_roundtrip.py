"""Drives the api through a client that openapi-python-client generated from /openapi.json.

Run by tests/tests/contract.rs with the generated package importable as `agentarea_client`:

    python client_roundtrip.py BASE_URL TOKEN

For each kind it creates, reads, lists a page at a time and deletes (tasks are created, listed,
read and cancelled: the API does not delete them), and it reads error bodies as the ErrorBody
model. Every call goes through the generated functions and models, so a document the generator
misreads fails here. It prints one line per step and exits non-zero on the first surprise.
"""

import sys
import uuid
from http import HTTPStatus

from agentarea_client import AuthenticatedClient
from agentarea_client.api.agents import create_agent, delete_agent, get_agent, list_agents
from agentarea_client.api.mcp_server_instances import (
    create_instance,
    delete_instance,
    get_instance,
    list_instances,
)
from agentarea_client.api.skills import create_skill, delete_skill, get_skill, list_skills
from agentarea_client.api.tasks import cancel_task, create_task, get_task, list_tasks
from agentarea_client.api.triggers import create_trigger, delete_trigger, get_trigger, list_triggers
from agentarea_client.models import (
    AgentCreate,
    AgentResponse,
    ErrorBody,
    InstanceCreate,
    InstanceResponse,
    JsonSpecUrl,
    JsonSpecUrlType,
    SkillCreate,
    SkillResponse,
    TaskCreate,
    TaskResponse,
    TriggerCreate,
    TriggerResponse,
    TriggerType,
)


def expect(response, status, model):
    """The parsed body of `response`, after checking its status and its model."""
    if response.status_code != status:
        raise AssertionError(f"expected {status}, got {response.status_code}: {response.content!r}")
    if not isinstance(response.parsed, model):
        raise AssertionError(f"expected a {model.__name__}, got {response.parsed!r}")
    return response.parsed


def all_pages(list_operation, client, page_size):
    """Every item of a list, following X-Next-Cursor a page of `page_size` at a time."""
    items, cursor, pages = [], None, 0
    while True:
        kwargs = {"limit": page_size}
        if cursor is not None:
            kwargs["cursor"] = cursor
        response = list_operation.sync_detailed(client=client, **kwargs)
        page = expect(response, HTTPStatus.OK, list)
        total = int(response.headers["x-total-count"])
        items.extend(page)
        pages += 1
        cursor = response.headers.get("x-next-cursor")
        if cursor is None:
            if len(items) != total:
                raise AssertionError(f"{len(items)} items over {pages} pages, X-Total-Count {total}")
            return items, pages


def roundtrip(kind, client, create, get, list_operation, delete, response_model):
    """Creates three objects with `create(i)`, reads one, lists them two a page, deletes them."""
    created = [expect(create(i), HTTPStatus.CREATED, response_model) for i in range(3)]
    read = expect(get.sync_detailed(created[0].id, client=client), HTTPStatus.OK, response_model)
    assert read.id == created[0].id, (read.id, created[0].id)
    items, pages = all_pages(list_operation, client, page_size=2)
    ids = [item.id for item in items]
    assert all(c.id in ids for c in created), (ids, [c.id for c in created])
    assert pages >= 2, f"{len(items)} {kind} fit on one page of 2"
    for c in created:
        expect(delete.sync_detailed(c.id, client=client), delete_status(delete), object)
    missing = expect(get.sync_detailed(created[0].id, client=client), HTTPStatus.NOT_FOUND, ErrorBody)
    assert missing.status_code == 404 and missing.detail, missing
    print(f"{kind}: created 3, read 1, listed {len(items)} over {pages} pages, deleted 3")
    return created


def delete_status(delete):
    # A trigger's delete answers 204 No Content; the others answer a status body.
    return HTTPStatus.NO_CONTENT if delete is delete_trigger else HTTPStatus.OK


def main(base_url, token):
    client = AuthenticatedClient(base_url=base_url, token=token, raise_on_unexpected_status=True)
    run = uuid.uuid4().hex[:6]

    roundtrip(
        "skills", client,
        lambda i: create_skill.sync_detailed(
            client=client, body=SkillCreate(name=f"skill-{run}-{i}", instructions="Be kind.")
        ),
        get_skill, list_skills, delete_skill, SkillResponse,
    )
    roundtrip(
        "mcp-server-instances", client,
        lambda i: create_instance.sync_detailed(
            client=client,
            body=InstanceCreate(
                name=f"remote-{run}-{i}",
                json_spec=JsonSpecUrl(endpoint="http://mcp.example.test/mcp", type_=JsonSpecUrlType.URL),
            ),
        ),
        get_instance, list_instances, delete_instance, InstanceResponse,
    )

    def new_agent(i):
        body = AgentCreate(name=f"Agent {run} {i}", instruction="Answer briefly.", model_id="m")
        return create_agent.sync_detailed(client=client, body=body)

    # Triggers and tasks need an agent, which outlives them.
    agent = expect(new_agent("keep"), HTTPStatus.CREATED, AgentResponse)
    roundtrip(
        "triggers", client,
        lambda i: create_trigger.sync_detailed(
            client=client,
            body=TriggerCreate(
                name=f"nightly-{run}-{i}", agent_id=agent.id, trigger_type=TriggerType.CRON,
                cron_expression="0 3 * * *", task_description="Summarize the day.",
            ),
        ),
        get_trigger, list_triggers, delete_trigger, TriggerResponse,
    )
    roundtrip("agents", client, new_agent, get_agent, list_agents, delete_agent, AgentResponse)

    tasks = [
        expect(
            create_task.sync_detailed(client=client, body=TaskCreate(agent_id=agent.id, description=f"Job {i}")),
            HTTPStatus.CREATED, TaskResponse,
        )
        for i in range(3)
    ]
    read = expect(get_task.sync_detailed(tasks[0].id, client=client), HTTPStatus.OK, TaskResponse)
    assert read.agent_id == agent.id, read
    items, pages = all_pages(list_tasks, client, page_size=2)
    assert {t.id for t in tasks} <= {t.id for t in items}
    for task in tasks:
        cancelled = expect(cancel_task.sync_detailed(task.id, client=client), HTTPStatus.OK, TaskResponse)
        assert cancelled.id == task.id
    print(f"tasks: created 3, read 1, listed {len(items)} over {pages} pages, cancelled 3")
    expect(delete_agent.sync_detailed(agent.id, client=client), HTTPStatus.OK, object)

    # Errors parse as the one error model, with the status repeated and a detail that says why.
    invalid = expect(
        create_task.sync_detailed(client=client, body=TaskCreate(agent_id=agent.id, description=" ")),
        HTTPStatus.UNPROCESSABLE_ENTITY, ErrorBody,
    )
    assert invalid.status_code == 422 and "description" in invalid.detail, invalid
    unknown = expect(get_agent.sync_detailed("no-such-agent", client=client), HTTPStatus.NOT_FOUND, ErrorBody)
    assert unknown.status_code == 404, unknown
    print(f"errors: 422 {invalid.detail!r}; 404 {unknown.detail!r}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
