"""Running real dbt against a real DuckDB file: results, errors, tests, partial parsing.

One build of a small project (a good model, a model with a SQL error, a model
whose unique test fails) is shared by the module; the PostgreSQL cases (secrets,
the profile folder, cancel) are in test_dbt_invoke_postgres.py.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from apps.transforms import workdir
from apps.transforms.dbt import artifacts
from apps.transforms.dbt.invoke import Invocation, Outcome, invoke

PROJECT = {
    "dbt_project.yml": "name: shop\nversion: '1.0'\nprofile: console\n",
    "models/customers.sql": (
        "{{ config(materialized='table') }}\n"
        "select * from (values (1, 'ann'), (2, 'bob'), (3, 'cy')) as t(id, name)\n"
    ),
    "models/orders.sql": (
        "select 10 as order_id, 1 as customer_id\nunion all select 10, 2\n"
    ),
    "models/broken.sql": (
        "select id,\n"
        "       name\n"
        "from {{ ref('customers') }}\n"
        "where no_such_column = 1\n"
    ),
    "models/schema.yml": (
        "version: 2\n"
        "models:\n"
        "  - name: customers\n"
        "    description: People who bought something.\n"
        "    columns:\n"
        "      - name: id\n"
        "        description: The customer's number.\n"
        "        data_tests: [unique, not_null]\n"
        "  - name: orders\n"
        "    columns:\n"
        "      - name: order_id\n"
        "        data_tests: [unique]\n"
    ),
}


class Run:
    def __init__(self, outcome: Outcome, lines: list[str]) -> None:
        self.outcome = outcome
        self.lines = lines
        self.text = "\n".join(lines)


@pytest.fixture(scope="module")
def shop(dbt_ready, tmp_path_factory):
    root = tmp_path_factory.mktemp("shop")
    workdir.materialize(PROJECT.items(), root / "project")
    profile = {
        "type": "duckdb",
        "path": str(root / "warehouse.duckdb"),
        "schema": "main",
        "threads": 4,
    }

    def run(command: str, selector: str = "", extra: tuple[str, ...] = ()) -> Run:
        lines: list[str] = []
        outcome = invoke(
            Invocation(
                dbt=dbt_ready["duckdb"].dbt,
                project_dir=root / "project",
                target_dir=root / "target",
                profile=profile,
                command=command,
                selector=selector,
                extra_args=extra,
                timeout=300,
            ),
            on_line=lines.append,
        )
        return Run(outcome, lines)

    run.root = root  # type: ignore[attr-defined]
    run.database = Path(profile["path"])  # type: ignore[attr-defined]
    return run


@pytest.fixture(scope="module")
def first_build(shop) -> Run:
    return shop("build")


def test_build_results_are_parsed_per_node(first_build, shop):
    outcome = first_build.outcome
    assert outcome.returncode == 1
    assert not outcome.cancelled and not outcome.timed_out
    nodes = {
        n["name"]: n
        for n in artifacts.node_results(outcome.run_results, outcome.manifest)
    }
    assert nodes["customers"]["status"] == "success"
    assert nodes["customers"]["resource_type"] == "model"
    assert nodes["not_null_customers_id"]["status"] == "pass"
    assert nodes["broken"]["status"] == "error"
    assert artifacts.stats(list(nodes.values()))["error"] == 1
    # The table really is in the DuckDB file.
    with duckdb.connect(str(shop.database), read_only=True) as con:
        assert con.execute("select count(*) from main.customers").fetchone() == (3,)


def test_sql_error_reads_with_model_file_and_line(first_build):
    error = first_build.outcome.error
    assert "broken" in error
    assert "models/broken.sql" in error
    assert "no_such_column" in error
    # The database counts lines of dbt's wrapped statement; the user's file has it
    # on line 4.
    assert "models/broken.sql line 4" in error
    assert "no_such_column" in first_build.text


def test_failing_unique_test_reports_failures(first_build):
    outcome = first_build.outcome
    nodes = {
        n["name"]: n
        for n in artifacts.node_results(outcome.run_results, outcome.manifest)
    }
    unique = nodes["unique_orders_order_id"]
    assert unique["resource_type"] == "test"
    assert unique["status"] == "fail"
    assert unique["failures"] == 1
    assert "unique_orders_order_id" in outcome.error
    assert "FAIL 1 unique_orders_order_id" in first_build.text


def test_graph_has_models_tests_and_descriptions(first_build):
    graph = artifacts.graph(first_build.outcome.manifest)
    assert graph["project_name"] == "shop"
    nodes = {n["name"]: n for n in graph["nodes"]}
    customers = nodes["customers"]
    assert customers["description"] == "People who bought something."
    assert customers["materialized"] == "table"
    assert customers["original_file_path"] == "models/customers.sql"
    assert "values (1, 'ann')" in customers["raw_code"]
    assert {"name": "id", "description": "The customer's number.", "data_type": ""} in (
        customers["columns"]
    )
    test_names = {uid.split(".")[2] for uid in customers["tests"]}
    assert test_names == {"unique_customers_id", "not_null_customers_id"}
    assert nodes["broken"]["depends_on"] == ["model.shop.customers"]
    assert nodes["unique_customers_id"]["raw_code"] == ""


def test_target_is_kept_and_the_next_run_partial_parses(first_build, shop):
    assert "Unable to do partial parsing" in first_build.text
    assert (shop.root / "target" / "partial_parse.msgpack").is_file()
    second = shop("build", "customers", ("--log-level", "debug"))
    assert second.outcome.returncode == 0, second.outcome.error
    assert second.outcome.error == ""
    assert "Unable to do partial parsing" not in second.text
    assert "Partial parsing enabled, no changes found, skipping parsing" in second.text
    names = [
        n["name"] for n in artifacts.node_results(second.outcome.run_results, None)
    ]
    assert "customers" in names and "broken" not in names


def test_show_returns_columns_and_rows(first_build, shop):
    run = shop("show", "customers", ("--limit", "2"))
    assert run.outcome.returncode == 0, run.outcome.error
    assert run.outcome.output["columns"] == ["id", "name"]
    assert run.outcome.output["rows"] == [[1, "ann"], [2, "bob"]]


def test_compile_returns_the_sql_with_refs_resolved(first_build, shop):
    run = shop("compile", "broken")
    assert run.outcome.returncode == 0, run.outcome.error
    sql = run.outcome.output["sql"]
    assert "{{" not in sql
    assert '"main"."customers"' in sql


def test_docs_generate_static_page(first_build, shop):
    run = shop("docs generate", extra=("--static",))
    assert run.outcome.returncode == 0, run.outcome.error
    html = run.outcome.output["docs_html"]
    assert html.lower().startswith("<!doctype html")
    assert "People who bought something." in html


def test_jinja_error_names_the_file_and_line(dbt_ready, tmp_path):
    project = tmp_path / "project"
    workdir.materialize(
        [*PROJECT.items(), ("models/jinja.sql", "select 1 as id\nfrom {{ oops(\n")],
        project,
    )
    lines: list[str] = []
    outcome = invoke(
        Invocation(
            dbt=dbt_ready["duckdb"].dbt,
            project_dir=project,
            target_dir=tmp_path / "target",
            profile={"type": "duckdb", "path": str(tmp_path / "x.duckdb")},
            command="build",
        ),
        on_line=lines.append,
    )
    assert outcome.returncode == 2
    assert outcome.run_results is None
    assert "Compilation Error in model jinja (models/jinja.sql)" in outcome.error
    assert "line 2" in outcome.error
    assert not outcome.error.startswith("Encountered")
