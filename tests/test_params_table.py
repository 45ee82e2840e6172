"""The parameter table is the one place a parameter is declared: every front end exposes exactly the
table's parameters of each operation it serves, each with the table's help, so a new row is enough."""

from __future__ import annotations

import dataclasses

import ipywidgets as W
import pytest

from imagemagic import cli
from imagemagic import request as request_module
from imagemagic.catalog import MODELS
from imagemagic.controlpanel import panel
from imagemagic.flags import help_for
from imagemagic.magics import ImageGenMagics
from imagemagic.params import NAMES, PARAMS, WIRE, for_operation
from imagemagic.request import EditRequest, ImageRequest
from imagemagic.settings import options

GENERATE = for_operation("generate")
OPTION_DESTS = {"extra", "offline"}  # the request flags that are not parameters (flags.OPTION_FLAGS)


def parameter_actions(parser):
    """{dest: [actions]} of a parser's actions that carry a parameter of the table."""
    found = {}
    for action in parser._actions:
        if action.dest in NAMES:
            found.setdefault(action.dest, []).append(action)
    return found


def cli_parser(command):
    subparsers = next(a for a in cli._parser()._actions if a.dest == "command")
    return subparsers.choices[command]


def magic_parser(ip):
    return ip.find_cell_magic("imagegen").parser


@pytest.fixture(params=["magic", "cli generate", "cli edit"])
def flags(request, ip):
    """(the parser of %%imagegen or of an `imagemagic` command, the help text it shows, the operations it serves)."""
    if request.param == "magic":  # a cell generates, or edits when it has --image
        return magic_parser(ip), ip.find_cell_magic("imagegen").__doc__, ("generate", "edit")
    command = request.param.split()[1]
    parser = cli_parser(command)
    return parser, parser.format_help(), (command,)


def test_the_table_names_each_parameter_once_as_on_the_wire():
    assert len(NAMES) == len(set(NAMES)) == len(PARAMS)
    assert all(p.operations and set(p.operations) <= {"generate", "edit"} for p in PARAMS)
    assert all(p.type in (str, int, bool) and p.help.endswith(".") for p in PARAMS)
    assert {p.name for p in PARAMS if "edit" not in p.operations} >= {"moderation", "style"}


def test_the_flags_are_exactly_the_parameters_of_what_the_front_end_serves_with_the_tables_help(flags):
    parser, shown, operations = flags
    served = [p for p in PARAMS if set(p.operations) & set(operations)]
    actions = parameter_actions(parser)
    assert set(actions) == {p.name for p in served}
    for p in served:
        strings = {s for action in actions[p.name] for s in action.option_strings}
        expected = {p.flag, *([p.short] if p.short else []), *([f"--no-{p.flag[2:]}"] if p.type is bool else [])}
        assert strings == expected
        main = next(a for a in actions[p.name] if p.flag in a.option_strings)
        assert main.help == help_for(p.name)  # the row's help, its value list from the catalog
        if p.type is not bool:
            assert main.type is p.type and main.default is None
        assert p.flag in shown
    others = [p for p in PARAMS if p not in served]
    assert not any(p.flag in shown.split() for p in others)


def test_the_magic_takes_every_request_flag_the_cli_commands_take(ip):
    def request_flags(parser):
        return sorted(
            s
            for a in parser._actions
            if a.dest in (*NAMES, *OPTION_DESTS)
            for s in a.option_strings
        )  # fmt: skip

    both = sorted(set(request_flags(cli_parser("generate"))) | set(request_flags(cli_parser("edit"))))
    assert request_flags(magic_parser(ip)) == both


def test_a_config_trait_for_every_parameter_and_option_each_with_its_help():
    traits = ImageGenMagics.class_traits(config=True)
    assert set(traits) == {*NAMES, *(f.name for f in options())}
    for p in PARAMS:
        assert traits[p.name].help == f"Default {p.name}: {p.help}"
    for f in options():
        assert traits[f.name].help == f.metadata["help"]


def test_a_panel_widget_for_every_generate_parameter_with_the_help_as_tooltip():
    p = panel()
    p.controls["model"].value = "my-own-model"  # outside the catalog: nothing disabled, every tooltip the help
    assert list(p.controls) == ["prompt", *(q.name for q in GENERATE)]
    for q in GENERATE:
        control = p.controls[q.name]
        assert control.tooltip == help_for(q.name) and not control.disabled
        if q.type is bool:
            assert isinstance(control, W.Checkbox)
        elif q.choices and q.choices != "sizes":
            offered = {value for _, value in control.options}
            catalog = {value for model in MODELS.values() for value in model.allowed(q.name)}
            assert offered == {None, *catalog}


def test_the_request_has_a_field_for_every_wire_parameter_of_any_operation_and_none_for_helpers():
    wire = [p.name for p in WIRE]
    fields = [f.name for f in dataclasses.fields(ImageRequest)]
    assert fields == ["prompt", *wire, "extra_body", "capability"]  # capability: never sent
    assert [f.metadata["param"] for f in dataclasses.fields(ImageRequest) if "param" in f.metadata] == list(WIRE)
    req = ImageRequest(prompt="a kite", **{p.name: p.type(1) if p.type is not str else "x" for p in WIRE})
    assert set(req.body()) == {"prompt", *wire}
    assert {p.name for p in PARAMS if not p.wire} == {"resolution"}  # resolved into the size, never sent


def test_an_edit_takes_exactly_the_edit_parameters_and_reads_the_others_as_none():
    taken = [f.metadata["param"] for f in dataclasses.fields(EditRequest) if "param" in f.metadata and f.init]
    assert taken == [p for p in for_operation("edit") if p.wire]
    edit = EditRequest(prompt="x")
    assert all(getattr(edit, p.name) is None for p in WIRE if "edit" not in p.operations)
    with pytest.raises(TypeError):
        EditRequest(prompt="x", style="vivid")


def test_a_row_without_its_request_field_fails_on_import(monkeypatch):
    extra = dataclasses.replace(PARAMS[0], name="seed", type=int, help="A seed.")
    monkeypatch.setattr(request_module, "WIRE", (*WIRE, extra))
    with pytest.raises(TypeError, match="ImageRequest's fields do not match the parameter table in params.py"):
        request_module._check_against_table()
