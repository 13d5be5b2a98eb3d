"""Layer types, each declared once in stepper/layers/: every list of types is derived from the declarations.

The declarations name their engine class and view by path: these tests resolve every one, build
every type from a small scenario, and check that reading the declarations imports neither an
engine family nor a view (start-up pays only for what a scenario uses).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from stepper.engine import Layer
from stepper.layers import kind_of, kinds, load
from stepper.scenario import load as load_scenario
from stepper.tui.base import FamilyView

# One small layer of every type, on an input it takes.
EXAMPLES = {
    "rnn": ("{text: abc, embed: 3}", "{type: rnn, hidden: 2}"),
    "lstm": ("{text: abc, embed: 3}", "{type: lstm, hidden: 2}"),
    "gru": ("{text: abc, embed: 3}", "{type: gru, hidden: 2}"),
    "conv2d": ("{random: {shape: [4, 4]}}", "{type: conv2d, kernel_size: 2}"),
    "conv1d": ("{text: abcd, embed: 3}", "{type: conv1d, kernel_size: 2}"),
    "conv_transpose2d": ("{random: {shape: [3, 3]}}", "{type: conv_transpose2d, kernel_size: 2, stride: 2}"),
    "maxpool2d": ("{random: {shape: [4, 4]}}", "{type: maxpool2d, size: 2}"),
    "avgpool2d": ("{random: {shape: [4, 4]}}", "{type: avgpool2d, size: 2}"),
    "batchnorm": ("{random: {shape: [3, 2]}}", "{type: batchnorm}"),
    "layernorm": ("{random: {shape: [3, 2]}}", "{type: layernorm}"),
    "instancenorm": ("{random: {shape: [2, 3, 4]}}", "{type: instancenorm}"),
    "groupnorm": ("{random: {shape: [2, 4, 3]}}", "{type: groupnorm, groups: 2}"),
    "rmsnorm": ("{random: {shape: [3, 2]}}", "{type: rmsnorm}"),
    "dropout": ("{random: {shape: [3, 2]}}", "{type: dropout}"),
}


def test_layers_every_declared_type_has_an_example_here():
    assert sorted(EXAMPLES) == sorted(kinds())


def test_layers_types_are_listed_in_their_declared_order():
    orders = [kind.order for kind in kinds().values()]
    assert orders == sorted(orders) and len(set(orders)) == len(orders)
    assert list(kinds())[:5] == ["rnn", "lstm", "gru", "conv2d", "conv1d"]


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_layers_declaration_builds_its_engine_class_and_names_its_view(write_scenario, name):
    kind = kinds()[name]
    given, layer_text = EXAMPLES[name]
    scenario = load_scenario(write_scenario(f"title: x\ninput: {given}\nlayers:\n  - {layer_text}\n"))
    layer = scenario.layers[0]
    assert isinstance(layer, load(kind.engine)) and isinstance(layer, Layer)
    assert layer.type == name and kind_of(layer) is kind
    assert issubclass(kind.view_class(), FamilyView)
    assert set(kind.keys).isdisjoint({"type", "notes", "step_notes"})


def test_layers_declarations_import_no_engine_family_and_no_view():
    code = ("import sys; from stepper.layers import kinds; kinds(); "
            "print(sorted(m for m in sys.modules if m.startswith(('stepper.engine.', 'stepper.tui', 'textual'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_layers_unknown_type_lists_every_declared_type(write_scenario):
    from stepper.scenario import ScenarioError

    path = write_scenario("title: x\ninput: {array: [1, 2]}\nlayers:\n  - type: transformer\n")
    with pytest.raises(ScenarioError) as e:
        load_scenario(path)
    assert e.value.message == "type is `transformer`; it must be one of " + ", ".join(kinds())
