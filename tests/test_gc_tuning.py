"""app.services.gc_tuning: long-lived objects leave the collector's scans once the imports settle."""

import gc
import sys
import types

import pytest

from app.services.gc_tuning import ImportFreezer


@pytest.fixture
def unfrozen():
    """Each test starts and ends with nothing frozen, so the rest of the suite collects as usual."""
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_first_call_freezes_what_is_alive(unfrozen):
    long_lived = [[index] for index in range(1000)]  # tracked containers, alive across the call
    report = ImportFreezer().freeze_if_imports_grew()
    assert report.froze
    assert report.modules_loaded == len(sys.modules)
    assert report.frozen_objects >= len(long_lived)  # (frozen objects freed by refcount leave the count)
    assert not any(item is long_lived for item in gc.get_objects())  # frozen objects are not scanned


def test_freezes_again_only_when_modules_grew(unfrozen, monkeypatch):
    freezer = ImportFreezer()
    first = freezer.freeze_if_imports_grew()
    assert first.froze
    frozen_before = first.frozen_objects
    made_after = [[index] for index in range(500)]
    second = freezer.freeze_if_imports_grew()
    assert not second.froze and second.frozen_objects == frozen_before  # same modules: nothing moved
    monkeypatch.setitem(sys.modules, "vit_classroom_page_seen_first", types.ModuleType("vit_classroom_page_seen_first"))
    third = freezer.freeze_if_imports_grew()  # a new page imported more: freeze what it made
    assert third.froze and third.frozen_objects >= frozen_before + len(made_after)


def test_garbage_is_collected_before_the_freeze(unfrozen):
    class Node:
        pass

    cycle = Node()
    cycle.self = cycle  # garbage only the cyclic collector frees
    cycle_id = id(cycle)
    del cycle
    ImportFreezer().freeze_if_imports_grew()
    gc.unfreeze()
    assert all(id(obj) != cycle_id or not isinstance(obj, Node) for obj in gc.get_objects())
