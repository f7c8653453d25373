"""The command line, by exit code and output, against the emulator."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from saleor_multisafepay_refund import __version__
from saleor_multisafepay_refund import cli as cli_module
from saleor_multisafepay_refund.cli import main
from saleor_multisafepay_refund.emulator import Fault, FaultKind
from saleor_multisafepay_refund.multisafepay import wire
from saleor_multisafepay_refund.multisafepay.client import LIVE_API_URL

from .factories import order_data, seed_order
from .test_cart import SEED_BODY

KEY = "test-key-0123456789abcdef"  # the conftest emulator's key


@pytest.fixture
def cli(emulator, monkeypatch, capsys):
    """Run the command line against the emulator; returns (exit code, stdout, stderr)."""
    monkeypatch.setenv("MSP_API_URL", emulator.base_url)
    monkeypatch.setenv("MSP_API_KEY", KEY)
    emulator.add_order(seed_order(order_id="o1"))
    emulator.add_order(order_data([], gateway="VISA", amount=5000, order_id="card"))

    def run(*argv: str):
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def last_json(stdout: str):
    return json.loads(stdout.strip().splitlines()[-1])


def test_refund_items_prints_one_json_object_and_exits_0(cli, emulator):
    code, out, _ = cli("refund", "o1", "--item", "111111=2", "--json")

    result = last_json(out)
    assert code == 0
    assert result["status"] == "refunded"
    assert result["refund_id"] == str(
        emulator.order("o1")["related_transactions"][0]["transaction_id"]
    )
    assert (result["amount"], result["currency"], result["error"]) == ("180.00", "EUR", None)
    assert wire.dumps(result["request"]) == wire.dumps(wire.loads(SEED_BODY))
    assert len(out.strip().splitlines()) == 1


def test_repeated_items_add_up_and_shipping_is_added(cli, emulator):
    code, out, _ = cli(
        "refund", "o1", "--item", "111111=1", "--item", "111111=1", "--shipping", "--json"
    )

    assert (code, last_json(out)["amount"]) == (0, "190.00")
    sent = emulator.refund_posts("o1")[0].json["checkout_data"]["items"]
    assert [(i["merchant_item_id"], i["quantity"]) for i in sent] == [
        ("111111", "3"),
        ("111111", "-2"),
        ("666666", "1"),
        ("msp-shipping", "1"),
        ("msp-shipping", "-1"),
    ]


def test_dry_run_exits_0_and_sends_nothing(cli, emulator):
    code, out, _ = cli("refund", "o1", "--full", "--dry-run", "--json")

    assert code == 0
    assert last_json(out)["status"] == "dry-run"
    assert last_json(out)["amount"] == "315.00"
    assert emulator.refund_posts() == []


def test_readable_output_without_json(cli):
    code, out, err = cli("refund", "o1", "--item", "111111=2")

    assert code == 0
    assert out.startswith("Refunded EUR 180.00 of order o1 (refund id ")
    assert "2 x Geometric Candle Holders (111111)  EUR 180.00" in out
    assert err == ""


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["refund", "o1", "--item", "111111=4"], "3 bought"),
        (["refund", "o1", "--item", "999=1"], "no item with merchant_item_id '999'"),
        (["refund", "o1", "--amount", "100"], "Refund items instead"),
        (["refund", "card", "--item", "A=1"], "by amount only"),
        (["refund", "card", "--amount", "50.01"], "only EUR 50.00"),
    ],
)
def test_refusals_of_what_the_order_cannot_do_exit_2_and_send_nothing(cli, emulator, argv, words):
    code, out, _ = cli(*argv, "--json")

    assert code == 2
    assert last_json(out)["status"] == "refused"
    assert words in last_json(out)["error"]
    assert emulator.refund_posts() == []


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["refund", "o1"], "Nothing to refund"),
        (["refund", "card", "--full", "--amount", "5"], "not both"),
        (["refund", "o1", "--full", "--item", "111111=1"], "not both"),
        (["refund", "o1", "--full", "--shipping"], "not both"),
        (["refund", "card", "--item", "A=1", "--amount", "5"], "items or an amount"),
        (["refund", "card", "--amount=-5"], "more than zero, not -5"),
        (["refund", "card", "--amount", "0"], "more than zero"),
        (["refund", "card", "--amount", "1E+30"], "out of range"),
        (["refund", "o1", "--amount", "ten"], "decimal number"),
        (["refund", "card", "--amount", "1_0"], "decimal number"),
        (["refund", "o1", "--item", "111111=0"], "whole number above zero"),
        (["refund", "o1", "--item", "111111=-1"], "whole number above zero"),
        (["refund", "o1", "--item", "111111"], "MERCHANT_ITEM_ID=QTY"),
        (["refund", "o1", "--item", "111111=x", "--item", "111111=1"], "not 'x'"),
        (["refund", "o1", "--item", "111111=\u00b2"], "whole number above zero"),
        (["refund", "", "--full"], "No MultiSafepay order id"),
        (["refund", "  ", "--full"], "No MultiSafepay order id"),
    ],
)
def test_requests_no_order_could_satisfy_are_refused_before_any_network_call(
    cli, emulator, argv, words
):
    code, out, _ = cli(*argv, "--json")

    assert code == 2
    assert last_json(out)["status"] == "refused"
    assert words in last_json(out)["error"]
    assert emulator.requests == []  # MultiSafepay was not even asked for the order


def test_an_impossible_request_is_refused_in_words_without_json(cli, emulator):
    code, out, err = cli("refund", "card", "--full", "--amount", "5")

    assert (code, out) == (2, "")
    assert err.startswith("Refused, nothing was sent: Give either everything that remains")
    assert emulator.requests == []


def test_an_impossible_request_is_refused_even_without_an_api_key(cli, emulator, monkeypatch):
    monkeypatch.delenv("MSP_API_KEY")

    code, out, _ = cli("refund", "o1", "--json")

    assert (code, last_json(out)["status"]) == (2, "refused")
    assert "Nothing to refund" in last_json(out)["error"]


def test_msp_refusal_exits_1(cli, emulator):
    code, out, _ = cli("refund", "nope", "--full", "--json")

    assert (code, last_json(out)["status"]) == (1, "failed")
    assert "does not know this order" in last_json(out)["error"]


def test_a_post_that_did_not_land_exits_1(cli, emulator):
    # MultiSafepay answered (HTTP 200, broken JSON) and the order shows no refund.
    emulator.inject(Fault(FaultKind.MALFORMED_JSON))

    code, out, _ = cli("refund", "card", "--amount", "10", "--json")

    assert (code, last_json(out)["status"]) == (1, "failed")
    assert "safe to try again" in last_json(out)["error"]


def test_a_lost_answer_that_landed_exits_0_with_the_refund_id(cli, emulator):
    emulator.inject(Fault(FaultKind.DROP_AFTER))

    code, out, _ = cli("refund", "card", "--amount", "10", "--json")

    assert (code, last_json(out)["status"]) == (0, "refunded")
    assert last_json(out)["refund_id"]


def test_an_unknown_outcome_exits_3(cli, emulator, monkeypatch):
    emulator.inject(Fault(FaultKind.SLOW, delay=0.5, apply=False))
    monkeypatch.setattr("saleor_multisafepay_refund.cli.READ_TIMEOUT", 0.2)

    code, out, _ = cli("refund", "card", "--amount", "10", "--json")

    assert (code, last_json(out)["status"]) == (3, "unknown")
    # Nothing keeps track of it after the command: the shop owner is told to check.
    assert "Check order card in MultiSafepay's dashboard" in last_json(out)["error"]


def test_no_api_key_is_refused(cli, monkeypatch):
    monkeypatch.delenv("MSP_API_KEY")

    code, out, _ = cli("refund", "o1", "--full", "--json")

    assert (code, last_json(out)["status"]) == (2, "refused")
    assert "MSP_API_KEY" in last_json(out)["error"]


def test_show_lists_bought_refunded_and_remaining(cli):
    cli("refund", "o1", "--item", "111111=2")

    code, out, _ = cli("show", "o1", "--json")

    shown = last_json(out)
    assert code == 0
    assert (shown["gateway"], shown["cart_based"], shown["sign_convention"]) == (
        "PAYAFTER",
        True,
        "negative_quantity",
    )
    assert (shown["amount"], shown["amount_refunded"], shown["remaining"]) == (
        "315.00",
        "180.00",
        "135.00",
    )
    assert [
        (i["merchant_item_id"], i["bought"], i["refunded"], i["remaining"]) for i in shown["items"]
    ] == [
        ("111111", 3, 2, 1),
        ("666666", 1, 0, 1),
        ("msp-shipping", 1, 0, 1),
    ]


def test_show_as_text(cli):
    code, out, _ = cli("show", "o1")

    assert code == 0
    assert "Amount EUR 315.00, refunded 0.00, remaining 315.00" in out
    assert "negative_quantity" in out
    assert "Geometric Candle Holders" in out


def test_show_of_an_unknown_order_exits_1(cli):
    code, _, err = cli("show", "nope")

    assert code == 1
    assert "does not know this order" in err


def test_the_key_never_appears_in_any_output(cli, emulator):
    emulator.inject(Fault(FaultKind.DROP_BEFORE))
    outputs = []
    for argv in (
        ["refund", "o1", "--item", "111111=2"],
        ["refund", "o1", "--item", "111111=1", "--json"],
        ["refund", "nope", "--full"],
        ["show", "o1"],
        ["show", "o1", "--json"],
        ["refund", "o1", "--api-key", "wrong-key-ABCDEFGHIJ", "--full"],
    ):
        outputs.append(cli(*argv))

    assert outputs[-1][0] == 1 and "API key" in outputs[-1][2]
    assert not any(KEY in out or KEY in err for _, out, err in outputs)
    assert not any("wrong-key-ABCDEFGHIJ" in out + err for _, out, err in outputs)


def test_demo_runs_from_the_module_and_matches_the_seed_for_both_conventions():
    done = subprocess.run(
        [sys.executable, "-m", "saleor_multisafepay_refund", "demo"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parent.parent,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.count("Equal to the seed page's example, item for item: yes") == 2
    bodies = [line for line in done.stdout.splitlines() if line.startswith('{"checkout_data"')]
    expected_klarna = wire.loads(SEED_BODY)
    expected_klarna["checkout_data"]["items"][1].update(unit_price="-90", quantity="2")
    assert bodies == [wire.dumps(wire.loads(SEED_BODY)), wire.dumps(expected_klarna)]


def test_json_output_stays_one_line_whatever_msp_says(cli, emulator):
    odd = seed_order(order_id="odd")
    odd["shopping_cart"]["items"][0]["name"] = "Candle\u2028holder \u00e9"
    emulator.add_order(odd)

    code, out, _ = cli("refund", "odd", "--item", "111111=1", "--json")

    assert code == 0 and out.isascii()
    assert (
        last_json(out)["request"]["checkout_data"]["items"][0]["name"]
        == "Candle\u2028holder \u00e9"
    )


@pytest.mark.parametrize(
    ("argv", "url"),
    [
        (["show", "o1", "--live"], LIVE_API_URL),
        (["show", "o1", "--api-url", "http://127.0.0.1:8/v1/json/"], "http://127.0.0.1:8/v1/json/"),
        (["show", "o1"], "http://127.0.0.1:9/v1/json/"),
    ],
)
def test_the_command_line_wins_over_the_environment(monkeypatch, argv, url):
    monkeypatch.setenv("MSP_API_URL", "http://127.0.0.1:9/v1/json/")
    monkeypatch.setenv("MSP_API_KEY", KEY)

    client = cli_module._client(cli_module._parser().parse_args(argv))

    assert client.base_url == url


def test_a_usage_error_with_json_still_ends_with_one_json_object(cli):
    code, out, err = cli("refund", "o1", "--amount", "--json")

    assert code == 2
    assert last_json(out)["status"] == "refused" and "--amount" in last_json(out)["error"]
    assert "expected one argument" in err


SECRET = "typed-key-0123456789abcdef"  # ends in the suite's secret mark


@pytest.mark.parametrize(
    ("argv", "shown"),
    [
        (["refund", "o1", "--api_key", SECRET, "--json"], "--api_key"),
        (["refund", "o1", f"--api_key={SECRET}", "--json"], "--api_key"),
        (["refund", "o1", "--item", "111111=1", SECRET, "--json"], "unrecognized arguments"),
        (["refund", "o1", f"--api={SECRET}", "--json"], "--api"),
        (["refund", "o1", f"--live={SECRET}", "--json"], "--live"),
        ([SECRET, "o1", "--json"], "invalid choice"),
        (["refund", "o1", "--api_key", "-" + SECRET[:20], "--json"], "--api_key"),
    ],
)
def test_a_usage_error_never_repeats_what_was_typed_where_a_key_may_be(cli, emulator, argv, shown):
    code, out, err = cli(*argv)

    assert code == 2
    assert "0123456789" not in out + err  # no part of the key typed
    assert last_json(out)["status"] == "refused" and shown in last_json(out)["error"]
    assert emulator.requests == []


@pytest.mark.parametrize("command", [["refund", "o1", "--full"], ["show", "o1"]])
def test_a_wrong_key_is_told_in_the_command_lines_words(cli, command):
    code, _, err = cli(*command, "--api-key", "wrong-key-ABCDEFGHIJ")

    assert code == 1
    assert "MultiSafepay refused the API key" in err
    assert "(MSP_API_KEY or --api-key; --live, --api-url or MSP_API_URL for which API)" in err
    assert "plugin" not in err and "Dashboard" not in err


@pytest.mark.parametrize("argv", [["--version"], ["app", "--version"]])
def test_version(capsys, argv):
    with pytest.raises(SystemExit) as done:
        main(argv)

    assert done.value.code == 0
    prog = " ".join(["python -m saleor_multisafepay_refund", *argv[:-1]])
    assert capsys.readouterr().out == f"{prog} {__version__}\n"


def _help(*argv: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "saleor_multisafepay_refund", *argv, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("MSP_")},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("command", [[], ["refund"], ["show"]])
def test_help_lists_the_environment_the_exit_codes_and_what_order_id_is(command):
    text = _help(*command)

    for words in ("MSP_API_KEY", "MSP_API_URL", "APP_DATABASE_URL", "exit codes:", "examples:"):
        assert words in text
    for code in ("0", "1", "2", "3"):
        assert f"\n  {code}  " in text
    assert "ORDER_ID is MultiSafepay's order id" in text and "Transactions" in text


@pytest.mark.parametrize("command", [["app"], ["app", "refunds"]])
def test_the_apps_help_lists_its_environment_exit_codes_and_examples(command):
    text = _help(*command)

    for words in ("APP_PUBLIC_URL", "APP_SECRET_KEY", "MSP_API_KEY", "exit codes:", "examples:"):
        assert words in text
    for code in ("0", "2"):
        assert f"\n  {code}  " in text
    assert ("\n  1  a refund listed has an open outcome" in text) is (command[-1] == "refunds")


def test_refund_help_groups_options_by_purpose_with_examples():
    text = _help("refund")
    sections = {
        title: body
        for title, body in re.findall(r"\n([a-z ]+):\n(.*?)(?=\n\n[a-zA-Z]|\Z)", text, re.S)
    }

    assert re.findall(r"^  (--[a-z-]+)", sections["what to refund"], re.M) == [
        "--item",
        "--shipping",
        "--full",
        "--amount",
        "--description",
        "--dry-run",
    ]
    assert "--api-key" in sections["connection"] and "--json" not in sections["connection"]
    assert "--json" in sections["output"]
    assert "refund 10423 --item SKU-1=2 --dry-run" in sections["examples"]
