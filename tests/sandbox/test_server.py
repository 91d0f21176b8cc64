"""Server controls: fault injection, restarts, counters, concurrency, speed."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
import xmlrpc.client

import pytest

from worker.odoo.sandbox import Sandbox

from .support import DB, PASSWORD, Odoo

SERIALIZATION = "could not serialize access due to concurrent update\n"


def test_fail_next_gives_retryable_faults_and_changes_nothing(odoo: Odoo) -> None:
    odoo.sandbox.fail_next(2)

    for _ in range(2):
        with pytest.raises(xmlrpc.client.Fault) as caught:
            odoo.call("res.partner", "create", {"name": "Retried"})
        assert caught.value.faultCode == SERIALIZATION
        assert caught.value.faultString.rstrip().endswith(
            "psycopg2.errors.SerializationFailure: could not serialize access due "
            "to concurrent update"
        )
    assert odoo.sandbox.records("res.partner", [("name", "=", "Retried")]) == []

    odoo.call("res.partner", "create", {"name": "Retried"})
    assert len(odoo.sandbox.records("res.partner", [("name", "=", "Retried")])) == 1


def test_injected_failure_on_xmlrpc_2_is_code_1(odoo: Odoo) -> None:
    odoo.sandbox.fail_next(1)

    with pytest.raises(xmlrpc.client.Fault) as caught:
        odoo.v2("res.partner", "search", [])

    assert caught.value.faultCode == 1
    assert "SerializationFailure" in caught.value.faultString


def test_random_failures_follow_the_seeded_rate(odoo: Odoo) -> None:
    odoo.sandbox.serialization_failure_rate = 0.5
    outcomes = []
    for _ in range(40):
        try:
            odoo.sandbox.execute_kw("res.partner", "search_count", [[]])
            outcomes.append(True)
        except Exception as error:
            assert str(error) == SERIALIZATION
            outcomes.append(False)

    assert 5 < outcomes.count(False) < 35
    replay = Sandbox(db=DB, password=PASSWORD)
    replay.serialization_failure_rate = 0.5
    assert [replay.random.random() >= 0.5 for _ in range(40)] == outcomes


def test_stop_refuses_connections_and_start_keeps_port_and_state(
    odoo: Odoo, customer: int
) -> None:
    port = odoo.server.port
    odoo.server.stop()

    with pytest.raises(ConnectionRefusedError):
        odoo.call("res.partner", "read", [customer], ["name"])

    odoo.server.start()
    assert odoo.server.port == port
    assert odoo.server.url == f"http://127.0.0.1:{port}"
    assert odoo.call("res.partner", "read", [customer], ["name"])[0]["name"] == (
        "Acme GmbH"
    )


def test_calls_are_counted_per_model_and_method(odoo: Odoo, customer: int) -> None:
    odoo.sandbox.reset_calls()
    odoo.call("res.partner", "load", ["id", "name"], [["revsync.c", "C"]])
    odoo.call("res.partner", "load", ["id", "name"], [["revsync.c", "C2"]])
    odoo.sandbox.records("res.partner")
    odoo.sandbox.create_direct("res.partner", {"name": "Direct"})

    assert odoo.sandbox.calls[("res.partner", "load")] == 2
    assert odoo.sandbox.calls[("common", "login")] == 2
    assert ("res.partner", "search_read") not in odoo.sandbox.calls
    assert ("res.partner", "create") not in odoo.sandbox.calls


def test_calls_are_served_as_json_and_can_be_reset(odoo: Odoo) -> None:
    odoo.sandbox.reset_calls()
    odoo.call("res.partner", "search", [])

    with urllib.request.urlopen(f"{odoo.server.url}/sandbox/calls") as response:
        counts = json.load(response)
    request = urllib.request.Request(
        f"{odoo.server.url}/sandbox/reset-calls", data=b"", method="POST"
    )
    urllib.request.urlopen(request).close()

    assert counts == {"common.login": 1, "res.partner.search": 1}
    assert odoo.sandbox.calls == {}


def test_parallel_clients_are_served_one_call_at_a_time(odoo: Odoo) -> None:
    created: list[int] = []
    errors: list[BaseException] = []

    def client(index: int) -> None:
        try:
            for n in range(10):
                created.append(
                    odoo.v2("res.partner", "create", {"name": f"T{index}-{n}"})
                )
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(set(created)) == 80


def test_batched_search_read_stays_fast_with_many_invoices() -> None:
    sandbox = Sandbox(db=DB, password=PASSWORD)
    partner = sandbox.create_direct("res.partner", {"name": "Bulk"})
    started = time.perf_counter()
    ids = [
        sandbox.create_direct(
            "account.move",
            {
                "move_type": "out_invoice",
                "partner_id": partner,
                "ref": f"in_{n}",
                "payment_reference": f"pay_{n}",
                "invoice_line_ids": [(0, 0, {"name": "Pro", "price_unit": 10.0})],
            },
        )
        for n in range(20_000)
    ]
    assert time.perf_counter() - started < 15
    fields = ["name", "state", "ref", "payment_state", "amount_total", "partner_id"]
    domains = [
        [("id", "in", ids[5_000:6_000])],
        [("ref", "in", [f"in_{n}" for n in range(7_000, 8_000)])],
        [("payment_reference", "in", [f"pay_{n}" for n in range(9_000, 10_000)])],
    ]
    for domain in domains:
        started = time.perf_counter()
        rows = sandbox.execute_kw("account.move", "search_read", [domain, fields])
        elapsed = time.perf_counter() - started
        assert len(rows) == 1_000
        assert elapsed < 0.05, f"{domain[0][0]}: {elapsed * 1000:.1f} ms"
