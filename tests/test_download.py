"""download_file against a real loopback HTTP server: resume, retries, give-up, 4xx."""

import os
import random

import pytest
import requests

from http_fixtures import LoopbackFileServer
from vitcore.data.download import download_file
from vitcore.errors import CocoBuildError

FILE_NAME = "blob.bin"


@pytest.fixture
def served_folder(tmp_path):
    """A folder holding one 300 kB file of seeded random bytes (several download chunks)."""
    folder = tmp_path / "served"
    folder.mkdir()
    payload = random.Random(0).randbytes(300_000)
    (folder / FILE_NAME).write_bytes(payload)
    return folder


@pytest.fixture
def server(served_folder):
    with LoopbackFileServer(served_folder) as running:
        yield running


@pytest.fixture
def server_without_ranges(served_folder):
    with LoopbackFileServer(served_folder, ignore_ranges=True) as running:
        yield running


def test_plain_download_is_identical_and_leaves_no_part_file(server, served_folder, tmp_path):
    dest = tmp_path / "out" / FILE_NAME
    seen_progress = []
    result = download_file(server.url(FILE_NAME), dest, progress=lambda d, t, m: seen_progress.append((d, t)))
    assert result == dest
    assert dest.read_bytes() == (served_folder / FILE_NAME).read_bytes()
    assert not dest.with_suffix(".bin.part").exists()
    assert seen_progress[-1] == (300_000, 300_000)
    assert [seen.range_header for seen in server.requests] == [None]


def test_existing_complete_file_is_not_downloaded_again(server, tmp_path):
    dest = tmp_path / FILE_NAME
    dest.write_bytes(b"already here")
    download_file(server.url(FILE_NAME), dest)
    assert dest.read_bytes() == b"already here"
    assert server.requests == []


def test_leftover_part_file_is_resumed_with_a_range_request(server, served_folder, tmp_path):
    original = (served_folder / FILE_NAME).read_bytes()
    dest = tmp_path / FILE_NAME
    part = tmp_path / (FILE_NAME + ".part")
    part.write_bytes(original[:123_456])  # an earlier run was interrupted here
    download_file(server.url(FILE_NAME), dest)
    assert dest.read_bytes() == original
    assert not part.exists()
    (only_request,) = server.requests
    assert only_request.range_header == "bytes=123456-"
    assert only_request.status == 206
    assert only_request.bytes_sent == len(original) - 123_456


def test_connection_cut_midway_is_retried_with_range_and_yields_identical_bytes(server, served_folder, tmp_path):
    original = (served_folder / FILE_NAME).read_bytes()
    server.cut_off_midway(FILE_NAME, times=1)
    dest = tmp_path / FILE_NAME
    download_file(server.url(FILE_NAME), dest, backoff=0.01)
    assert dest.read_bytes() == original
    first, second = server.requests
    assert first.range_header is None and first.bytes_sent == len(original) // 2
    # The client keeps every whole chunk it received before the cut, then asks for the rest only.
    resumed_from = int(second.range_header.removeprefix("bytes=").removesuffix("-"))
    assert 0 < resumed_from <= len(original) // 2
    assert second.status == 206 and second.bytes_sent == len(original) - resumed_from


def test_server_ignoring_range_restarts_from_zero(server_without_ranges, served_folder, tmp_path):
    original = (served_folder / FILE_NAME).read_bytes()
    dest = tmp_path / FILE_NAME
    (tmp_path / (FILE_NAME + ".part")).write_bytes(b"x" * 1000)  # garbage that must not survive
    download_file(server_without_ranges.url(FILE_NAME), dest)
    assert dest.read_bytes() == original
    (only_request,) = server_without_ranges.requests
    assert only_request.range_header == "bytes=1000-" and only_request.status == 200


def test_500_then_success_is_retried(server, served_folder, tmp_path):
    server.fail_with_500(FILE_NAME, times=2)
    dest = tmp_path / FILE_NAME
    download_file(server.url(FILE_NAME), dest, retries=3, backoff=0.01)
    assert dest.read_bytes() == (served_folder / FILE_NAME).read_bytes()
    assert [seen.status for seen in server.requests] == [500, 500, 200]


def test_retries_exhausted_raises_coco_build_error_and_keeps_dest_absent(server, tmp_path):
    server.fail_with_500(FILE_NAME, times=10)
    dest = tmp_path / FILE_NAME
    with pytest.raises(CocoBuildError, match=r"after 3 attempts: HTTP 500"):
        download_file(server.url(FILE_NAME), dest, retries=2, backoff=0.01)
    assert not dest.exists()
    assert len(server.requests) == 3


def test_read_timeout_is_retried_and_resumed(server, served_folder, tmp_path):
    server.stall_midway(FILE_NAME, seconds=1.0, times=1)
    dest = tmp_path / FILE_NAME
    download_file(server.url(FILE_NAME), dest, timeout=0.3, backoff=0.01)
    assert dest.read_bytes() == (served_folder / FILE_NAME).read_bytes()
    assert server.requests_for(FILE_NAME)[-1].range_header is not None


def test_404_fails_immediately_without_retries(server, tmp_path):
    with pytest.raises(CocoBuildError, match=r"missing\.bin: HTTP 404.*not retried"):
        download_file(server.url("missing.bin"), tmp_path / "missing.bin", retries=5, backoff=0.5)
    assert len(server.requests) == 1


def test_refused_connection_is_reported_after_all_attempts(tmp_path):
    with LoopbackFileServer(tmp_path) as temporary:
        dead_url = temporary.url("nothing")  # the port is closed once the block ends
    with pytest.raises(CocoBuildError, match=r"after 2 attempts: ConnectionError"):
        download_file(dead_url, tmp_path / "nothing", retries=1, backoff=0.01, timeout=1.0)


def test_shared_session_is_used_and_left_open(server, served_folder, tmp_path):
    with requests.Session() as session:
        download_file(server.url(FILE_NAME), tmp_path / "a.bin", session=session)
        download_file(server.url(FILE_NAME), tmp_path / "b.bin", session=session)
        assert (tmp_path / "a.bin").read_bytes() == (tmp_path / "b.bin").read_bytes()
    assert os.path.getsize(tmp_path / "a.bin") == 300_000
