"""The package's layout holds: dependencies point one way, Saleor stays at the door.

Read from the source (imports, annotations), so a change that breaks the architecture fails
here before a second door has to find out. The rules are the README's dependency diagram.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, Iterator, Set, Tuple

import saleor_multisafepay_refund

PACKAGE = Path(saleor_multisafepay_refund.__file__).parent
NAME = "saleor_multisafepay_refund"

# What each part may import of the package (besides itself). The doors and the Django app
# pieces are at the top; nothing below them knows Saleor.
MAY_IMPORT: Dict[str, Set[str]] = {
    "errors": set(),
    "answers": set(),
    "multisafepay": {"errors", "__init__"},  # __init__: the version in the User-Agent
    "config": {"errors", "multisafepay"},
    "refunds": {"errors", "answers", "config", "multisafepay"},
    "payments": {"errors", "answers", "config", "multisafepay", "refunds"},
    "emulator": {"errors", "multisafepay"},
    "cli": {"errors", "config", "multisafepay", "refunds", "demo", "emulator", "app", "__init__"},
    "demo": {"errors", "multisafepay", "refunds", "emulator"},
    "__main__": {"cli"},
    "plugin": {"errors", "answers", "config", "multisafepay", "refunds", "payments", "models"},
    "models": {"multisafepay", "refunds"},  # the ledger's rows <-> LedgerEntry
    # Door 2, the Saleor App: Saleor's JSON in, the core's answers out; Django, never Saleor.
    "app": {
        "errors",
        "answers",
        "config",
        "multisafepay",
        "refunds",
        "payments",
        "models",
        "__init__",
    },
    "management": {"errors", "multisafepay", "refunds", "plugin"},
    "migrations": set(),
    "__init__": set(),
}
# Only these import Saleor or Django: the BasePlugin and its Django glue, and what Django
# itself loads (the ledger's model, its migrations, the support command).
SALEOR_SIDE = {
    "plugin/hooks.py",
    "plugin/saleor_side.py",
    "plugin/records.py",
    "plugin/order_history.py",
    "plugin/outside.py",
    "plugin/ledger_store.py",
    "models.py",
}
SALEOR_SIDE_FOLDERS = ("migrations/", "management/")


def modules() -> Iterator[Tuple[str, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path.relative_to(PACKAGE).as_posix(), ast.parse(path.read_text(encoding="utf-8"))


def part(relative: str) -> str:
    """The part a module belongs to: its top folder, or its own name at the top."""
    first = relative.split("/")[0]
    return first[:-3] if first.endswith(".py") else first


def imported(relative: str, tree: ast.Module) -> Iterator[str]:
    """Every module `tree` imports, absolute, at the top of a function or not."""
    here = [NAME, *relative[:-3].split("/")][:-1]
    if relative.endswith("__init__.py"):
        here = [NAME, *relative.split("/")[:-1]]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            yield module
            # `from . import wire` imports a module by the name
            yield from (f"{module}.{alias.name}" for alias in node.names)


def internal_part(module: str) -> str:
    parts = module.split(".")
    if parts[0] != NAME:
        return ""
    if len(parts) == 1:
        return "__init__"
    name = parts[1]
    return name if (PACKAGE / name).is_dir() or (PACKAGE / f"{name}.py").exists() else ""


def test_dependencies_point_one_way() -> None:
    wrong = []
    for relative, tree in modules():
        own = part(relative)
        for module in imported(relative, tree):
            target = internal_part(module)
            if target and target != own and target not in MAY_IMPORT[own]:
                wrong.append(f"{relative} imports {module}")
    assert wrong == []


def test_only_the_door_and_djangos_pieces_import_saleor_or_django() -> None:
    below = []
    for relative, tree in modules():
        if relative in SALEOR_SIDE or relative.startswith(SALEOR_SIDE_FOLDERS):
            continue
        # The App is a web service of its own: Django is its framework; Saleor is on the other
        # side of HTTP.
        banned = (
            ("saleor", "graphene") if part(relative) == "app" else ("saleor", "django", "graphene")
        )
        for module in imported(relative, tree):
            if module.split(".")[0] in banned:
                below.append(f"{relative} imports {module}")
    assert below == []


def test_the_core_takes_no_untyped_values() -> None:
    # Saleor's objects are read in plugin/asks.py and become RefundAsk and PaymentAsk: no
    # parameter or answer below the door is `Any` (MultiSafepay's JSON is `object`, narrowed
    # field by field where it is read).
    untyped = []
    for relative, tree in modules():
        if part(relative) not in (
            "multisafepay",
            "refunds",
            "payments",
            "config",
            "answers",
            "app",
        ):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                arguments = node.args
                for argument in [
                    *arguments.posonlyargs,
                    *arguments.args,
                    *arguments.kwonlyargs,
                    *(a for a in (arguments.vararg, arguments.kwarg) if a is not None),
                ]:
                    if argument.annotation is not None and "Any" in ast.unparse(
                        argument.annotation
                    ):
                        untyped.append(f"{relative}: {node.name}({argument.arg})")
                if node.returns is not None and "Any" in ast.unparse(node.returns):
                    untyped.append(f"{relative}: {node.name} returns Any")
    assert untyped == []


def test_every_module_belongs_to_a_known_part() -> None:
    # A new top-level module or folder is placed in the diagram (MAY_IMPORT) on purpose.
    assert {part(relative) for relative, _ in modules()} <= set(MAY_IMPORT)
