"""Data-root confinement: real folders and symlinks in tmp_path, every escape refused."""

import os
from pathlib import Path

import pytest

from vitcore.data.roots import DataRootError, allowed_roots_from_env, resolve_within_roots
from vitcore.errors import DataLayoutError

OUTSIDE = "outside the data folders this server allows"


@pytest.fixture
def layout(tmp_path):
    """tmp/data/{coco5-64/train, good_link -> coco5-64, evil_link -> ../secret}, tmp/shared/tiny, tmp/secret."""
    data = tmp_path / "data"
    (data / "coco5-64" / "train" / "cat").mkdir(parents=True)
    (data / "coco5-64" / "train" / "cat" / "1.jpg").write_bytes(b"x")
    shared = tmp_path / "shared"
    (shared / "tiny").mkdir(parents=True)
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "passwords.txt").write_text("hunter2")
    (data / "good_link").symlink_to(data / "coco5-64", target_is_directory=True)
    (data / "evil_link").symlink_to(secret, target_is_directory=True)
    (data / "evil_relative_link").symlink_to(Path("..") / "secret", target_is_directory=True)
    (data / "loop").symlink_to(data / "loop")
    return tmp_path, [data, shared]


def test_paths_inside_the_roots_are_resolved(layout):
    tmp_path, roots = layout
    data, shared = roots
    assert resolve_within_roots("coco5-64", roots) == (data / "coco5-64").resolve()
    assert resolve_within_roots("  coco5-64/train/cat/1.jpg ", roots) == (data / "coco5-64/train/cat/1.jpg").resolve()
    assert resolve_within_roots("tiny", roots) == (shared / "tiny").resolve()  # found in the second root
    assert resolve_within_roots(str(shared / "tiny"), roots) == (shared / "tiny").resolve()  # absolute, inside
    assert resolve_within_roots("good_link/train", roots) == (data / "coco5-64" / "train").resolve()
    assert resolve_within_roots("coco5-64/train/../train", roots) == (data / "coco5-64/train").resolve()
    assert resolve_within_roots(Path("coco5-64"), roots) == (data / "coco5-64").resolve()


@pytest.mark.parametrize(
    "typed, expected",
    [
        ("../secret", OUTSIDE),
        ("coco5-64/../../secret/passwords.txt", OUTSIDE),
        ("evil_link", OUTSIDE),
        ("evil_link/passwords.txt", OUTSIDE),
        ("evil_relative_link", OUTSIDE),
        ("/etc", OUTSIDE),
        ("/", OUTSIDE),
        ("..", OUTSIDE),
        ("../no-such-thing", OUTSIDE),
        ("/no/such/absolute/path", OUTSIDE),
        ("no-such-folder", "does not exist inside the data folders"),
        ("loop", "does not exist inside the data folders"),
        ("", "the path is empty"),
        ("   ", "the path is empty"),
        ("coco5-64\x00/../../secret", "NUL byte"),
    ],
)
def test_escapes_and_bad_input_are_refused_with_one_clear_sentence(layout, typed, expected):
    tmp_path, roots = layout
    with pytest.raises(DataRootError, match=expected) as raised:
        resolve_within_roots(typed, roots)
    assert isinstance(raised.value, DataLayoutError)
    assert "\n" not in str(raised.value)


def test_absolute_paths_to_the_secret_folder_and_into_a_missing_root(layout):
    tmp_path, roots = layout
    with pytest.raises(DataRootError, match=OUTSIDE):
        resolve_within_roots(str(tmp_path / "secret" / "passwords.txt"), roots)
    with pytest.raises(DataRootError, match="does not exist inside"):
        resolve_within_roots(str(roots[0] / "coco5-64" / "val"), roots)  # inside, but missing
    with pytest.raises(DataRootError, match=OUTSIDE):
        resolve_within_roots("coco5-64", [tmp_path / "missing-root"])
    with pytest.raises(DataRootError, match=OUTSIDE):
        resolve_within_roots("coco5-64", [])


def test_a_root_that_is_itself_a_symlink_still_confines(tmp_path, layout):
    _, (data, _) = layout
    linked_root = tmp_path / "root_link"
    linked_root.symlink_to(data, target_is_directory=True)
    assert resolve_within_roots("coco5-64", [linked_root]) == (data / "coco5-64").resolve()
    assert resolve_within_roots(str(linked_root / "coco5-64"), [linked_root]) == (data / "coco5-64").resolve()
    with pytest.raises(DataRootError, match=OUTSIDE):
        resolve_within_roots("evil_link", [linked_root])


def test_prefix_sibling_is_not_inside(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data-private").mkdir()
    with pytest.raises(DataRootError, match=OUTSIDE):
        resolve_within_roots(str(tmp_path / "data-private"), [tmp_path / "data"])
    with pytest.raises(DataRootError, match=OUTSIDE):
        resolve_within_roots("../data-private", [tmp_path / "data"])


def test_allowed_roots_from_env(tmp_path):
    repo = tmp_path / "repo"
    assert allowed_roots_from_env({}, repo) == [repo / "data"]
    assert allowed_roots_from_env({"VIT_CLASSROOM_DATA": str(tmp_path / "shared")}, repo) == [
        repo / "data",
        tmp_path / "shared",
    ]
    listed = os.pathsep.join([str(tmp_path / "a"), "", str(tmp_path / "b"), str(tmp_path / "a")])
    env = {"VIT_CLASSROOM_DATA_ROOTS": listed, "VIT_CLASSROOM_DATA": str(tmp_path / "shared")}
    assert allowed_roots_from_env(env, repo) == [tmp_path / "a", tmp_path / "b"]  # the list wins
    assert allowed_roots_from_env({"VIT_CLASSROOM_DATA_ROOTS": "  "}, repo) == [repo / "data"]
