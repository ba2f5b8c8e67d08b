"""The registry of entity kinds: what it finds, and that the specs agree with each other."""

from __future__ import annotations

import dataclasses

import pytest

from kinds import registry
from kinds.spec import EntityKind


def test_the_kinds_are_found_in_dependency_order() -> None:
    assert registry.names() == ["product", "bom", "customer", "invoice", "supplier"]
    assert [k.name for k in registry.members("item")] == ["product", "bom"]
    assert [k.name for k in registry.members("customer")] == ["customer"]


def test_every_dependency_is_known_and_listed_before_its_dependant() -> None:
    order = registry.names()
    for kind in registry.all_kinds():
        for name in kind.depends_on:
            for member in registry.members(name):
                assert order.index(member.name) < order.index(kind.name), (kind.name, name)


def test_every_index_a_kind_reads_can_be_loaded() -> None:
    loaders = registry.index_loaders()
    for kind in registry.all_kinds():
        assert kind.indexes[0] == kind.namespace, kind.name
        assert set(kind.indexes) <= set(loaders), kind.name


def test_the_kinds_of_a_group_share_one_key_space() -> None:
    items = registry.members("item")
    assert {(k.namespace, k.poweroffice_resource, k.numeric_key) for k in items} == {
        ("product", "Products", False)
    }


def test_unknown_names_are_refused_naming_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown kind 'order'; expected one of product, bom"):
        registry.get("order")
    with pytest.raises(ValueError, match="no kind or group of kinds is called 'widget'"):
        registry.members("widget")


def test_a_registered_kind_takes_its_place_and_leaves() -> None:
    first = dataclasses.replace(registry.get("customer"), name="early", order=1)
    assert isinstance(first, EntityKind)
    with registry.registered(first):
        assert registry.names()[0] == "early"
        with pytest.raises(ValueError, match="registered already"):
            registry.register(first)
    assert "early" not in registry.names()
