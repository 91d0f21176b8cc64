"""docker-compose.yml runs entry points that exist, and commits no secret."""

from __future__ import annotations

import configparser
import importlib
import re
from importlib.metadata import entry_points
from typing import Any

import click
import pytest
import yaml
from celery import Celery

from tests.conftest import ROOT

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
OURS = {name: spec for name, spec in SERVICES.items() if "build" in spec}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY|DSN|AUTH", re.IGNORECASE)
REFERENCE = re.compile(r"^\$\{[A-Z][A-Z0-9_]*(?::?[?-][^}]*)?\}$")
PLACEHOLDER = re.compile(r"^(|change-me)$")


def command_of(service: str) -> list[str]:
    command = SERVICES[service]["command"]
    return command.split() if isinstance(command, str) else [str(c) for c in command]


def option(command: list[str], name: str) -> str | None:
    """The value of ``--name=value`` or ``--name value`` in ``command``."""
    for position, part in enumerate(command):
        if part.startswith(f"{name}="):
            return part.split("=", 1)[1]
        if part == name and position + 1 < len(command):
            return command[position + 1]
    return None


def env_example() -> dict[str, str]:
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


class TestEntryPoints:
    def test_the_stack_has_every_process(self) -> None:
        assert {
            "postgres",
            "redis",
            "odoo",
            "migrate",
            "receiver",
            "worker-realtime",
            "worker-bulk",
            "beat",
            "flower",
        } <= set(SERVICES)
        assert SERVICES["odoo"]["image"] == "odoo:18"
        assert SERVICES["migrate"]["restart"] == "no"
        migrated = {"condition": "service_completed_successfully"}
        for name in ("receiver", "worker-realtime", "worker-bulk", "beat"):
            assert SERVICES[name]["depends_on"]["migrate"] == migrated

    @pytest.mark.parametrize("service", sorted(OURS))
    def test_command_names_an_existing_entry_point(self, service: str) -> None:
        command = command_of(service)
        program = command[0]

        if program == "revsync":
            (script,) = entry_points(group="console_scripts", name="revsync")
            group: Any = script.load()
            for word in command[1:]:
                assert isinstance(group, click.Group), f"{word} under a leaf command"
                group = group.commands[word]
            assert isinstance(group, click.Command)
        elif program == "celery":
            app_module = option(command, "-A")
            assert app_module == "worker"
            assert isinstance(importlib.import_module(app_module).app, Celery)
            subcommand = command[command.index("-A") + 2]
            if subcommand == "flower":
                extras = configparser.ConfigParser()
                extras.read(ROOT / "setup.cfg")
                assert "flower" in extras["options.extras_require"]["flower"]
                assert '".[flower]"' in (ROOT / "Dockerfile").read_text()
            else:
                from celery.bin.celery import celery

                assert subcommand in celery.commands
        elif program == "gunicorn":
            module, _, call = command[-1].partition(":")
            assert call == "create_app()"
            assert callable(importlib.import_module(module).create_app)
            logger_class = option(command, "--logger-class")
            assert logger_class is not None
            path, _, name = logger_class.rpartition(".")
            assert isinstance(getattr(importlib.import_module(path), name), type)
        else:
            pytest.fail(f"{service} runs {program}, which is not a revsync entry point")

    def test_workers_listen_on_every_queue(self) -> None:
        from worker.celery_app import QUEUES

        listened = set()
        for service in ("worker-realtime", "worker-bulk"):
            listened |= set(option(command_of(service), "-Q").split(","))  # type: ignore[union-attr]
        assert listened == set(QUEUES)

    def test_long_running_services_have_health_checks(self) -> None:
        for name, spec in SERVICES.items():
            if name != "migrate":
                assert spec.get("healthcheck", {}).get("test"), name


class TestSecrets:
    def test_compose_environment_references_variables_only(self) -> None:
        for name, spec in SERVICES.items():
            environment = spec.get("environment") or {}
            assert isinstance(environment, dict), name
            for key, value in environment.items():
                if SECRET_NAME.search(key):
                    assert REFERENCE.match(str(value)), f"{name}: {key} is committed"
        for name in OURS:
            assert OURS[name]["env_file"] == ".env"

    def test_flower_requires_basic_auth(self) -> None:
        flower = SERVICES["flower"]
        assert REFERENCE.match(flower["environment"]["FLOWER_BASIC_AUTH"])
        assert ":?" in flower["environment"]["FLOWER_BASIC_AUTH"]
        assert all(p.startswith("127.0.0.1:") for p in flower["ports"])

    def test_env_file_is_ignored_and_its_example_holds_placeholders(self) -> None:
        ignored = (ROOT / ".gitignore").read_text().splitlines()
        assert ".env" in ignored
        assert "!.env.example" in ignored

        example = env_example()
        referenced = set(
            re.findall(
                r"\$\{([A-Z][A-Z0-9_]*)", (ROOT / "docker-compose.yml").read_text()
            )
        )
        assert referenced <= set(example)
        for key, value in example.items():
            if SECRET_NAME.search(key):
                assert PLACEHOLDER.match(value), f"{key} holds a value"
            for password in re.findall(r"://[^:/@]+:([^@]+)@", value):
                assert password == "change-me", f"{key} holds a password"
